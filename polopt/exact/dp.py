"""Dynamic programming for discounted and finite-horizon MDPs, with certified stopping.

Bellman optimality operator (Puterman 1994, *Markov Decision Processes*, §6.2):
``(T v)(s) = max_a r(s, a) + gamma sum_s' P(s'|s, a) v(s')``, a ``gamma``-contraction in
sup-norm with fixed point ``v*``.

Certified bounds (MacQueen 1966; Puterman Thm 6.6.3): for ANY ``v``, with ``d = T v - v``,

.. math::

    T v + \\tfrac{\\gamma}{1-\\gamma} \\min d \\;\\le\\; v^* \\;\\le\\;
    T v + \\tfrac{\\gamma}{1-\\gamma} \\max d .

Stopping (Puterman §6.6.3): the span rule ``sp(T v - v) < tol (1-gamma)/gamma`` makes the
bracket narrower than ``tol``; the returned value is its midpoint (the *midrange
correction* ``T v + gamma/(1-gamma) (max d + min d)/2``), within ``tol/2`` of ``v*``.
Stopping on the span without this correction (pymdptoolbox) leaves an error of up to
``gamma/(1-gamma) max|d|``, hundreds at gamma = 0.99 (``tests/test_differential.py``).

Methods: value iteration (§6.3), policy iteration (§6.4), modified policy iteration
(§6.5), backward induction (§4.5), and :func:`solve_mdp`, the default certified solver.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .._base import CONVERGED, MAX_ITER, NONFINITE, NotConvergedWarning
from .._validation import STOCHASTIC_ATOL, as_float_array, as_positive_int, as_scalar
from ._ops import (
    abs_max,
    feasible_min,
    feasible_range,
    power_of_two_scale,
    q_from_v,
    row_max,
    warn_nonfinite,
)
from ._ops import greedy as _argmax
from ._ops import unscale as _unscale
from .evaluation import _as_tabular, _check_policy, solve_discounted

__all__ = [
    "BIResult",
    "Backup",
    "PIResult",
    "SolveMDPResult",
    "VIResult",
    "backward_induction",
    "bellman_backup",
    "evaluate_deterministic",
    "greedy",
    "policy_kernel",
    "modified_policy_iteration",
    "policy_iteration",
    "solve_mdp",
    "value_iteration",
]

#: Policy iteration switches an action only if it improves q by more than this (relative to
#: max(1, |v|_inf)); without it round-off ties make PI cycle between equal-valued actions.
IMPROVE_RTOL = 1e-12
#: Rewards with ``max|r| / (1-gamma)`` above this are divided by a power of two ``c`` (so that
#: ``max|r/c| < 1``) before solving, and the values multiplied back by ``c``: values are linear
#: in ``r`` and greedy policies invariant under ``r -> r/c``, and a power of two scales exactly,
#: so the answer is the same while no intermediate (``T v - v``, ``gamma/(1-gamma) d``, a span)
#: overflows. 2**900 ~ 8e270 leaves a factor 2**124 of head-room below the float64 maximum.
OVERFLOW_GUARD = 2.0**900


class VIResult(NamedTuple):
    """Value iteration / modified policy iteration output.

    ``v`` [S]: midrange-corrected value (within ``tol/2`` of ``v*`` when converged);
    ``policy`` int [S]: greedy w.r.t. the last iterate; ``v_lower``, ``v_upper`` [S]:
    certified bounds ``v_lower <= v* <= v_upper``; ``num_iter``: backups applied;
    ``converged``: span rule met; ``values`` [T+1, S]: iterates ``v_0..v_T`` (only with
    ``record=True``, else None); ``residuals`` [T+1]: ``||T v_k - v_k||_inf``;
    ``policies`` int [T+1, S]: greedy action indices of ``v_0..v_T`` (only with
    ``record=True``); ``status``: ``"converged"``, ``"max_iter"`` or ``"nonfinite"`` (the
    values overflowed float64; a NotConvergedWarning was issued); ``steps`` int [N]: the
    iterations ``values`` / ``policies`` hold (``0..T`` with ``record=True``; every ``k``-th and
    the last with ``record=k``, or evenly thinned under ``record_limit``).
    """

    v: np.ndarray
    policy: np.ndarray
    v_lower: np.ndarray
    v_upper: np.ndarray
    num_iter: int
    converged: bool
    values: np.ndarray | None
    residuals: np.ndarray
    policies: np.ndarray | None = None
    status: str = CONVERGED
    steps: np.ndarray | None = None


class PIResult(NamedTuple):
    """Policy iteration output: ``v`` [S] value of ``policy`` (int [S]); ``values`` [T+1, S]
    values of the successive policies ``policies`` int [T+1, S] (action indices, index 0 = the
    initial policy; both None with ``record=False``); ``status`` as in :class:`VIResult`."""

    v: np.ndarray
    policy: np.ndarray
    num_iter: int
    converged: bool
    values: np.ndarray | None
    policies: np.ndarray | None
    status: str = CONVERGED


class BIResult(NamedTuple):
    """Backward induction: ``V`` [H+1, S] (``V[H] = 0``), ``Q`` [H, S, A], ``policy`` int [H, S];
    ``status`` ``"converged"`` or ``"nonfinite"`` (values beyond float64, with a warning)."""

    V: np.ndarray
    Q: np.ndarray
    policy: np.ndarray
    status: str = CONVERGED


class SolveMDPResult(NamedTuple):
    """:func:`solve_mdp` output: ``v`` [S] (midpoint of the certified bracket), ``policy`` int
    [S], ``v_lower <= v* <= v_upper``, ``method`` (the algorithm used), ``num_iter``,
    ``status`` as in :class:`VIResult`."""

    v: np.ndarray
    policy: np.ndarray
    v_lower: np.ndarray
    v_upper: np.ndarray
    method: str
    num_iter: int
    status: str = CONVERGED


class Backup(NamedTuple):
    """:func:`bellman_backup` output: ``v`` [S] = ``T v``, ``policy`` int [S] greedy actions."""

    v: np.ndarray
    policy: np.ndarray


# ------------------------------------------------------------------ helpers
def _discounted_mdp(mdp, who: str):
    mdp = _as_tabular(mdp)
    if mdp.criterion != "discounted":
        hint = {
            "average": "use polopt.exact.relative_value_iteration / average_reward_lp",
            "finite_horizon": "use polopt.exact.backward_induction",
            "total": "use polopt.exact.total_policy_iteration / total_value_iteration / total_linear_program",
        }[mdp.criterion]
        raise ValueError(f"{who} needs a discounted MDP (gamma < 1, no horizon), got {mdp!r}; {hint}")
    return mdp


def _tol(tol) -> float:
    return as_scalar("tol", tol, low=0.0, low_open=True)


def _threshold(tol: float, gamma: float) -> float:
    """Span threshold ``tol (1-gamma)/gamma`` (infinite at gamma = 0: one backup is exact)."""
    return np.inf if gamma == 0.0 else tol * (1.0 - gamma) / gamma


def _bracket(Tv: np.ndarray, d: np.ndarray, gamma: float):
    """MacQueen bounds and midrange value from ``Tv`` and ``d = Tv - v``."""
    c = gamma / (1.0 - gamma)
    lo, hi = float(d.min()), float(d.max())
    return Tv + c * lo, Tv + c * hi, Tv + c * 0.5 * (lo + hi)


def _check_v(name: str, v, S: int) -> np.ndarray:
    v = as_float_array(name, v, ndim=1)
    if v.shape != (S,):
        raise ValueError(f"{name} must have shape [S] = [{S}], got {v.shape}")
    return v


def _check_sigma(mdp, sigma) -> np.ndarray:
    """A deterministic policy: int [S] with entries in ``[0, A-1]`` (TypeError/ValueError otherwise)."""
    S, A = mdp.num_states, mdp.num_actions
    arr = np.asarray(sigma)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"sigma must be an int array [S] of action indices, got dtype {arr.dtype}")
    if arr.shape != (S,):
        raise ValueError(f"sigma must have shape [S] = [{S}], got {arr.shape}")
    bad = np.flatnonzero((arr < 0) | (arr >= A))
    if bad.size:
        raise ValueError(f"sigma[{bad[0]}] is {arr[bad[0]]}, expected an action in [0, {A - 1}]")
    return arr.astype(np.int64)


def _sigma_kernel(mdp, sigma: np.ndarray, r=None):
    """``P_sigma`` [S, S] (dense gather or CSR row selection) and ``r_sigma`` [S] (of ``r``, default ``mdp.r``)."""
    S, A = mdp.num_states, mdp.num_actions
    rows = np.arange(S) * A + sigma
    r = mdp.r if r is None else r
    return mdp.P_sa[rows], r[np.arange(S), sigma]


def policy_kernel(mdp, sigma):
    """Chain and reward of a deterministic policy: ``(P_sigma, r_sigma)``.

    ``P_sigma[s, s'] = P(s' | s, sigma[s])`` — dense [S, S] for a dense kernel, CSR [S, S] for a
    sparse one (rows selected, never densified) — and ``r_sigma[s] = r(s, sigma[s])`` [S].
    ``sigma``: int [S] action indices. Any stationary MDP (discounted or average reward).
    """
    mdp = _as_tabular(mdp)
    if mdp.is_time_inhomogeneous:
        raise ValueError(f"policy_kernel needs a stationary MDP (P [S, A, S], r [S, A]); got {mdp!r}")
    return _sigma_kernel(mdp, _check_sigma(mdp, sigma))


def _evaluate_sigma(mdp, sigma: np.ndarray, x0=None, r=None) -> np.ndarray:
    Psig, rsig = _sigma_kernel(mdp, sigma, r)
    return solve_discounted(Psig, rsig, mdp.gamma, x0=x0)


def evaluate_deterministic(mdp, sigma, x0=None) -> np.ndarray:
    """Exact value ``V^sigma = (I - gamma P_sigma)^{-1} r_sigma`` [S] of a deterministic policy.

    ``sigma``: int [S] action indices; ``x0``: optional starting guess [S] for the Krylov solver
    (large or sparse kernels). Dense ``S <= 2000``: LU; otherwise Krylov with a certified
    residual, falling back to a sparse direct solve (:func:`polopt.exact.evaluation.solve_discounted`).
    Rewards with ``max|r|/(1-gamma)`` above :data:`OVERFLOW_GUARD` are solved scaled (exact, see
    there); a value beyond the float64 range issues a NotConvergedWarning and is returned non-finite.
    """
    mdp = _discounted_mdp(mdp, "evaluate_deterministic")
    sigma = _check_sigma(mdp, sigma)
    x0 = None if x0 is None else _check_v("x0", x0, mdp.num_states)
    c = _reward_scale(mdp.r, mdp.gamma)
    if c == 1.0:
        v = _evaluate_sigma(mdp, sigma, x0=x0)
    else:
        v = _unscale(_evaluate_sigma(mdp, sigma, x0=None if x0 is None else x0 / c, r=mdp.r / c), c)
    _nonfinite("evaluate_deterministic", mdp, v)  # warns; a non-finite value is returned as is
    return v


def greedy(mdp, v) -> np.ndarray:
    """Greedy deterministic policy ``argmax_a r(s, a) + gamma (P v)(s, a)`` (lowest index on ties), int [S]."""
    mdp = _as_tabular(mdp)
    v = _check_v("v", v, mdp.num_states)
    return _argmax(q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v))


def bellman_backup(mdp, v) -> Backup:
    """One Bellman optimality backup: ``Backup(T v [S], greedy int [S])``.

    ``(T v)(s) = max_a q(s, a)`` with ``q = r + gamma P v`` (:func:`polopt.exact.q_from_v`
    gives ``q`` itself); the greedy policy takes the lowest index on ties. Discounted MDPs
    (``gamma < 1``); ``v`` [S] finite.
    """
    mdp = _discounted_mdp(mdp, "bellman_backup")
    v = _check_v("v", v, mdp.num_states)
    q = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v)
    return Backup(row_max(q), _argmax(q))


# ------------------------------------------------------------------ overflow
def _reward_scale(r: np.ndarray, gamma: float, m: float | None = None) -> float:
    """``1.0``, or a power of two ``c ~ max|r|`` when ``|v*| <= max|r| / (1-gamma)`` may exceed
    :data:`OVERFLOW_GUARD` (``m``: ``max|r|`` when already known)."""
    m = abs_max(r) if m is None else m
    if m == 0.0 or m <= OVERFLOW_GUARD * (1.0 - gamma):
        return 1.0
    return power_of_two_scale(r)


def _nonfinite(who: str, mdp, *arrays) -> bool:
    return warn_nonfinite(who, mdp.r, mdp.gamma, mdp.horizon, *arrays, stacklevel=4)


# ------------------------------------------------------------------ value iteration
def value_iteration(mdp, v0=None, tol: float = 1e-10, max_iter: int = 100000, record: bool | int = False,
                    record_limit: int | None = None) -> VIResult:
    """Value iteration ``v_{k+1} = T v_k`` with the span stopping rule and midrange correction.

    Stops at the first ``k`` with ``sp(T v_k - v_k) < tol (1-gamma)/gamma`` (Puterman
    §6.6.3); returns ``v = T v_k + gamma/(1-gamma) midrange(T v_k - v_k)`` and the certified
    MacQueen bracket (width < ``tol``). ``v0`` defaults to 0. Guarantee:
    ``||v_k - v*|| <= gamma^k ||v_0 - v*||`` (theorem ``vi.contraction``) and
    ``v_lower <= v* <= v_upper`` (``vi.certified_bounds``), both checked in
    ``tests/test_exact_mdp.py``. ``record=True`` keeps the trajectory: ``values`` [T+1, S]
    and the greedy ``policies`` int [T+1, S] of ``v_0..v_T``; ``record=k`` every ``k``-th iterate
    and the last; ``record_limit=N`` at most ``N`` rows, evenly thinned (the stride doubles), so
    memory does not grow with the iterations; ``steps`` says which were kept. Huge rewards are solved scaled
    (:data:`OVERFLOW_GUARD`); values beyond float64 give ``status = "nonfinite"`` and a
    NotConvergedWarning. A total-reward MDP (``terminal=``, gamma = 1) goes to
    :func:`polopt.exact.total.total_value_iteration`.
    """
    if getattr(_as_tabular(mdp), "criterion", None) == "total":
        from .total import total_value_iteration

        return total_value_iteration(mdp, v0=v0, tol=tol, max_iter=max_iter, record=bool(record))
    mdp = _discounted_mdp(mdp, "value_iteration")
    tol = _tol(tol)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    v = None if v0 is None else _check_v("v0", v0, mdp.num_states)
    return _span_iteration(mdp, v, tol, max_iter, record, sweeps=0, who="value_iteration",
                           record_limit=record_limit)


def _index_dtype(A: int):
    """The smallest signed integer type holding action indices ``0..A-1`` (1 byte when A <= 127): a
    recorded trajectory of greedy policies costs ``T S`` bytes, not ``8 T S``."""
    return np.min_scalar_type(-max(A, 1))


#: Value iteration and MPI back up with the pruned numba kernels from this many actions on; with fewer,
#: a sparse / BLAS product and a pass over the columns are faster (one skippable row per state does not
#: pay for the branches). Value iteration to 1e-8, pruned against product: RiverSwim n = 10^4 (A = 2)
#: 236 / 181 ms; Garnet 10^4 states, 5 successors: A = 3 8.0 / 7.4 ms, A = 4 8.5 / 9.7 ms, A = 8
#: 10.5 / 20.1 ms; dense 500 x 100 44 ms -> 2.7 ms.
PRUNED_MIN_ACTIONS = 4


class _Recorder:
    """The recorded part of a trajectory: iterates ``k`` with ``k % stride == 0`` and the last one.

    With ``limit`` rows at most, the stride doubles (every other kept row dropped) whenever the
    record would exceed it, so memory stays ``O(limit S)`` whatever the number of iterations, and
    the kept steps stay evenly spaced.
    """

    def __init__(self, stride: int, limit: int | None):
        self.stride, self.limit = stride, limit
        self.steps: list[int] = []
        self.values: list[np.ndarray] = []
        self.policies: list[np.ndarray] = []

    def wants(self, k: int) -> bool:
        return k % self.stride == 0

    def add(self, k: int, v: np.ndarray, sigma: np.ndarray) -> None:
        self.steps.append(k)
        self.values.append(v)
        self.policies.append(sigma)
        if self.limit is not None and len(self.steps) > self.limit:
            self.stride *= 2
            keep = [i for i, s in enumerate(self.steps) if s % self.stride == 0]
            self.steps = [self.steps[i] for i in keep]
            self.values = [self.values[i] for i in keep]
            self.policies = [self.policies[i] for i in keep]

    def finish(self, k: int, v: np.ndarray, sigma: np.ndarray) -> None:
        if not self.steps or self.steps[-1] != k:
            self.steps.append(k)
            self.values.append(v)
            self.policies.append(sigma)


def _recorder(record, limit) -> _Recorder | None:
    """``record``: False (nothing), True (every iterate) or a stride ``k >= 1``; ``limit``: rows kept at most."""
    if record is None or isinstance(record, (bool, np.bool_)):
        if not record:
            return None
        stride = 1
    else:
        stride = as_positive_int("record", record)
    limit = None if limit is None else as_positive_int("record_limit", limit, minimum=2)
    return _Recorder(stride, limit)


def _span_iteration(
    mdp, v0, tol: float, max_iter: int, record, sweeps: int, who: str, start_low: bool = False,
    record_limit: int | None = None,
) -> VIResult:
    """The loop shared by VI (``sweeps = 0``) and MPI(``sweeps``).

    Each round: one backup ``T v`` (the exact pruned backup of :func:`solve_mdp`, which also gives
    the greedy policy, ties kept at the previous one) and the span test on ``T v - v``; then ``v <- T v``
    followed by ``sweeps`` partial evaluations ``v <- r_sigma + gamma P_sigma v`` of the
    greedy ``sigma`` (numba on a CSR kernel: the rows of ``sigma`` gathered once, no scipy call per
    sweep). On exit, the midrange-corrected value and the MacQueen bracket.
    ``v0 = None`` starts at 0, or at ``min r / (1-gamma)`` with ``start_low`` (MPI). Runs on ``r / c`` (``c``
    from :func:`_reward_scale`, with ``v0`` and ``tol`` divided alike) and multiplies the
    values back. ``record`` / ``record_limit`` as in :func:`_recorder`.
    """
    from . import _kernels

    gamma = mdp.gamma
    c = _reward_scale(mdp.r, gamma)
    r = np.ascontiguousarray(mdp.r if c == 1.0 else mdp.r / c, dtype=np.float64)
    if v0 is not None:
        v = v0 / c
    else:  # computed on the scaled rewards: min r / (1-gamma) may overflow unscaled
        v = np.full(mdp.num_states, feasible_min(r) / (1.0 - gamma) if start_low else 0.0)
    tol = tol / c
    thr = _threshold(tol, gamma)
    rec = _recorder(record, record_limit)
    pdtype = _index_dtype(mdp.num_actions)
    residuals = []
    it = 0
    # with several actions: the pruned exact backups of solve_mdp, Tv and its greedy policy in one
    # pass, rows of actions that the bounds U (from the previous backup) rule out never read, the
    # greedy policy as the hint
    backup = _Backups(_kernel_of(mdp, r, gamma), r.shape, gather=sweeps > 0) \
        if mdp.num_actions >= PRUNED_MIN_ACTIONS else None
    sigma = _argmax(r)
    while True:
        if backup is None:
            q = q_from_v(mdp.P_sa, r, gamma, v)
            Tv, sigma = row_max(q), _argmax(q)
        else:
            Tv, sigma = backup(v, sigma)
        d = Tv - v
        residuals.append(float(np.max(np.abs(d))))
        converged = float(d.max() - d.min()) < thr
        if converged or it >= max_iter or not np.all(np.isfinite(d)):
            break
        if rec is not None and rec.wants(it):
            rec.add(it, v, sigma.astype(pdtype, copy=False))
        v = Tv
        if sweeps > 0 and backup is not None and backup.kern.partial is not None:
            v = backup.kern.partial(sigma, v, sweeps)  # on the rows the backup carried over
        elif sweeps > 0 and mdp.is_sparse:
            P = mdp.P_sparse
            v = _kernels.partial_evaluate_csr(P.indptr, P.indices, P.data, r, gamma, sigma, v, sweeps)
        elif sweeps > 0:
            Psig, rsig = _sigma_kernel(mdp, sigma, r)
            for _ in range(sweeps):
                v = rsig + gamma * (Psig @ v)
        it += 1
    policy = sigma
    if rec is not None:
        rec.finish(it, v, policy.astype(pdtype, copy=False))
    v_lower, v_upper, v_mid = (_unscale(x, c) for x in _bracket(Tv, d, gamma))
    res = VIResult(
        v_mid, policy, v_lower, v_upper, it, converged,
        _unscale(np.stack(rec.values), c) if rec is not None else None, _unscale(np.array(residuals), c),
        np.stack(rec.policies) if rec is not None else None, CONVERGED if converged else MAX_ITER,
        np.array(rec.steps, dtype=np.int64) if rec is not None else None,
    )
    if _nonfinite(who, mdp, res.v, res.v_lower, res.v_upper):
        res = res._replace(converged=False, status=NONFINITE)
    return res


# ------------------------------------------------------------------ policy iteration
def _improve(q: np.ndarray, sigma: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Greedy step that keeps ``sigma[s]`` unless another action is better by > IMPROVE_RTOL."""
    S = q.shape[0]
    best = _argmax(q)
    q_cur = q[np.arange(S), sigma]
    gain = q[np.arange(S), best] - q_cur
    return np.where(gain > IMPROVE_RTOL * max(1.0, float(np.max(np.abs(v)))), best, sigma)


