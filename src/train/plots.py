"""The evaluation's pictures: a confusion matrix and a reliability diagram, as PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Figures are built directly rather than through pyplot, so saving them needs no display and leaves
# the caller's (say, a notebook's) backend alone.
from matplotlib.figure import Figure


def confusion_png(matrix: np.ndarray, labels: list[str], path: Path) -> Path:
    """Row-normalised confusion matrix (rows: true intent) with raw counts in each cell."""
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(9, 8))
    ax = fig.subplots()
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted intent")
    ax.set_ylabel("true intent")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                color = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_title("Confusion matrix (test split; colour = share of the true intent)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def reliability_png(bins: list[dict], ece: float, path: Path) -> Path:
    """Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration."""
    fig = Figure(figsize=(6, 7))
    ax, hist = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
    width = bins[0]["upper"] - bins[0]["lower"]
    filled = [b for b in bins if b["count"]]
    ax.bar(
        centers,
        [b["accuracy"] for b in bins],
        width=width,
        edgecolor="black",
        alpha=0.7,
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.plot(
        [b["confidence"] for b in filled],
        [b["accuracy"] for b in filled],
        "o-",
        color="tab:red",
        label="mean confidence → accuracy",
    )
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability diagram (ECE = {ece:.3f})")
    ax.legend(loc="upper left")
    hist.bar(centers, [b["count"] for b in bins], width=width, edgecolor="black")
    hist.set_xlabel("confidence (top softmax probability)")
    hist.set_ylabel("samples")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def slices_png(rows: list[dict], path: Path) -> Path:
    """Horizontal bars of macro-F1 per slice, each labelled with its number of prompts."""
    fig = Figure(figsize=(8, 0.45 * max(len(rows), 1) + 1.5))
    ax = fig.subplots()
    names = [f"{row['slice']} (n={row['samples']})" for row in rows]
    ax.barh(range(len(rows)), [row["macro_f1"] for row in rows], color="tab:blue")
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("macro-F1")
    ax.set_title("Macro-F1 by slice (length buckets, boundary groups, held-out sets)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
