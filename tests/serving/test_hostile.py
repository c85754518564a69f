"""The hostile set against a real server process: each case's status and one-line detail, slow
clients cut off, the server alive afterwards and its memory bounded whatever the concurrency."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import load_benchmark, png_bytes, serving, synthetic_digits

hostile = load_benchmark("hostile_requests.py")

REQUEST_TIMEOUT = 1  # seconds a client has for its whole request, in this test's server
RSS_BUDGET_MB = 300  # peak over idle, whatever the concurrency: 2 decode slots x 100 MB, and the rest


serve_load = load_benchmark("serve_load.py")


def tree_mb(pid: int, field: str) -> float:
    """RSS (VmRSS) or peak RSS (VmHWM) of the server and its decode workers, summed."""
    return sum(serve_load.rss_mb(p, field) for p in serve_load.process_tree(pid))


def reset_peaks(pid: int) -> None:
    for p in serve_load.process_tree(pid):
        Path(f"/proc/{p}/clear_refs").write_text("5")  # peak RSS (VmHWM) counts from here


@pytest.fixture(scope="module")
def server(trained_run, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(trained_run, log, f"request_timeout={REQUEST_TIMEOUT}") as (process, url):
        yield process, int(url.rsplit(":", 1)[1]), log


def alive(port: int) -> bool:
    return (
        json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10).read())["status"]
        == "ok"
    )


def test_every_hostile_case_gets_its_4xx_with_one_line_and_memory_stays_bounded(server):
    process, port, log = server
    cases = hostile.cases()
    idle = tree_mb(process.pid, "VmRSS")
    reset_peaks(process.pid)
    for case in cases:
        status, headers, body = hostile.request("127.0.0.1", port, case)
        assert status == case.status, (case.name, status, body[:300])
        assert headers.get("x-content-type-options") == "nosniff", case.name
        assert case.answer in body.decode(), (case.name, body[:300])
        if status >= 400:
            detail = json.loads(body)["detail"]
            assert case.detail in detail and "\n" not in detail, (case.name, detail)
            assert not re.search(r"0x[0-9a-f]{6,}|/tmp/|/home/|<\w+", detail), (
                case.name,
                detail,
            )  # no reprs, no paths
    heavy = [
        case
        for case in cases
        if case.name
        in (
            "png-palette-4k",
            "png-ink-4k-rgba",
            "png-ink-49mpx",
            "jpeg-declares-49mpx-truncated",
            "webp-49mpx",
            *(bomb.name for bomb in hostile.decoder_bombs()),
        )
    ]
    with ThreadPoolExecutor(24) as pool:  # many at once: decodes queue for their slots
        answers = list(pool.map(lambda case: hostile.request("127.0.0.1", port, case)[0], heavy * 5))
    assert set(answers) <= {200, 400, 503}, answers
    peak = tree_mb(process.pid, "VmHWM")
    assert peak <= idle + RSS_BUDGET_MB, f"peak RSS {peak:.0f} MB, idle {idle:.0f} MB"
    assert alive(port)
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    "name", ["idle-connection", "partial-headers", "body-short-of-length", "body-1-byte-per-0.5s"]
)
def test_a_client_that_never_finishes_its_request_is_cut_off(server, name):
    _process, port, log = server
    sent = hostile.slow_clients("127.0.0.1", port)[name]
    first, trickle = sent if isinstance(sent, tuple) else (sent, b"")
    held = hostile.held_open_seconds("127.0.0.1", port, first, trickle, give_up=30)
    assert held < REQUEST_TIMEOUT + 3, f"{name}: held open {held:.1f} s"
    assert alive(port)
    assert "Traceback" not in log.read_text()


def test_a_client_vanishing_mid_body_is_one_log_line(server):
    _process, port, log = server
    before = len(log.read_text())
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                b"Content-Length: 100000\r\n\r\n" + b"x" * 5000
            )
            time.sleep(0.05)
    time.sleep(0.5)
    text = log.read_text()[before:]
    assert alive(port) and "Traceback" not in text and "ClientDisconnect" not in text
    assert 1 <= text.count("went away before its request was in") <= 20


def test_two_decoder_bombs_meanwhile_do_not_delay_an_honest_digit(server):
    _process, port, _log = server
    bombs = hostile.decoder_bombs()
    digit = hostile.Case("digit", hostile.digit_photos().photo(7, "window"), "image/jpeg", 200)
    with ThreadPoolExecutor(3) as pool:
        sent = [pool.submit(hostile.request, "127.0.0.1", port, bombs[i % len(bombs)]) for i in range(2)]
        time.sleep(0.01)  # the bombs are in first
        started = time.monotonic()
        status, _, body = hostile.request("127.0.0.1", port, digit)
        took = time.monotonic() - started
        assert [future.result()[0] for future in sent] == [400, 400]
    assert status == 200 and json.loads(body)["digit"] is not None, body[:300]
    assert took < 1.0, f"the honest digit took {took:.2f} s beside two decoder bombs"


def test_a_decode_past_its_deadline_ends_its_worker_and_the_next_is_answered(trained_run, tmp_path):
    """What the header count cannot foresee is bounded by the deadline: here a 4K screenshot under a
    deadline far shorter than its decode."""
    with serving(trained_run, tmp_path / "serve.log", "decode_timeout=0.1", "decode_slots=1") as (
        process,
        url,
    ):
        port = int(url.rsplit(":", 1)[1])
        workers = serve_load.process_tree(process.pid)[1:]
        slow = next(case for case in hostile.cases() if case.name == "png-ink-4k-rgba")
        status, _, body = hostile.request("127.0.0.1", port, slow)
        assert status == 400 and "took longer than 0.1 s to decode" in json.loads(body)["detail"]
        assert serve_load.process_tree(process.pid)[1:] != workers  # ended, not left running
        small = hostile.Case("digit", png_bytes(synthetic_digits(1, seed=4)[0][0]), "image/png", 200)
        status, _, body = hostile.request(
            "127.0.0.1", port, small
        )  # a fresh worker answers (> 0.02 s to start)
        assert status in (200, 400), body[:300]
        assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_over_the_connection_limit_the_answer_is_json_with_the_security_headers(trained_run, tmp_path):
    """uvicorn's own 503 (plain text, no headers) is replaced by one like every other answer."""
    with serving(trained_run, tmp_path / "serve.log", "max_connections=2") as (_process, url):
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]  # two held open, silent
        try:
            time.sleep(0.2)
            health = hostile.Case("health", b"", "", 503, path="/api/health", method="GET")
            status, headers, body = hostile.request("127.0.0.1", port, health)
        finally:
            for sock in idle:
                sock.close()
        assert status == 503 and headers["content-type"] == "application/json", (status, headers, body)
        assert headers.get("x-content-type-options") == "nosniff" and headers.get("retry-after") == "1"
        assert "more than 2 connections at once" in json.loads(body)["detail"]
        time.sleep(0.2)
        assert alive(port)


def test_a_worker_ended_mid_decode_is_one_line_and_replaced(server):
    process, port, log = server
    workers = serve_load.process_tree(process.pid)[1:]
    for pid in workers:  # frozen: the decode cannot finish before the kill
        os.kill(pid, signal.SIGSTOP)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(hostile.request, "127.0.0.1", port, next(iter(hostile.photos())))
        time.sleep(0.5)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        status, _, body = answer.result()
    assert status == 400 and "its decoder stopped on it" in json.loads(body)["detail"], body[:300]
    status, _, body = hostile.request("127.0.0.1", port, next(iter(hostile.photos())))
    assert status == 200 and json.loads(body)["digit"] is not None, body[:300]  # fresh workers answer
    assert "Traceback" not in log.read_text()
