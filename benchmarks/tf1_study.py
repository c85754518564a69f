"""The original TF1 program's column of the study: its variants x seeds, a few processes at a time.

    python benchmarks/tf1_study.py --out outputs/study-2026-12-03/tf1-mnist \
        --tf1-python ~/tf1-venv/bin/python --data-root ../shared/datasets/mnist \
        --runs all:1-10 no_l2:1-3 no_lr_decay:1-3 no_ema:1-3 no_hidden:1-3 no_activation:1-3

Each run's output goes to `<out>/<variant>_seed=<s>.log`; its `SUMMARY_JSON` line (test accuracy of the
model the variant evaluates, whether the loss diverged, loop time) to `<out>/summary.jsonl`, one line per
run in (variant, seed) order. Runs already in summary.jsonl are skipped, so an interrupted study resumes.
src/report.py reads summary.jsonl beside the study's own jobs (the TF1 column). Needs a venv with
tensorflow-cpu (../shared/reference/README.md); never a dependency of the project.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TF1_PROGRAM = ROOT.parent / "shared" / "reference" / "tf1_tutorial.py"


def parse_runs(specs: list[str]) -> list[tuple[str, int]]:
    """`all:1-10 no_l2:1-3` -> [("all", 1), ..., ("no_l2", 3)]."""
    runs = []
    for spec in specs:
        variant, _, seeds = spec.partition(":")
        first, _, last = seeds.partition("-")
        if not variant or not first.isdigit() or not (last or first).isdigit():
            raise SystemExit(f"error: --runs {spec!r} is not VARIANT:FIRST-LAST (e.g. all:1-10)")
        runs += [(variant, seed) for seed in range(int(first), int(last or first) + 1)]
    return runs


def done_runs(summary: Path) -> dict[tuple[str, int], str]:
    if not summary.is_file():
        return {}
    lines = [line for line in summary.read_text().splitlines() if line.strip()]
    return {(json.loads(line)["variant"], json.loads(line)["seed"]): line for line in lines}


def run_one(python: str, data_root: str, out: Path, variant: str, seed: int) -> str:
    """One TF1 process; its SUMMARY_JSON line (without the prefix)."""
    log = out / f"{variant}_seed={seed}.log"
    command = [python, str(TF1_PROGRAM), "--variant", variant, "--seed", str(seed), "--data_dir", data_root]
    with log.open("w") as f:
        subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=False)
    lines = [line for line in log.read_text().splitlines() if line.startswith("SUMMARY_JSON ")]
    if not lines:
        raise SystemExit(f"error: the TF1 run {variant} seed {seed} printed no SUMMARY_JSON; see {log}")
    return lines[-1].removeprefix("SUMMARY_JSON ")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the logs and summary.jsonl")
    parser.add_argument("--tf1-python", default="~/tf1-venv/bin/python", help="a Python with tensorflow-cpu")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets" / "mnist"))
    parser.add_argument("--runs", nargs="+", default=["all:1-10"], help="VARIANT:FIRST-LAST seeds")
    parser.add_argument("--jobs", type=int, default=2, help="TF1 processes at a time")
    args = parser.parse_args()
    python = str(Path(args.tf1_python).expanduser())
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / "summary.jsonl"
    results = done_runs(summary)
    todo = [run for run in parse_runs(args.runs) if run not in results]
    print(f"{len(todo)} TF1 run(s) to do, {len(results)} already in {summary}", file=sys.stderr)
    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {run: pool.submit(run_one, python, args.data_root, args.out, *run) for run in todo}
        for run, future in futures.items():
            results[run] = future.result()
            summary.write_text("".join(line + "\n" for _, line in sorted(results.items())))
            print(f"{run[0]} seed {run[1]}: test {json.loads(results[run])['test_ema']:.4f}", file=sys.stderr)
    print(f"{len(todo)} TF1 run(s) in {time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
