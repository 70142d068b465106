"""Two-player zero-sum matrix games: ``A`` [m, n], the row player maximizes ``x^T A y``.

Units. A game with payoffs in ``[-c, c]`` (``c = scale``, default ``max |A|``) is read in the
units of a preference game: the **normalized payoff** ``G = A / (2c)`` has entries in
``[-1/2, 1/2]``, exactly like the skew part ``S = P - 1/2`` of a preference matrix, so a
symmetric game ``A = P - 1/2`` with ``scale = 1/2`` *is* the preference game ``P``. The
regularized game is

.. math::  J_\\beta(x, y) = x^\\top G y - \\beta\\,\\mathrm{KL}(x\\|\\mu_x) + \\beta\\,\\mathrm{KL}(y\\|\\mu_y),

whose unique equilibrium for ``beta > 0`` solves the pair of fixed points
``x* ∝ mu_x exp(G y* / beta)``, ``y* ∝ mu_y exp(-G^T x* / beta)``. Certificates use the same
units: the duality gap ``DG_beta(x, y) = max_x' J_beta(x', y) - min_y' J_beta(x, y')`` and the
exploitability ``DG_beta / 2`` (the mean of the two players' gaps), which is the preference
game's exploitability for the symmetric pair ``(pi, pi)``. Why normalize: every NLHF rule,
its default step (Nash-MP's ``eta = 2 = 1/L`` with ``L = 1/2``) and its rate are stated for
payoffs of range 1; the normalized game has them without rescaling anything.

Mapping to OpenSpiel (checked against ``open_spiel`` in ``tests/test_matrix_game.py``):

* OpenSpiel's NashConv of ``(x, y)`` on ``A`` = the sum of the players' gains from deviating =
  ``2c DG_0(x, y)``; its ``exploitability`` (NashConv / 2) = ``2c`` x polopt's exploitability;
* OpenSpiel's alpha-QRE (Shannon entropy with temperature ``alpha`` in payoff units, e.g.
  ``qre_exploitability(..., temperature=alpha)``) = polopt's regularized equilibrium at
  ``beta = alpha / (2c)`` with uniform references, and its QRE exploitability = ``2c`` x
  polopt's exploitability at that beta.

Two players' policies travel as a :class:`StrategyPair` ``(row [m], col [n])``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import as_distribution, as_float_array, as_scalar
from ._base import Problem


class StrategyPair(NamedTuple):
    """The two players' mixed strategies: ``row`` [..., m] (maximizer) and ``col`` [..., n] (minimizer).

    A solve result on a :class:`MatrixGame` holds one for ``policy`` (``row`` [m], ``col`` [n]),
    ``iterates`` and ``average`` (``row`` [T+1, m], ``col`` [T+1, n]) and ``optimum.policy``;
    ``x, y = res.policy`` unpacks it.
    """

    row: np.ndarray
    col: np.ndarray


def _reference(name: str, reference, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mu_row [m], mu_col [n])``: uniform if None, a pair, or one [m] vector for both when m == n."""
    if reference is None:
        mu_x, mu_y = np.full(m, 1.0 / m), np.full(n, 1.0 / n)
        mu_x.setflags(write=False)
        mu_y.setflags(write=False)
        return mu_x, mu_y
    if isinstance(reference, (tuple, list)) and len(reference) == 2 and all(np.ndim(r) == 1 for r in reference):
        return (as_distribution(f"{name}[0]", reference[0], (m,)),
                as_distribution(f"{name}[1]", reference[1], (n,)))
    if m == n and np.ndim(reference) == 1:
        mu = as_distribution(name, reference, (m,))
        return mu, mu
    raise ValueError(
        f"{name} must be a pair (mu_row [{m}], mu_col [{n}])"
        + (f" or one distribution [{m}] shared by both players" if m == n else "")
        + f", got {type(reference).__name__} of shape {np.shape(reference) if np.ndim(reference) else ()}"
    )


