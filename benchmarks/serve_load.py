"""Load check of the web API: N requests from C concurrent clients on loopback, bounded in count and time.

    python benchmarks/serve_load.py --ckpt outputs/<run folder> --data-root ../shared/datasets/mnist
    python benchmarks/serve_load.py --ckpt ... --data-root ... --hostile 4     # beside 4 hostile clients
    python benchmarks/serve_load.py --ckpt ... --data-root ... --bombs 2      # beside 2 clients sending decoder bombs
    python benchmarks/serve_load.py --ckpt ... --data-root ... --hostile-cases # each hostile case alone
    python benchmarks/serve_load.py --ckpt ... --data-root ... --hostile-cases --before /tmp/old-checkout

Starts `python src/serve.py` on a free loopback port (or uses --url), then each client thread
POSTs real MNIST test digits as PNG files over its own keep-alive connection until the requests
are spent or --max-seconds pass. Prints throughput, latency percentiles, errors and accuracy.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image

from mnist_lightning.data import load_dataset

sys.path.insert(0, str(ROOT / "benchmarks"))
import hostile_requests


def start_server(ckpt: str, threads: int, tree: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """`src/serve.py` of the checkout `tree` on a free loopback port, until its health answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            str(tree / "src" / "serve.py"),
            f"ckpt='{ckpt}'",
            f"port={port}",
            f"torch_threads={threads}",
            "hydra.run.dir=/tmp/serve_load",
            "hydra.output_subdir=null",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/health", timeout=1).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", help="checkpoint, run folder, .onnx or .pt2 to serve")
    parser.add_argument("--url", help="an already running server (loopback) instead of --ckpt")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=1, help="server: torch/ORT threads")
    parser.add_argument(
        "--hostile",
        type=int,
        default=0,
        metavar="K",
        help="K more clients sending the hostile mix (hostile_requests.py) meanwhile",
    )
    parser.add_argument(
        "--bombs",
        type=int,
        default=0,
        metavar="K",
        help="K more clients sending decoder bombs (hostile_requests.decoder_bombs) meanwhile",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        metavar="CHECKOUT",
        help="serve this checkout's src/serve.py (default: this one), e.g. an older commit's worktree",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="CHECKOUT",
        help="with --hostile-cases: also run each case against this checkout's server, side by side",
    )
    parser.add_argument(
        "--hostile-cases",
        action="store_true",
        help="instead of load: each hostile case alone, with status, time and the server's peak RSS",
    )
    args = parser.parse_args()
    if bool(args.ckpt) == bool(args.url):
        parser.error("give exactly one of --ckpt and --url")
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        parser.error("--url must be a loopback address")

    images, labels = load_dataset("mnist", args.data_root, download_if_missing=False)["test"]
    bodies = []
    for image in images[:200]:
        buffer = io.BytesIO()
        Image.fromarray(image.numpy()).save(buffer, format="PNG")
        bodies.append(buffer.getvalue())

    process, url = (
        start_server(args.ckpt, args.threads, args.tree.resolve()) if args.ckpt else (None, args.url)
    )
    host, port = url.removeprefix("http://").rsplit(":", 1)
    if args.hostile_cases:
        cases = hostile_requests.cases()
        try:
            after = hostile_case_rows(host, int(port), process, cases)
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        before = None
        if args.before:
            old, old_url = start_server(args.ckpt, args.threads, args.before.resolve())
            try:
                before = hostile_case_rows("127.0.0.1", int(old_url.rsplit(":", 1)[1]), old, cases)
            finally:
                old.terminate()
                old.wait(timeout=30)
        print_hostile_table(cases, after, before)
        return
    latencies: list[float] = []
    errors: list[str] = []
    correct = 0
    counter = iter(range(args.requests))
    lock = threading.Lock()
    deadline = time.monotonic() + args.max_seconds

    def client() -> None:
        nonlocal correct
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            started = time.perf_counter()
            try:
                connection.request(
                    "POST", "/api/predict", bodies[i % len(bodies)], {"content-type": "image/png"}
                )
                response = connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    if response.status != 200:
                        errors.append(f"HTTP {response.status}")
                    else:
                        latencies.append(elapsed)
                        correct += json.loads(payload)["digit"] == int(labels[i % len(bodies)])
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.close()

    health_ms: list[float] = []
    hostile_sent: list[int] = []
    stop = threading.Event()

    def hostile_client(cases: list) -> None:
        while not stop.is_set():
            for case in cases:
                if stop.is_set():
                    break
                try:
                    hostile_requests.request(host, int(port), case)
                    hostile_sent.append(1)
                except OSError:
                    pass

    def health_probe() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            urllib.request.urlopen(f"{url}/api/health", timeout=30).read()
            health_ms.append(1000 * (time.perf_counter() - started))
            time.sleep(0.05)

    try:
        started = time.perf_counter()
        mix, bombs = hostile_requests.cases() if args.hostile else [], hostile_requests.decoder_bombs()
        side = (
            [threading.Thread(target=hostile_client, args=(mix,)) for _ in range(args.hostile)]
            + [threading.Thread(target=hostile_client, args=(bombs,)) for _ in range(args.bombs)]
            + [threading.Thread(target=health_probe)]
        )
        for thread in side:
            thread.start()
        workers = [threading.Thread(target=client) for _ in range(args.clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - started
        stop.set()
        for thread in side:
            thread.join()
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)

    done = len(latencies) + len(errors)
    ms = sorted(1000 * t for t in latencies)
    print(
        f"{url}: {done} requests from {args.clients} clients in {wall:.1f} s (limit {args.requests} / {args.max_seconds:.0f} s)"
    )
    if ms:
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        print(
            f"throughput {done / wall:,.0f} requests/s   latency p50 {statistics.median(ms):.1f} ms   p99 {p99:.1f} ms"
            f"   max {ms[-1]:.1f} ms"
        )
    print(f"errors {len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else ""))
    print(
        f"accuracy of the answers {correct / max(1, len(latencies)):.4f} on {len(latencies)} real test digits"
    )
    if health_ms:
        health_ms.sort()
        print(
            f"/api/health meanwhile: p50 {statistics.median(health_ms):.1f} ms   p99 "
            f"{health_ms[min(len(health_ms) - 1, int(0.99 * len(health_ms)))]:.1f} ms ({len(health_ms)} probes)"
            + (
                f"; {len(hostile_sent)} hostile requests from {args.hostile + args.bombs} clients"
                if args.hostile or args.bombs
                else ""
            )
        )


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:  # a decode worker ended meanwhile
        pass
    return 0.0


def process_tree(pid: int) -> list[int]:
    """The server and its decode workers."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += process_tree(int(child))
    return found


def hostile_case_rows(host: str, port: int, process: subprocess.Popen, cases: list) -> list[tuple]:
    """Each case alone: (status, seconds, peak RSS over idle summed over the server and its workers, detail)."""
    rows = []
    for case in cases:
        pids = process_tree(process.pid)
        idle = {pid: rss_mb(pid, "VmRSS") for pid in pids}
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM counts from here
        started = time.perf_counter()
        try:
            status, _, body = hostile_requests.request(host, port, case)
            detail = body.decode("utf-8", "replace").replace("\n", " ")
            if status >= 400:
                detail = json.loads(body).get("detail", detail) if body.startswith(b"{") else detail
            else:
                answer = json.loads(body)
                detail = f"digit {answer.get('digit')}" + (
                    f" (p={answer['probability']:.2f})" if answer.get("digit") is not None else ""
                )
        except OSError as exc:
            status, detail = 0, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        # a worker started meanwhile (one was ended at its deadline) counts from nothing
        over = sum(rss_mb(pid) - idle.get(pid, 0.0) for pid in process_tree(process.pid))
        rows.append((status, elapsed, over, detail[:70]))
    return rows


def print_hostile_table(cases: list, after: list, before: list | None) -> None:
    """A markdown table: each case, its bytes, and status / time / peak RSS over idle (before and) after."""
    sides = ([("before", before)] if before else []) + [("after" if before else "now", after)]
    head = "| case | bytes | " + " | ".join(f"{name}: status, time, +RSS, answer" for name, _ in sides) + " |"
    print(head)
    print("|" + "---|" * (2 + len(sides)))
    for i, case in enumerate(cases):
        cells = [f"{rows[i][0]}, {rows[i][1]:.2f} s, +{rows[i][2]:.0f} MB, {rows[i][3]}" for _, rows in sides]
        print(f"| {case.name} | {len(case.body):,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
