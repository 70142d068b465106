"""Average-reward MDPs: gain/bias evaluation, relative value iteration, linear programs.

For a stationary stochastic policy ``pi`` with chain ``P_pi`` and reward ``r_pi``
(Puterman 1994, *Markov Decision Processes*, ch. 8-9, appendix A):

.. math::

    P^*_\\pi = \\lim_{N\\to\\infty} \\frac1N \\sum_{t<N} P_\\pi^t, \\qquad
    g^\\pi = P^*_\\pi r_\\pi, \\qquad
    h^\\pi = H_\\pi r_\\pi, \\quad H_\\pi = (I - P_\\pi + P^*_\\pi)^{-1}(I - P^*_\\pi),

so that ``g = P_pi g``, ``g + h = r_pi + P_pi h`` and ``P*_pi h = 0`` (the bias
normalisation used throughout polopt). The optimal gain ``g*`` solves the multichain
optimality equations ``max_a P_a g - g = 0`` and, over the gain-maximising actions,
``max_a [r_a + P_a h] - g - h = 0`` (Puterman §9.1); in weakly communicating (e.g. unichain
or communicating) models ``g*`` is constant and one equation ``g + h = max_a [r_a + P_a h]``
suffices (§8.4).

Methods: :func:`gain_bias` (exact evaluation through the Cesaro limit of each recurrent
class), :func:`relative_value_iteration` (with the aperiodicity transform of §8.5.4),
:func:`average_reward_lp` (unichain LP §8.8, multichain LP §9.3, finished by multichain
policy improvement §9.2 so that the returned policy is optimal and its bias exact).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from .._base import NotConvergedWarning
from .._deprecation import renamed
from .._validation import as_distribution, as_float_array, as_positive_int, as_scalar, check_dense_size
from ._ops import P_pi, abs_max, feasible_rows, greedy, one_hot, q_from_v, r_pi, scatter_rows, warn_nonfinite

__all__ = [
    "AverageLPResult",
    "AveragePIResult",
    "GainBias",
    "RVIResult",
    "RVITrace",
    "average_policy_iteration",
    "average_reward_lp",
    "check_rvi_args",
    "gain_bias",
    "relative_value_iteration",
    "rvi_trace",
]

#: Two actions whose gain (or bias) look-ahead differs by less than this, relative to the
#: scale ``1 + ||r|| + ||h||``, are treated as tied in policy improvement: float64 solves of
#: the evaluation equations are accurate to ~1e-12 relative on the instances polopt targets,
#: and a larger margin would let policy iteration cycle on round-off.
IMPROVE_RTOL = 1e-9
#: Dual variables below this are read as zero when a policy is recovered from the LP duals
#: (HiGHS' dual feasibility tolerance is 1e-7; basic duals are exact up to round-off).
DUAL_ZERO = 1e-9
#: Safety cap on multichain policy-improvement steps after the LP (each step is a strict
#: improvement, so a handful suffice; the cap only guards against round-off cycling).
MAX_IMPROVEMENTS = 1000


class GainBias(NamedTuple):
    """Exact average-reward evaluation of one policy (:func:`gain_bias`)."""

    gain: np.ndarray  # [S] float64, g = P* r_pi (constant on each recurrent class' basin)
    bias: np.ndarray  # [S] float64, h = H r_pi with P* h = 0
    stationary: np.ndarray  # [S, S] float64, the Cesaro limit P*_pi (rows on the simplex)


class RVIResult(NamedTuple):
    """Output of :func:`relative_value_iteration` (all gains in the untransformed MDP's units)."""

    gain: float  # midpoint of [gain_lower, gain_upper]
    bias: np.ndarray  # [S] relative values h with h[ref_state] = 0 (solve g + h = max_a r + P h)
    policy: np.ndarray  # int [S], greedy w.r.t. r + P h
    gain_lower: float  # min_s (T h - h)(s) <= g*
    gain_upper: float  # max_s (T h - h)(s) >= g*
    num_iter: int  # number of updates h <- T h - (T h)(ref)
    converged: bool  # gain_upper - gain_lower < tol


class AverageLPResult(NamedTuple):
    """Output of :func:`average_reward_lp`."""

    gain: np.ndarray  # [S] optimal gain g* (evaluated exactly for ``policy``)
    bias: np.ndarray  # [S] bias of ``policy`` (P* h = 0)
    policy: np.ndarray  # int [S], gain-optimal and bias-optimal among gain-optimal improvements
    occupancy: np.ndarray  # [S, A] LP dual x: long-run state-action frequencies, sums to 1
    lp_gain: np.ndarray  # [S] the LP's primal g (agrees with ``gain`` up to solver accuracy)


# --------------------------------------------------------------------------- helpers
def _check_stationary(mdp, who: str) -> None:
    from ..problems import TabularMDP

    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    if mdp.is_time_inhomogeneous or mdp.horizon is not None:
        raise ValueError(
            f"{who} needs an infinite-horizon stationary MDP (P [S, A, S], r [S, A]); got {mdp!r}"
        )


def _as_policy(pi, S: int, A: int) -> np.ndarray:
    pi = np.asarray(pi)
    if pi.ndim == 1 and np.issubdtype(pi.dtype, np.integer):
        if pi.shape != (S,):
            raise ValueError(f"pi as a deterministic policy must have shape ({S},), got {pi.shape}")
        bad = (pi < 0) | (pi >= A)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"pi[{i}] is {int(pi[i])}, expected an action in [0, {A - 1}]")
        return one_hot(pi, A)
    return as_distribution("pi", pi, (S, A))


