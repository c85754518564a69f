"""The JSON API through FastAPI's test client: real digits, bad requests, health, static files."""

import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from mnist_lightning.data.datamodule import to_features
from mnist_lightning.evaluation.metrics import evaluate_model
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.persistence.restore import load_mlp
from mnist_lightning.serving.app import create_app
from tests.helpers import huge_png, mnist_test_digits, png_bytes, synthetic_digits

LOCAL = "http://127.0.0.1"  # the server answers loopback Host names only


@pytest.fixture(scope="module")
def client(trained_run):
    return TestClient(create_app(load_model(trained_run), max_request_bytes=100_000), base_url=LOCAL)


@pytest.mark.e2e
def test_real_test_digits_sent_as_png_score_what_the_evaluator_scores(real_run):
    client = TestClient(create_app(load_model(real_run)), base_url=LOCAL)
    images, labels = mnist_test_digits()
    images, labels = images[:60], labels[:60]
    answers = [
        client.post("/api/predict", files={"file": ("d.png", png_bytes(im.numpy()), "image/png")})
        for im in images
    ]
    assert all(a.status_code == 200 for a in answers)
    served = np.array([a.json()["digit"] for a in answers])
    net, _, _ = load_mlp(real_run)
    evaluator = evaluate_model(net, to_features(images), labels)
    assert (served == labels.numpy()).mean() == pytest.approx(evaluator["accuracy"])
    assert evaluator["accuracy"] >= 0.95
    first = answers[0].json()
    assert first["model"] == {"format": "ckpt", "file": "step002000.ckpt", "step": 2000, "weights": "ema"}
    assert len(first["top"]) == 3 and np.array(first["input"]).shape == (28, 28)


@pytest.mark.e2e
def test_the_exported_onnx_model_serves_the_same_answers(real_run):
    onnx = TestClient(create_app(load_model(real_run / "export" / "model.onnx")), base_url=LOCAL)
    ckpt = TestClient(create_app(load_model(real_run)), base_url=LOCAL)
    assert onnx.get("/api/health").json()["model"]["format"] == "onnx"
    assert onnx.get("/api/health").json()["model"]["step"] == 2000
    images, _ = mnist_test_digits()
    for image in images[:10]:
        body = {"file": ("d.png", png_bytes(image.numpy()), "image/png")}
        a, b = onnx.post("/api/predict", files=body).json(), ckpt.post("/api/predict", files=body).json()
        assert a["digit"] == b["digit"] and a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_pixels_array_gives_the_model_s_own_probabilities(client, trained_run):
    pixels = (synthetic_digits(1, seed=3)[0][0] / 255).reshape(784).tolist()  # a digit of the training data
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
        (
            {"content": b"this is not an image", "headers": {"content-type": "image/png"}},
            400,
            "not a readable image",
        ),
        ({"files": {"file": ("x.png", b"GIF89a broken", "image/png")}}, 400, "not a readable image"),
        ({"files": {"other": ("x.png", b"", "image/png")}}, 400, "without a 'file' field"),
        ({"json": {"pixels": [0.5] * 783}}, 422, "got 783"),
        ({"json": {"pixels": [2.0] * 784}}, 422, "in [0, 1]"),
        ({"json": {"pixels": ["a"] * 784}}, 422, "numbers only"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported content type"),
        ({"content": huge_png(12000, 12000), "headers": {"content-type": "image/png"}}, 400, "far too large"),
        ({"content": b"x" * 100_001, "headers": {"content-type": "image/png"}}, 413, "request too large"),
        ({"json": {"pixels": [[0, 1]] * 784}}, 422, "numbers only"),
        ({"json": {"pixels": ["0.5"] * 784}}, 422, "numbers only"),
        ({"json": {"pixels": [True] * 784}}, 422, "numbers only"),
        ({"json": {"pixels": [None] * 784}}, 422, "numbers only"),
        ({"json": {"pixels": "0.5"}}, 422, "got a JSON string"),
        (
            {"content": b"[" * 50_000 + b"]" * 50_000, "headers": {"content-type": "application/json"}},
            413,
            "JSON body too large",
        ),
        (
            {"content": b"[" * 20_000 + b"]" * 20_000, "headers": {"content-type": "application/json"}},
            400,
            "nested too deeply",
        ),
        (
            {
                "content": b'{"pixels": [' + b"9" * 401 + b"]}",
                "headers": {"content-type": "application/json"},
            },
            422,
            "got 1 values",
        ),
        (
            {
                "content": b'{"pixels": [' + b",".join([b"9" * 401] + [b"0"] * 783) + b"]}",
                "headers": {"content-type": "application/json"},
            },
            422,
            "in [0, 1]",
        ),
        (
            {
                "content": b'{"pixels": [' + b",".join([b"9" * 5000] + [b"0"] * 783) + b"]}",
                "headers": {"content-type": "application/json"},
            },
            400,
            "not valid JSON",
        ),
        (
            {"content": b'{"pixels": []}', "headers": {"content-type": "application/jsonx"}},
            415,
            "unsupported content type",
        ),
        (
            {"content": b"GIF89a broken", "headers": {"content-type": "IMAGE/PNG"}},
            400,
            "not a readable image",
        ),
    ],
    ids=[
        "empty",
        "not-image",
        "broken-upload",
        "no-file-field",
        "short-array",
        "out-of-range",
        "strings",
        "bad-json",
        "text",
        "huge-header",
        "over-limit",
        "nested-lists",
        "numeric-strings",
        "booleans",
        "nulls",
        "a-string",
        "deep-nesting-over-json-cap",
        "deep-nesting",
        "huge-integer",
        "huge-integers",
        "integer-past-digit-limit",
        "jsonx",
        "upper-case-type",
    ],
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
    assert (
        page.status_code == 200
        and '<canvas id="pad"' in page.text
        and "http" not in page.text.split("<body>")[0]
    )
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    for path in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/../../../errors.py",
        "/app.py",
        "/etc/passwd",
    ):
        assert client.get(path).status_code == 404, path
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]


