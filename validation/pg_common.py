"""Shared pieces of the policy-gradient validation experiments (no EXPERIMENT here)."""

from __future__ import annotations

import warnings

import numpy as np

import polopt as po
from polopt.problems.random import random_mdp

#: Values at or below this are drawn at this floor on log axes (exact zeros at convergence).
FLOOR = 1e-16


def instances(quick: bool, S: int = 10, A: int = 4, gamma: float = 0.9) -> dict:
    """Random MDPs (and a catalogue chain) the PG experiments run on."""
    return {f"random S={S} A={A} gamma={gamma} seed={i}": random_mdp(S, A, gamma=gamma, seed=i)
            for i in range(2 if quick else 8)}


def solve(problem, method, iters, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return po.solve(problem, method=method, iters=iters, **kw)


def curve(ax, y, label, style="-", **kw):
    y = np.maximum(np.asarray(y, dtype=float), FLOOR)
    return ax.semilogy(np.arange(y.size), y, style, label=label, **kw)


def verdicts(runs: dict, theorem: str) -> tuple[bool, float, list]:
    """(all hold, worst ratio, names of the runs where it fails) of ``theorem`` over ``runs``."""
    worst, bad = 0.0, []
    for name, res in runs.items():
        v = po.theory.check(res, theorem)
        worst = max(worst, v.worst_ratio)
        if not v.holds:
            bad.append(name)
    return not bad, worst, bad