def _dense_chain(P_sa, pi: np.ndarray) -> np.ndarray:
    # Gain/bias need dense linear algebra (P* is dense in general), so a sparse chain is densified.
    Ppi = P_pi(P_sa, pi)
    return Ppi.toarray() if sp.issparse(Ppi) else np.asarray(Ppi)


def _stationary_of_irreducible(P: np.ndarray) -> np.ndarray:
    """Stationary law of an irreducible stochastic matrix: ``x (I - P + 1 1^T) = 1^T``.

    For the stationary law ``x``: ``x (I - P + 1 1^T) = x - x + (x 1) 1^T = 1^T``. The matrix is
    non-singular for irreducible ``P`` (periodic or not): the eigenvalue 1 of ``P`` is simple,
    and adding ``1 1^T`` moves it while keeping the others, so the solution is unique.
    """
    n = P.shape[0]
    M = np.eye(n) - P + np.ones((n, n))
    x = np.linalg.solve(M.T, np.ones(n))
    x = np.maximum(x, 0.0)  # round-off only; the exact solution is positive
    return x / x.sum()


def cesaro_limit(P: np.ndarray) -> np.ndarray:
    """Cesaro limit ``P* = lim (1/N) sum_{t<N} P^t`` of a finite stochastic matrix [S, S].

    Construction (Puterman appendix A): the recurrent classes are the closed strongly
    connected components of the graph ``{(s, s'): P[s, s'] > 0}``; on each class ``C`` every
    row of ``P*`` is the stationary law ``pi_C`` of ``P[C, C]``; a transient state ``t`` has
    row ``sum_C b[t, C] pi_C`` with absorption probabilities ``b = (I - P_TT)^{-1} P_TC 1``.
    Works for multichain and periodic chains alike (no power iteration).
    """
    S = P.shape[0]
    graph = sp.csr_matrix(P > 0)
    n_comp, label = connected_components(graph, directed=True, connection="strong")
    # a component is closed (recurrent) iff no edge leaves it
    rows, cols = graph.nonzero()
    leaves = np.zeros(n_comp, dtype=bool)
    leaves[label[rows][label[rows] != label[cols]]] = True
    closed = [c for c in range(n_comp) if not leaves[c]]
    P_star = np.zeros((S, S))
    recurrent = np.zeros(S, dtype=bool)
    absorb_into = np.zeros((S, len(closed)))
    for k, c in enumerate(closed):
        members = np.flatnonzero(label == c)
        law = _stationary_of_irreducible(P[np.ix_(members, members)])
        P_star[np.ix_(members, members)] = law[None, :]
        recurrent[members] = True
        absorb_into[members, k] = 1.0
    transient = np.flatnonzero(~recurrent)
    if transient.size:
        rec = np.flatnonzero(recurrent)
        # one-step mass from each transient state into each closed class
        into = P[np.ix_(transient, rec)] @ absorb_into[rec]
        b = np.linalg.solve(np.eye(transient.size) - P[np.ix_(transient, transient)], into)
        P_star[transient] = b @ P_star[rec][np.argmax(absorb_into[rec], axis=0)]
    return P_star


