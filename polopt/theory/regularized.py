"""Guarantees of the average-reward and regularized exact methods."""

from __future__ import annotations

import numpy as np

from .._base import ABS_SLACK, RATE_SLACK
from .classical import PUTERMAN
from .registry import Theorem, Verdict, register


def _rvi_gain_bounds(res) -> Verdict:
    lo = np.asarray(res.info["gain_lower"])
    hi = np.asarray(res.info["gain_upper"])
    g_star = float(np.max(res.optimum.value))
    slack = RATE_SLACK * max(1.0, abs(g_star)) + ABS_SLACK
    viol = np.maximum(lo - g_star, g_star - hi)
    bad = np.flatnonzero(viol > slack)
    width = np.maximum(hi - lo, ABS_SLACK)
    return Verdict(bad.size == 0, float(np.max(viol / width)), int(bad[0]) if bad.size else None)


register(
    Theorem(
        name="rvi.gain_bounds",
        statement="relative value iteration: min_s (T h_t - h_t)(s) <= g* <= max_s (T h_t - h_t)(s) at every t "
        "(unichain MDPs; in original units after the aperiodicity transform)",
        methods=("relative_value_iteration",),
        certificate="",
        bound=None,
        source=PUTERMAN,
        equation="§8.5.5 (Odoni bounds); section number unverified",
        confidence="recalled",
        checker=_rvi_gain_bounds,
    )
)


def _soft_vi_bound(res, t):
    return np.asarray(res.certificates["value_error"])[0] * res.problem.gamma ** np.asarray(t, dtype=float)


register(
    Theorem(
        name="soft_vi.contraction",
        statement="soft (KL-regularized) value iteration: ||v_t - v*_beta||_inf <= gamma^t ||v_0 - v*_beta||_inf "
        "(beta log-sum-exp is 1-Lipschitz in sup-norm, so the soft Bellman operator is a gamma-contraction)",
        methods=("soft_value_iteration",),
        certificate="value_error",
        bound=_soft_vi_bound,
        source="Geist, Scherrer, Pietquin, 'A Theory of Regularized Markov Decision Processes' (2019)",
        arxiv="1901.11275",
        equation=None,
        confidence="derived",
    )
)
