"""Minimal expected hitting times and the diameter of a stationary MDP.

For a target state ``j``, the minimal expected time to reach ``j`` from ``s`` solves the stochastic
shortest-path equations (Bertsekas & Tsitsiklis 1991; Puterman 1994, §7.2)::

    h_j(j) = 0,   h_j(s) = 1 + min_a sum_s' P(s'|s, a) h_j(s')   (s != j),

and the diameter is ``D = max_{s != j} h_j(s)`` (Jaksch, Ortner, Auer, JMLR 11, 2010, Def. 1): finite exactly
when the MDP is communicating. Solved by policy iteration for the shortest path (Bertsekas & Tsitsiklis 1991):
start from a proper policy (each state moves, with positive probability, closer to ``j`` in the transition
graph), evaluate it exactly by one linear system, improve greedily; every iterate stays proper and the loop
stops at the optimum after finitely many improvements. A target some state cannot reach is refused.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .average import is_communicating

__all__ = ["HittingTimes", "diameter", "hitting_times"]

#: An action replaces the current one only if it shortens the expected time by more than this (relative):
#: without it round-off ties make policy iteration cycle between equal-valued actions.
IMPROVE_RTOL = 1e-12


class HittingTimes(NamedTuple):
    """``times [S]`` minimal expected hitting times of ``target`` (``times[target] = 0``), ``policy`` int [S]
    (a minimizing action), ``residual`` = ``max_s |1 + min_a P h - h|`` over ``s != target`` (0 at the optimum)."""

    times: np.ndarray
    policy: np.ndarray
    residual: float


def _graph_distance(P: np.ndarray, target: int) -> np.ndarray:
    """Fewest transitions from each state to ``target`` under the best action (inf if unreachable)."""
    S = P.shape[0]
    edge = (P > 0).any(axis=1)  # [S, S']: some action moves s -> s'
    dist = np.full(S, np.inf)
    dist[target] = 0.0
    frontier = np.zeros(S, dtype=bool)
    frontier[target] = True
    for k in range(1, S):
        new = edge[:, frontier].any(axis=1) & ~np.isfinite(dist)
        if not new.any():
            break
        dist[new] = k
        frontier = new
    return dist


def hitting_times(mdp, target: int, max_iter: int = 10_000) -> HittingTimes:
    """Minimal expected hitting times of ``target`` in a stationary :class:`~polopt.problems.TabularMDP`.

    Raises:
        ValueError: ``target`` out of range, or ``target`` not reachable from every state (infinite times).
    """
    P = np.asarray(mdp.dense_P())
    S = P.shape[0]
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < S:
        raise ValueError(f"target must be a state index in [0, {S}), got {target!r}")
    dist = _graph_distance(P, int(target))
    if not np.all(np.isfinite(dist)):
        bad = int(np.flatnonzero(~np.isfinite(dist))[0])
        raise ValueError(f"state {target} is not reachable from state {bad}: the hitting times are infinite")
    keep = np.arange(S) != target
    closer = (dist[None, None, :] < dist[:, None, None]) & (P > 0)
    sigma = closer.any(axis=-1).argmax(axis=-1)  # a proper policy: some mass moves closer to the target
    times = np.zeros(S)
    for _ in range(max_iter):
        Ps = P[np.arange(S), sigma][np.ix_(keep, keep)]
        times[keep] = np.linalg.solve(np.eye(S - 1) - Ps, np.ones(S - 1))
        q = 1.0 + P @ times  # [S, A]
        cur = q[np.arange(S), sigma]
        best = q.argmin(axis=-1)
        better = (q[np.arange(S), best] < cur - IMPROVE_RTOL * np.maximum(1.0, cur)) & keep
        if not better.any():
            break
        sigma = np.where(better, best, sigma)
    residual = float(np.max(np.abs(1.0 + (P @ times).min(axis=-1) - times)[keep], initial=0.0))
    return HittingTimes(times.copy(), sigma, residual)


def diameter(mdp) -> float:
    """``D = max_{s != j} min_pi E[time to reach j from s]`` (``inf`` for a model that is not communicating)."""
    if not is_communicating(mdp):
        return float("inf")
    return max((float(hitting_times(mdp, j).times.max()) for j in range(mdp.num_states)), default=0.0)