def _gain_bias_of_chain(P: np.ndarray, r: np.ndarray) -> GainBias:
    S = P.shape[0]
    P_star = cesaro_limit(P)
    eye = np.eye(S)
    # H r = (I - P + P*)^{-1} (I - P*) r; I - P + P* is non-singular for every finite chain
    bias = np.linalg.solve(eye - P + P_star, r - P_star @ r)
    return GainBias(P_star @ r, bias, P_star)


def _check_gain_bias_size(who: str, S: int) -> None:
    # P_pi, P*, I - P + P* and its LU factors are dense S x S (P* is dense in general)
    check_dense_size(
        f"{who}(mdp)", (S, S),
        f"{who} needs dense S x S matrices (gain_bias: the Cesaro limit P* is dense in general); for a "
        "large sparse model use polopt.exact.relative_value_iteration (sparse backups) for the optimal "
        "gain and bias, or polopt.exact.evaluate on mdp.with_gamma(gamma close to 1)",
        copies=5,
    )


def gain_bias(mdp, pi) -> GainBias:
    """Gain, bias and Cesaro limit of a stationary policy.

    .. math:: g = P^*_\\pi r_\\pi,\\qquad h = (I - P_\\pi + P^*_\\pi)^{-1}(I - P^*_\\pi) r_\\pi,
              \\qquad P^*_\\pi h = 0.

    Args:
        mdp: a stationary :class:`~polopt.problems.TabularMDP` (any ``gamma``; it is ignored).
        pi: stochastic policy [S, A] (rows on the simplex) or deterministic int policy [S].

    Returns:
        :class:`GainBias` ``(gain [S], bias [S], stationary [S, S])``. ``gain`` is constant on
        each recurrent class; the bias satisfies ``g + h = r_pi + P_pi h`` and ``P* h = 0``.

    Guarantee: exact up to float64 linear algebra (dense ``O(S^3)``; sparse kernels are
    densified). Checked in ``tests/test_average.py`` against power averages of ``P_pi`` and
    the Laurent expansion ``V_gamma = g / (1 - gamma) + h + O(1 - gamma)``.

    References: Puterman (1994) §8.2 (Laurent expansion, deviation matrix), appendix A
    (Cesaro limit of a multichain matrix).
    """
    _check_stationary(mdp, "gain_bias")
    pi = _as_policy(pi, mdp.num_states, mdp.num_actions)
    _check_gain_bias_size("gain_bias", mdp.num_states)
    P = _dense_chain(mdp.P_sa, pi)
    return _gain_bias_of_chain(P, r_pi(mdp.r, pi))


# --------------------------------------------------------------------------- RVI
class RVITrace(NamedTuple):
    """:func:`rvi_trace` output: the result and, with ``record=True``, the trajectory (else None)."""

    result: RVIResult
    spans: np.ndarray | None  # [T+1] sp(T h_t - h_t) (untransformed units)
    lower: np.ndarray | None  # [T+1] gain lower bounds min_s (T h_t - h_t)(s)
    upper: np.ndarray | None  # [T+1] gain upper bounds max_s (T h_t - h_t)(s)
    policies: np.ndarray | None  # int [T+1, S] greedy policy (action indices) of h_t


_RVITrace = RVITrace  # old private name


