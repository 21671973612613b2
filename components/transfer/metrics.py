"""Binary classification metrics, decision-threshold calibration and the ROC figure."""

from __future__ import annotations

from typing import Any

import numpy as np


def calibrate_threshold(y_true: np.ndarray, prob: np.ndarray, method: str = "f1") -> float:
    """The probability cut-off maximising F1 (``f1``) or Youden's J (``youden``) on ``prob``.

    Returns 0.5 when only one class is present.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve

    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    if len(np.unique(y_true)) < 2:
        return 0.5
    if method == "youden":
        fpr, tpr, thresholds = roc_curve(y_true, prob)
        best = int(np.argmax(tpr - fpr))
        return float(np.clip(thresholds[best], 1e-6, 1 - 1e-6))
    if method != "f1":
        raise ValueError(f"unknown threshold method {method!r}")
    precision, recall, thresholds = precision_recall_curve(y_true, prob)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))
    # Midway to the next lower score keeps the cut-off robust rather than on a training point.
    below = prob[prob < thresholds[best]]
    cut = (thresholds[best] + below.max()) / 2 if below.size else thresholds[best]
    return float(np.clip(cut, 1e-6, 1 - 1e-6))


def binary_metrics(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, ROC AUC, precision, recall, F1 and the confusion matrix at ``threshold``."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    pred = (prob >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    matrix = confusion_matrix(y_true, pred, labels=[0, 1])
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "roc_auc": float(roc_auc_score(y_true, prob)) if both else float("nan"),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "threshold": float(threshold),
        "n": int(len(y_true)),
        "confusion_matrix": matrix.tolist(),  # rows: true negative/positive
    }


def roc_figure(y_true: np.ndarray, prob: np.ndarray, title: str):
    """A matplotlib figure with the ROC curve (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, axes = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    if len(np.unique(y_true)) == 2:
        fpr, tpr, _ = roc_curve(y_true, prob)
        axes.plot(fpr, tpr, label=f"AUC {roc_auc_score(y_true, prob):.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def close_figure(figure) -> None:
    """Free a figure's memory."""
    import matplotlib.pyplot as plt

    plt.close(figure)