class MatrixGame(Problem):
    """Two-player zero-sum matrix game ``(A, mu, beta)``; the row player maximizes ``x^T A y``.

    Args:
        A: payoff matrix [m, n] of the row player (the column player receives ``-A``).
        beta: KL coefficient ``>= 0`` in normalized units (see the module docstring); 0 = the
            unregularized game.
        reference: ``(mu_row [m], mu_col [n])``, or one [m] distribution for both players of a
            square game; uniform if None. Must be positive everywhere when ``beta > 0`` (the
            regularized equilibrium and every regularized rule take ``log mu``).
        scale: ``c`` with ``|A| <= c`` (payoffs read in ``[-c, c]``); default ``max |A|`` (1/2
            for ``A = 0``). ``G = A / (2c)``.

    Raises:
        TypeError: non-numeric or complex ``A``.
        ValueError: ``A`` not two-dimensional or empty, a non-finite entry ("A[1, 0] is nan,
            expected a finite number"), ``scale < max |A|``, a bad reference, negative beta.
    """

    __slots__ = ("A", "G", "scale", "beta", "mu_row", "mu_col", "num_rows", "num_cols")

    def __init__(self, A, beta: float = 0.0, reference=None, scale: float | None = None):
        A = as_float_array("A", A, ndim=2)
        m, n = A.shape
        if m < 1 or n < 1:
            raise ValueError(f"A must have at least one row and one column, got shape {A.shape}")
        bound = float(np.max(np.abs(A)))
        if scale is None:
            c = bound if bound > 0 else 0.5
        else:
            c = as_scalar("scale", scale, low=0.0, low_open=True)
            if c < bound:
                i, j = np.unravel_index(int(np.argmax(np.abs(A))), A.shape)
                raise ValueError(f"scale must bound |A|: A[{i}, {j}] = {A[i, j]:g} but scale = {c:g}")
        beta = as_scalar("beta", beta, low=0.0)
        mu_x, mu_y = _reference("reference", reference, m, n)
        if beta > 0:
            for who, mu in (("row", mu_x), ("col", mu_y)):
                if (mu <= 0).any():
                    i = int(np.flatnonzero(mu <= 0)[0])
                    raise ValueError(f"reference ({who} player)[{i}] is {mu[i]:g}: with beta = {beta:g} > 0 the "
                                     "regularized game takes log(reference), expected reference > 0 for every action")
        G = A / (2.0 * c)
        G.setflags(write=False)
        self.A = A
        self.G = G
        self.scale = c
        self.beta = beta
        self.mu_row = mu_x
        self.mu_col = mu_y
        self.num_rows = m
        self.num_cols = n
        self._freeze()

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_rows, self.num_cols)

    @property
    def reference(self) -> StrategyPair:
        return StrategyPair(self.mu_row, self.mu_col)

    def with_beta(self, beta: float) -> MatrixGame:
        return MatrixGame(self.A, beta, (self.mu_row, self.mu_col), self.scale)

    @classmethod
    def from_openspiel(cls, game, beta: float = 0.0, reference=None, scale: float | None = None) -> MatrixGame:
        """The zero-sum (or constant-sum) two-player OpenSpiel matrix game ``game`` as it is.

        ``game``: a ``pyspiel.MatrixGame`` (``pyspiel.load_matrix_game("matrix_mp")``,
        ``pyspiel.create_matrix_game(row_payoffs, col_payoffs)``) or the name of one. A
        constant-sum game ``U + V = k`` becomes ``A = U - k/2`` (same equilibria). See
        :func:`polopt.problems.interop.matrix_game_from_openspiel`.
        """
        from .interop import matrix_game_from_openspiel

        return matrix_game_from_openspiel(game, beta=beta, reference=reference, scale=scale)

    def __repr__(self) -> str:
        return f"MatrixGame(m={self.num_rows}, n={self.num_cols}, beta={self.beta:g}, scale={self.scale:g})"