def rvi_trace(mdp, omega, tol, max_iter, ref_state, h0, record: bool) -> RVITrace:
    """The loop of :func:`relative_value_iteration` on checked arguments (see
    :func:`check_rvi_args`), without the not-converged warning, optionally recording the
    trajectory: ``h_{n+1} = h_n + omega (T h_n - h_n)``, re-pinned at ``ref_state``, with the
    gain bounds ``min/max_s (T h_n - h_n)(s)`` of every iterate."""
    S = mdp.num_states
    P_sa, r = mdp.P_sa, mdp.r
    h = np.zeros(S) if h0 is None else np.array(h0, dtype=np.float64)
    h = h - h[ref_state]
    spans, lows, ups, pols = [], [], [], []
    n = 0
    while True:
        q = q_from_v(P_sa, r, 1.0, h)  # r + P h
        # transformed operator: T~h - h = omega (T h - h); gains of the transformed MDP are omega g
        d = omega * (q.max(axis=1) - h)
        lo, hi = float(d.min()) / omega, float(d.max()) / omega
        if record:
            spans.append(hi - lo)
            lows.append(lo)
            ups.append(hi)
            pols.append(greedy(q))
        converged = hi - lo < tol
        if converged or n >= max_iter or not np.isfinite(hi - lo):
            break
        h = h + d
        h = h - h[ref_state]
        n += 1
    mid = 0.5 * (lo + hi)
    if not np.isfinite(mid):  # lo + hi overflows for gains near the float64 maximum
        mid = lo + 0.5 * (hi - lo)
    res = RVIResult(mid, h, greedy(q), lo, hi, n, bool(converged))
    if record:
        return _RVITrace(res, np.array(spans), np.array(lows), np.array(ups), np.array(pols))
    return _RVITrace(res, None, None, None, None)


_rvi = rvi_trace  # old private name


def check_rvi_args(mdp, omega, tol, max_iter, ref_state, h0):
    """Validate the arguments of :func:`relative_value_iteration`; returns
    ``(omega, tol, max_iter, ref_state, h0)`` checked (``h0`` a read-only float64 copy or None)."""
    _check_stationary(mdp, "relative_value_iteration")
    omega = as_scalar("omega", omega, low=0.0, high=1.0, low_open=True)
    tol = as_scalar("tol", tol, low=0.0, low_open=True)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    ref_state = as_positive_int("ref_state", ref_state, minimum=0)
    if ref_state >= mdp.num_states:
        raise ValueError(f"ref_state must be a state in [0, {mdp.num_states - 1}], got {ref_state}")
    if h0 is not None:
        h0 = as_float_array("h0", h0, ndim=1)
        if h0.shape != (mdp.num_states,):
            raise ValueError(f"h0 must have shape ({mdp.num_states},), got {h0.shape}")
    return omega, tol, max_iter, ref_state, h0


_check_rvi_args = check_rvi_args  # old private name


