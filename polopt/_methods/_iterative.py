"""The loop shared by every iterative update rule run through :func:`polopt.solve`.

A rule is a pure ``step(state) -> state`` (the oracle already bound in); this module runs it
``iters`` times in NumPy float64, records the policy of every iterate, and stops early with
status ``"nonfinite"`` the first time a policy stops being finite (nothing after that point
is recorded, nothing before it is lost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._validation import as_scalar
from ..result import MAX_ITER, NONFINITE


class Trajectory(NamedTuple):
    """``iterates [T+1, ...]`` (iterate 0 = the initial state's policy), the final state,
    the status ("max_iter" when all ``iters`` steps ran, "nonfinite" otherwise) and ``T``."""

    iterates: np.ndarray
    state: Any
    status: str
    num_iter: int
    states: list


def iterate(state, step: Callable[[Any], Any], iters: int, policy_of: Callable[[Any], np.ndarray],
            keep_states: bool = False, log_domain: bool = False) -> Trajectory:
    """Run ``state <- step(state)`` ``iters`` times; ``policy_of(state)`` gives the recorded policy.

    With ``log_domain`` the recorded arrays are log-policies: ``-inf`` (a zero probability) is
    a valid entry there, NaN and ``+inf`` are not.
    """
    pols = [np.asarray(policy_of(state), dtype=np.float64)]
    states = [state] if keep_states else []
    status = MAX_ITER
    for _ in range(iters):
        new = step(state)
        pi = np.asarray(policy_of(new), dtype=np.float64)
        ok = np.isfinite(pi) | (pi == -np.inf) if log_domain else np.isfinite(pi)
        if not np.all(ok):
            status = NONFINITE
            break
        state = new
        pols.append(pi)
        if keep_states:
            states.append(state)
    return Trajectory(np.stack(pols), state, status, len(pols) - 1, states)


def step_size(name: str, value, default=None) -> float:
    """A step size ``> 0`` (``inf`` allowed where the rule defines the limit); clear error otherwise."""
    if value is None:
        if default is None:
            raise TypeError(f"{name} is required (a step size > 0)")
        value = default
    return as_scalar(name, value, low=0.0, low_open=True, allow_inf=True)