class _Greedy:
    """Greedy policies for policy iteration: with ``A >= PRUNED_MIN_ACTIONS`` by the pruned exact
    backups of :func:`solve_mdp` (bounds carried from one improvement to the next), else by the full
    product ``q = r + gamma P v``. Both break ties towards the lowest index, as ``argmax``."""

    def __init__(self, mdp, r: np.ndarray, gamma: float):
        self.mdp, self.r, self.gamma = mdp, np.ascontiguousarray(r, dtype=np.float64), gamma
        self.backup = _Backups(_kernel_of(mdp, self.r, gamma), r.shape) \
            if mdp.num_actions >= PRUNED_MIN_ACTIONS else None

    def __call__(self, v, hint) -> np.ndarray:
        """``argmax_a q_v(s, a)`` (lowest index on ties; ``hint`` all zeros keeps that order)."""
        if self.backup is None:
            return _argmax(q_from_v(self.mdp.P_sa, self.r, self.gamma, v))
        return self.backup(v, hint)[1]

    def improve(self, v, sigma) -> np.ndarray:
        """:func:`_improve`: the greedy action where it beats ``sigma`` by more than IMPROVE_RTOL."""
        if self.backup is None:
            return _improve(q_from_v(self.mdp.P_sa, self.r, self.gamma, v), sigma, v)
        # sigma is read first: U[s, sigma] is its exact q, and the greedy action beats it strictly
        Tv, best = self.backup(v, sigma)
        gain = Tv - self.backup.U[np.arange(len(sigma)), sigma]
        return np.where(gain > IMPROVE_RTOL * max(1.0, float(np.max(np.abs(v)))), best, sigma)


