"""Exact policy evaluation: values, Q-tables, advantages and occupancy measures.

For a stochastic policy ``pi[s, a]`` of a discounted MDP (Puterman 1994, *Markov Decision
Processes*, §6.1):

.. math::

    V^\\pi = (I - \\gamma P_\\pi)^{-1} r_\\pi, \\qquad
    Q^\\pi = r + \\gamma P V^\\pi, \\qquad A^\\pi = Q^\\pi - V^\\pi,

and the normalized discounted state-action occupancy (Puterman §6.9; Altman 1999,
*Constrained MDPs*, ch. 3)

.. math::

    d(s, a) = (1-\\gamma) \\sum_t \\gamma^t \\Pr(s_t = s, a_t = a \\mid s_0 \\sim \\rho, \\pi)
            = \\pi(a|s)\\, [(1-\\gamma) (I - \\gamma P_\\pi^\\top)^{-1} \\rho](s),

which sums to 1 and satisfies the flow equation
``sum_a d(s', a) = (1-gamma) rho(s') + gamma sum_{s,a} P(s'|s,a) d(s,a)``.

For a finite horizon ``H`` (optionally discounted by ``gamma``) the values are computed by
the backward recursion ``Q[h] = r_h + gamma P_h V[h+1]``, ``V[h] = sum_a pi_h Q[h]``,
``V[H] = 0``, and the occupancy by the forward recursion ``d_0 = rho``,
``d_{h+1}(s') = sum_{s,a} d_h(s) pi_h(a|s) P_h(s'|s,a)``.

Linear systems: dense direct solve for small ``S``; for sparse kernels or large ``S`` a
Krylov method (BiCGSTAB, then GMRES) on ``I - gamma P_pi`` — never a sparse LU, whose
fill-in is what makes sparse policy iteration slow in the anchors — with a direct solve
only as a fallback. ``I - gamma P_pi`` is strictly diagonally dominant by rows with
``||(I - gamma P_pi)^{-1}||_inf <= 1/(1-gamma)``, so a residual ``res`` certifies
``||v - V^pi||_inf <= ||res||_inf / (1-gamma)``; the Krylov answer is accepted only when
that bound is below :data:`KRYLOV_ERROR`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._threads import single_threaded
from .._validation import as_float_array, check_dense_size, check_nonnegative, check_stochastic
from ._ops import P_pi, q_from_v, r_pi

__all__ = ["Evaluation", "evaluate", "policy_value", "q_from_v", "solve_discounted"]

#: Dense ``S x S`` systems up to this size are solved directly (LU costs ~S^3/1.5 flops,
#: a few ms at S = 2000; beyond that Krylov on the dense matvec is cheaper).
DIRECT_MAX_STATES = 2000
#: Certified sup-norm error a Krylov solution must reach (relative to ``max(1, |b|_inf /
#: (1-gamma))``) before it is accepted; 1e-12 leaves four digits below EXACT_F64.
KRYLOV_ERROR = 1e-12
#: Krylov iterations before falling back to a direct solve (well-mixing chains converge in
#: tens; slowly mixing non-normal chains such as RiverSwim are cheaper to factor directly).
KRYLOV_MAXITER = 300


class Evaluation(NamedTuple):
    """Exact evaluation of a policy.

    Discounted: ``V`` [S], ``Q`` [S, A], ``advantage`` [S, A] = Q - V[:, None], ``occupancy``
    [S, A] (normalized discounted state-action occupancy, sums to 1).
    Finite horizon: ``V`` [H, S] (step 0 first), ``Q`` [H, S, A], ``advantage`` [H, S, A],
    ``occupancy`` [H, S, A] (state-action visitation probabilities at each step; each
    ``occupancy[h]`` sums to 1).
    """

    V: np.ndarray
    Q: np.ndarray
    advantage: np.ndarray
    occupancy: np.ndarray


# ------------------------------------------------------------------ linear solves
def _krylov(M, b: np.ndarray, gamma: float, x0: np.ndarray | None = None) -> np.ndarray | None:
    """Solve ``M x = b`` by BiCGSTAB then GMRES; None unless the certified error is small."""
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)) / max(1.0 - gamma, 1e-300))
    target = KRYLOV_ERROR * scale * (1.0 - gamma)  # residual bound that certifies the error
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0.0:
        return np.zeros_like(b)
    # the 2-norm residual bounds the inf-norm residual, so this rtol is sufficient
    rtol = max(target / bnorm, 1e-15)
    for method in (spla.bicgstab, spla.gmres):
        kwargs = {"restart": 50} if method is spla.gmres else {}
        try:
            x, _ = method(M, b, x0=x0, rtol=rtol, atol=0.0, maxiter=KRYLOV_MAXITER, **kwargs)
        except (ArithmeticError, ValueError):  # breakdown: try the next method
            continue
        if np.all(np.isfinite(x)) and float(np.max(np.abs(b - M @ x))) <= target:
            return x
        x0 = x if np.all(np.isfinite(x)) else x0
    return None


#: A sparse system whose nonzeros lie within this many diagonals (lower + upper + 1) is solved as a
#: banded one (LAPACK ``gbsv``: LU with partial pivoting, O(S w^2)) rather than by SuperLU: on
#: RiverSwim's chains SuperLU took 0.35 s per solve at S = 10^6 and 3.4 ms at S = 10^4.
BANDED_MAX_WIDTH = 16


def _bandwidths(M) -> tuple[int, int]:
    """``(lower, upper)`` bandwidths of a CSR matrix (0, 0 for an empty one)."""
    if M.nnz == 0:
        return 0, 0
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    offset = M.indices.astype(np.int64) - rows  # column - row
    return max(0, -int(offset.min())), max(0, int(offset.max()))


def _solve_banded(M, b: np.ndarray, lower: int, upper: int) -> np.ndarray:
    from scipy.linalg import solve_banded

    S = M.shape[0]
    M = M.copy()
    M.sum_duplicates()  # one entry per (i, j): the scatter below may assign instead of add
    rows = np.repeat(np.arange(S), np.diff(M.indptr))
    ab = np.zeros((lower + upper + 1, S))
    ab[upper + rows - M.indices, M.indices] = M.data  # LAPACK band storage: M[i, j] at ab[upper + i - j, j]
    return solve_banded((lower, upper), ab, b, check_finite=False)


def _narrow_band(M) -> tuple[int, int] | None:
    """``(lower, upper)`` when ``M``'s band spans at most :data:`BANDED_MAX_WIDTH` diagonals, else None."""
    lower, upper = _bandwidths(M)
    return (lower, upper) if lower + upper + 1 <= BANDED_MAX_WIDTH else None