@renamed(tau="omega")
def relative_value_iteration(
    mdp, omega: float = 0.5, tol: float = 1e-10, max_iter: int = 100000, ref_state: int = 0, h0=None
) -> RVIResult:
    """Relative value iteration with the aperiodicity transform.

    On the transformed MDP ``P~ = omega P + (1 - omega) I``, ``r~ = omega r`` (same bias, gain
    ``omega g``; Puterman §8.5.4):

    .. math::

        h_{n+1} = \\tilde T h_n - (\\tilde T h_n)(s_{ref})\\,\\mathbf 1,\\qquad
        \\tilde T h - h = \\omega\\,(T h - h),\\quad (T h)(s) = \\max_a r(s,a) + \\sum_{s'} P(s'|s,a) h(s').

    Stops when ``sp(T h - h) < tol``; at every ``h``,
    ``min_s (T h - h)(s) <= g* <= max_s (T h - h)(s)`` (Puterman §8.5.5; constant ``g*``),
    reported as ``gain_lower`` / ``gain_upper`` (untransformed units).

    Args:
        mdp: stationary :class:`~polopt.problems.TabularMDP` (``gamma`` is ignored).
        omega: relaxation (aperiodicity) weight in ``(0, 1]``; ``omega = 1`` is plain RVI, which oscillates
            forever on periodic chains (``catalogue.periodic_chain``, the pymdptoolbox
            failure of pymdptoolbox 4.0b3).
        tol: stopping threshold on ``sp(T h - h)`` (= width of the gain bounds).
        max_iter: maximum number of updates.
        ref_state: state whose relative value is pinned to 0.
        h0: initial relative values [S] (zeros if None).

    Returns:
        :class:`RVIResult`; ``bias`` is the solution of ``g + h = max_a r + P h`` with
        ``h[ref_state] = 0`` (it differs from the P*-normalised bias of :func:`gain_bias` by
        a constant on unichain models). A :class:`~polopt.result.NotConvergedWarning` is
        issued when ``max_iter`` is reached first.

    Assumption: the optimal gain is constant (unichain or weakly communicating models); on
    multichain models with state-dependent ``g*`` the span does not vanish and the run ends
    at ``max_iter`` (use :func:`average_reward_lp`).

    References: Puterman (1994) §8.5.4-8.5.5; White (1963) "Dynamic programming, Markov
    chains, and the method of successive approximations".
    """
    omega, tol, max_iter, ref_state, h0 = check_rvi_args(mdp, omega, tol, max_iter, ref_state, h0)
    res = rvi_trace(mdp, omega, tol, max_iter, ref_state, h0, record=False).result
    if warn_nonfinite("relative_value_iteration", mdp.r, 1.0, None, res.bias, res.gain, res.gain_lower,
                      res.gain_upper, stacklevel=2):
        return res._replace(converged=False)
    if not res.converged:
        warnings.warn(
            f"relative_value_iteration stopped after {res.num_iter} iterations with "
            f"sp(Th - h) = {res.gain_upper - res.gain_lower:.3g} >= tol = {tol:g}; "
            "the chain may be periodic (use omega < 1) or multichain (use average_reward_lp)",
            NotConvergedWarning,
            stacklevel=2,
        )
    return res


# --------------------------------------------------------------------------- LP
def _selector(S: int, A: int) -> sp.csr_matrix:
    """``E[(s, a), s] = 1``: repeats a state vector over actions, shape (S*A, S)."""
    return sp.csr_matrix((np.ones(S * A), (np.arange(S * A), np.repeat(np.arange(S), A))), shape=(S * A, S))


def is_communicating(mdp) -> bool:
    """Whether every state reaches every other under some policy (strongly connected union graph).

    Communicating models have a constant optimal gain, so the unichain LP is exact on them
    (Puterman §8.3, §9.5). A cheap sufficient test: deciding unichain-ness itself is NP-hard
    (Tsitsiklis 2007, "NP-hardness of checking the unichain condition").
    """
    S, A = mdp.num_states, mdp.num_actions
    P_sa = mdp.P_sa
    support = (sp.csr_matrix(P_sa) > 0).astype(np.float64)
    union = _selector(S, A).T @ support
    n_comp, _ = connected_components(union, directed=True, connection="strong")
    return n_comp == 1


def _solve_lp(c, A_ub, b_ub, what: str):
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=(None, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"{what} LP failed: HiGHS status {res.status}: {res.message}")
    return res


def _unichain_lp(mdp):
    S, A = mdp.num_states, mdp.num_actions
    E = _selector(S, A)
    D = E - sp.csr_matrix(mdp.P_sa)  # rows (s, a): e_s - P(.|s, a)
    # variables [g, h_0..h_{S-1}];  g + h(s) - P h >= r  <=>  -g - D h <= -r
    A_ub = sp.hstack([-sp.csr_matrix(np.ones((S * A, 1))), -D]).tocsr()
    c = np.zeros(S + 1)
    c[0] = 1.0
    rows = feasible_rows(mdp)  # an infeasible pair is no action: no constraint
    res = _solve_lp(c, A_ub[rows], -mdp.r.ravel()[rows], "unichain average-reward")
    x = scatter_rows(-res.ineqlin.marginals, rows, S * A)  # duals of the reward constraints: stationary frequencies
    g = np.full(S, res.x[0])
    h = res.x[1:]
    return g, h, x.reshape(S, A), None