def _initial_sigma(mdp, pi0) -> tuple[np.ndarray, np.ndarray | None]:
    """Deterministic start (int [S]) and, for a stochastic ``pi0`` [S, A], the policy itself."""
    if pi0 is None:
        return _argmax(mdp.r), None
    arr = np.asarray(pi0)
    if arr.ndim == 1:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"pi0 as a deterministic policy must be an int array [S], got dtype {arr.dtype}")
        S, A = mdp.num_states, mdp.num_actions
        if arr.shape != (S,):
            raise ValueError(f"pi0 must have shape [S] = [{S}] (or [S, A]), got {arr.shape}")
        bad = np.flatnonzero((arr < 0) | (arr >= A))
        if bad.size:
            raise ValueError(f"pi0[{bad[0]}] is {arr[bad[0]]}, expected an action in [0, {A - 1}]")
        return arr.astype(np.int64), None
    pi = _check_policy(mdp, arr, allow_time=False)
    return _argmax(pi), pi


def policy_iteration(mdp, pi0=None, max_iter: int = 10000, record: bool = True) -> PIResult:
    """Howard's policy iteration: exact evaluation, then greedy improvement, until stable.

    ``pi0``: int [S] or stochastic [S, A] start (default: greedy with respect to the myopic value
    ``max_a r``, one backup that usually saves an evaluation; QuantEcon starts the same way). A
    stochastic ``pi0`` is evaluated as given (``values[0] = V^{pi0}``) and improved greedily;
    ``policies[0]`` then holds its row-wise argmax. Guarantees: ``V^{pi_{k+1}} >= V^{pi_k}``
    (Puterman Prop. 6.4.1, theorem ``pi.monotone``) and termination at an optimal policy in
    at most ``A^S`` improvements (Thm 6.4.2, ``pi.finite_termination``).

    ``record`` (default True, which the trajectory-based callers rely on): keep ``values``
    [T+1, S] and ``policies`` int [T+1, S] (action indices); with False both are None. Huge
    rewards are solved scaled (:data:`OVERFLOW_GUARD`); values beyond float64 give
    ``status = "nonfinite"`` and a NotConvergedWarning.
    """
    if getattr(_as_tabular(mdp), "criterion", None) == "total":  # episodic: polopt.exact.total
        from .total import total_policy_iteration

        return total_policy_iteration(mdp, pi0=pi0, max_iter=max_iter, record=record)
    mdp = _discounted_mdp(mdp, "policy_iteration")
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    P_sa, gamma = mdp.P_sa, mdp.gamma
    c = _reward_scale(mdp.r, gamma)
    r = mdp.r if c == 1.0 else mdp.r / c
    sigma, pi_stoch = _initial_sigma(mdp, pi0)
    greedy = _Greedy(mdp, r, gamma)
    if pi0 is None:
        sigma = greedy(r.max(axis=1), np.zeros(mdp.num_states, dtype=np.int64))
    if pi_stoch is None:
        v = _evaluate_sigma(mdp, sigma, r=r)
    else:
        from ._ops import P_pi, r_pi

        v = solve_discounted(P_pi(P_sa, pi_stoch), r_pi(r, pi_stoch), gamma)
    values, policies = ([v], [sigma]) if record else (None, None)
    converged = False
    k = 0
    while np.all(np.isfinite(v)):
        new = greedy.improve(v, sigma)
        if pi_stoch is None and np.array_equal(new, sigma):
            converged = True
            break
        pi_stoch = None
        if k >= max_iter:
            break
        sigma = new
        v = _evaluate_sigma(mdp, sigma, x0=v, r=r)
        k += 1
        if record:
            values.append(v)
            policies.append(sigma)
    res = PIResult(
        _unscale(v, c), sigma, k, converged,
        _unscale(np.array(values), c) if record else None, np.array(policies) if record else None,
        CONVERGED if converged else MAX_ITER,
    )
    if _nonfinite("policy_iteration", mdp, res.v):
        res = res._replace(converged=False, status=NONFINITE)
    return res


