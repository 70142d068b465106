"""Linear programming for discounted MDPs (primal values, dual occupancy measure).

Primal (Puterman 1994, *Markov Decision Processes*, §6.9.1), with a strictly positive state
weighting ``w``:

.. math:: \\min_v \\; w^\\top v \\quad \\text{s.t.}\\quad
          v(s) \\ge r(s, a) + \\gamma \\sum_{s'} P(s'|s, a) v(s') \\quad \\forall (s, a).

Because ``w > 0`` the solution is ``v*`` at every state. The dual is the occupancy LP

.. math:: \\max_{x \\ge 0} \\sum_{s,a} r(s,a) x(s,a) \\quad\\text{s.t.}\\quad
          \\sum_a x(s', a) - \\gamma \\sum_{s,a} P(s'|s,a) x(s,a) = w(s'),

whose solution is the (unnormalized) discounted occupancy of an optimal policy started from
``w``; :class:`LPResult` returns it normalized, ``(1-gamma) x``, the same convention as
:func:`polopt.exact.evaluate` (``tests/test_exact_mdp.py`` checks they agree).

HiGHS (``scipy.optimize.linprog(method="highs")``) is the default: ``A_ub`` is sparse when the
kernel is, and ``x`` is read from the inequality marginals. ``solver="cvxpy"`` solves the same
primal with cvxpy, for cross-checks. Average-reward MDPs go to
:func:`polopt.exact.average.average_reward_lp`. Infeasible pairs (``mdp.mask`` False) have no
constraint row (their dual occupancy is 0).

Scaling and conditioning. LP solvers work to *absolute* tolerances (HiGHS: 1e-7 primal/dual
feasibility) and read numbers ``>= 1e20`` as infinite, so the LP is solved with ``r / c`` for the
power of two ``c`` with ``max|r| / c in [0.5, 1)`` (exact in float64; ``v*`` is linear in ``r``,
the occupancy does not depend on it) and ``v`` multiplied back by ``c``. Without it rewards of
1e20 were a "Model error" and rewards of 1e-6 came back with 0.5% error. The constraint matrix
``E - gamma P`` has condition number up to ``(1+gamma)/(1-gamma)`` (it is ``1 - gamma`` away from
singular along the constants); measured relative errors of ``v`` grow from ~1e-14 at
gamma = 0.99 to ~3e-8 at ``1 - 1e-7``, and HiGHS reports the LP infeasible near ``1 - 1e-9``. Above
:data:`MAX_CONDITION` the LP is refused with a ValueError pointing to ``solve_mdp`` /
``policy_iteration``, whose certified bracket does not degrade that way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from .._base import CONVERGED, NONFINITE
from ._ops import feasible_rows, greedy, power_of_two_scale, q_from_v, scatter_rows, unscale, warn_nonfinite
from .evaluation import _as_tabular

__all__ = ["LPResult", "linear_program"]

SOLVERS = ("highs", "cvxpy")
#: Largest condition number ``(1+gamma)/(1-gamma)`` of ``E - gamma P`` the LP accepts (gamma up
#: to ``1 - 1e-7``): beyond it the solver's absolute tolerances give relative value errors above
#: ~1e-7 and then outright failures ("infeasible" near ``1 - 1e-9``).
MAX_CONDITION = 2e7


class LPResult(NamedTuple):
    """``v`` [S] = v*, ``policy`` int [S] (greedy w.r.t. ``v``), ``occupancy`` [S, A] normalized
    discounted occupancy (sums to 1) of an optimal policy started from ``weights`` [S];
    ``status`` ``"converged"``, or ``"nonfinite"`` when ``v*`` is beyond float64 (with a warning)."""

    v: np.ndarray
    policy: np.ndarray
    occupancy: np.ndarray
    weights: np.ndarray
    status: str = CONVERGED


def _constraint_matrix(mdp):
    """``E - gamma P_sa`` of shape (S*A, S), where ``E[s*A + a, s] = 1``; sparse if the kernel is."""
    S, A, gamma = mdp.num_states, mdp.num_actions, mdp.gamma
    E = sp.csr_matrix((np.ones(S * A), (np.arange(S * A), np.repeat(np.arange(S), A))), shape=(S * A, S))
    if mdp.is_sparse:
        return (E - gamma * mdp.P_sparse).tocsr()
    return E.toarray() - gamma * mdp.P_sa


def _weights(mdp, rho) -> np.ndarray:
    if rho is None:
        rho_m = np.asarray(mdp.rho)
        # a start distribution with zero entries would leave v undetermined there
        return rho_m if np.all(rho_m > 0) else np.full(mdp.num_states, 1.0 / mdp.num_states)
    w = np.array(rho, dtype=np.float64)
    if w.shape != (mdp.num_states,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        bad = np.flatnonzero(~(np.isfinite(w) & (w > 0))) if w.shape == (mdp.num_states,) else []
        where = f"; first bad entry rho[{bad[0]}] = {w[bad[0]]}" if len(bad) else ""
        raise ValueError(
            f"rho must be a strictly positive weighting of shape [{mdp.num_states}], got shape {w.shape}{where}"
        )
    return w / w.sum()


def _failure(mdp, what: str) -> RuntimeError:
    return RuntimeError(
        f"the discounted MDP LP solver failed ({what}) on {mdp!r} with rewards scaled to max|r| < 1 and "
        f"condition number (1+gamma)/(1-gamma) = {(1 + mdp.gamma) / (1 - mdp.gamma):.3g}; "
        "polopt.exact.solve_mdp or policy_iteration solve it exactly"
    )


def _highs(mdp, w, r):
    rows, n = feasible_rows(mdp), mdp.num_states * mdp.num_actions
    M = _constraint_matrix(mdp)[rows]
    res = linprog(w, A_ub=-M, b_ub=-r.ravel()[rows], bounds=[(None, None)] * mdp.num_states, method="highs")
    if res.status != 0:
        raise _failure(mdp, f"HiGHS status {res.status}: {res.message}")
    return np.asarray(res.x), scatter_rows(-np.asarray(res.ineqlin.marginals), rows, n)


def _cvxpy(mdp, w, r):
    import cvxpy as cp

    rows, n = feasible_rows(mdp), mdp.num_states * mdp.num_actions
    M = _constraint_matrix(mdp)[rows]
    v = cp.Variable(mdp.num_states)
    cons = [M @ v >= r.ravel()[rows]]
    prob = cp.Problem(cp.Minimize(w @ v), cons)
    prob.solve()
    if prob.status != cp.OPTIMAL:
        raise _failure(mdp, f"cvxpy status {prob.status!r}")
    return np.asarray(v.value), scatter_rows(np.asarray(cons[0].dual_value), rows, n)


def linear_program(mdp, solver: str = "highs", rho=None):
    """Solve a discounted MDP by its primal LP; dual = optimal occupancy measure.

    Args:
        mdp: discounted :class:`~polopt.problems.TabularMDP` (or LinearMixtureMDP); an
            average-reward MDP is delegated to ``polopt.exact.average.average_reward_lp``
            (its result type is returned).
        solver: ``"highs"`` (scipy HiGHS, sparse constraints for sparse kernels) or ``"cvxpy"``.
        rho: strictly positive state weighting ``w``; default ``mdp.rho`` when it is strictly
            positive, else uniform.

    Returns:
        :class:`LPResult` ``(v [S], policy int [S], occupancy [S, A], weights [S])``.

    Rewards are scaled to ``max|r| < 1`` by a power of two for the solver and the values scaled
    back (exact; see the module docstring).

    Raises:
        ValueError: unknown ``solver``, finite-horizon MDP, bad ``rho``, or ``gamma`` so close to 1
            that ``(1+gamma)/(1-gamma) > MAX_CONDITION`` (the LP is too ill-conditioned for the
            solver's absolute tolerances; the message points to ``solve_mdp``).
        RuntimeError: the LP solver did not reach optimality (not observed within MAX_CONDITION);
            the message names the conditioning and the exact alternatives.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    mdp = _as_tabular(mdp)
    if mdp.criterion == "average":
        from .average import average_reward_lp

        return average_reward_lp(mdp)
    if mdp.criterion == "total":
        from .total import total_linear_program

        return total_linear_program(mdp, rho=rho)
    if mdp.criterion != "discounted":
        raise ValueError(f"linear_program needs a discounted or average-reward MDP, got {mdp!r}")
    cond = (1.0 + mdp.gamma) / (1.0 - mdp.gamma)
    if cond > MAX_CONDITION:
        raise ValueError(
            f"linear_program: gamma = {mdp.gamma!r} is too close to 1 for an LP solver: the constraint matrix "
            f"E - gamma P has condition number up to (1+gamma)/(1-gamma) = {cond:.3g} > {MAX_CONDITION:g} "
            "(gamma <= 1 - 1e-7), and the solver's absolute tolerances (1e-7) then give wrong values or no "
            "solution; use polopt.exact.solve_mdp or polopt.exact.policy_iteration (certified at any gamma < 1)"
        )
    w = _weights(mdp, rho)
    c = power_of_two_scale(mdp.r)
    r = mdp.r / c
    v, x = (_highs if solver == "highs" else _cvxpy)(mdp, w, r)
    x = np.clip(x, 0.0, None).reshape(mdp.num_states, mdp.num_actions)
    policy = greedy(q_from_v(mdp.P_sa, r, mdp.gamma, v))  # scale-free, and v * c may overflow
    v = unscale(v, c)  # exact: c is a power of two
    status = NONFINITE if warn_nonfinite("linear_program", mdp.r, mdp.gamma, None, v) else CONVERGED
    return LPResult(v, policy, (1.0 - mdp.gamma) * x, w, status)
