"""Figures as PNG + PDF with labelled axes, legends and per-bin sentence counts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from repro.io import atomic_save  # noqa: E402


def save_figure(fig, prefix: str | Path) -> list[Path]:
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".pdf"):
        path = prefix.with_suffix(suffix)
        atomic_save(lambda tmp, s=suffix: fig.savefig(tmp, format=s[1:], dpi=150, bbox_inches="tight"), path)
        paths.append(path)
    plt.close(fig)
    return paths


def plot_binned_bleu(
    bin_labels: Sequence[str],
    counts: Sequence[int],
    series: dict[str, Sequence[float]],
    xlabel: str,
    title: str,
    prefix: str | Path,
    errors: dict[str, Sequence[float]] | None = None,
) -> list[Path]:
    """BLEU per bin, one line per system, with the number of sentences of each bin under the axis."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = np.arange(len(bin_labels))
    for name, values in series.items():
        yerr = None if errors is None else errors.get(name)
        ax.errorbar(x, values, yerr=yerr, marker="o", capsize=3 if yerr is not None else 0, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{label}\n(n={count})" for label, count in zip(bin_labels, counts)], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("BLEU (cased, tokenized)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, prefix)


def plot_pca_panels(
    panels: dict[str, tuple[np.ndarray, Sequence[str]]], title: str, prefix: str | Path,
    groups: dict[str, str] | None = None,
) -> list[Path]:
    """One scatter panel per phrase set: 2-D points annotated with their phrases.

    ``groups`` maps a phrase to its meaning; phrases of one meaning share a colour and a legend entry.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    for ax, (name, (points, phrases)) in zip(axes[0], panels.items()):
        if groups is None:
            ax.scatter(points[:, 0], points[:, 1], s=25)
        else:
            for meaning in dict.fromkeys(groups[p] for p in phrases):
                rows = [i for i, p in enumerate(phrases) if groups[p] == meaning]
                ax.scatter(points[rows, 0], points[rows, 1], s=25, label=meaning)
            ax.legend(fontsize=7)
        for (px, py), phrase in zip(points, phrases):
            ax.annotate(phrase, (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("principal component 1")
        ax.set_ylabel("principal component 2")
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.margins(0.25)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, prefix)


def plot_curves(
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    prefix: str | Path,
    log_y: bool = False,
) -> list[Path]:
    """Line plot of named (x, y) curves, e.g. gradient norm against training step per cell type."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, (xs, ys) in curves.items():
        ax.plot(xs, ys, label=name, linewidth=1)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, prefix)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project rows onto their first two principal components (centred SVD; numpy is enough here)."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T