# ------------------------------------------------------------------ modified PI
def modified_policy_iteration(
    mdp, k: int = 20, tol: float = 1e-10, v0=None, max_iter: int = 100000, record: bool | int = False,
    record_limit: int | None = None,
) -> VIResult:
    """Modified policy iteration MPI(k) (Puterman §6.5) with the span rule and midrange correction.

    Each iteration: one backup ``T v`` (greedy ``sigma``, span test on ``T v - v``), then
    ``k`` partial evaluation sweeps ``v <- r_sigma + gamma P_sigma v`` started from ``T v``.
    ``v0`` defaults to ``min r / (1-gamma)`` so that ``T v0 >= v0`` and the iterates increase
    monotonically to ``v*`` (Puterman Thm 6.5.5). Returns a :class:`VIResult` with the same
    certified bracket as :func:`value_iteration` (the bound holds for any ``v``); ``record=True``
    keeps ``values`` [T+1, S] and the greedy ``policies`` int [T+1, S] (``record=k`` /
    ``record_limit`` as in :func:`value_iteration`). Overflow handling as in :func:`value_iteration`.
    """
    mdp = _discounted_mdp(mdp, "modified_policy_iteration")
    k = as_positive_int("k", k, minimum=0)
    tol = _tol(tol)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    v = None if v0 is None else _check_v("v0", v0, mdp.num_states)
    return _span_iteration(mdp, v, tol, max_iter, record, sweeps=k, who="modified_policy_iteration",
                           start_low=True, record_limit=record_limit)