def test_json_types_are_matched_case_insensitively_and_exactly(client):
    body = b'{"pixels": [' + b",".join([b"0"] * 784) + b"]}"
    for kind in ("Application/JSON", "application/json; charset=utf-8"):
        assert client.post("/api/predict", content=body, headers={"content-type": kind}).status_code == 200, (
            kind
        )


def test_answers_name_the_model_file_but_no_server_path(client, trained_run):
    health = client.get("/api/health")
    assert health.json()["model"]["file"] == Path(health.json()["model"]["file"]).name
    assert str(trained_run) not in health.text
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 12:16] = 255
    assert (
        str(trained_run)
        not in client.post(
            "/api/predict", content=png_bytes(image), headers={"content-type": "image/png"}
        ).text
    )


def test_other_host_names_and_cross_site_posts_are_refused(client):
    rebinding = {"host": "rebind.attacker.example"}
    assert client.get("/api/health", headers=rebinding).status_code == 400
    assert client.get("/static", headers=rebinding, follow_redirects=False).status_code == 400
    body = {"files": {"file": ("x.png", b"GIF89a broken", "image/png")}}
    for headers in (
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://evil.example"},
        {"origin": "null"},
    ):
        answer = client.post("/api/predict", headers=headers, **body)
        assert answer.status_code == 403 and "cross-site" in answer.json()["detail"], headers
    same = {"sec-fetch-site": "same-origin", "origin": "http://127.0.0.1"}
    assert client.post("/api/predict", headers=same, **body).status_code == 400  # reaches the image reader


def test_every_answer_carries_the_security_headers_and_api_answers_are_not_cached(client):
    for answer in (
        client.get("/"),
        client.get("/static/app.js"),
        client.get("/api/health"),
        client.post("/api/predict", content=b"", headers={"content-type": "image/png"}),
        client.get("/api/health", headers={"host": "evil.example"}),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert client.get("/api/health").headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/static/app.js").headers


def test_the_page_needs_no_inline_code_or_style():
    from mnist_lightning.serving.app import STATIC

    page = (STATIC / "index.html").read_text()
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert not re.search(r"\son\w+\s*=", page)  # no inline event handlers
    assert (
        "style=" not in (STATIC / "app.js").read_text()
        and "innerHTML = `" not in (STATIC / "app.js").read_text()
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("top_k=0", "top_k=0: expected an integer in [1, 10]"),
        ("torch_threads=0", "torch_threads=0: expected an integer >= 1"),
        ("decode_slots=true", "decode_slots=True: expected an integer >= 1"),
        ("max_connections=-1", "max_connections=-1: expected an integer >= 1"),
        ("request_timeout=0", "request_timeout=0.0: expected a number of seconds > 0"),
        ("allowed_hosts=[]", "allowed_hosts=[]: expected a list of host names"),
        ("port=70000", "port=70000: expected an integer port"),
    ],
)
def test_serve_checks_its_settings_before_loading_anything(override, message):
    from mnist_lightning.errors import UserError
    from mnist_lightning.schema import check_config
    from tests.helpers import compose_config

    with pytest.raises(UserError, match=re.escape(message)):
        check_config("serve", compose_config("serve", ["ckpt=/nonexistent", override]))


def test_a_taken_port_or_an_unknown_host_is_one_line_before_serving_is_announced(trained_run):
    import socket

    from tests.helpers import run_script

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_script("serve.py", f"ckpt={trained_run}", f"port={port}", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Serving on" not in output and "Traceback" not in output, output
    assert f"error: port={port} on host=127.0.0.1 is in use" in output
    result = run_script("serve.py", f"ckpt={trained_run}", "host=no.such.host.invalid", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Serving on" not in output
    assert "error: host=no.such.host.invalid does not resolve" in output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("moment", ["before-uvicorn-takes-it", "while-serving"])
def test_a_stop_signal_at_any_moment_after_the_announcement_ends_serving_without_raising(signum, moment):
    """From "Serving on" to the end, a stop signal asks the server to stop: it never raises where it
    lands (Python's Ctrl-C in the event loop's set-up left a half-made loop and a traceback)."""
    import threading

    import uvicorn

    from mnist_lightning.serving.run import listening_socket, signals_stop

    async def app(scope, receive, send):  # never called: nothing connects
        raise AssertionError(scope)

    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    sock = listening_socket("127.0.0.1", 0)
    before = signal.getsignal(signum)
    with signals_stop(server):
        if moment == "before-uvicorn-takes-it":
            signal.raise_signal(signum)
        else:
            threading.Timer(0.5, os.kill, (os.getpid(), signum)).start()
        server.run(sockets=[sock])  # returns, nothing raised
    assert server.should_exit and not server.force_exit
    assert signal.getsignal(signum) is before  # given back as it was
    assert sock.fileno() == -1  # uvicorn closed the listening socket
