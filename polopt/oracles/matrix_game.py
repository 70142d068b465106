"""The payoff oracle of a two-player zero-sum matrix game, in the preference-game form every game rule reads.

The game rules of :mod:`polopt.rules.nlhf` update log-policies ``[..., K]`` from ``oracle.pref(pi)``
and ``oracle.log_mu``. For a matrix game with normalized payoff ``G`` [m, n] the two players'
policies are stacked as ``pi`` [2, K] with ``K = max(m, n)``, row 0 the row player's (``x``, padded
with zero-probability actions to ``K``), row 1 the column player's (``y``); then

.. math::  \\mathrm{pref}(\\pi) = \\tfrac12 + \\begin{bmatrix} G\\,y \\\\ -G^\\top x \\end{bmatrix}

(padded entries get ``1/2``), i.e. each player's expected payoff against the other, shifted into
``[0, 1]`` like ``Pr(y > pi)``. For the symmetric game ``G = P - 1/2`` and ``x = y = pi`` both rows
are the preference oracle ``P pi``, so a rule run on the pair is the rule run in self-play. The
padded actions have ``log pi = log mu = -inf`` and stay at zero probability under every KL step
(:func:`polopt.rules._core.kl_prox` keeps ``-inf`` entries). NumPy or ``jax.numpy``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._base import array_namespace

__all__ = ["MatrixGameOracle"]


class MatrixGameOracle(NamedTuple):
    """``pref(pi [..., 2, K]) -> [..., 2, K]`` for the padded payoff ``G_pad`` [K, K] and ``log_mu`` [2, K].

    Fields: ``G`` [K, K] (the normalized payoff, zero-padded), ``log_mu`` [2, K] (the two references,
    ``-inf`` on padded actions); ``P``, ``rng`` and ``num_samples`` are None (exact payoffs only:
    the forms of the rules that read a preference matrix or sample comparisons do not apply).
    """

    G: Any
    log_mu: Any
    P: Any = None
    rng: Any = None
    num_samples: int | None = None

    @property
    def sampled(self) -> bool:
        return False

    def pref(self, pi):
        """``1/2 + [G y; -G^T x]`` for ``pi = [x; y]`` (stacked on the second-to-last axis)."""
        xp = array_namespace(self.G, pi)
        row = xp.einsum("ij,...j->...i", self.G, pi[..., 1, :])
        col = -xp.einsum("...i,ij->...j", pi[..., 0, :], self.G)
        return 0.5 + xp.stack([row, col], axis=-2)

    def cost(self) -> int:
        """Payoff evaluations one call of :meth:`pref` makes: one pair of products ``(G y, G^T x)``."""
        return 1