# ------------------------------------------------------------------ finite horizon
def backward_induction(mdp) -> BIResult:
    """Backward induction for a finite horizon ``H`` (Puterman §4.5).

    ``V[H] = 0``; for ``h = H-1..0``: ``Q[h] = r_h + gamma P_h V[h+1]``,
    ``V[h] = max_a Q[h]``, ``policy[h] = argmax_a Q[h]`` (lowest index on ties). Handles
    time-inhomogeneous ``P[h]``, ``r[h]``, sparse kernels, and LinearMixtureMDP (through
    ``as_tabular()``); ``gamma < 1`` discounts within the horizon. Checked against
    enumeration of all deterministic Markov policies in ``tests/test_exact_mdp.py``. Values
    beyond float64 give ``status = "nonfinite"`` and a NotConvergedWarning.
    """
    mdp = _as_tabular(mdp)
    if mdp.criterion != "finite_horizon":
        raise ValueError(f"backward_induction needs a finite-horizon MDP (horizon=H), got {mdp!r}")
    H, S, A, gamma = mdp.horizon, mdp.num_states, mdp.num_actions, mdp.gamma
    # no scaling needed: every intermediate |Q[h]| <= |r| + |V[h+1]| is bounded by the result
    V = np.zeros((H + 1, S))
    Q = np.zeros((H, S, A))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by name
        for h in range(H - 1, -1, -1):
            Q[h] = q_from_v(mdp.P_at(h), mdp.r_at(h), gamma, V[h + 1])
            V[h] = row_max(Q[h])
    res = BIResult(V, Q, _argmax(Q))
    if _nonfinite("backward_induction", mdp, res.V):
        res = res._replace(status=NONFINITE)
    return res