def _sparse_direct(M, b: np.ndarray, band: tuple[int, int] | None = None) -> np.ndarray:
    """Direct solve of a sparse CSR system: banded LU when the band is narrow, else SuperLU."""
    band = _narrow_band(M) if band is None else band
    if band is not None:
        return _solve_banded(M, b, *band)
    return spla.spsolve(M.tocsc(), b)


def solve_discounted(
    Ppi, b: np.ndarray, gamma: float, *, transpose: bool = False, x0=None, krylov: bool = True
) -> np.ndarray:
    """Solve ``(I - gamma Ppi) x = b`` (or with ``Ppi.T`` if ``transpose``), float64 [S].

    ``Ppi`` dense [S, S] or sparse CSR. Dense with ``S <= DIRECT_MAX_STATES``: LU solve.
    Otherwise Krylov with a certified residual (unless ``krylov=False``), falling back to a
    direct solve (sparse: banded LU within :data:`BANDED_MAX_WIDTH` diagonals, else SuperLU).
    """
    S = b.shape[0]
    if sp.issparse(Ppi):
        M = (sp.identity(S, format="csr") - gamma * (Ppi.T.tocsr() if transpose else Ppi)).tocsr()
        # a narrow band (chains) is solved directly at once: its LU costs O(S w^2), less than any
        # Krylov run, and Krylov is slowest there (RiverSwim 10^5, gamma = 0.99: 15 s of BiCGSTAB and
        # GMRES before the fallback, against 20 ms for the banded LU)
        band = _narrow_band(M)
        x = _krylov(M, b, gamma, x0) if krylov and band is None else None
        if x is None:
            x = _sparse_direct(M, b, band)
        return np.asarray(x, dtype=np.float64)
    # I - gamma Ppi and (direct solve) its LU factors: two more dense S x S arrays
    check_dense_size("P_pi", (S, S), "pass the kernel as a scipy.sparse (S*A, S) matrix (Krylov / sparse LU)",
                     copies=2)
    M = np.eye(S) - gamma * (Ppi.T if transpose else Ppi)
    if S > DIRECT_MAX_STATES and krylov:
        x = _krylov(M, b, gamma, x0)
        if x is not None:
            return x
    # an LU of at most a few thousand rows: a second BLAS thread costs more than it gives, and far
    # more beside other work (bench/results/mdp_busy2.json: policy iteration 5x slower under load)
    with single_threaded():
        return np.linalg.solve(M, b)


# ------------------------------------------------------------------ validation
def _check_policy(mdp, pi, allow_time: bool) -> np.ndarray:
    pi = as_float_array("pi", pi, ndim=(2, 3))
    S, A = mdp.num_states, mdp.num_actions
    if pi.ndim == 3:
        if not allow_time:
            raise ValueError(
                f"pi must have shape [S, A] = [{S}, {A}] for a {mdp.criterion} MDP, got {pi.shape}"
            )
        if pi.shape != (mdp.horizon, S, A):
            raise ValueError(f"pi must have shape [H, S, A] = [{mdp.horizon}, {S}, {A}], got {pi.shape}")
    elif pi.shape != (S, A):
        raise ValueError(f"pi must have shape [S, A] = [{S}, {A}], got {pi.shape}")
    check_nonnegative("pi", pi)
    check_stochastic("pi", pi)
    return pi


def _as_tabular(mdp):
    return mdp.as_tabular() if hasattr(mdp, "as_tabular") else mdp


