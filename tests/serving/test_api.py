"""The JSON API through FastAPI's test client: real digits, bad requests, health, static files."""

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from mnist_lightning.data.datamodule import to_features
from mnist_lightning.evaluation.metrics import evaluate_model
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.persistence.restore import load_mlp
from mnist_lightning.serving.app import create_app
from tests.helpers import huge_png, mnist_test_digits, png_bytes


@pytest.fixture(scope="module")
def client(trained_run):
    return TestClient(create_app(load_model(trained_run), max_request_bytes=100_000))


@pytest.mark.e2e
def test_real_test_digits_sent_as_png_score_what_the_evaluator_scores(real_run):
    client = TestClient(create_app(load_model(real_run)))
    images, labels = mnist_test_digits()
    images, labels = images[:60], labels[:60]
    answers = [client.post("/api/predict", files={"file": ("d.png", png_bytes(im.numpy()), "image/png")}) for im in images]
    assert all(a.status_code == 200 for a in answers)
    served = np.array([a.json()["digit"] for a in answers])
    net, _, _ = load_mlp(real_run)
    evaluator = evaluate_model(net, to_features(images), labels)
    assert (served == labels.numpy()).mean() == pytest.approx(evaluator["accuracy"])
    assert evaluator["accuracy"] >= 0.95
    first = answers[0].json()
    assert first["model"] == {"format": "ckpt", "file": str(real_run / "checkpoints" / "step002000.ckpt"),
                              "step": 2000, "weights": "ema"}
    assert len(first["top"]) == 3 and np.array(first["input"]).shape == (28, 28)


@pytest.mark.e2e
def test_the_exported_onnx_model_serves_the_same_answers(real_run):
    onnx = TestClient(create_app(load_model(real_run / "export" / "model.onnx")))
    ckpt = TestClient(create_app(load_model(real_run)))
    assert onnx.get("/api/health").json()["model"]["format"] == "onnx"
    assert onnx.get("/api/health").json()["model"]["step"] == 2000
    images, _ = mnist_test_digits()
    for image in images[:10]:
        body = {"file": ("d.png", png_bytes(image.numpy()), "image/png")}
        a, b = onnx.post("/api/predict", files=body).json(), ckpt.post("/api/predict", files=body).json()
        assert a["digit"] == b["digit"] and a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_pixels_array_gives_the_model_s_own_probabilities(client, trained_run):
    pixels = torch.rand(784).tolist()
    answer = client.post("/api/predict", json={"pixels": pixels})
    assert answer.status_code == 200
    net, _, _ = load_mlp(trained_run)
    with torch.no_grad():
        p = torch.softmax(net(torch.tensor([pixels])), dim=1)[0]
    assert answer.json()["digit"] == int(p.argmax())
    assert answer.json()["probability"] == pytest.approx(float(p.max()), abs=1e-6)


def test_a_raw_image_body_works_like_a_form_upload(client):
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 12:16] = 255
    raw = client.post("/api/predict", content=png_bytes(image), headers={"content-type": "image/png"}).json()
    form = client.post("/api/predict", files={"file": ("x.png", png_bytes(image), "image/png")}).json()
    assert raw["top"] == form["top"] and raw["input"] == form["input"]


@pytest.mark.parametrize(
    "kwargs, status, reason",
    [
        ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "empty body"),
        ({"content": b"this is not an image", "headers": {"content-type": "image/png"}}, 400, "not a readable image"),
        ({"files": {"file": ("x.png", b"GIF89a broken", "image/png")}}, 400, "not a readable image"),
        ({"files": {"other": ("x.png", b"", "image/png")}}, 400, "without a 'file' field"),
        ({"json": {"pixels": [0.5] * 783}}, 422, "got 783"),
        ({"json": {"pixels": [2.0] * 784}}, 422, "in [0, 1]"),
        ({"json": {"pixels": ["a"] * 784}}, 422, "numbers only"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported content type"),
        ({"content": huge_png(12000, 12000), "headers": {"content-type": "image/png"}}, 400, "far too large"),
        ({"content": b"x" * 100_001, "headers": {"content-type": "image/png"}}, 413, "request too large"),
    ],
    ids=["empty", "not-image", "broken-upload", "no-file-field", "short-array", "out-of-range", "strings",
         "bad-json", "text", "huge-header", "over-limit"],
)
def test_bad_requests_get_a_4xx_with_a_one_line_reason(client, kwargs, status, reason):
    answer = client.post("/api/predict", **kwargs)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert reason in detail and "\n" not in detail and "Traceback" not in answer.text


def test_a_body_without_length_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(30):
            yield b"x" * 10_000  # 300 KB in chunks, no Content-Length

    answer = client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"})
    assert answer.status_code == 413


def test_a_blank_canvas_is_no_digit(client):
    blank = np.zeros((280, 280), dtype=np.uint8)
    answer = client.post("/api/predict", files={"file": ("pad.png", png_bytes(blank), "image/png")}).json()
    assert answer["digit"] is None and answer["top"] == [] and "no digit" in answer["message"]


def test_health_page_and_static_files_and_nothing_else(client, trained_run):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["model"]["step"] == 60 and health["model"]["weights"] == "ema"
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="pad"' in page.text and "http" not in page.text.split("<body>")[0]
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/../../../errors.py", "/app.py", "/etc/passwd"):
        assert client.get(path).status_code == 404, path
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]
