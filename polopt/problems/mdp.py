"""Tabular Markov decision processes: discounted, finite-horizon and average-reward.

Objects (Puterman 1994, *Markov Decision Processes*, ch. 4-9):

* states ``s in {0..S-1}``, actions ``a in {0..A-1}`` (actions are the last axis);
* transition kernel ``P[s, a, s'] = Pr(s' | s, a)`` (rows on the simplex), rewards ``r[s, a]``;
* a stochastic policy ``pi[s, a]``; ``P_pi[s, s'] = sum_a pi[s, a] P[s, a, s']``,
  ``r_pi[s] = sum_a pi[s, a] r[s, a]``.

Criteria, chosen by the constructor's keywords:

* **discounted** (``0 <= gamma < 1``): ``V^pi = (I - gamma P_pi)^{-1} r_pi``; the Bellman
  operator ``(T v)(s) = max_a r(s, a) + gamma sum_s' P(s'|s, a) v(s')`` is a
  ``gamma``-contraction in sup-norm with unique fixed point ``v*``;
* **finite horizon** (``horizon=H``): ``P`` and ``r`` may carry a leading ``[H]`` axis
  (time-inhomogeneous); values ``V[h, s]`` for ``h = 0..H-1``, step 0 first;
* **average reward** (``gamma=1.0`` without a horizon or terminal states): gain ``g^pi = P*_pi r_pi``
  and bias ``h^pi = H_pi r_pi`` with the deviation matrix ``H_pi`` (Puterman ch. 8);
* **total reward** (``gamma=1.0, terminal=[...]``): episodic, the episode ends on reaching a terminal
  state (absorbing, reward 0); ``V^pi = sum_t E r_t`` is finite for the *proper* policies (those that
  reach a terminal state with probability 1), the stochastic-shortest-path setting of Bertsekas &
  Tsitsiklis (1991), solved by :mod:`polopt.exact.total`.

Problems as people bring them (each reduced to the arrays above, said so by an attribute):

* **infeasible actions**: ``r[s, a] = -inf`` (QuantEcon's formulation) or ``mask[s, a] = False``;
  :attr:`TabularMDP.mask` records them and ``r`` holds ``-inf`` there (so every ``max``/``argmax``/
  ``logsumexp`` over actions ignores them; the kernel row of an infeasible pair is replaced by a
  self-loop and never used). Every exact solver returns policies with probability 0 on them.
  :meth:`TabularMDP.from_state_action_pairs` reads QuantEcon's pair form (missing pairs infeasible);
* **rewards per transition** ``R[s, a, s']``: reduced to the expected reward
  ``r(s, a) = sum_s' P(s'|s, a) R(s, a, s')`` (:attr:`TabularMDP.reward_reduction` says so);
* **actions-first kernels** ``P[a, s, s']`` (pymdptoolbox): ``axes="ass"`` transposes explicitly. The
  convention is always ``P[s, a, s']``; a square ``P[a, s, s']`` with ``S == A`` cannot be told apart
  and would silently be another MDP, hence the explicit keyword (or
  :meth:`TabularMDP.from_mdptoolbox`).

Large sparse kernels are accepted in state-action-pair form: a ``scipy.sparse`` matrix of
shape ``(S*A, S)`` whose row ``s*A + a`` is ``P(. | s, a)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import (
    NEGATIVE_ATOL,
    STOCHASTIC_ATOL,
    as_distribution,
    as_float_array,
    as_positive_int,
    as_scalar,
    check_dense_size,
    check_real,
    check_stochastic,
    split_neg_inf,
)
from ._base import Problem, contexts_and_reference

DISCOUNTED = "discounted"
FINITE_HORIZON = "finite_horizon"
AVERAGE = "average"
TOTAL = "total"
AXES = ("sas", "ass")
#: What :attr:`TabularMDP.reward_reduction` says when rewards were given per transition.
PER_TRANSITION = "r(s, a) = sum_s' P(s'|s, a) R(s, a, s') (expected reward of R[s, a, s'])"
_CONVENTION = (
    "the convention is P[s, a, s'] (actions second); for pymdptoolbox's P[a, s, s'] pass axes='ass' "
    "or use TabularMDP.from_mdptoolbox(P, R, gamma)"
)


_SPARSE_HINT = (
    "pass P as a scipy.sparse matrix of shape (S*A, S) whose row s*A + a is P(. | s, a) "
    "(state-action-pair form; every exact solver accepts it)"
)


def _as_sparse_kernel(P, num_actions: int, infeasible=None) -> sp.csr_matrix:
    """Validated read-only CSR ``(S*A, S)``; rows of ``infeasible`` pairs (bool [S, A]) become self-loops."""
    check_real("P", P)  # the float64 cast below would drop an imaginary part silently
    P = sp.csr_matrix(P, dtype=np.float64, copy=True)
    P.sum_duplicates()
    P.sort_indices()
    n_rows, S = P.shape
    if n_rows != S * num_actions:
        raise ValueError(
            f"P in state-action-pair form must have shape (S*A, S) = ({S * num_actions}, {S}) "
            f"for S={S}, A={num_actions} (A from r), got {P.shape}"
        )
    if infeasible is not None and infeasible.any():
        rows = np.flatnonzero(infeasible.ravel())
        keep = sp.diags((~infeasible.ravel()).astype(np.float64))
        loops = sp.csr_matrix((np.ones(rows.size), (rows, rows // num_actions)), shape=P.shape)
        P = (keep @ P + loops).tocsr()
        P.sort_indices()
    if not np.all(np.isfinite(P.data)):
        k = int(np.flatnonzero(~np.isfinite(P.data))[0])
        row = int(np.searchsorted(P.indptr, k, side="right") - 1)
        raise ValueError(f"P[{row}, {P.indices[k]}] is {P.data[k]}, expected a finite number")
    if (P.data < -NEGATIVE_ATOL).any():
        k = int(np.flatnonzero(P.data < -NEGATIVE_ATOL)[0])
        row = int(np.searchsorted(P.indptr, k, side="right") - 1)
        raise ValueError(
            f"P[{row}, {P.indices[k]}] is {P.data[k]:.6g}, expected a probability >= 0"
        )
    sums = np.asarray(P.sum(axis=1)).ravel()
    bad = np.abs(sums - 1.0) > STOCHASTIC_ATOL
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        s, a = divmod(row, num_actions)
        raise ValueError(
            f"P row {row} (state {s}, action {a}) sums to {sums[row]:.12g}, "
            f"expected 1 (tolerance {STOCHASTIC_ATOL:g})"
        )
    for arr in (P.data, P.indices, P.indptr):
        arr.setflags(write=False)
    return P


def _check_mask(mask, S: int, A: int) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise TypeError(f"mask must be a bool array [S, A] (True = feasible), got dtype {arr.dtype}")
    if arr.shape != (S, A):
        raise ValueError(f"mask must have shape [S, A] = [{S}, {A}] (the shape of r), got {arr.shape}")
    return arr


def _check_terminal(terminal, S: int) -> np.ndarray:
    arr = np.unique(np.asarray(terminal).ravel())
    if arr.size == 0:
        raise ValueError("terminal must name at least one state (an episodic task ends somewhere), got []")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"terminal must be a list of state indices (int), got dtype {arr.dtype}")
    bad = arr[(arr < 0) | (arr >= S)]
    if bad.size:
        raise ValueError(f"terminal state {int(bad[0])} is out of range, expected states in [0, {S - 1}]")
    return arr.astype(np.int64)


def _reduce_per_transition(P, R):
    """``r[..., s, a] = sum_s' P[..., s, a, s'] R[..., s, a, s']`` (dense) or row sums of ``P * R`` (CSR)."""
    if sp.issparse(P):
        if not sp.issparse(R) and np.shape(R) != P.shape:
            raise ValueError(f"R per transition must have the shape of the sparse P {P.shape}, got {np.shape(R)}")
        check_real("R", R)
        R = sp.csr_matrix(R, dtype=np.float64)
        if R.shape != P.shape:
            raise ValueError(f"R per transition must have the shape of the sparse P {P.shape}, got {R.shape}")
        if not np.all(np.isfinite(R.data)):
            raise ValueError("R per transition must be finite; mark infeasible pairs with mask= or r[s, a] = -inf")
        S = P.shape[1]
        return np.asarray(sp.csr_matrix(P).multiply(R).sum(axis=1)).reshape(S, -1)
    R = as_float_array("R", R)  # -inf is refused here, by index: infeasibility is a property of (s, a)
    if R.shape != P.shape:
        raise ValueError(f"r given per transition R[s, a, s'] must have the shape of P {P.shape}, got {R.shape} "
                         f"({_CONVENTION})")
    return np.einsum("...t,...t->...", P, R)


class TabularMDP(Problem):
    """A finite MDP ``(P, r, gamma | horizon, rho)``; immutable and validated.

    Args:
        P: transition kernel ``P[s, a, s'] = Pr(s' | s, a)`` of shape ``[S, A, S]`` (``[H, S, A, S]``
            allowed with ``horizon=H``), or a ``scipy.sparse`` matrix ``(S*A, S)`` in state-action-pair
            form (row ``s*A + a``). pymdptoolbox's actions-first ``P[a, s, s']`` needs ``axes="ass"``.
        r: rewards ``[S, A]`` (``[H, S, A]`` allowed with ``horizon=H``); ``-inf`` marks an infeasible
            pair. Or rewards per transition ``R[S, A, S']`` (``[H, S, A, S']`` with a horizon; the
            kernel's sparse shape ``(S*A, S)`` for a sparse ``P``), reduced to the expected reward
            ``r(s, a) = sum_s' P(s'|s, a) R(s, a, s')`` (:attr:`reward_reduction` then says so).
        gamma: discount in ``[0, 1]``; ``1.0`` without a horizon selects the average-reward
            criterion, or the total-reward criterion with ``terminal``. Default 0.9 (discounted) or
            1.0 with a horizon.
        rho: start-state distribution ``[S]``; uniform if None.
        horizon: number of decision steps ``H >= 1`` for the finite-horizon criterion.
        mask: bool ``[S, A]``, ``False`` = infeasible (combined with the ``-inf`` entries of ``r``).
            Infeasible pairs get ``r = -inf`` and a self-loop row in ``P`` (never used); every state
            needs a feasible action.
        axes: ``"sas"`` (default, ``P[s, a, s']``) or ``"ass"`` (``P[a, s, s']``, and ``R[a, s, s']``,
            transposed to ``P[s, a, s']``); dense kernels only.
        terminal: state indices where the episode ends: made absorbing (``P[t, a, t] = 1``) with reward
            0 for every action, whatever ``P`` and ``r`` said there. With ``gamma=1.0`` (and no horizon)
            the criterion is ``"total"`` (expected total reward until termination).

    Attributes:
        mask: read-only bool ``[S, A]`` of feasible pairs (all True without infeasible actions).
        terminal: read-only int array of terminal states (empty without).
        reward_reduction: None, or :data:`PER_TRANSITION` when ``r`` was reduced from ``R[s, a, s']``.
        reference: reference policy ``mu`` of the RLHF objective, ``[S, A]`` or ``[A]`` (shared by every
            state), rows on the simplex; uniform if None. Stored as ``mu [S, A]`` (read-only).
        beta: KL coefficient ``>= 0``. With ``beta > 0`` (discounted criterion only) the objective is the
            KL-regularized value ``V_beta^pi = E^pi[sum_t gamma^t (r(s_t, a_t) - beta KL(pi(.|s_t) ||
            mu(.|s_t)))]``, solved by default with soft value iteration; ``beta = 0`` is the plain MDP
            (the reference is then unused).

    Raises:
        ValueError: non-stochastic rows ("P[3, 1, :] sums to 0.98, expected 1 ..."), NaN,
            negative probabilities, shape mismatch (with the ``P[s, a, s']`` convention), gamma
            outside [0, 1], a state without a feasible action, a mask or ``R`` of the wrong shape.
        TypeError: non-numeric input, a non-bool mask.
    """

    __slots__ = (
        "P",
        "P_sparse",
        "r",
        "gamma",
        "rho",
        "horizon",
        "num_states",
        "num_actions",
        "criterion",
        "mask",
        "terminal",
        "reward_reduction",
        "mu",
        "beta",
    )

    def __init__(self, P, r, gamma: float | None = None, rho=None, horizon: int | None = None, reference=None,
                 beta: float = 0.0, *, mask=None, axes: str = "sas", terminal=None):
        H = None if horizon is None else as_positive_int("horizon", horizon)
        if gamma is None:
            gamma = 1.0 if H is not None else 0.9
        gamma = as_scalar("gamma", gamma, low=0.0, high=1.0)
        if axes not in AXES:
            raise ValueError(f"axes must be one of {AXES} ('sas' = P[s, a, s'], 'ass' = P[a, s, s']), got {axes!r}")
        if axes == "ass":
            if sp.issparse(P):
                raise ValueError("axes='ass' transposes a dense P[a, s, s']; a sparse P is (S*A, S), row s*A + a")
            P = np.swapaxes(as_float_array("P", P, ndim=(3, 4)), -3, -2)
        per_transition = (sp.issparse(r) or np.ndim(r) == (3 if H is None else 4)) and not (
            H is not None and np.ndim(r) == 3)
        reduction = None
        if per_transition:
            R = r
            if axes == "ass" and not sp.issparse(R):
                R = np.swapaxes(as_float_array("R", R, ndim=(3, 4)), -3, -2)
            if sp.issparse(P):
                P = _as_sparse_kernel(P, P.shape[0] // max(P.shape[1], 1))
            else:
                P = as_float_array("P", P, ndim=(3, 4))
                check_stochastic("P", P)
            r, reduction = _reduce_per_transition(P, R), PER_TRANSITION
        r, neg = split_neg_inf(r)
        r = np.array(as_float_array("r", r, ndim=(2, 3)))
        if r.ndim == 3 and H is None:
            raise ValueError(f"r has a leading time axis (shape {r.shape}); pass horizon={r.shape[0]}")
        if r.ndim == 3 and r.shape[0] != H:
            raise ValueError(f"r has {r.shape[0]} time steps but horizon={H}")
        S_r, A = r.shape[-2:]
        if A < 1 or S_r < 1:
            raise ValueError(f"r must have at least one state and one action, got shape {r.shape}")
        feasible = np.ones((S_r, A), dtype=bool) if mask is None else _check_mask(mask, S_r, A).copy()
        if neg is not None:
            if neg.ndim == 3 and not (neg == neg[:1]).all():
                h, s, a = (int(i) for i in np.argwhere(neg != neg[:1])[0])
                raise ValueError(f"r[{h}, {s}, {a}] and r[0, {s}, {a}] disagree on feasibility (-inf); the "
                                 "feasible actions of a state must not change with the time step")
            feasible &= ~(neg[0] if neg.ndim == 3 else neg)
        T = None if terminal is None else _check_terminal(terminal, S_r)
        if T is not None:
            feasible[T] = True  # a terminal state's actions all stay put at reward 0
        empty = np.flatnonzero(~feasible.any(axis=1))
        if empty.size:
            raise ValueError(f"state {int(empty[0])} has no feasible action (mask/r = -inf rule out all {A}); "
                             "every state needs at least one")
        infeasible = ~feasible

        if sp.issparse(P):
            P_sparse = _as_sparse_kernel(P, A, infeasible)
            P_dense = None
            S = P_sparse.shape[1]
        else:
            P_sparse = None
            if getattr(P, "shape", None) is not None:  # the validated copy is a second dense array
                check_dense_size("P", P.shape, _SPARSE_HINT)
            P_dense = as_float_array("P", P, ndim=(3, 4))
            if P_dense.ndim == 4 and H is None:
                raise ValueError(
                    f"P has a leading time axis (shape {P_dense.shape}); pass horizon={P_dense.shape[0]}"
                )
            if P_dense.ndim == 4 and P_dense.shape[0] != H:
                raise ValueError(f"P has {P_dense.shape[0]} time steps but horizon={H}")
            S = P_dense.shape[-3]
            if S != S_r and P_dense.shape[-2] == A and P_dense.shape[-1] == S:
                raise ValueError(f"P has {S} states but r has {S_r} (r shape {r.shape}); {_CONVENTION}")
            if P_dense.shape[-3:] != (S, A, S) or P_dense.shape[-1] != S:
                raise ValueError(
                    f"P must have shape [S, A, S] = [{S_r}, {A}, {S_r}] to match r {r.shape}, "
                    f"got {P_dense.shape}; {_CONVENTION}"
                )
            if infeasible.any() or T is not None:
                P_dense = np.array(P_dense)
                s_idx, a_idx = np.nonzero(infeasible)
                P_dense[..., s_idx, a_idx, :] = 0.0
                P_dense[..., s_idx, a_idx, s_idx] = 1.0  # never used: a valid row keeps every solver's algebra finite
            if T is not None:
                P_dense[..., T, :, :] = 0.0
                P_dense[..., T, :, T] = 1.0
            check_stochastic("P", P_dense)
            P_dense.setflags(write=False)
        if S != S_r:
            raise ValueError(f"P has {S} states but r has {S_r} (r shape {r.shape}); {_CONVENTION}")
        if T is not None:
            if P_sparse is not None:
                rows = (T[:, None] * A + np.arange(A)).ravel()
                keep = np.ones(S * A)
                keep[rows] = 0.0
                P_sparse = (sp.diags(keep) @ P_sparse + sp.csr_matrix(
                    (np.ones(rows.size), (rows, np.repeat(T, A))), shape=P_sparse.shape)).tocsr()
                P_sparse = _as_sparse_kernel(P_sparse, A)
            r[..., T, :] = 0.0
        r[..., infeasible] = -np.inf
        r.setflags(write=False)
        feasible.setflags(write=False)
        rho_arr = np.full(S, 1.0 / S) if rho is None else as_distribution("rho", rho, (S,)).copy()
        rho_arr.setflags(write=False)
        T_arr = np.zeros(0, dtype=np.int64) if T is None else T
        T_arr.setflags(write=False)
        beta = as_scalar("beta", beta, low=0.0)
        _, mu = contexts_and_reference(None, reference, S, A)

        self.P = P_dense
        self.P_sparse = P_sparse
        self.r = r
        self.gamma = gamma
        self.rho = rho_arr
        self.horizon = H
        self.num_states = S
        self.num_actions = A
        self.mask = feasible
        self.terminal = T_arr
        self.reward_reduction = reduction
        if H is not None:
            self.criterion = FINITE_HORIZON
        elif gamma == 1.0 and T is not None:
            self.criterion = TOTAL
        elif gamma == 1.0:
            self.criterion = AVERAGE
        else:
            self.criterion = DISCOUNTED
        if beta > 0 and self.criterion != DISCOUNTED:
            raise ValueError(f"beta > 0 (the KL-regularized objective) needs the discounted criterion "
                             f"(0 <= gamma < 1, no horizon); got beta={beta:g} with the {self.criterion} criterion")
        self.mu = mu
        self.beta = beta
        self._freeze()

    @classmethod
    def from_state_action_pairs(cls, s_indices, a_indices, P_rows, r_rows, gamma: float | None = None,
                                num_states: int | None = None, num_actions: int | None = None,
                                **kwargs) -> TabularMDP:
        """An MDP from QuantEcon's state-action-pair form: only the feasible pairs are listed.

        Args:
            s_indices, a_indices: int ``[L]``, the ``L <= S*A`` feasible pairs ``(s_l, a_l)`` (any order,
                no duplicates).
            P_rows: ``[L, S]`` dense or ``scipy.sparse`` (kept sparse): row ``l`` is ``P(. | s_l, a_l)``.
            r_rows: ``[L]`` rewards ``r(s_l, a_l)``.
            gamma: as in :class:`TabularMDP`; ``num_states`` defaults to ``P_rows.shape[1]``,
                ``num_actions`` to ``max(a_indices) + 1``; ``kwargs`` (rho, horizon, terminal) are passed on.

        Missing pairs are infeasible (``mask`` False, ``r = -inf``), as in QuantEcon's ``DiscreteDP``.

        Raises:
            ValueError: lengths that disagree, an index out of range, a duplicate pair (naming it), a
                state with no listed pair.
        """
        s_idx, a_idx = np.asarray(s_indices), np.asarray(a_indices)
        for name, arr in (("s_indices", s_idx), ("a_indices", a_idx)):
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"{name} must be a 1-d int array, got shape {arr.shape}, dtype {arr.dtype}")
        L = s_idx.size
        sparse_rows = sp.issparse(P_rows)
        rows = sp.csr_matrix(P_rows, dtype=np.float64) if sparse_rows else as_float_array("P_rows", P_rows, ndim=2)
        r_rows = as_float_array("r_rows", r_rows, ndim=1)
        if a_idx.size != L or rows.shape[0] != L or r_rows.size != L:
            raise ValueError(f"s_indices, a_indices, P_rows and r_rows must list the same number of pairs, got "
                             f"{L}, {a_idx.size}, {rows.shape[0]} rows and {r_rows.size}")
        S = rows.shape[1] if num_states is None else as_positive_int("num_states", num_states)
        if rows.shape[1] != S:
            raise ValueError(f"P_rows must have num_states = {S} columns, got {rows.shape[1]}")
        A = (int(a_idx.max()) + 1 if L else 1) if num_actions is None else as_positive_int("num_actions", num_actions)
        for name, arr, n in (("s_indices", s_idx, S), ("a_indices", a_idx, A)):
            bad = np.flatnonzero((arr < 0) | (arr >= n))
            if bad.size:
                raise ValueError(f"{name}[{bad[0]}] is {arr[bad[0]]}, expected an index in [0, {n - 1}]")
        flat = s_idx.astype(np.int64) * A + a_idx
        order = np.argsort(flat, kind="stable")
        dup = np.flatnonzero(np.diff(flat[order]) == 0)
        if dup.size:
            k = int(order[dup[0] + 1])
            raise ValueError(f"pair (s, a) = ({s_idx[k]}, {a_idx[k]}) is listed twice (entry {k}); each feasible "
                             "pair must appear once")
        mask = np.zeros(S * A, dtype=bool)
        mask[flat] = True
        r = np.zeros(S * A)
        r[flat] = r_rows
        if sparse_rows:
            coo = rows.tocoo()
            P = sp.csr_matrix((coo.data, (flat[coo.row], coo.col)), shape=(S * A, S))
        else:
            P = np.zeros((S * A, S))
            P[flat] = rows
            P = P.reshape(S, A, S)
        return cls(P, r.reshape(S, A), gamma, mask=mask.reshape(S, A), **kwargs)

    # ------------------------------------------------------------------ views
    @property
    def reference(self) -> np.ndarray:
        """The reference policy ``mu [S, A]`` of the KL term (uniform unless given)."""
        return self.mu

    @property
    def is_sparse(self) -> bool:
        return self.P_sparse is not None

    @property
    def is_time_inhomogeneous(self) -> bool:
        return (self.P is not None and self.P.ndim == 4) or self.r.ndim == 3

    @property
    def has_infeasible(self) -> bool:
        """Whether some state-action pair is infeasible (``mask`` False, ``r = -inf``)."""
        return not bool(self.mask.all())

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_states, self.num_actions)

    @property
    def P_sa(self):
        """Stationary kernel as an ``(S*A, S)`` matrix: a view of dense ``P`` or the CSR."""
        if self.P_sparse is not None:
            return self.P_sparse
        if self.P.ndim == 4:
            raise ValueError("P is time-inhomogeneous; use P_at(h)")
        return self.P.reshape(self.num_states * self.num_actions, self.num_states)

    def P_at(self, h: int):
        """Kernel at step ``h`` as an ``(S*A, S)`` matrix (dense view or CSR)."""
        if self.P_sparse is not None:
            return self.P_sparse
        if self.P.ndim == 4:
            return self.P[h].reshape(self.num_states * self.num_actions, self.num_states)
        return self.P_sa

    def r_at(self, h: int) -> np.ndarray:
        """Rewards at step ``h``, shape [S, A]."""
        return self.r[h] if self.r.ndim == 3 else self.r

    def dense_P(self) -> np.ndarray:
        """The kernel as a dense array ``[S, A, S]`` (or ``[H, S, A, S]``)."""
        if self.P is not None:
            return self.P
        check_dense_size("dense_P()", (self.num_states, self.num_actions, self.num_states),
                         "use the sparse kernel P_sparse / P_sa (shape (S*A, S)) instead")
        out = self.P_sparse.toarray().reshape(self.num_states, self.num_actions, self.num_states)
        out.setflags(write=False)
        return out

    def with_gamma(self, gamma: float) -> TabularMDP:
        """Same (stationary) MDP under another discount, e.g. for ``(1-gamma) V_gamma -> gain``."""
        P = self.P_sparse if self.P_sparse is not None else self.P
        terminal = self.terminal if self.terminal.size else None  # infeasible pairs travel as r = -inf
        return TabularMDP(P, self.r, gamma=gamma, rho=self.rho, reference=self.mu, beta=self.beta, terminal=terminal)

    # ------------------------------------------------------------------ other libraries (problems/interop.py)
    @classmethod
    def from_gymnasium(cls, env, gamma: float = 0.99) -> TabularMDP:
        """A toy-text Gymnasium env (``env.unwrapped.P``), ``terminated`` sent to an absorbing state:
        :func:`polopt.problems.interop.mdp_from_gymnasium`."""
        from .interop import mdp_from_gymnasium

        return mdp_from_gymnasium(env, gamma)

    @classmethod
    def from_quantecon(cls, ddp) -> TabularMDP:
        """A QuantEcon ``DiscreteDP``: :func:`polopt.problems.interop.mdp_from_quantecon`."""
        from .interop import mdp_from_quantecon

        return mdp_from_quantecon(ddp)

    def to_quantecon(self):
        """This MDP as a QuantEcon ``DiscreteDP``: :func:`polopt.problems.interop.mdp_to_quantecon`."""
        from .interop import mdp_to_quantecon

        return mdp_to_quantecon(self)

    @classmethod
    def from_mdptoolbox(cls, P, R, gamma: float) -> TabularMDP:
        """pymdptoolbox arrays, ``P`` in its ``[A, S, S']`` convention:
        :func:`polopt.problems.interop.mdp_from_mdptoolbox`."""
        from .interop import mdp_from_mdptoolbox

        return mdp_from_mdptoolbox(P, R, gamma)

    def __repr__(self) -> str:
        extra = f"horizon={self.horizon}" if self.horizon is not None else f"gamma={self.gamma:g}"
        kind = (f", beta={self.beta:g}" if self.beta > 0 else "") + (", sparse" if self.is_sparse else "")
        if self.criterion == TOTAL:
            extra = f"total reward, terminal={self.terminal.tolist()}"
        if not self.mask.all():
            kind += f", {int((~self.mask).sum())} infeasible pairs"
        return f"TabularMDP(S={self.num_states}, A={self.num_actions}, {extra}{kind})"
