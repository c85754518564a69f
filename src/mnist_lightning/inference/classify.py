"""From logits to answers: probabilities and the top-k digits, the same for every program."""

from __future__ import annotations

from typing import Any

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def ranked(probabilities: np.ndarray, k: int = 3) -> dict[str, Any]:
    """One image's answer: the digit, its probability and the top-k digits with theirs."""
    top = np.argsort(-probabilities, kind="stable")[:k]
    return {
        "digit": int(top[0]),
        "probability": round(float(probabilities[top[0]]), 6),
        "top": [{"digit": int(d), "probability": round(float(probabilities[d]), 6)} for d in top],
    }


def classify_rows(predict: Any, rows: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
    """Answers for a (batch, 784) array of model inputs."""
    return [ranked(p, k) for p in softmax(predict(np.asarray(rows, dtype=np.float32)))]
