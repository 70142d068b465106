"""Softmax PG: O(1/t) with Mei et al.'s constant, and the measured log-log slope."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.problems import Bandit

from . import Experiment, Outcome
from ._common import figure
from .pg_common import curve, solve, verdicts


def _slope(y: np.ndarray) -> float:
    """Least-squares slope of log y against log t over the last decade of iterations."""
    t = np.arange(y.size)
    keep = (t >= y.size // 10) & (t > 0) & (y > 0)
    return float(np.polyfit(np.log(t[keep]), np.log(y[keep]), 1)[0])


def run(quick: bool) -> Outcome:
    T = 2000 if quick else 20000
    rng = np.random.default_rng(0)
    bandits = {f"bandit K=4 seed={i}": Bandit(rng.uniform(0, 1, size=4)) for i in range(2 if quick else 5)}
    runs = {name: solve(b, "softmax_pg", T, eta=0.4 / float(np.ptp(b.r))) for name, b in bandits.items()}
    holds, worst, bad = verdicts(runs, "softmax_pg.mei_bandit")
    slopes = {name: _slope(res.certificates["suboptimality"]) for name, res in runs.items()}
    fig, (ax,) = figure(title="Softmax PG on bandits (eta = 2/5): gap vs Mei's 5/(c^2 t) (recalled)")
    t = np.arange(T + 1)
    for i, (name, res) in enumerate(runs.items()):
        (line,) = curve(ax, res.certificates["suboptimality"], f"{name} (slope {slopes[name]:.2f})")
        if i < 2:
            curve(ax, po.theory.get("softmax_pg.mei_bandit").bound(res, t), None, "--", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("iteration t")
    ax.legend(fontsize=7)
    measured = (f"{len(runs)} bandits; max_t gap/bound = {worst:.3g}; log-log slopes "
                + ", ".join(f"{s:.2f}" for s in slopes.values()) + (f"; violated on {bad}" if bad else ""))
    return Outcome(measured, holds, fig, {"worst_ratio": worst, "slopes": slopes, "failures": bad})


EXPERIMENT = Experiment.from_theorem(
    "softmax_pg.mei_bandit", run, name="pg_softmax_mei",
    setting="Softmax PG (bandit, eta = 2/5): (pi* - pi_t).r <= 5/(c_t^2 t); the gap decays like 1/t (slope -1)",
)