# ------------------------------------------------------------------ default solver
#: Partial-evaluation sweeps tried before an exact solve of ``(I - gamma P_sigma) v = r_sigma``.
_EVAL_SWEEPS = 60
#: Gauss-Seidel sweeps per round for sparse kernels (a forward and a backward pass).
_GS_SWEEPS = 2
#: Evaluation accuracy of a round, as a fraction of the previous round's Bellman residual span.
_EVAL_FRACTION = 1e-2
#: A round whose greedy policy changes in at most this fraction of the states evaluates the next
#: policy to the final accuracy: it is then usually optimal, and the next backup certifies it
#: (changed states per round: dense 500 x 100 16, 1, 0; state-action sparse 3000 x 50 1028, 349,
#: 76, 5, 0), one round fewer than waiting for an unchanged policy.
_SETTLED_FRACTION = 1e-2


def _slack(v: np.ndarray) -> float:
    # rows may sum to 1 +- STOCHASTIC_ATOL; 2x covers it and the round-off of a dot product
    from ._kernels import max_abs

    return 2.0 * STOCHASTIC_ATOL * max_abs(v) + 1e-12


def _span_evaluate(Psig, rsig, gamma: float, v: np.ndarray, thr: float):
    """Evaluate ``sigma`` by sweeps ``w <- r + gamma P w`` to span ``< thr`` plus midrange; None if slow."""
    c = gamma / (1.0 - gamma)
    for _ in range(_EVAL_SWEEPS):
        w = rsig + gamma * (Psig @ v)
        d = w - v
        lo, hi = float(d.min()), float(d.max())
        if hi - lo < thr:
            return w + c * 0.5 * (lo + hi)
        v = w
    return None


class _OPIKernel(NamedTuple):
    """The storage-specific steps of :func:`solve_mdp`'s loop, on ``r`` [S, A] (dense or CSR kernel).

    ``backup(v, hint, U, shift, gather=False) -> (Tv, sigma, reads)`` the pruned exact backup
    (``shift`` None: the first backup of a run, ``U`` all ``+inf``; ``gather``: carry the gathered
    ``P_sigma`` of ``hint`` over to the greedy policy, CSR only);
    ``evaluate(sigma, v0, thr) -> v or None`` span-stopped sweeps (None: the chain mixes slowly);
    ``solve(sigma) -> v`` a direct solve of ``(I - gamma P_sigma) v = r_sigma``;
    ``chain(v) -> v`` Gauss-Seidel sweeps after a direct solve (CSR only; identity for dense);
    ``partial(sigma, v, sweeps) -> v`` MPI's partial evaluations (CSR only; None for dense);
    ``writes_bounds``: the first backup writes every bound ``U`` (CSR: it reads every row), so ``U``
    needs no initial fill;
    ``myopic() -> sigma`` the myopic policy ``argmax_a r`` (CSR: with its rows gathered for the first
    evaluation).
    """

    backup: object
    evaluate: object
    solve: object
    chain: object
    partial: object = None
    writes_bounds: bool = False
    myopic: object = None


