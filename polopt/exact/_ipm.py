"""Primal-dual interior point for the symmetric game LP, with crossover to the exact support.

The unregularized equilibria of a symmetric preference game (``S = P - 1/2`` skew) are the
optimal points of the self-dual LP ``min t s.t. t 1 - S pi >= 0, pi in simplex``;
:func:`interior_point` solves it by Mehrotra's predictor-corrector with Gondzio's centrality
correctors and crosses over to the exact solution of the equilibrium equations on the
support it identifies. The game API (:func:`polopt.exact.games.nash`) validates the input,
certifies the answer and falls back to HiGHS; this module holds only the numerical kernel and
depends on NumPy / SciPy alone.

Threads: :func:`interior_point` runs with one BLAS thread (:func:`polopt._threads.single_threaded`).
Its work is one K x K LU and a few triangular solves and matrix-vector products per iteration;
measured at K = 1000 on 2 cores (``bench.bench_threads``): 0.34 s with one thread, 0.74 s
with two on an idle machine and 1.16 s with one spinning process beside it.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.linalg import LinAlgError, LinAlgWarning, lu_factor, lu_solve

from .._threads import single_threaded

__all__ = ["interior_point", "skew_gap", "to_simplex"]

#: Fraction of the step to the boundary of ``pi, w >= 0`` (Mehrotra's choice).
_STEP_TO_BOUNDARY = 0.995
#: Gondzio correctors per iteration (measured: 2 saves 2-3 of ~15 iterations at K = 1000).
_NUM_CORRECTORS = 2
#: Below this ``t = pi.w`` the support is tried even if the guess changed since the last iteration.
_CROSSOVER_T = 1e-7


def to_simplex(x: np.ndarray) -> np.ndarray:
    """Clip round-off negatives and renormalize (the certificate is computed on the result)."""
    x = np.clip(x, 0.0, None)
    return x / x.sum()


def skew_gap(S: np.ndarray, pi: np.ndarray) -> float:
    """Duality gap of ``(pi, pi)`` in the game with payoff ``S`` (skew), both best responses computed.

    ``max_y (S pi)(y) - min_j (pi S)(j)``; equal to the unregularized duality gap of the
    preference game ``P = S + 1/2`` (``P pi = S pi + 1/2`` on the simplex), which is what
    ``polopt.certificates.duality_gap(P, pi)`` returns (``tests/test_games.py`` checks it).
    """
    return float(np.max(S @ pi) - np.min(pi @ S))


def _support_solve(S: np.ndarray, T: np.ndarray) -> np.ndarray | None:
    """Solve ``S[T, T] pi_T = v 1, 1.pi_T = 1`` (bordered system); None if singular.

    For a skew ``S`` the bordered matrix is skew of size ``|T| + 1``, hence singular when
    ``|T|`` is even: generic equilibria have odd support. At a solution ``v = pi.S pi = 0``.
    """
    n = T.size
    B = np.empty((n + 1, n + 1))
    B[:n, :n] = S[np.ix_(T, T)]
    B[:n, n] = -1.0
    B[n, :n] = 1.0
    B[n, n] = 0.0
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    try:
        with warnings.catch_warnings():  # an exactly singular block is reported by the None return
            warnings.simplefilter("ignore", LinAlgWarning)
            lu = lu_factor(B, check_finite=False)
        if np.min(np.abs(np.diag(lu[0]))) <= 1e-13 * max(1.0, np.max(np.abs(np.diag(lu[0])))):
            return None
        x = lu_solve(lu, rhs, check_finite=False)
    except (LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(x)):
        return None
    return x[:n]


class _Newton(NamedTuple):
    """Factorization of the IPM Newton matrix ``M = diag(d) - S`` (see :func:`interior_point`)."""

    lu: tuple
    a: np.ndarray  # M^{-1} 1
    a_sum: float  # 1.M^{-1} 1 > 0 (M has positive definite symmetric part diag(d))


def _newton_factor(S: np.ndarray, d: np.ndarray, work: np.ndarray) -> _Newton:
    """LU of ``M = diag(d) - S`` written into ``work`` [K, K] (no new K x K allocation per iteration)."""
    np.negative(S, out=work)
    work.flat[:: S.shape[0] + 1] += d  # S has a zero diagonal
    lu = lu_factor(work, overwrite_a=True, check_finite=False)
    a = lu_solve(lu, np.ones(S.shape[0]), check_finite=False)
    return _Newton(lu, a, float(a.sum()))


def _newton_direction(S: np.ndarray, fac: _Newton, pi: np.ndarray, rc: np.ndarray):
    """Solve the bordered Newton system for ``(dpi, dt)`` and return ``(dpi, dt, dw)``.

    ``(W - Pi S) dpi + pi dt = rc`` and ``1.dpi = 0``; dividing row ``i`` by ``pi_i`` gives
    ``M dpi + 1 dt = rc / pi`` with ``M = diag(w / pi) - S``. Eliminating ``dt``:
    ``dpi = b - dt a`` with ``b = M^{-1}(rc / pi)``, ``a = M^{-1} 1`` and ``dt = 1.b / 1.a``
    (so that ``1.dpi = 0``). ``dw = -S dpi + dt 1`` keeps ``w = -S pi + t 1`` exact.
    """
    b = lu_solve(fac.lu, rc / pi, check_finite=False)
    dt = float(b.sum()) / fac.a_sum
    dpi = b - dt * fac.a
    return dpi, dt, dt - S @ dpi


def _max_step(x: np.ndarray, dx: np.ndarray) -> float:
    """Largest ``alpha <= 1`` with ``x + alpha dx >= 0`` (``x > 0``)."""
    neg = dx < 0
    return min(1.0, float(np.min(-x[neg] / dx[neg]))) if neg.any() else 1.0


def _centrality_correctors(S, fac: _Newton, pi, w, direction, target: float):
    """Gondzio's multiple centrality correctors on top of Mehrotra's direction.

    Take a trial step ``1.5 alpha + 0.1`` (capped at 1) along the direction, push the products
    ``pi * w`` there back into ``[0.1, 10] * sigma mu`` by one extra solve with the same LU, and
    keep the corrected direction while it lengthens the step by at least 0.01. Each corrector
    costs two triangular solves and a matrix-vector product, against one LU per iteration; it
    saves 2-3 iterations at K = 1000. Reference: Gondzio 1996, "Multiple centrality corrections
    in a primal-dual method for linear programming", Comput. Optim. Appl. 6.
    Returns ``(dpi, dt, dw, alpha)`` with ``alpha`` the largest feasible step.
    """
    dpi, dt, dw = direction
    alpha = min(_max_step(pi, dpi), _max_step(w, dw))
    for _ in range(_NUM_CORRECTORS):
        trial = min(1.0, 1.5 * alpha + 0.1)
        v = (pi + trial * dpi) * (w + trial * dw)
        rc = np.maximum(np.clip(v, 0.1 * target, 10.0 * target) - v, -10.0 * target)
        cpi, ct, cw = _newton_direction(S, fac, pi, rc)
        longer = min(_max_step(pi, dpi + cpi), _max_step(w, dw + cw))
        if longer < alpha + 0.01:
            break
        dpi, dt, dw, alpha = dpi + cpi, dt + ct, dw + cw, longer
    return dpi, dt, dw, alpha


def _crossover(S: np.ndarray, T: np.ndarray, tol: float) -> np.ndarray | None:
    """Exact equilibrium on the guessed support ``T``, or None if it is not one.

    On the support of an equilibrium ``(S pi)_T = 0`` (complementarity, module docstring), so
    ``pi_T`` solves the bordered system of :func:`_support_solve`. The candidate is accepted
    only if ``pi_T >= 0`` and its certified duality gap (:func:`skew_gap`) is ``<= tol``.
    """
    if T.size == 0:
        return None
    piT = _support_solve(S, T)
    if piT is None or np.any(piT < 0):
        return None
    pi = np.zeros(S.shape[0])
    pi[T] = piT
    pi = to_simplex(pi)
    return pi if skew_gap(S, pi) <= tol else None


@single_threaded()
def interior_point(S: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray | None, str, int]:
    """Primal-dual interior point on the symmetric game LP, with crossover to the exact support.

    **LP.** With ``w = -S pi + t 1`` (``S = P - 1/2``, so ``(P pi)(y) - 1/2 = (S pi)(y)``)::

        min t   s.t.   w = t 1 - S pi >= 0,   1.pi = 1,   pi >= 0.

    Its optimum is ``t = 0`` and the optimal ``pi`` are exactly the equilibria. Because ``S`` is
    skew, ``pi.S pi = 0`` and the complementarity gap is ``pi.w = t`` for every feasible point:
    the LP is self-dual (its dual is the same problem), so a primal-dual method needs only the
    ``K + 1`` unknowns ``(pi, t)``; ``w`` is recomputed from its definition, and every iterate
    is feasible (``1.pi = 1`` is kept by the direction, positivity by the step length).

    **Newton step** on the central path ``pi * w = sigma mu 1`` (``mu = t / K``):
    ``(W - Pi S) dpi + pi dt = sigma mu 1 - pi * w [- dpi_aff * dw_aff]``, ``1.dpi = 0``; one
    LU of ``M = diag(w / pi) - S`` [K, K] per iteration serves Mehrotra's predictor and
    corrector (``sigma = (mu_aff / mu)^3``; Mehrotra 1992, "On the implementation of a
    primal-dual interior point method", SIAM J. Optim. 2(4); Wright 1997, "Primal-Dual
    Interior-Point Methods", ch. 10). ``M`` is nonsingular: its symmetric part is ``diag(w / pi)``.

    **Crossover.** The IPM converges to the analytic centre of the optimal face, which is
    strictly complementary (Goldman–Tucker): ``pi > 0`` exactly on the support ``T``, ``w > 0``
    off it. The support is guessed with the Tapia indicator of the affine direction (El-Bakry,
    Tapia, Zhang 1994, "A study of indicators for identifying zero variables in interior-point
    methods", SIAM Rev. 36(1)): ``pi_i`` is on the support when its predicted relative decrease
    ``-dpi_i / pi_i`` is smaller than that of ``w_i``. Given ``T`` the equilibrium is the solution
    of the linear system ``(S pi)_T = 0``, ``1.pi_T = 1`` (:func:`_crossover`), exact to round-off,
    and it is accepted only with a certified gap. For a unique equilibrium ``|T|`` is odd
    (``S[T, T]`` is skew with a one-dimensional kernel), so only odd guesses are tried.

    Returns ``(pi, how, iterations)``: ``how`` = "ipm_crossover" (support solve certified) or
    "interior_point" (the iterate itself certifies: its gap ``2 max (S pi) = 2 max (t - w) <= 2 t``);
    ``pi`` is None when neither certified ``tol`` within ``max_iter`` iterations.
    """
    K = S.shape[0]
    pi = np.full(K, 1.0 / K)
    Spi = S @ pi
    t = max(0.0, float(Spi.max())) + 1.0  # w >= 1 at the start: a well-centred interior point
    w = t - Spi
    work = np.empty((K, K))
    tried = previous = None
    for it in range(max_iter + 1):
        if 2.0 * float(np.max(t - w)) <= tol:  # the iterate certifies; prefer the exact support solve
            for guess in (pi > w, previous):  # ratio test, then the last Tapia guess
                pi_x = None if guess is None else _crossover(S, np.flatnonzero(guess), tol)
                if pi_x is not None:
                    return pi_x, "ipm_crossover", it
            return pi, "interior_point", it
        if it == max_iter:
            break
        mu = t / K
        fac = _newton_factor(S, w / pi, work)
        dpi, dt, dw = _newton_direction(S, fac, pi, -pi * w)  # affine (predictor) direction
        # Tapia indicator: on the support dpi / pi -> 0 and dw / w -> -1; off it the reverse.
        # A support solve costs a |T|^3 LU, so it is tried only once the guess is stable
        # (same set as at the previous iteration) or mu is small, and never twice on one set.
        in_T = dpi / pi > dw / w
        stable = previous is not None and np.array_equal(in_T, previous)
        previous = in_T
        if (stable or t <= _CROSSOVER_T) and in_T.sum() % 2 == 1 and not np.array_equal(in_T, tried):
            tried = in_T
            pi_x = _crossover(S, np.flatnonzero(in_T), tol)
            if pi_x is not None:
                return pi_x, "ipm_crossover", it
        alpha = min(_max_step(pi, dpi), _max_step(w, dw))
        mu_aff = float((pi + alpha * dpi) @ (w + alpha * dw)) / K
        sigma = (mu_aff / mu) ** 3
        dpi, dt, dw = _newton_direction(S, fac, pi, sigma * mu - pi * w - dpi * dw)  # corrector
        dpi, dt, dw, alpha = _centrality_correctors(S, fac, pi, w, (dpi, dt, dw), sigma * mu)
        alpha = min(1.0, _STEP_TO_BOUNDARY * alpha)
        pi = pi + alpha * dpi
        pi /= pi.sum()  # 1.dpi = 0 up to round-off; keep the iterate on the simplex exactly
        t = t + alpha * dt
        Spi = S @ pi
        w = t - Spi  # recomputed from the definition: no drift in the constraint
        if not (np.all(pi > 0) and np.all(w > 0) and np.isfinite(t)):  # round-off floor reached
            break
    return None, "", it


#: Clarabel's gap and feasibility tolerances for the exponential-cone programs of the game solvers.
CLARABEL_TOL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}


def solve_convex(prob, variable, what: str) -> int:
    """Solve a cvxpy problem with Clarabel (SCS at tight tolerances if Clarabel is missing or fails);
    RuntimeError naming ``what`` when ``variable`` has no value. Returns the solver's iteration count."""
    import cvxpy as cp

    try:
        prob.solve(solver="CLARABEL", **CLARABEL_TOL)
    except (cp.error.SolverError, ImportError):
        prob.solve(solver="SCS", eps=1e-10, max_iters=200000)
    if variable.value is None:
        raise RuntimeError(f"cvxpy could not solve the {what}: status {prob.status}")
    iters = prob.solver_stats.num_iters if prob.solver_stats is not None else 0
    return int(iters or 0)
