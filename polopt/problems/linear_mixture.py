"""Linear mixture MDPs: ``P(s'|s, a) = <phi(s'|s, a), theta>`` with known features ``phi``.

References: Ayoub et al., "Model-Based RL with Value-Targeted Regression", arXiv 2006.01107;
Zhou, Gu, Szepesvari, "Nearly Minimax Optimal RL for Linear Mixture MDPs", arXiv 2012.08507.

The key exact quantity is ``phi_V(s, a) = sum_s' phi(s'|s, a) V(s')`` so that
``(P V)(s, a) = <phi_V(s, a), theta>`` — the regression target of value-targeted regression.
"""

from __future__ import annotations

import numpy as np

from .._validation import STOCHASTIC_ATOL, as_float_array, as_positive_int, check_dense_size, check_stochastic
from ._base import Problem
from .mdp import TabularMDP


class LinearMixtureMDP(Problem):
    """Linear mixture MDP with features ``phi`` [S, A, S', d] (or [H, S, A, S', d]) and ``theta``.

    Args:
        phi: features; a leading [H] axis allows step-dependent features.
        theta: mixture weights [d] or [H, d] (step-dependent, as in the hard instance of
            arXiv 2012.08507).
        r: rewards [S, A] or [H, S, A].
        horizon / gamma / rho: as for :class:`TabularMDP`.

    Raises:
        ValueError: if the induced ``P = phi @ theta`` is not a distribution over ``s'`` (the
            message names the first offending ``(h, s, a)``), or shapes disagree.
    """

    __slots__ = ("phi", "theta", "r", "horizon", "gamma", "rho", "dim", "P", "_tabular")

    def __init__(self, phi, theta, r, horizon: int | None = None, gamma: float | None = None, rho=None):
        H = None if horizon is None else as_positive_int("horizon", horizon)
        if getattr(phi, "shape", None) is not None:  # the validated copy is a second dense array
            check_dense_size("phi", phi.shape, "reduce S or d (the features are dense [S, A, S, d])")
        phi = as_float_array("phi", phi, ndim=(4, 5))
        theta = as_float_array("theta", theta, ndim=(1, 2))
        if 0 in phi.shape:  # report the features' own empty axis, not a consequence of it in r or P
            axes = ("H", "S", "A", "S'", "d")[5 - phi.ndim:]
            empty = [f"{name} (axis {i})" for i, (name, n) in enumerate(zip(axes, phi.shape, strict=True)) if n == 0]
            raise ValueError(f"phi must have shape [S, A, S, d] with every axis >= 1, got {phi.shape}: "
                             f"empty {', '.join(empty)}")
        d = phi.shape[-1]
        if theta.shape[-1] != d:
            raise ValueError(f"theta has dimension {theta.shape[-1]} but phi has d={d} (phi shape {phi.shape})")
        for name, arr, base in (("phi", phi, 4), ("theta", theta, 1)):
            if arr.ndim == base + 1:
                if H is None:
                    raise ValueError(f"{name} has a leading time axis (shape {arr.shape}); pass horizon")
                if arr.shape[0] != H:
                    raise ValueError(f"{name} has {arr.shape[0]} time steps but horizon={H}")
        S, A, S2 = phi.shape[-4:-1]
        if S != S2:
            raise ValueError(f"phi must have shape [S, A, S, d], got {phi.shape}")
        if phi.ndim == 5 or theta.ndim == 2:
            phis = phi if phi.ndim == 5 else np.broadcast_to(phi, (H,) + phi.shape)
            thetas = theta if theta.ndim == 2 else np.broadcast_to(theta, (H, d))
            P = np.einsum("hsatd,hd->hsat", phis, thetas)
        else:
            P = phi @ theta
        P = np.where(np.abs(P) < 1e-15, 0.0, P)  # exact zeros for features that cancel
        try:
            check_stochastic("(phi @ theta)", P, atol=STOCHASTIC_ATOL)
        except ValueError as exc:
            raise ValueError(f"the induced kernel is not a distribution: {exc}") from None
        P.setflags(write=False)
        self.phi = phi
        self.theta = theta
        self.dim = d
        self.P = P
        self._tabular = TabularMDP(P, r, gamma=gamma, rho=rho, horizon=H)
        self.r = self._tabular.r
        self.horizon = H
        self.gamma = self._tabular.gamma
        self.rho = self._tabular.rho
        self._freeze()

    @property
    def num_states(self) -> int:
        return self._tabular.num_states

    @property
    def num_actions(self) -> int:
        return self._tabular.num_actions

    @property
    def criterion(self) -> str:
        return self._tabular.criterion

    def as_tabular(self) -> TabularMDP:
        """The induced :class:`TabularMDP` (same rewards, horizon/discount and rho)."""
        return self._tabular

    def phi_V(self, V, h: int | None = None) -> np.ndarray:
        """``phi_V(s, a) = sum_s' phi(s'|s, a) V(s')``, shape [S, A, d]."""
        V = np.asarray(V, dtype=np.float64)
        phi = self.phi if self.phi.ndim == 4 else self.phi[0 if h is None else h]
        return np.einsum("satd,t->sad", phi, V)

    def __repr__(self) -> str:
        extra = f"horizon={self.horizon}" if self.horizon is not None else f"gamma={self.gamma:g}"
        return f"LinearMixtureMDP(S={self.num_states}, A={self.num_actions}, d={self.dim}, {extra})"


