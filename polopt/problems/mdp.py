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
* **average reward** (``gamma=1.0`` without a horizon): gain ``g^pi = P*_pi r_pi`` and bias
  ``h^pi = H_pi r_pi`` with the deviation matrix ``H_pi`` (Puterman ch. 8).

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
)
from ._base import Problem, contexts_and_reference

DISCOUNTED = "discounted"
FINITE_HORIZON = "finite_horizon"
AVERAGE = "average"


_SPARSE_HINT = (
    "pass P as a scipy.sparse matrix of shape (S*A, S) whose row s*A + a is P(. | s, a) "
    "(state-action-pair form; every exact solver accepts it)"
)


def _as_sparse_kernel(P, num_actions: int) -> sp.csr_matrix:
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


class TabularMDP(Problem):
    """A finite MDP ``(P, r, gamma | horizon, rho)``; immutable and validated.

    Args:
        P: transition kernel ``[S, A, S]`` (``[H, S, A, S]`` allowed with ``horizon=H``), or a
            ``scipy.sparse`` matrix ``(S*A, S)`` in state-action-pair form.
        r: rewards ``[S, A]`` (``[H, S, A]`` allowed with ``horizon=H``).
        gamma: discount in ``[0, 1]``; ``1.0`` without a horizon selects the average-reward
            criterion. Default 0.9 (discounted) or 1.0 with a horizon.
        rho: start-state distribution ``[S]``; uniform if None.
        horizon: number of decision steps ``H >= 1`` for the finite-horizon criterion.
        reference: reference policy ``mu`` of the RLHF objective, ``[S, A]`` or ``[A]`` (shared by every
            state), rows on the simplex; uniform if None. Stored as ``mu [S, A]`` (read-only).
        beta: KL coefficient ``>= 0``. With ``beta > 0`` (discounted criterion only) the objective is the
            KL-regularized value ``V_beta^pi = E^pi[sum_t gamma^t (r(s_t, a_t) - beta KL(pi(.|s_t) ||
            mu(.|s_t)))]``, solved by default with soft value iteration; ``beta = 0`` is the plain MDP
            (the reference is then unused).

    Raises:
        ValueError: non-stochastic rows ("P[3, 1, :] sums to 0.98, expected 1 ..."), NaN,
            negative probabilities, shape mismatch, gamma outside [0, 1].
        TypeError: non-numeric input.
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
        "mu",
        "beta",
    )

    def __init__(self, P, r, gamma: float | None = None, rho=None, horizon: int | None = None, reference=None,
                 beta: float = 0.0):
        H = None if horizon is None else as_positive_int("horizon", horizon)
        if gamma is None:
            gamma = 1.0 if H is not None else 0.9
        gamma = as_scalar("gamma", gamma, low=0.0, high=1.0)
        r = as_float_array("r", r, ndim=(2, 3))
        if r.ndim == 3 and H is None:
            raise ValueError(f"r has a leading time axis (shape {r.shape}); pass horizon={r.shape[0]}")
        if r.ndim == 3 and r.shape[0] != H:
            raise ValueError(f"r has {r.shape[0]} time steps but horizon={H}")
        S_r, A = r.shape[-2:]
        if A < 1 or S_r < 1:
            raise ValueError(f"r must have at least one state and one action, got shape {r.shape}")

        if sp.issparse(P):
            P_sparse = _as_sparse_kernel(P, A)
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
            if P_dense.shape[-3:] != (S, A, S) or P_dense.shape[-1] != S:
                raise ValueError(
                    f"P must have shape [S, A, S] = [{S_r}, {A}, {S_r}] to match r {r.shape}, "
                    f"got {P_dense.shape}"
                )
            check_stochastic("P", P_dense)
        if S != S_r:
            raise ValueError(f"P has {S} states but r has {S_r} (r shape {r.shape})")
        rho_arr = np.full(S, 1.0 / S) if rho is None else as_distribution("rho", rho, (S,)).copy()
        rho_arr.setflags(write=False)
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
        if H is not None:
            self.criterion = FINITE_HORIZON
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
        return TabularMDP(P, self.r, gamma=gamma, rho=self.rho, reference=self.mu, beta=self.beta)

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
        return f"TabularMDP(S={self.num_states}, A={self.num_actions}, {extra}{kind})"
