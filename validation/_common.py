"""Shared pieces of the validation experiments."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figure(ncols: int = 1, title: str = ""):
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.8), layout="constrained", squeeze=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, list(axes[0])
