"""Classical dynamic-programming guarantees (Puterman 1994)."""

from __future__ import annotations

import numpy as np

from .._base import ABS_SLACK, RATE_SLACK
from .registry import Theorem, Verdict, register

PUTERMAN = "M. L. Puterman, Markov Decision Processes: Discrete Stochastic Dynamic Programming (1994)"


def _vi_contraction_bound(res, t):
    gamma = res.problem.gamma
    return np.asarray(res.certificates["value_error"])[0] * gamma ** np.asarray(t, dtype=float)


register(
    Theorem(
        name="vi.contraction",
        statement="||v_k - v*||_inf <= gamma^k ||v_0 - v*||_inf (the Bellman operator is a gamma-contraction)",
        methods=("value_iteration",),
        certificate="value_error",
        bound=_vi_contraction_bound,
        source=PUTERMAN,
        equation="Thm 6.2.3 (Banach fixed point), Prop. 6.2.4",
        confidence="paper",
    )
)


def _pi_monotone(res) -> Verdict:
    values = np.asarray(res.info["values"])  # [T+1, S], values of successive policies
    scale = max(1.0, float(np.max(np.abs(values))))
    drops = values[:-1] - values[1:]  # > 0 where the value decreased
    worst = float(np.max(drops, initial=0.0)) / scale
    bad = np.flatnonzero((drops > RATE_SLACK * scale + ABS_SLACK).any(axis=1))
    return Verdict(bad.size == 0, worst, int(bad[0]) + 1 if bad.size else None)


register(
    Theorem(
        name="pi.monotone",
        statement="policy iteration values are monotone: v^{pi_{k+1}} >= v^{pi_k} componentwise",
        methods=("policy_iteration",),
        certificate="",
        bound=None,
        source=PUTERMAN,
        equation="Prop. 6.4.1",
        confidence="paper",
        checker=_pi_monotone,
    )
)


def _pi_termination(res) -> Verdict:
    S, A = res.problem.num_states, res.problem.num_actions
    limit = float(A) ** S
    ratio = res.num_iter / limit
    ok = res.status == "converged" and res.num_iter <= limit
    return Verdict(ok, ratio, None if ok else res.num_iter)


register(
    Theorem(
        name="pi.finite_termination",
        statement="policy iteration stops at an optimal policy after at most |A|^|S| improvements",
        methods=("policy_iteration",),
        certificate="",
        bound=None,
        source=PUTERMAN,
        equation="Thm 6.4.2",
        confidence="paper",
        checker=_pi_termination,
    )
)


def _vi_bounds_contain(res) -> Verdict:
    lo = np.asarray(res.info["v_lower"])
    hi = np.asarray(res.info["v_upper"])
    v_star = np.asarray(res.optimum.value)
    scale = max(1.0, float(np.max(np.abs(v_star))))
    slack = RATE_SLACK * scale + ABS_SLACK
    viol = np.maximum(lo - v_star, v_star - hi)
    ok = bool(np.all(viol <= slack))
    width = float(np.max(hi - lo))
    bad = np.flatnonzero(viol > slack)
    return Verdict(ok, float(np.max(viol)) / max(width, ABS_SLACK), int(bad[0]) if bad.size else None)


register(
    Theorem(
        name="vi.certified_bounds",
        statement=(
            "value iteration's bounds contain v*: "
            "v_k + min(Tv_k - v_k) gamma/(1-gamma) <= T v_k ... ; v_lower <= v* <= v_upper"
        ),
        methods=("value_iteration",),
        certificate="",
        bound=None,
        source=PUTERMAN,
        equation="Thm 6.6.3 (MacQueen bounds)",
        confidence="paper",
        checker=_vi_bounds_contain,
    )
)