def _multichain_lp(mdp):
    S, A = mdp.num_states, mdp.num_actions
    E = _selector(S, A)
    D = E - sp.csr_matrix(mdp.P_sa)
    Z = sp.csr_matrix((S * A, S))
    # variables [g (S), h (S)]
    # block 1:  g(s) - P g >= 0            <=>  -D g <= 0           (duals y)
    # block 2:  g(s) + h(s) - P h >= r     <=>  -E g - D h <= -r    (duals x)
    A_ub = sp.vstack([sp.hstack([-D, Z]), sp.hstack([-E, -D])]).tocsr()
    b_ub = np.concatenate([np.zeros(S * A), -mdp.r.ravel()])
    alpha = np.full(S, 1.0 / S)  # any positive weights give the same optimal g (Puterman §9.3)
    c = np.concatenate([alpha, np.zeros(S)])
    rows = feasible_rows(mdp)
    rows = np.concatenate([rows, S * A + rows])  # both blocks: an infeasible pair is no action
    res = _solve_lp(c, A_ub[rows], b_ub[rows], "multichain average-reward")
    duals = scatter_rows(-res.ineqlin.marginals, rows, 2 * S * A)
    y = duals[: S * A].reshape(S, A)
    x = duals[S * A :].reshape(S, A)
    return res.x[:S], res.x[S:], x, y


def _policy_from_duals(mdp, g, h, x, y) -> np.ndarray:
    """Puterman Thm 9.3.8: a with x(s, a) > 0 where x(s) > 0, else a with y(s, a) > 0.

    States where both vanish (possible for non-basic or unichain duals) take the gain-then-bias
    greedy action of the LP's (g, h).
    """
    S, A = mdp.num_states, mdp.num_actions
    Pg = np.asarray(mdp.P_sa @ g).reshape(S, A)
    look = q_from_v(mdp.P_sa, mdp.r, 1.0, h)
    tol = IMPROVE_RTOL * (1.0 + np.max(np.abs(g)) + np.max(np.abs(h)))
    gain_ok = Pg >= Pg.max(axis=1, keepdims=True) - tol
    sigma = np.argmax(np.where(gain_ok, look, -np.inf), axis=1)
    xs = x.sum(axis=1)
    sigma = np.where(xs > DUAL_ZERO, np.argmax(x, axis=1), sigma)
    if y is not None:
        ys = y.sum(axis=1)
        sigma = np.where((xs <= DUAL_ZERO) & (ys > DUAL_ZERO), np.argmax(y, axis=1), sigma)
    return sigma


def _improve(mdp, sigma: np.ndarray, ev: GainBias) -> np.ndarray | None:
    """One multichain policy-improvement step (Puterman §9.2.1); None if ``sigma`` is optimal.

    Gain first: switch to ``argmax_a P_a g`` where it beats the current action; only if no
    state changes, bias: among the gain-maximising actions switch to ``argmax r_a + P_a h``.
    The current action is kept on ties (within ``IMPROVE_RTOL``), which guarantees termination.
    """
    S, A = mdp.num_states, mdp.num_actions
    g, h = ev.gain, ev.bias
    idx = np.arange(S)
    tol = IMPROVE_RTOL * (1.0 + abs_max(mdp.r) + np.max(np.abs(h)))
    Pg = np.asarray(mdp.P_sa @ g).reshape(S, A)
    best_g = Pg.max(axis=1)
    switch = Pg[idx, sigma] < best_g - tol
    if switch.any():
        out = sigma.copy()
        out[switch] = np.argmax(Pg[switch], axis=1)
        return out
    look = np.where(Pg >= best_g[:, None] - tol, q_from_v(mdp.P_sa, mdp.r, 1.0, h), -np.inf)
    best_h = look.max(axis=1)
    switch = look[idx, sigma] < best_h - tol
    if switch.any():
        out = sigma.copy()
        out[switch] = np.argmax(look[switch], axis=1)
        return out
    return None