def _csr_kernel(indptr, indices, data, r: np.ndarray, gamma: float) -> _OPIKernel:
    import scipy.sparse as sp

    from . import _kernels

    S = r.shape[0]
    # the backups read the kernel as fixed-length rows where every row stores as many entries
    K = _kernels.ell_view(indptr, indices, data) or (indptr, indices, data)

    def solve(sigma):
        ptr, idx, val, rs = _kernels.gather_sigma_csr(indptr, indices, data, r, sigma)
        return solve_discounted(sp.csr_matrix((val, idx, ptr), shape=(S, S)), rs, gamma, krylov=False)

    # P_sigma as fixed-width rows, kept from one round to the next: a backup copies the rows of the
    # states whose greedy action changes while they are in cache, so the next evaluation gathers
    # nothing (a gather from rows scattered over the state-action sparse 3000 x 50 kernel cost
    # 0.1 ms of each 0.2 ms evaluation inside solve_mdp)
    G = _kernels.gather_buffers(K, S)
    held = [None]  # the policy whose rows G holds

    def gathered(sigma) -> bool:
        h = held[0]
        return h is not None and (h is sigma or np.array_equal(h, sigma))

    def hold(sigma):
        if not gathered(sigma):
            _kernels.gather_sigma_into(indptr, indices, data, r, sigma, *G)
            held[0] = sigma
        return G

    def evaluate(sigma, v0, thr):
        if G is None:
            w, ok = _kernels.span_evaluate_csr(indptr, indices, data, r, gamma, sigma, v0.copy(), thr, _EVAL_SWEEPS)
        else:
            w, ok = _kernels.span_evaluate_gathered(*hold(sigma), gamma, v0.copy(), thr, _EVAL_SWEEPS)
        return w if ok else None

    def myopic():
        if G is None:
            return _argmax(r)
        held[0] = _kernels.myopic_gather_into(indptr, indices, data, r, *G)
        return held[0]

    def partial(sigma, v, sweeps):
        if G is None:
            return _kernels.partial_evaluate_csr(indptr, indices, data, r, gamma, sigma, v, sweeps)
        return _kernels.partial_evaluate_gathered(*hold(sigma), gamma, v, sweeps)

    def backup(v, hint, U, shift, gather=False):
        carry = gather and G is not None and gathered(hint)
        out = _backup(v, hint, U, shift, G if carry else None)
        if carry:
            held[0] = out[1]
        return out

    def _backup(v, hint, U, shift, G):
        if shift is None:
            # the first backup of a run has no bounds from a previous one, and the reward bound alone
            # skips too few rows of a short-row kernel to pay: a skipped row breaks the streaming order
            # and each row read out of order costs a cache miss. Infinite bounds read every row in
            # order (state-action sparse 3000 x 50 bench instance, 5 entries per row: that backup
            # 1.3-1.5 ms reading 58% of the rows out of order, 0.9 ms reading all in order; solve_mdp
            # 6.4 ms against 6.6 ms, best of 60)
            return _kernels.backup_sparse(K, r, gamma, v, hint, np.inf, U, np.inf, G)
        return _kernels.backup_sparse(K, r, gamma, v, hint, _slack(v), U, shift, G)

    return _OPIKernel(
        backup,
        evaluate,
        solve,
        # slow mixing: let Gauss-Seidel carry the improvement along the chain
        lambda v: _kernels.gauss_seidel_csr(indptr, indices, data, r, gamma, _kernels.flush_negligible(v).copy(),
                                            True, _GS_SWEEPS, _kernels.max_abs(v) * _kernels.NEGLIGIBLE_FRACTION),
        partial,
        writes_bounds=True,
        myopic=myopic,
    )


def _dense_kernel(mdp, r: np.ndarray, gamma: float) -> _OPIKernel:
    from . import _kernels

    P2 = np.ascontiguousarray(mdp.P_sa)
    S = r.shape[0]

    def evaluate(sigma, v0, thr):
        Psig = _sigma_kernel(mdp, sigma, r)[0]
        return _span_evaluate(Psig, r[np.arange(S), sigma], gamma, v0, thr)

    def solve(sigma):
        Psig, rsig = _sigma_kernel(mdp, sigma, r)
        return solve_discounted(Psig, rsig, gamma, krylov=False)

    return _OPIKernel(
        # long dense rows stream even when some are skipped: prune from the first backup on
        lambda v, hint, U, shift, gather=False: _kernels.backup_dense(P2, r, gamma, v, hint, _slack(v), U,
                                                                      0.0 if shift is None else shift),
        evaluate,
        solve,
        lambda v: v,
    )



def _kernel_of(mdp, r: np.ndarray, gamma: float) -> _OPIKernel:
    """:func:`_csr_kernel` or :func:`_dense_kernel`, by the storage of ``mdp``'s kernel."""
    if mdp.is_sparse:
        P = mdp.P_sparse
        return _csr_kernel(P.indptr, P.indices, P.data, r, gamma)
    return _dense_kernel(mdp, r, gamma)


class _Backups:
    """Successive pruned exact backups: the bounds ``U`` [S, A] of one backup prune the next.

    ``self(v, hint) -> (Tv, greedy)``; ``U[s, hint[s]]`` is then the exact ``q_v(s, hint[s])``.
    """

    def __init__(self, kern: _OPIKernel, shape, gather: bool = False):
        self.U = np.empty(shape) if kern.writes_bounds else np.full(shape, np.inf)
        self.kern, self.v_old, self.gather = kern, None, gather

    def __call__(self, v: np.ndarray, hint: np.ndarray):
        from . import _kernels

        # rows may sum to 1 +- STOCHASTIC_ATOL: P (v - v_old) <= max(v - v_old) + slack
        shift = None if self.v_old is None else _kernels.shift_bound(v, self.v_old, STOCHASTIC_ATOL)
        Tv, greedy, _ = self.kern.backup(v, hint, self.U, shift, self.gather)
        self.v_old = v
        return Tv, greedy

