"""The original TF1 program's runs beside a study's rows: its `SUMMARY_JSON` lines (benchmarks/tf1_study.py
writes them to summary.jsonl), per variant, and our mean minus its mean with a Welch interval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mnist_lightning.errors import UserError
from mnist_lightning.study.stats import mean, std, summary, welch_interval


def read_tf1_runs(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """variant -> its runs' summaries, in seed order; one error line for an unreadable file or line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"--tf1 {path}: no such file; benchmarks/tf1_study.py --out <folder> writes <folder>/summary.jsonl"
        )
    runs: dict[str, list[dict[str, Any]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            runs.setdefault(str(record["variant"]), []).append(record)
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"--tf1 {path}, line {number}: not a TF1 SUMMARY_JSON record ({exc})") from exc
    return {variant: sorted(records, key=lambda r: r.get("seed", 0)) for variant, records in runs.items()}


def tf1_rows(rows: list[dict[str, Any]], tf1: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per variant of the study: our seeds, TF1's, both means ± std and ours - TF1's [95% Welch CI]."""
    table = []
    for row in rows:
        runs = tf1.get(row["label"], [])
        trained = [r["test_ema"] for r in runs if not r.get("diverged")]
        entry = {
            "variant": row["label"],
            "ours_n": f"{row['completed']}/{row['n_seeds']}",
            "ours": row["test_acc_mean"],
            "ours_std": row["test_acc_std"],
            "ours_diverged": row["diverged"],
            "tf1_n": f"{len(trained)}/{len(runs)}",
            "tf1": mean(trained) if trained else None,
            "tf1_std": std(trained) if trained else None,
            "tf1_diverged": len(runs) - len(trained),
            "diff": None,
            "low": None,
            "high": None,
        }
        if trained and row["_tests"]:
            entry["diff"] = entry["ours"] - entry["tf1"]
            interval = welch_interval(summary(row["_tests"]), summary(trained))
            if interval is not None:
                _, entry["low"], entry["high"] = interval
        table.append(entry)
    return table


def _acc(value: float | None, spread: float | None, diverged: int) -> str:
    if value is None:
        return "diverged" if diverged else "—"
    return f"{value:.4f} ± {spread:.4f}"


def tf1_markdown(table: list[dict[str, Any]], source: str) -> str:
    lines = [
        f"### Beside the original TF1 program (`{source}`)",
        "",
        "| variant | ours: seeds | ours: test acc | TF1: seeds | TF1: test acc | ours − TF1 [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for e in table:
        if e["diff"] is None:
            diff = "both diverged" if e["ours_diverged"] and e["tf1_diverged"] and e["tf1"] is None else "—"
        elif e["low"] is None:
            diff = f"{e['diff']:+.4f} (1 run: no interval)"
        else:
            diff = f"{e['diff']:+.4f} [{e['low']:+.4f}, {e['high']:+.4f}]"
            diff = f"**{diff}**" if not e["low"] <= 0 <= e["high"] else diff
        ours = _acc(e["ours"], e["ours_std"], e["ours_diverged"])
        tf1 = _acc(e["tf1"], e["tf1_std"], e["tf1_diverged"])
        lines.append(f"| {e['variant']} | {e['ours_n']} | {ours} | {e['tf1_n']} | {tf1} | {diff} |")
    lines += [
        "",
        (
            "Test accuracy of the model each variant evaluates (EMA; raw for no_ema); seeds: trained/run. "
            "ours − TF1: difference of means with a 95% Welch-t interval (the two programs draw different "
            "random numbers, so they are not paired); **bold**: the interval excludes 0."
        ),
        "",
    ]
    return "\n".join(lines)