def multichain_policy_iteration(mdp, sigma0, max_iter: int = MAX_IMPROVEMENTS):
    """Multichain policy iteration (Puterman §9.2) from the deterministic policy ``sigma0``.

    Returns ``(sigma, GainBias, num_improvements)``. At termination no action improves the gain
    look-ahead ``P_a g`` nor, among gain-maximising actions, the bias look-ahead
    ``r_a + P_a h``, which makes ``sigma`` gain-optimal (Puterman §9.2, convergence theorem).
    """
    sigma = np.array(sigma0, dtype=np.int64)
    A = mdp.num_actions
    ev = gain_bias(mdp, one_hot(sigma, A))
    for k in range(max_iter):
        nxt = _improve(mdp, sigma, ev)
        if nxt is None:
            return sigma, ev, k
        sigma = nxt
        ev = gain_bias(mdp, one_hot(sigma, A))
    raise RuntimeError(f"multichain policy iteration did not terminate in {max_iter} improvements")


def average_reward_lp(mdp, multichain="auto") -> AverageLPResult:
    """Optimal gain by linear programming, policy from the duals, polished by policy improvement.

    Unichain LP (Puterman §8.8), valid when ``g*`` is constant:

    .. math:: \\min_{g, h} g \\ \\text{s.t.}\\ g + h(s) - \\sum_j p(j|s,a) h(j) \\ge r(s,a).

    Multichain LP (Puterman §9.3), valid always, with weights ``alpha = 1/S``:

    .. math:: \\min_{g, h} \\sum_s \\alpha(s) g(s)\\ \\text{s.t.}\\
              g(s) \\ge \\sum_j p(j|s,a) g(j),\\quad g(s) + h(s) - \\sum_j p(j|s,a) h(j) \\ge r(s,a).

    The duals ``x`` (reward block) and ``y`` (gain block) give a deterministic policy (Thm
    9.3.8); it is then checked, and improved where needed, by multichain policy iteration
    (gain first, then bias), so ``policy`` is optimal even when HiGHS returns a non-basic
    dual or states have ``x(s) = y(s) = 0``. ``gain`` and ``bias`` are the exact
    :func:`gain_bias` of that policy; ``lp_gain`` is the LP's primal ``g``.

    Args:
        mdp: stationary :class:`~polopt.problems.TabularMDP` (``gamma`` ignored), dense or sparse.
        multichain: ``True`` (multichain LP), ``False`` (unichain LP; on a model whose optimal
            gain varies it returns ``max_s g*(s)``), or ``"auto"``: unichain LP when the model
            is communicating (:func:`is_communicating`), else multichain.

    Returns:
        :class:`AverageLPResult` ``(gain [S], bias [S], policy int [S], occupancy [S, A],
        lp_gain [S])``. ``occupancy`` is the dual ``x >= 0`` (sum 1): for the unichain LP the
        stationary state-action frequencies of an optimal policy, ``sum r x = g*``; for the
        multichain LP the ``alpha``-weighted limiting frequencies.

    Raises:
        RuntimeError: HiGHS reports a failure (cannot happen for a valid MDP: both LPs are
        feasible and bounded).
    """
    _check_stationary(mdp, "average_reward_lp")
    # its policy-improvement finish evaluates with gain_bias: refuse before a long LP, not after
    _check_gain_bias_size("average_reward_lp", mdp.num_states)
    if multichain == "auto":
        use_multi = not is_communicating(mdp)
    elif isinstance(multichain, (bool, np.bool_)):
        use_multi = bool(multichain)
    else:
        raise ValueError(f"multichain must be True, False or 'auto', got {multichain!r}")
    g, h, x, y = _multichain_lp(mdp) if use_multi else _unichain_lp(mdp)
    x = np.maximum(x, 0.0)  # HiGHS duals carry round-off of either sign
    x = x / x.sum()
    sigma0 = _policy_from_duals(mdp, g, h, x, y)
    sigma, ev, _ = multichain_policy_iteration(mdp, sigma0)
    return AverageLPResult(ev.gain, ev.bias, sigma, x, g)


class AveragePIResult(NamedTuple):
    """:func:`average_policy_iteration` output (``T`` = improvements made)."""

    policy: np.ndarray  # int [S], the last policy
    gain: np.ndarray  # [S] its gain
    bias: np.ndarray  # [S] its bias (P* h = 0)
    num_iter: int  # improvements made
    converged: bool  # no action improves the gain nor, among gain-maximising actions, the bias
    policies: np.ndarray  # int [T+1, S] (row 0: the start, its row-wise argmax for a stochastic start)
    gains: np.ndarray  # [T+1, S] gains of the successive policies (row 0: the start's)
    biases: np.ndarray  # [T+1, S]


