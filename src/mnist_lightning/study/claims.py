"""The tutorial's three claims about its comparison, each judged by an interval from the study's runs.

1. The moving average and the learning-rate decay matter little on MNIST (it converges fast).
2. On a harder problem (Fashion-MNIST here) they matter more.
3. Regularization's effect is the more marked one.

Effects are costs: what removing an optimization takes off the test accuracy (all − variant, per seed).
"""

from __future__ import annotations

from typing import Any

from mnist_lightning.study.stats import paired_interval, summary, verdict, welch_interval

NAMES = {
    "no_ema": "the moving average",
    "no_lr_decay": "the learning-rate decay",
    "no_l2": "L2 regularization",
}


def _costs(rows: list[dict[str, Any]], variant: str) -> dict[Any, float]:
    """seed -> all's test accuracy minus the variant's, over the seeds both completed."""
    by_label = {row["label"]: row for row in rows}
    if "all" not in by_label or variant not in by_label:
        return {}
    ref, other = by_label["all"]["_by_seed"], by_label[variant]["_by_seed"]
    return {seed: ref[seed] - other[seed] for seed in ref if seed in other}


def _points(interval: tuple[float, float, float]) -> str:
    diff, low, high = (100 * v for v in interval)
    return f"{diff:+.2f} points [{low:+.2f}, {high:+.2f}]"


def claim_small_on_mnist(rows: list[dict[str, Any]], margin: float) -> str:
    parts, verdicts = [], []
    for variant in ("no_ema", "no_lr_decay"):
        interval = paired_interval(list(_costs(rows, variant).values()))
        if interval is None:
            return f"Claim 1 (EMA and decay matter little on MNIST): cannot tell: {variant} needs 2 paired seeds."
        verdicts.append(verdict(interval[1], interval[2], margin))
        parts.append(f"{NAMES[variant]} costs {_points(interval)} ({verdicts[-1]})")
    overall = (
        "holds"
        if set(verdicts) == {"matters little"}
        else "does not hold"
        if "matters" in verdicts
        else "cannot tell"
    )
    return (
        f"Claim 1 (EMA and decay matter little on MNIST): **{overall}**: "
        + "; ".join(parts)
        + f" (paired 95% intervals, margin ±{100 * margin:.2f} points)."
    )


def claim_more_on_harder(rows: list[dict[str, Any]], harder: list[dict[str, Any]] | None, name: str) -> str:
    if harder is None:
        return (
            "Claim 2 (they matter more on a harder problem): not judged here: "
            "`report.py <this sweep> --harder <the same study on Fashion-MNIST>` judges it."
        )
    parts, more = [], []
    for variant in ("no_ema", "no_lr_decay"):
        easy, hard = list(_costs(rows, variant).values()), list(_costs(harder, variant).values())
        interval = welch_interval(summary(hard), summary(easy))  # different runs: not paired
        if interval is None:
            return f"Claim 2: cannot tell: {variant} needs 2 seeds on each dataset."
        more.append(interval[1] > 0)
        cost = paired_interval(hard)
        parts.append(
            f"{NAMES[variant]} costs {_points(cost)} on {name}, "
            f"{_points(interval)} more than on MNIST"
            + (" (more)" if interval[1] > 0 else " (less)" if interval[2] < 0 else " (cannot tell)")
        )
    return _judged(
        "Claim 2 (they matter more on a harder problem)",
        more,
        "holds for one of the two",
        parts,
        "Welch 95% intervals of the difference in cost",
    )


def claim_regularization_marked(rows: list[dict[str, Any]]) -> str:
    l2 = _costs(rows, "no_l2")
    parts, marked = [], []
    for variant in ("no_ema", "no_lr_decay"):
        other = _costs(rows, variant)
        interval = paired_interval([l2[s] - other[s] for s in l2 if s in other])
        if interval is None:
            return "Claim 3 (regularization's effect is the more marked): cannot tell: needs 2 paired seeds."
        marked.append(interval[1] > 0)
        parts.append(f"L2's cost minus {NAMES[variant]}'s: {_points(interval)}")
    return _judged(
        "Claim 3 (regularization's effect is the more marked)",
        marked,
        "holds against one of the two",
        parts,
        "paired 95% intervals; holds when each excludes 0 upwards",
    )


def _judged(claim: str, shown: list[bool], partly: str, parts: list[str], how: str) -> str:
    """A claim's line: holds (every comparison shown), `partly` (some), not shown; then its intervals."""
    overall = "holds" if all(shown) else partly if any(shown) else "not shown"
    return f"{claim}: **{overall}**: " + "; ".join(parts) + f" ({how})."


def is_comparison(rows: list[dict[str, Any]]) -> bool:
    """A sweep over the study's variants, with `all` as one of them."""
    labels = {row["label"] for row in rows}
    return "all" in labels and bool(labels & set(NAMES))


def claims_markdown(
    rows: list[dict[str, Any]],
    margin: float,
    harder: list[dict[str, Any]] | None = None,
    harder_name: str = "the harder dataset",
    dataset: str = "mnist",
) -> str:
    lines = [
        claim_small_on_mnist(rows, margin),
        claim_more_on_harder(rows, harder, harder_name),
        claim_regularization_marked(rows),
    ]
    head = "### The tutorial's claims\n\n"
    if dataset != "mnist":
        head += (
            f"The tutorial made these claims about MNIST; here they are judged on this sweep's dataset, {dataset} "
            "(claim 2 compares two datasets: `report.py <the MNIST sweep> --harder <this one>`).\n\n"
        )
    return head + "".join(f"- {line}\n" for line in lines)
