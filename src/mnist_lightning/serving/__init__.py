"""The web app: a page to draw or drop a digit and a JSON API, on top of inference/."""