def _lexicographic_greedy(mdp, ev: GainBias) -> np.ndarray:
    """``argmax_a r_a + P_a h`` among ``argmax_a P_a g`` (ties within ``IMPROVE_RTOL``) — the improvement of
    a *stochastic* policy, whose support actions need not attain either maximum."""
    S, A = mdp.num_states, mdp.num_actions
    tol = IMPROVE_RTOL * (1.0 + abs_max(mdp.r) + np.max(np.abs(ev.bias)))
    Pg = np.asarray(mdp.P_sa @ ev.gain).reshape(S, A)
    look = np.where(Pg >= Pg.max(axis=1, keepdims=True) - tol, q_from_v(mdp.P_sa, mdp.r, 1.0, ev.bias), -np.inf)
    return np.argmax(look, axis=1)


def average_policy_iteration(mdp, pi0=None, max_iter: int = MAX_IMPROVEMENTS) -> AveragePIResult:
    """Howard's policy iteration for the average-reward criterion, unichain or multichain (Puterman §9.2).

    Evaluation: :func:`gain_bias` (exact gain and bias, ``P* h = 0``, any chain structure).
    Improvement (:func:`_improve`): gain first, ``argmax_a P_a g`` where it beats the current action;
    if no state changes, the bias look-ahead ``r_a + P_a h`` among the gain-maximising actions; the
    current action is kept on ties. Stops when neither step changes the policy, which makes it
    gain-optimal (Puterman Thm 9.2.4 [recalled numbering]). Gains are non-decreasing along the run
    (``g_{k+1} >= g_k``; checked by theorem ``pi.monotone`` on ``info["values"]``).

    On a unichain model the gain step never fires (every gain is constant) and the loop is the
    unichain algorithm of §8.6: a separate unichain variant would only replace the Cesaro-limit
    evaluation by one ``S x S`` solve with ``h(ref) = 0``, the same ``O(S^3)``.

    Args:
        mdp: stationary TabularMDP (``gamma`` ignored).
        pi0: int [S] or stochastic [S, A] start (default: greedy w.r.t. the myopic reward ``max_a r``).
            A stochastic start is evaluated as given and improved lexicographically (gain look-ahead, then
            bias look-ahead among its maximisers), which is an improvement for any randomized policy.
        max_iter: improvement budget (``converged = False`` when it runs out).

    Returns:
        :class:`AveragePIResult`. Cross-checked against :func:`average_reward_lp` and
        :func:`relative_value_iteration` in ``tests/test_average_pi.py``.
    """
    _check_stationary(mdp, "average_policy_iteration")
    _check_gain_bias_size("average_policy_iteration", mdp.num_states)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    S, A = mdp.num_states, mdp.num_actions
    if pi0 is None:
        sigma = np.argmax(mdp.r, axis=1)
        ev = gain_bias(mdp, sigma)
        nxt = _improve(mdp, sigma, ev)
    else:
        arr = np.asarray(pi0)
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
            sigma = _as_policy(arr, S, A).argmax(axis=1)
            ev = gain_bias(mdp, sigma)
            nxt = _improve(mdp, sigma, ev)
        else:
            pi = _as_policy(arr, S, A)
            sigma = pi.argmax(axis=1)
            ev = gain_bias(mdp, pi)
            nxt = _lexicographic_greedy(mdp, ev)
            nxt = None if np.array_equal(nxt, sigma) and np.allclose(pi, one_hot(sigma, A)) else nxt
    policies, gains, biases = [sigma], [ev.gain], [ev.bias]
    k = 0
    while nxt is not None and k < max_iter:
        sigma = nxt
        ev = gain_bias(mdp, sigma)
        k += 1
        policies.append(sigma)
        gains.append(ev.gain)
        biases.append(ev.bias)
        nxt = _improve(mdp, sigma, ev)
    return AveragePIResult(sigma, ev.gain, ev.bias, k, nxt is None, np.array(policies), np.array(gains),
                           np.array(biases))
