"""Figures are written as PNG and PDF; PCA recovers the dominant directions."""

from __future__ import annotations

import numpy as np

from repro.report.figures import pca_2d, plot_binned_bleu, plot_curves, plot_pca_panels


def test_pca_2d_finds_the_main_axis():
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0]) / 5
    points = np.outer(rng.normal(size=50) * 10, direction) + rng.normal(size=(50, 3)) * 0.01
    projected = pca_2d(points)
    assert projected.shape == (50, 2)
    # the first component carries nearly all the variance
    assert projected[:, 0].var() > 1000 * projected[:, 1].var()


def test_figures_written_in_both_formats(tmp_path):
    paths = plot_binned_bleu(["1–5", "6–10"], [40, 35], {"forward": [10.0, 8.0], "reversed": [12.0, 11.0]},
                             "source length", "BLEU by length", tmp_path / "fig3_length")
    paths += plot_pca_panels({"left": (np.eye(3)[:, :2], ["a", "b", "c"])}, "PCA", tmp_path / "pca")
    paths += plot_curves({"lstm": ([1, 2, 3], [1.0, 2.0, 0.5])}, "step", "gradient norm", "g", tmp_path / "g",
                         log_y=True)
    for path in paths:
        head = path.read_bytes()[:5]
        assert head in (b"\x89PNG\r", b"%PDF-"), path
    assert sorted(p.suffix for p in paths) == [".pdf", ".pdf", ".pdf", ".png", ".png", ".png"]