# ------------------------------------------------------------------ evaluation
def _discounted(mdp, pi: np.ndarray) -> Evaluation:
    P_sa, r, gamma = mdp.P_sa, mdp.r, mdp.gamma
    Ppi = P_pi(P_sa, pi)
    V = solve_discounted(Ppi, r_pi(r, pi), gamma)
    Q = q_from_v(P_sa, r, gamma, V)
    d_state = solve_discounted(Ppi, (1.0 - gamma) * np.asarray(mdp.rho), gamma, transpose=True)
    occupancy = d_state[:, None] * pi
    return Evaluation(V, Q, Q - V[:, None], occupancy)


def _total(mdp, pi: np.ndarray) -> Evaluation:
    """Total reward: ``V`` (ImproperPolicyError for an improper ``pi``), ``Q = r + P V``, and as
    occupancy the expected visit counts ``x = rho^T (I - P_pi[N, N])^{-1}`` times ``pi`` (not normalized:
    they sum to the expected episode length)."""
    from .total import _transient, total_reward_value

    V = total_reward_value(mdp, pi)
    Q = q_from_v(mdp.P_sa, mdp.r, 1.0, V)
    keep = _transient(mdp)
    idx = np.flatnonzero(keep)
    Ppi = P_pi(mdp.P_sa, pi)
    Ppi = Ppi.toarray() if sp.issparse(Ppi) else Ppi
    d = np.zeros(mdp.num_states)
    d[idx] = np.linalg.solve((np.eye(idx.size) - Ppi[np.ix_(idx, idx)]).T, np.asarray(mdp.rho)[idx])
    with np.errstate(invalid="ignore"):  # an infeasible pair: Q = -inf, advantage -inf
        return Evaluation(V, Q, Q - V[:, None], d[:, None] * pi)


def _finite_horizon(mdp, pi: np.ndarray) -> Evaluation:
    H, S, A, gamma = mdp.horizon, mdp.num_states, mdp.num_actions, mdp.gamma
    pis = np.broadcast_to(pi, (H, S, A)) if pi.ndim == 2 else pi
    V = np.zeros((H + 1, S))
    Q = np.zeros((H, S, A))
    for h in range(H - 1, -1, -1):
        Q[h] = q_from_v(mdp.P_at(h), mdp.r_at(h), gamma, V[h + 1])
        V[h] = r_pi(Q[h], pis[h])
    occupancy = np.zeros((H, S, A))
    d = np.asarray(mdp.rho, dtype=np.float64)
    for h in range(H):
        occupancy[h] = d[:, None] * pis[h]
        d = np.asarray(mdp.P_at(h).T @ occupancy[h].ravel()).ravel()
    return Evaluation(V[:H], Q, Q - V[:H, :, None], occupancy)


def evaluate(mdp, pi) -> Evaluation:
    """Exact ``V``, ``Q``, advantage and occupancy of the stochastic policy ``pi``.

    Args:
        mdp: a discounted, finite-horizon or total-reward (``terminal=``) :class:`~polopt.problems.TabularMDP`
            (or a :class:`~polopt.problems.LinearMixtureMDP`, evaluated through ``as_tabular()``). For the
            total reward the occupancy is the expected number of visits (summing to the expected episode
            length) and an improper ``pi`` raises :class:`polopt.exact.total.ImproperPolicyError`.
        pi: policy [S, A] with rows on the simplex; [H, S, A] allowed for a finite horizon.

    Returns:
        :class:`Evaluation` (shapes in its docstring).

    Raises:
        ValueError: bad ``pi`` (shape, non-finite, a row off the simplex — the message names
            the first bad row), or an average-reward MDP (use :func:`polopt.exact.gain_bias`).

    Tested in ``tests/test_evaluation.py`` against a truncated Neumann series, the flow
    equation and brute-force finite-horizon recursions.
    """
    mdp = _as_tabular(mdp)
    if mdp.criterion == "average":
        raise ValueError(
            "evaluate() needs a discounted or finite-horizon MDP; for the average-reward criterion "
            "(gamma = 1, no horizon) use polopt.exact.gain_bias(mdp, pi)"
        )
    pi = _check_policy(mdp, pi, allow_time=mdp.criterion == "finite_horizon")
    if mdp.criterion == "finite_horizon":
        return _finite_horizon(mdp, pi)
    if mdp.criterion == "total":
        return _total(mdp, pi)
    return _discounted(mdp, pi)


def policy_value(mdp, pi) -> np.ndarray:
    """``V^pi`` only: [S] (discounted) or [H, S] (finite horizon); see :func:`evaluate`."""
    mdp = _as_tabular(mdp)
    if mdp.criterion == "average":
        raise ValueError(
            "policy_value() needs a discounted or finite-horizon MDP; for the average-reward "
            "criterion use polopt.exact.gain_bias(mdp, pi)"
        )
    pi = _check_policy(mdp, pi, allow_time=mdp.criterion == "finite_horizon")
    if mdp.criterion == "finite_horizon":
        return _finite_horizon(mdp, pi).V
    if mdp.criterion == "total":
        from .total import total_reward_value

        return total_reward_value(mdp, pi)
    return solve_discounted(P_pi(mdp.P_sa, pi), r_pi(mdp.r, pi), mdp.gamma)
