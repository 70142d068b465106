"""Episodic total reward: the stochastic-shortest-path problem, solved exactly.

Criterion (``TabularMDP(P, r, gamma=1.0, terminal=[...])``, ``mdp.criterion == "total"``): the
episode ends on entering a terminal state ``t in T`` (absorbing, reward 0), and

.. math:: V^\\pi(s) = \\mathbb{E}^\\pi_s \\sum_{t \\ge 0} r(s_t, a_t).

A policy is **proper** when it reaches ``T`` with probability 1 from every state; for a proper
deterministic ``sigma`` the transient block ``P_sigma[N, N]`` (``N`` = non-terminal states) has
spectral radius < 1 and ``V^sigma[N] = (I - P_sigma[N, N])^{-1} r_sigma[N]``, ``V^sigma[T] = 0``.
An improper policy loops forever among some states of ``N``: its total reward there is infinite
(or undefined), and it is reported, never returned as a number (:class:`ImproperPolicyError`).

Assumptions (Bertsekas & Tsitsiklis, "An analysis of stochastic shortest path problems",
Math. Oper. Res. 16(3), 1991): (a) some policy is proper, (b) every improper policy has total
reward ``-inf`` from some state. Then ``v*`` is the unique solution of the Bellman equation
``v(s) = max_a r(s, a) + sum_s' P(s'|s, a) v(s')`` on ``N`` (``v = 0`` on ``T``), policy iteration
started from a proper policy stays proper and stops at an optimal policy after finitely many
improvements, and value iteration converges from any start (their Props. 2-3). (a) is checked on
the transition graph (a state that no policy leads to ``T`` is refused by name). When (b) fails
with a *positive* loop the optimum is ``+inf``: an improvement step from a proper policy then
produces an improper one (summing ``r + P v - v >= 0`` over the loop's stationary law gives a
positive average reward, hence ``+inf``), which is reported as an unbounded problem; the LP is then
infeasible and says so too.

Methods: :func:`total_policy_iteration` (the default of ``po.solve``), :func:`total_value_iteration`
(certified by exactly evaluating its greedy policy and checking the Bellman equation),
:func:`total_linear_program` (HiGHS, the cross-check), :func:`total_reward_value` (exact evaluation
of a stochastic policy) and :func:`proper_policy`. ``polopt.exact.value_iteration``,
``policy_iteration``, ``solve_mdp`` and ``linear_program`` route a total-reward MDP here.
Tests: ``tests/test_mdp_kinds.py`` (a hand-solved 3-state chain, CliffWalking's 13 steps,
FrozenLake, PI = VI = LP on random masked instances, improper and unbounded cases).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import linprog
from scipy.sparse.csgraph import breadth_first_order

from .._base import CONVERGED, MAX_ITER
from .._validation import as_positive_int, as_scalar
from ._ops import P_pi, feasible_rows, q_from_v, r_pi, scatter_rows
from ._ops import greedy as _argmax
from .evaluation import _as_tabular, _check_policy

__all__ = [
    "ImproperPolicyError",
    "TotalLPResult",
    "proper_policy",
    "total_linear_program",
    "total_policy_iteration",
    "total_reward_value",
    "total_value_iteration",
]

#: An action replaces the current one only if it improves q by more than this (relative to
#: max(1, |v|_inf)): round-off ties would otherwise make policy iteration cycle.
IMPROVE_RTOL = 1e-12
#: The Bellman residual ``||T v_sigma - v_sigma||_inf`` of an exactly evaluated policy that
#: certifies it optimal, relative to ``max(1, |v|_inf)``: an LU solve of a well-posed transient
#: system leaves ~1e-15 relative error; 1e-9 leaves room for ill-conditioned (slowly absorbing) chains.
CERTIFY_RTOL = 1e-9


class ImproperPolicyError(ValueError):
    """A policy that never reaches a terminal state from some state: its total reward is infinite."""


class TotalLPResult(NamedTuple):
    """:func:`total_linear_program`: ``v`` [S] = v* (0 on terminal states), ``policy`` int [S]
    (greedy w.r.t. ``v``), ``visits`` [S, A] expected visit counts of an optimal policy started from
    ``weights`` [S] (the LP dual; 0 on terminal states), ``status``."""

    v: np.ndarray
    policy: np.ndarray
    visits: np.ndarray
    weights: np.ndarray
    status: str = CONVERGED


# ------------------------------------------------------------------ helpers
def _total_mdp(mdp, who: str):
    mdp = _as_tabular(mdp)
    if getattr(mdp, "criterion", None) != "total":
        raise ValueError(f"{who} needs a total-reward MDP (TabularMDP(P, r, gamma=1.0, terminal=[...])), got {mdp!r}")
    if mdp.is_time_inhomogeneous:
        raise ValueError(f"{who} needs a stationary MDP, got {mdp!r}")
    return mdp


def _transient(mdp) -> np.ndarray:
    keep = np.ones(mdp.num_states, dtype=bool)
    keep[mdp.terminal] = False
    return keep


def _reaches_terminal(chain, terminal: np.ndarray) -> np.ndarray:
    """bool [S]: which states reach ``terminal`` in the graph ``chain[s, s'] > 0`` (dense or CSR)."""
    S = chain.shape[0]
    G = sp.csr_matrix(chain > 0 if not sp.issparse(chain) else (chain > 0).astype(np.int8)).T.tocsr()
    # one extra node wired to every terminal state: a single breadth-first search from it
    hub = sp.csr_matrix((np.ones(terminal.size), (np.full(terminal.size, S), terminal)), shape=(S + 1, S + 1))
    G = sp.bmat([[G, None], [None, sp.csr_matrix((1, 1))]]).tocsr() + hub
    order = breadth_first_order(G, S, directed=True, return_predecessors=False)
    out = np.zeros(S + 1, dtype=bool)
    out[order] = True
    return out[:S]


def _union_chain(mdp):
    """``[S, S']`` support of the feasible actions' rows (some feasible action moves s -> s')."""
    S, A = mdp.num_states, mdp.num_actions
    rows = feasible_rows(mdp)
    select = sp.csr_matrix((np.ones(rows.size), (rows // A, rows)), shape=(S, S * A))
    return (select @ sp.csr_matrix(mdp.P_sa)).tocsr()


def _improper(who: str, reach: np.ndarray, what: str) -> ImproperPolicyError:
    stuck = np.flatnonzero(~reach)
    return ImproperPolicyError(
        f"{who}: {what} is improper: from state {int(stuck[0])} it never reaches a terminal state "
        f"(states {stuck[:10].tolist()}{' ...' if stuck.size > 10 else ''} loop forever), so its total "
        "reward there is infinite or undefined; a total-reward MDP needs policies that terminate"
    )


def _solve_transient(chain, reward: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``v[N] = (I - chain[N, N])^{-1} reward[N]``, ``v[T] = 0`` (dense LU or sparse LU)."""
    v = np.zeros(keep.size)
    n = int(keep.sum())
    if n == 0:
        return v
    idx = np.flatnonzero(keep)
    if sp.issparse(chain):
        M = (sp.identity(n, format="csc") - chain[idx][:, idx]).tocsc()
        v[idx] = spla.spsolve(M, reward[idx])
    else:
        v[idx] = np.linalg.solve(np.eye(n) - chain[np.ix_(idx, idx)], reward[idx])
    return v


def _sigma_chain(mdp, sigma: np.ndarray):
    rows = np.arange(mdp.num_states) * mdp.num_actions + sigma
    return mdp.P_sa[rows], mdp.r[np.arange(mdp.num_states), sigma]


def _evaluate_sigma(mdp, sigma: np.ndarray, who: str, what: str) -> np.ndarray:
    chain, reward = _sigma_chain(mdp, sigma)
    reach = _reaches_terminal(chain, mdp.terminal)
    if not reach.all():
        raise _improper(who, reach, what)
    return _solve_transient(chain, reward, _transient(mdp))


# ------------------------------------------------------------------ evaluation
def total_reward_value(mdp, pi) -> np.ndarray:
    """Exact total reward ``V^pi`` [S] of a stochastic policy ``pi`` [S, A] (0 on terminal states).

    ``V^pi[N] = (I - P_pi[N, N])^{-1} r_pi[N]``, defined when ``pi`` is proper (checked on the graph
    of ``P_pi``, no tolerance). A policy with mass on an infeasible action has value ``-inf`` there.

    Raises:
        ImproperPolicyError: ``pi`` never reaches a terminal state from some state (named).
    """
    mdp = _total_mdp(mdp, "total_reward_value")
    pi = _check_policy(mdp, pi, allow_time=False)
    chain = P_pi(mdp.P_sa, pi)
    reach = _reaches_terminal(chain, mdp.terminal)
    if not reach.all():
        raise _improper("total_reward_value", reach, "pi")
    with np.errstate(invalid="ignore"):
        return _solve_transient(chain, r_pi(mdp.r, pi), _transient(mdp))


def proper_policy(mdp) -> np.ndarray:
    """A proper deterministic policy, int [S]: each state takes a feasible action that moves, with
    positive probability, to a state fewer transitions away from ``T`` (breadth-first layers of the
    union graph). Such a policy reaches ``T`` with probability 1 (each step has a positive chance of
    descending a layer).

    Raises:
        ValueError: some state reaches no terminal state under any policy (named): assumption (a).
    """
    mdp = _total_mdp(mdp, "proper_policy")
    S, A = mdp.num_states, mdp.num_actions
    union = _union_chain(mdp)
    reach = _reaches_terminal(union, mdp.terminal)
    if not reach.all():
        s = int(np.flatnonzero(~reach)[0])
        raise ValueError(
            f"state {s} reaches no terminal state under any policy (terminal = {mdp.terminal.tolist()}): its "
            "total reward is not defined; add a terminal state it can reach or use gamma < 1"
        )
    dist = np.full(S, np.inf)
    dist[mdp.terminal] = 0.0
    layer = np.zeros(S, dtype=bool)
    layer[mdp.terminal] = True
    G = union.T.tocsr()  # G[s', s] > 0: some action moves s -> s'
    k = 0
    while layer.any():
        k += 1
        nxt = (np.asarray(G[layer].sum(axis=0)).ravel() > 0) & ~np.isfinite(dist)
        dist[nxt] = k
        layer = nxt
    Pc = sp.csr_matrix(mdp.P_sa).tocoo()
    s_of, a_of = np.divmod(Pc.row, A)
    down = (Pc.data > 0) & (dist[Pc.col] < dist[s_of]) & mdp.mask[s_of, a_of]
    good = np.zeros((S, A), dtype=bool)
    good[s_of[down], a_of[down]] = True
    sigma = np.where(good.any(axis=1), good.argmax(axis=1), mdp.mask.argmax(axis=1))
    return sigma.astype(np.int64)


# ------------------------------------------------------------------ policy iteration
def _improve(q: np.ndarray, sigma: np.ndarray, v: np.ndarray) -> np.ndarray:
    S = q.shape[0]
    best = _argmax(q)
    gain = q[np.arange(S), best] - q[np.arange(S), sigma]
    return np.where(gain > IMPROVE_RTOL * max(1.0, float(np.max(np.abs(v)))), best, sigma)


def _unbounded(who: str, mdp, sigma: np.ndarray) -> ValueError:
    chain, _ = _sigma_chain(mdp, sigma)
    stuck = np.flatnonzero(~_reaches_terminal(chain, mdp.terminal))
    return ValueError(
        f"{who}: the total reward is unbounded (+inf): improving a proper policy leads to a policy that loops "
        f"forever among states {stuck[:10].tolist()} with positive average reward (a reward-collecting cycle "
        "that never terminates); the stochastic-shortest-path assumptions fail. Make the loop costly, add "
        "termination, or use gamma < 1"
    )


def total_policy_iteration(mdp, pi0=None, max_iter: int = 10000, record: bool = False):
    """Policy iteration for the total reward (Bertsekas & Tsitsiklis 1991, Prop. 3).

    From a proper ``sigma_0`` (``pi0`` int [S] / [S, A] taken greedily by argmax, else
    :func:`proper_policy`): evaluate ``V^sigma`` exactly on the transient states, improve
    ``sigma(s) <- argmax_a r(s, a) + sum_s' P(s'|s, a) V^sigma(s')`` (only by more than
    :data:`IMPROVE_RTOL`), stop when ``sigma`` repeats: then ``V^sigma`` solves the Bellman
    equation, so it is ``v*``. Returns :class:`polopt.exact.dp.PIResult`.

    Raises:
        ImproperPolicyError: ``pi0`` is improper (named state). ValueError: no proper policy exists
            (a state cannot reach ``T``), or the optimum is unbounded (an improvement became improper).
    """
    from .dp import PIResult

    mdp = _total_mdp(mdp, "total_policy_iteration")
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    S, A = mdp.num_states, mdp.num_actions
    start = proper_policy(mdp)  # checks assumption (a), naming the state when it fails
    if pi0 is None:
        sigma = start
    else:
        arr = np.asarray(pi0)
        sigma = arr.astype(np.int64) if arr.ndim == 1 else _check_policy(mdp, arr, allow_time=False).argmax(axis=1)
        if sigma.shape != (S,) or (sigma < 0).any() or (sigma >= A).any():
            raise ValueError(f"pi0 must be int [S] = [{S}] actions in [0, {A - 1}] or a policy [S, A], got {arr!r}")
        if not mdp.mask[np.arange(S), sigma].all():
            s = int(np.flatnonzero(~mdp.mask[np.arange(S), sigma])[0])
            raise ValueError(f"pi0 takes the infeasible action {int(sigma[s])} in state {s}")
    v = _evaluate_sigma(mdp, sigma, "total_policy_iteration", "the initial policy pi0")
    values, policies = ([v], [sigma]) if record else (None, None)
    converged = False
    k = 0
    while True:
        q = q_from_v(mdp.P_sa, mdp.r, 1.0, v)
        new = _improve(q, sigma, v)
        if np.array_equal(new, sigma):
            converged = True
            break
        if k >= max_iter:
            break
        try:
            v = _evaluate_sigma(mdp, new, "total_policy_iteration", "the improved policy")
        except ImproperPolicyError:
            raise _unbounded("total_policy_iteration", mdp, new) from None
        sigma = new
        k += 1
        if record:
            values.append(v)
            policies.append(sigma)
    return PIResult(v, sigma, k, converged, np.array(values) if record else None,
                    np.array(policies) if record else None, CONVERGED if converged else MAX_ITER)


# ------------------------------------------------------------------ value iteration
def total_value_iteration(mdp, v0=None, tol: float = 1e-10, max_iter: int = 100000, record: bool = False):
    """Value iteration ``v_{k+1} = T v_k`` for the total reward, certified by exact evaluation.

    Iterates from ``v0`` (default 0; terminal entries held at 0) until ``||T v_k - v_k||_inf < tol``.
    The total-reward operator is no sup-norm contraction, so a small residual alone certifies
    nothing; the result therefore evaluates the greedy policy ``sigma`` of the last iterate exactly:
    when ``sigma`` is proper and ``V^sigma`` satisfies the Bellman equation up to
    :data:`CERTIFY_RTOL`, ``V^sigma = v*`` and ``v = v_lower = v_upper = V^sigma``; otherwise
    ``v_lower = V^sigma`` (a proper policy's value, ``<= v*``; ``-inf`` if improper), ``v_upper = inf``
    and ``status = "max_iter"``. Returns :class:`polopt.exact.dp.VIResult`.
    """
    from .dp import VIResult, _check_v

    mdp = _total_mdp(mdp, "total_value_iteration")
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    proper_policy(mdp)
    keep = _transient(mdp)
    v = np.zeros(mdp.num_states) if v0 is None else np.where(keep, _check_v("v0", v0, mdp.num_states), 0.0)
    values, policies, residuals = ([v], [], []) if record else (None, None, [])
    it = 0
    while True:
        q = q_from_v(mdp.P_sa, mdp.r, 1.0, v)
        Tv = np.where(keep, q.max(axis=1), 0.0)
        residuals.append(float(np.max(np.abs(Tv - v))))
        if record:
            policies.append(_argmax(q))
        if residuals[-1] < tol or it >= max_iter or not np.all(np.isfinite(Tv)):
            break
        v = Tv
        it += 1
        if record:
            values.append(v)
    sigma = _argmax(q)
    chain, reward = _sigma_chain(mdp, sigma)
    if _reaches_terminal(chain, mdp.terminal).all():
        v_sigma = _solve_transient(chain, reward, keep)
        q_sigma = q_from_v(mdp.P_sa, mdp.r, 1.0, v_sigma)
        bellman = float(np.max(np.abs(np.where(keep, q_sigma.max(axis=1), 0.0) - v_sigma)))
        certified = bellman <= CERTIFY_RTOL * max(1.0, float(np.max(np.abs(v_sigma))))
    else:
        v_sigma, certified = np.full(mdp.num_states, -np.inf), False
    v_upper = v_sigma if certified else np.full(mdp.num_states, np.inf)
    return VIResult(v_sigma if certified else Tv, sigma, v_sigma, v_upper, it, certified,
                    np.stack(values) if record else None, np.array(residuals),
                    np.stack(policies) if record else None, CONVERGED if certified else MAX_ITER)


# ------------------------------------------------------------------ linear program
def total_linear_program(mdp, rho=None) -> TotalLPResult:
    """The total-reward LP (HiGHS), an independent cross-check of :func:`total_policy_iteration`.

    .. math:: \\min_{v} \\sum_{s \\in N} w(s) v(s) \\quad\\text{s.t.}\\quad
              v(s) - \\sum_{s' \\in N} P(s'|s, a) v(s') \\ge r(s, a) \\quad \\forall s \\in N,\\ a \\text{ feasible},

    with ``v = 0`` on ``T`` and weights ``w > 0`` (``rho`` on ``N`` when it is positive there, else
    uniform): under the SSP assumptions its solution is ``v*`` at every state, and the dual is the
    expected number of visits ``x(s, a)`` of an optimal policy started from ``w``.

    Raises:
        ValueError: no proper policy; the LP infeasible (the optimum is ``+inf``: a positive loop).
    """
    mdp = _total_mdp(mdp, "total_linear_program")
    proper_policy(mdp)
    S, A = mdp.num_states, mdp.num_actions
    keep = _transient(mdp)
    idx = np.flatnonzero(keep)
    rows = feasible_rows(mdp)
    rows = rows[keep[rows // A]]
    w = np.asarray(mdp.rho if rho is None else rho, dtype=np.float64)[idx]
    if not np.all(w > 0):
        w = np.ones(idx.size)
    w = w / w.sum()
    P = sp.csr_matrix(mdp.P_sa)[rows][:, idx]
    E = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), np.searchsorted(idx, rows // A))),
                      shape=(rows.size, idx.size))
    res = linprog(w, A_ub=-(E - P), b_ub=-mdp.r.ravel()[rows], bounds=[(None, None)] * idx.size, method="highs")
    if res.status == 2:
        raise ValueError("total_linear_program: the LP is infeasible, so the total reward is unbounded (+inf): some "
                         "policy loops forever collecting positive reward")
    if res.status != 0:
        raise RuntimeError(f"total_linear_program: HiGHS status {res.status}: {res.message}")
    v = np.zeros(S)
    v[idx] = res.x
    visits = scatter_rows(-np.asarray(res.ineqlin.marginals), rows, S * A).reshape(S, A)
    policy = _argmax(q_from_v(mdp.P_sa, mdp.r, 1.0, v))
    weights = np.zeros(S)
    weights[idx] = w
    return TotalLPResult(v, policy, np.clip(visits, 0.0, None), weights)
