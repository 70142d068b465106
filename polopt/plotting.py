"""Figures from :class:`~polopt.result.SolveResult` objects (matplotlib, no global state).

Every function draws on a given ``ax`` (or a new one) and returns the axes, so figures
compose; nothing calls ``plt.show``.
"""

from __future__ import annotations

import numpy as np

from . import theory as _theory

#: Values at or below this are drawn at this floor on a log axis (exact zeros at convergence).
LOG_FLOOR = 1e-16


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.0, 3.5), layout="constrained")
    return ax


def plot_certificate(res, name: str, theorem: str | None = None, ax=None, label: str | None = None):
    """Plot certificate ``name`` of ``res`` against the iterate on a log y axis.

    Args:
        res: a SolveResult.
        name: key of ``res.certificates`` (e.g. ``"value_error"``, ``"duality_gap"``).
        theorem: optional registered theorem name; its bound is overlaid (dashed) and the
            legend shows its confidence.
        ax: matplotlib axes to draw on (a new figure if None).
        label: curve label (default: method name).

    Returns:
        The matplotlib axes.
    """
    if name not in res.certificates:
        raise ValueError(f"result has no certificate {name!r}; it has {sorted(res.certificates)}")
    ax = _axes(ax)
    y = np.maximum(np.asarray(res.certificates[name], dtype=float), LOG_FLOOR)
    t = np.arange(y.shape[0])
    ax.semilogy(t, y, lw=1.8, label=label or res.method)
    if theorem is not None:
        thm = _theory.get(theorem)
        if thm.bound is None:
            raise ValueError(f"theorem {theorem!r} is a check, not a bound; it cannot be overlaid")
        b = np.maximum(np.asarray(thm.bound(res, t), dtype=float), LOG_FLOOR)
        ax.semilogy(t, b, "--", color="k", lw=1.2, label=f"bound: {thm.name} [{thm.confidence}]")
    ax.set_xlabel("iteration t")
    ax.set_ylabel(name.replace("_", " "))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_curves(curves: dict, ax=None, xlabel: str = "iteration t", ylabel: str = "", logx: bool = False):
    """Plot several named 1-D series (``{label: y}`` or ``{label: (x, y)}``) on a log y axis."""
    ax = _axes(ax)
    for lab, val in curves.items():
        x, y = val if isinstance(val, tuple) else (np.arange(len(val)), val)
        y = np.maximum(np.asarray(y, dtype=float), LOG_FLOOR)
        (ax.loglog if logx else ax.semilogy)(x, y, lw=1.6, label=lab)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax
