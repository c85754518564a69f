"""The model-comparison study: collect a sweep's runs, aggregate, tabulate, plot, correlate."""