def _opi(kern: _OPIKernel, r: np.ndarray, gamma: float, thr: float, max_iter: int, sigma: np.ndarray,
         v: np.ndarray | None, width: float):
    """Optimistic policy iteration from ``sigma`` (and ``v``, the last value, or None): steps 2-4 of
    :func:`solve_mdp`. Returns ``(Tv, d = Tv - v, greedy, rounds)`` of the last backup.
    ``width``: ``max r - min r`` over the feasible pairs (the first evaluation's scale)."""
    from . import _kernels

    S = r.shape[0]
    # upper bounds on q from the previous backup: late rounds move v little and skip most rows
    backup = _Backups(kern, r.shape, gather=True)  # each round evaluates the last greedy policy
    prev_span = np.inf
    # Optimistic PI needs an accurate evaluation only near the end: evaluate to a span a fixed
    # fraction of the last Bellman residual span (never below the final threshold).
    settled = stable = False
    for it in range(max_iter + 1):
        # once the greedy policy (almost) repeats it is usually optimal: evaluate it to the final
        # accuracy at once instead of one more round at a fraction of the residual
        eval_thr = min(thr, 1.0) * 0.1 if settled else max(min(thr, 1.0) * 0.1, _EVAL_FRACTION * width)
        if gamma == 0:
            w = r[np.arange(S), sigma]
        else:
            w = kern.evaluate(sigma, r[np.arange(S), sigma] / (1.0 - gamma) if v is None else v, eval_thr)
        # sweeps that do not settle mean a slowly mixing chain (e.g. RiverSwim), which is
        # banded enough for a direct factorization
        v = _kernels.flush_negligible(kern.chain(kern.solve(sigma)) if w is None else w)
        Tv, new = backup(v, sigma)
        d, d_lo, d_hi, changed = _kernels.residual(Tv, v, new, sigma)
        width = d_hi - d_lo
        stable, settled = changed == 0, changed <= _SETTLED_FRACTION * S
        # a repeated policy whose span no longer shrinks has hit round-off: tol is unreachable
        if width < thr or it == max_iter or (stable and width >= prev_span) or not np.isfinite(width):
            break
        sigma, prev_span = new, width
    return Tv, d, new, it


def solve_mdp(mdp, tol: float = 1e-10, max_iter: int = 10000) -> SolveMDPResult:
    """The default certified exact solver for a discounted MDP.

    Optimistic policy iteration with exact-by-elimination backups:

    1. start from the myopic policy ``sigma = argmax_a r`` (costs no pass over ``P``);
    2. evaluate ``sigma`` with span-stopped sweeps on the ``S x S`` (or gathered sparse) ``P_sigma``
       plus midrange correction, or, when the span contracts too slowly for the sweep budget
       (slowly mixing chains), an exact solve (dense LU; sparse: banded LU or SuperLU);
    3. sparse kernels whose sweeps in 2 did not settle only: two Gauss-Seidel sweeps (forward,
       backward) that carry information along chains in one pass;
    4. one pruned Bellman backup ``T v`` (numba; exact — rows of provably dominated actions are
       skipped, see :mod:`polopt.exact._kernels`); stop when ``sp(T v - v) < tol (1-gamma)/gamma``
       and return the MacQueen bracket ``v_lower <= v* <= v_upper`` (width < ``tol``) and its
       midpoint; else ``sigma = greedy`` and go to 2.

    Sparse kernels whose rows all store as many entries are read as fixed-length rows (a view,
    no copy); the greedy policy's rows of ``P`` are kept gathered from one round to the next (a
    backup copies those of the states whose action changes), so evaluations gather nothing.
    Value entries below ``2**-600 max|v|`` are set to 0 between rounds (they would decay into
    slow subnormal numbers on long chains).

    The certificate depends only on step 4, which is exact for any ``v``, so the inexact
    evaluations in 2-3 affect speed, never correctness. ``method`` in the
    result is ``"optimistic_policy_iteration"``. Benchmarked against QuantEcon in
    ``bench/bench_mdp.py``.
    """
    if getattr(_as_tabular(mdp), "criterion", None) == "total":  # episodic: exact policy iteration
        from .total import total_policy_iteration

        res = total_policy_iteration(mdp, max_iter=max_iter)
        return SolveMDPResult(res.v, res.policy, res.v, res.v, "total_policy_iteration", res.num_iter, res.status)
    mdp = _discounted_mdp(mdp, "solve_mdp")
    tol = _tol(tol)
    max_iter = as_positive_int("max_iter", max_iter, minimum=0)
    gamma = mdp.gamma
    # huge rewards: solve on r / c (exact power-of-two scaling) and multiply the values back
    lo, hi = feasible_range(mdp.r)
    c = _reward_scale(mdp.r, gamma, max(hi, -lo))
    r = np.ascontiguousarray(mdp.r if c == 1.0 else mdp.r / c)
    thr = _threshold(tol / c, gamma)
    method = "optimistic_policy_iteration"
    kern = _kernel_of(mdp, r, gamma)
    sigma = _argmax(r) if kern.myopic is None else kern.myopic()
    Tv, d, new, it = _opi(kern, r, gamma, thr, max_iter, sigma, None, (hi - lo) / c)
    v_lower, v_upper, v_mid = (_unscale(x, c) for x in _bracket(Tv, d, gamma))
    if _nonfinite("solve_mdp", mdp, v_mid, v_lower, v_upper):
        return SolveMDPResult(v_mid, new, v_lower, v_upper, method, it, NONFINITE)
    converged = float(d.max() - d.min()) < thr
    if not converged:
        warnings.warn(
            f"solve_mdp stopped after {it} rounds (max_iter={max_iter}) with bracket width "
            f"{float(np.max(v_upper - v_lower)):.3g} > tol={tol:g}",
            NotConvergedWarning,
            stacklevel=2,
        )
    return SolveMDPResult(v_mid, new, v_lower, v_upper, method, it, CONVERGED if converged else MAX_ITER)