#: Exact vertex enumeration visits 2^S value vectors; beyond this many states it is refused.
NORMALIZATION_MAX_STATES = 16
#: Vertices per block of the enumeration (bounds the temporary [block, S, A, d] array).
_VERTEX_BLOCK = 1024


def normalization(lmdp: LinearMixtureMDP) -> tuple[float, float]:
    """``(max_h ||theta_h||_2, max_{h, s, a, V in [0, 1]^S} ||phi_V(s, a)||_2)``, exactly.

    The horizon-free and Bernstein analyses assume ``||theta*|| <= B`` and ``||phi_V(s, a)||_2 <= 1`` for
    every ``V: S -> [0, 1]`` (equivalently ``<= H`` for ``V`` in ``[0, H]``; Zhou & Gu, arXiv 2205.11507;
    Zhou, Gu, Szepesvari, arXiv 2012.08507). ``V -> ||phi_V(s, a)||_2`` is convex, so its maximum over the
    box ``[0, 1]^S`` is attained at a vertex: enumerating ``V in {0, 1}^S`` is exact.

    Raises:
        TypeError: ``lmdp`` is not a LinearMixtureMDP.
        ValueError: more than :data:`NORMALIZATION_MAX_STATES` states (2^S vertices).
    """
    if not isinstance(lmdp, LinearMixtureMDP):
        raise TypeError(f"lmdp must be a LinearMixtureMDP, got {type(lmdp).__name__}")
    S = lmdp.num_states
    if S > NORMALIZATION_MAX_STATES:
        raise ValueError(f"normalization enumerates 2^S value vectors: S must be <= {NORMALIZATION_MAX_STATES}, "
                         f"got S={S}")
    theta_norm = float(np.max(np.linalg.norm(np.atleast_2d(lmdp.theta), axis=-1)))
    phis = lmdp.phi if lmdp.phi.ndim == 5 else lmdp.phi[None]
    bits = np.arange(2**S)
    worst = 0.0
    for lo in range(0, 2**S, _VERTEX_BLOCK):
        V = ((bits[lo:lo + _VERTEX_BLOCK, None] >> np.arange(S)) & 1).astype(np.float64)  # [n, S]
        for phi in phis:
            phiV = np.einsum("satd,nt->nsad", phi, V)
            worst = max(worst, float(np.sqrt(np.max(np.einsum("nsad,nsad->nsa", phiV, phiV)))))
    return theta_norm, worst
