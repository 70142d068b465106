"""Episodic total reward (stochastic shortest path): policy iteration from a proper policy."""

from __future__ import annotations

import numpy as np

from .._base import ABS_SLACK, RATE_SLACK
from .registry import Theorem, Verdict, register

BERTSEKAS_TSITSIKLIS = (
    "D. P. Bertsekas, J. N. Tsitsiklis, An analysis of stochastic shortest path problems, "
    "Mathematics of Operations Research 16(3), 1991"
)


def _total_pi(res) -> Verdict:
    """Every iterate finite (proper), values nondecreasing, the last one a Bellman fixed point.

    Policy iteration on the other criteria makes the same claims (Puterman 1994, Prop. 6.4.1 and
    Thm 6.4.2 discounted; gains nondecreasing, Prop. 9.2.x, at gamma = 1), so the check reads them there:
    the Bellman equation with the MDP's gamma (discounted), finite nondecreasing gains (average reward).
    """
    mdp = res.problem
    criterion = getattr(mdp, "criterion", None)
    values = np.asarray(res.info["values"])  # [T+1, S], values of the successive policies
    if not np.all(np.isfinite(values)):
        return Verdict(False, float("inf"), int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0]))
    scale = max(1.0, float(np.max(np.abs(values))))
    slack = RATE_SLACK * scale + ABS_SLACK
    drops = values[:-1] - values[1:]  # > 0 where a value decreased
    bad = np.flatnonzero((drops > slack).any(axis=1))
    if bad.size:
        return Verdict(False, float(np.max(drops)) / scale, int(bad[0]) + 1)
    if criterion not in ("total", "discounted"):  # average reward: the gains, checked above
        return Verdict(res.status == "converged", 0.0, None if res.status == "converged" else values.shape[0] - 1)
    v = values[-1]
    keep = np.ones(mdp.num_states, dtype=bool)
    keep[mdp.terminal] = False
    q = mdp.r + mdp.gamma * np.asarray(mdp.P_sa @ v).reshape(mdp.r.shape)
    residual = float(np.max(np.abs(np.where(keep, q.max(axis=1), 0.0) - v)))
    ok = res.status == "converged" and residual <= slack
    return Verdict(ok, residual / slack, None if ok else values.shape[0] - 1)


register(
    Theorem(
        name="total.pi_proper",
        statement=(
            "total reward, SSP assumptions (a proper policy exists; every improper one has total reward -inf "
            "somewhere): policy iteration from a proper policy keeps every iterate proper (finite values), "
            "its values are nondecreasing, and it stops at a solution of the Bellman equation, which is v* "
            "(on a discounted MDP the check reads the same claims with gamma; at gamma = 1 without terminal "
            "states: finite nondecreasing gains)"
        ),
        methods=("policy_iteration",),
        certificate="",
        bound=None,
        source=BERTSEKAS_TSITSIKLIS,
        equation="Props. 2-3 (numbering not confirmed)",
        confidence="recalled",
        checker=_total_pi,
        note="statement recalled from the paper's abstract-level summary; the full text was not consulted",
    )
)
