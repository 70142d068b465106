"""Seeded generators of random problem instances.

Every generator takes ``seed`` (an ``int``, ``None`` or a ``numpy.random.Generator``) and
returns a validated, immutable problem object, so the same seed always gives the same
instance and an invalid instance can never be produced silently (the constructors check it).

Families:

* :func:`random_mdp` — dense MDP, rows ``P(.|s, a) ~ Dirichlet(1)`` (uniform on the simplex);
* :func:`garnet_mdp` — Garnet MDP (Archibald, McKinnon & Thomas 1995), ``branching``
  successors per state-action pair, sparse CSR kernel;
* :func:`random_bandit`, :func:`random_contextual_bandit` — rewards ``U(0, 1)``;
* :func:`random_tournament` — deterministic preferences (``P in {0, 1}`` off the diagonal);
* :func:`random_intransitive` — the EGPO generator (Zhou, Fazel & Du, arXiv 2503.08942,
  ``simulations/utils.py``): strictly-lower entries ``U(0, 1)``, ``P + P.T = 1``;
* :func:`bradley_terry`, :func:`random_bradley_terry` — transitive games
  ``P[i, j] = sigmoid(s_i - s_j)``;
* :func:`random_linear_mixture` — linear mixture MDP ``phi(s'|s, a) = (P_1, ..., P_d)(s'|s, a) / c``
  with Dirichlet kernels ``P_i``, ``theta = c w``, ``w ~ Dirichlet(1)`` on the simplex.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax

from .._validation import as_float_array, as_positive_int, as_scalar
from .bandit import Bandit, ContextualBandit
from .game import PreferenceGame
from .linear_mixture import LinearMixtureMDP
from .mdp import TabularMDP

__all__ = [
    "bradley_terry",
    "garnet_mdp",
    "random_bandit",
    "random_bradley_terry",
    "random_contextual_bandit",
    "random_intransitive",
    "random_linear_mixture",
    "random_mdp",
    "random_tournament",
]

#: Generator kinds of :func:`random_intransitive` (EGPO ``simulations/utils.py`` types).
INTRANSITIVE_KINDS = ("uniform", "tie", "lower_win")


def _rng(seed) -> np.random.Generator:
    """``numpy.random.Generator`` from an int, None, SeedSequence or Generator (TypeError otherwise)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"seed must be an int, None or a numpy.random.Generator, got {type(seed).__name__}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {int(seed)}")
    return np.random.default_rng(int(seed))


def _discount(gamma, horizon: int | None) -> float:
    """Default discount: 0.9 for the discounted criterion, 1 (undiscounted) with a horizon."""
    if gamma is None:
        return 1.0 if horizon is not None else 0.9
    return as_scalar("gamma", gamma, low=0.0, high=1.0)


def _reference(reference, num_actions: int, rng: np.random.Generator):
    """``None`` (uniform), an explicit distribution, or ``"random"``: softmax of N(0, 1) logits (EGPO)."""
    if isinstance(reference, str):
        if reference != "random":
            raise ValueError(f"reference must be None, an array or 'random', got {reference!r}")
        return softmax(rng.standard_normal(num_actions))
    return reference


# --------------------------------------------------------------------------- MDPs
def random_mdp(
    num_states: int,
    num_actions: int,
    gamma: float | None = None,
    *,
    seed=None,
    horizon: int | None = None,
    reward_scale: float = 1.0,
    time_inhomogeneous: bool = False,
) -> TabularMDP:
    """Dense random MDP: ``P(.|s, a) ~ Dirichlet(1, ..., 1)``, ``r(s, a) ~ U(0, reward_scale)``.

    Dirichlet(1) is the uniform distribution on the simplex, so every row has full support
    almost surely (the chain under any policy is irreducible and aperiodic).

    Args:
        num_states, num_actions: ``S, A >= 1``.
        gamma: discount in ``[0, 1]``; default 0.9, or 1 (undiscounted) with a horizon.
            ``gamma = 1`` without a horizon selects the average-reward criterion.
        seed: int, None or ``numpy.random.Generator``.
        horizon: ``H >= 1`` for a finite-horizon MDP.
        reward_scale: rewards are drawn from ``U(0, reward_scale)``, ``reward_scale >= 0``.
        time_inhomogeneous: with a horizon, draw an independent kernel and reward per step
            (``P`` [H, S, A, S], ``r`` [H, S, A]).

    Returns:
        :class:`TabularMDP` with a dense kernel.
    """
    S = as_positive_int("num_states", num_states)
    A = as_positive_int("num_actions", num_actions)
    H = None if horizon is None else as_positive_int("horizon", horizon)
    gamma = _discount(gamma, H)
    scale = as_scalar("reward_scale", reward_scale, low=0.0)
    if time_inhomogeneous and H is None:
        raise ValueError("time_inhomogeneous=True needs a horizon")
    rng = _rng(seed)
    lead = (H,) if time_inhomogeneous else ()
    P = rng.dirichlet(np.ones(S), size=lead + (S, A))
    r = scale * rng.random(lead + (S, A))
    return TabularMDP(P, r, gamma=gamma, horizon=H)


def _distinct_successors(rng: np.random.Generator, num_rows: int, S: int, b: int) -> np.ndarray:
    """``[num_rows, b]`` int array; each row a uniformly random ``b``-subset of ``{0..S-1}``.

    Robert Floyd's sampling algorithm, vectorized over rows: for ``j = S-b .. S-1`` draw
    ``t ~ U{0..j}`` and take ``t``, or ``j`` if ``t`` was already taken; every ``b``-subset is
    equally likely. Cost ``O(num_rows b^2)``; when that exceeds ``O(num_rows S)`` we use random
    keys + argpartition instead (also exactly uniform).
    """
    if b * b > 2 * S:
        keys = rng.random((num_rows, S))
        return np.argpartition(keys, b - 1, axis=1)[:, :b]
    out = np.empty((num_rows, b), dtype=np.int64)
    for k, j in enumerate(range(S - b, S)):
        t = rng.integers(0, j + 1, size=num_rows)
        taken = (out[:, :k] == t[:, None]).any(axis=1)
        out[:, k] = np.where(taken, j, t)
    return out


def garnet_mdp(
    num_states: int,
    num_actions: int,
    branching: int,
    gamma: float = 0.9,
    *,
    seed=None,
    sparse: bool = True,
) -> TabularMDP:
    """Garnet MDP ("Generic Average Reward Non-stationary Environment Testbed").

    Construction: for each pair ``(s, a)`` draw ``branching`` distinct successor states
    uniformly; cut ``[0, 1]`` at ``branching - 1`` uniform points and give the successors the
    lengths of the pieces as probabilities; rewards ``r(s, a) ~ U(0, 1)``.

    Args:
        num_states, num_actions: ``S, A >= 1``.
        branching: successors per pair, ``1 <= branching <= S``.
        gamma: discount in ``[0, 1]`` (1 = average reward).
        seed: int, None or ``numpy.random.Generator``.
        sparse: return the kernel as a CSR ``(S*A, S)`` matrix (row ``s*A + a``); dense
            ``[S, A, S]`` otherwise. Both hold the same numbers for the same seed.

    References:
        T. Archibald, K. McKinnon, L. Thomas, "On the generation of Markov decision
        processes", J. Operational Research Society 46 (1995); used as a benchmark by
        Bhatnagar, Sutton, Ghavamzadeh & Lee, "Natural actor-critic algorithms" (2009).
    """
    S = as_positive_int("num_states", num_states)
    A = as_positive_int("num_actions", num_actions)
    b = as_positive_int("branching", branching)
    if b > S:
        raise ValueError(f"branching must be <= num_states = {S}, got {b}")
    gamma = as_scalar("gamma", gamma, low=0.0, high=1.0)
    rng = _rng(seed)
    n = S * A
    cols = _distinct_successors(rng, n, S, b)
    cuts = np.sort(rng.random((n, b - 1)), axis=1)
    probs = np.diff(np.concatenate([np.zeros((n, 1)), cuts, np.ones((n, 1))], axis=1), axis=1)
    r = rng.random((S, A))
    indptr = np.arange(0, n * b + 1, b)
    P = sp.csr_matrix((probs.ravel(), cols.ravel(), indptr), shape=(n, S))
    if not sparse:
        P = P.toarray().reshape(S, A, S)
    return TabularMDP(P, r, gamma=gamma)


# --------------------------------------------------------------------------- bandits
def random_bandit(num_actions: int, *, seed=None, beta: float = 0.0, reference=None) -> Bandit:
    """Bandit with rewards ``r(a) ~ U(0, 1)``; ``reference`` None (uniform), an array or ``"random"``."""
    K = as_positive_int("num_actions", num_actions)
    rng = _rng(seed)
    r = rng.random(K)
    return Bandit(r, reference=_reference(reference, K, rng), beta=beta)


def random_contextual_bandit(
    num_contexts: int, num_actions: int, *, seed=None, beta: float = 0.0, reference=None
) -> ContextualBandit:
    """Contextual bandit: ``r(x, a) ~ U(0, 1)``, context distribution ``rho ~ Dirichlet(1)``.

    ``reference``: None (uniform), an array [K] or [X, K], or ``"random"`` (one softmax of
    N(0, 1) logits per context).
    """
    X = as_positive_int("num_contexts", num_contexts)
    K = as_positive_int("num_actions", num_actions)
    rng = _rng(seed)
    r = rng.random((X, K))
    rho = rng.dirichlet(np.ones(X))
    if isinstance(reference, str):
        if reference != "random":
            raise ValueError(f"reference must be None, an array or 'random', got {reference!r}")
        reference = softmax(rng.standard_normal((X, K)), axis=-1)
    return ContextualBandit(r, contexts=rho, reference=reference, beta=beta)


# --------------------------------------------------------------------------- games
def _from_lower(lower: np.ndarray) -> np.ndarray:
    """Preference matrix from its strictly-lower triangle: ``P[j, i] = 1 - P[i, j]``, diagonal 1/2.

    Writing the upper triangle as ``1 - lower`` keeps ``P + P.T = 1`` exact in float64.
    """
    K = lower.shape[0]
    low = np.tril(lower, k=-1)
    mask = np.tril(np.ones((K, K), dtype=bool), k=-1)
    return np.where(mask, low, 0.0) + np.where(mask.T, 1.0 - low.T, 0.0) + 0.5 * np.eye(K)


def random_tournament(num_actions: int, *, seed=None, beta: float = 0.0, reference=None) -> PreferenceGame:
    """Random tournament: for ``i > j`` a fair coin decides whether ``i`` beats ``j``.

    ``P[i, j] in {0, 1}`` off the diagonal, ``P + P.T = 1``, diagonal 1/2. Tournaments are
    the hardest instances for step-size conditions of last-iterate game dynamics.
    """
    K = as_positive_int("num_actions", num_actions)
    rng = _rng(seed)
    lower = rng.integers(0, 2, size=(K, K)).astype(np.float64)
    return PreferenceGame(_from_lower(lower), reference=_reference(reference, K, rng), beta=beta)


def random_intransitive(
    num_actions: int, *, seed=None, beta: float = 0.0, reference=None, kind: str = "uniform"
) -> PreferenceGame:
    """The EGPO random preference game generator.

    ``kind="uniform"``: strictly-lower entries ``P[i, j] ~ U(0, 1)`` (``i > j``), upper
    ``P[j, i] = 1 - P[i, j]``, diagonal 1/2 (generically intransitive, unique Nash).
    ``kind="tie"``: every entry 1/2 (every policy is a Nash equilibrium).
    ``kind="lower_win"``: lower triangle 1 — a higher index always wins, so the Nash
    equilibrium is the pure strategy on the last action.

    ``reference``: None (uniform), an array [K], or ``"random"`` = softmax of N(0, 1) logits,
    EGPO's reference distribution.

    Reference:
        R. Zhou, M. Fazel, S. S. Du, "Extragradient Preference Optimization (EGPO): Beyond
        Last-Iterate Convergence for Nash Learning from Human Feedback", arXiv 2503.08942,
        authors' ``simulations/utils.py``. EGPO draws with torch's RNG;
        we redraw with NumPy, so the matrices have the same law but not the same values.
    """
    K = as_positive_int("num_actions", num_actions)
    if kind not in INTRANSITIVE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(INTRANSITIVE_KINDS)}, got {kind!r}")
    rng = _rng(seed)
    if kind == "uniform":
        lower = rng.random((K, K))
    elif kind == "tie":
        lower = np.full((K, K), 0.5)
    else:
        lower = np.ones((K, K))
    return PreferenceGame(_from_lower(lower), reference=_reference(reference, K, rng), beta=beta)


def bradley_terry(scores, *, beta: float = 0.0, reference=None) -> PreferenceGame:
    """Bradley-Terry game ``P[i, j] = sigmoid(s_i - s_j)`` from scores ``s`` [K].

    The game is transitive: ``P[i*, j] >= 1/2`` for the top-scored action ``i*``, so the pure
    strategy on ``i*`` is a Nash equilibrium of the unregularized game (the unique one when
    the maximum score is unique).

    Reference: R. A. Bradley, M. E. Terry, "Rank analysis of incomplete block designs",
    Biometrika 39 (1952).
    """
    s = as_float_array("scores", scores, ndim=1)
    if s.shape[0] < 1:
        raise ValueError("scores must hold at least one action, got shape (0,)")
    lower = expit(s[:, None] - s[None, :])
    return PreferenceGame(_from_lower(lower), reference=reference, beta=beta)


def random_bradley_terry(
    num_actions: int, *, seed=None, scale: float = 1.0, beta: float = 0.0, reference=None
) -> PreferenceGame:
    """Bradley-Terry game with scores ``s_i ~ N(0, scale^2)``; see :func:`bradley_terry`."""
    K = as_positive_int("num_actions", num_actions)
    scale = as_scalar("scale", scale, low=0.0)
    rng = _rng(seed)
    s = scale * rng.standard_normal(K)
    return bradley_terry(s, beta=beta, reference=_reference(reference, K, rng))


# --------------------------------------------------------------------------- linear mixtures
def random_linear_mixture(num_states: int, num_actions: int, dim: int, horizon: int, *, seed=None,
                          B: float | None = None):
    """Random episodic linear mixture MDP: ``P(s'|s, a) = sum_i w_i P_i(s'|s, a)`` written as ``<phi, theta>``.

    ``P_i(.|s, a) ~ Dirichlet(1)`` (``i = 1..d``), ``w ~ Dirichlet(1)`` on the simplex, features
    ``phi(s'|s, a) = (P_1, ..., P_d)(s'|s, a) / c`` and ``theta = c w`` with ``c = B / ||w||_2`` (``c = 1``
    when ``B`` is None), so ``||theta||_2 = B`` while the kernel does not depend on ``B``. Rewards
    ``r(s, a) ~ U(0, 1)`` (homogeneous), start state 0, undiscounted horizon ``H``. With ``c = 1``,
    ``||phi_V(s, a)||_2 <= sqrt(d) ||V||_inf`` (:func:`polopt.problems.linear_mixture.normalization`
    gives the exact maximum over ``V in [0, 1]^S``).
    """
    S = as_positive_int("num_states", num_states)
    A = as_positive_int("num_actions", num_actions)
    d = as_positive_int("dim", dim)
    H = as_positive_int("horizon", horizon)
    rng = _rng(seed)
    kernels = rng.dirichlet(np.ones(S), size=(d, S, A))  # [d, S, A, S']
    w = rng.dirichlet(np.ones(d))
    c = 1.0 if B is None else as_scalar("B", B, low=0.0, low_open=True) / float(np.linalg.norm(w))
    phi = np.moveaxis(kernels, 0, -1) / c  # [S, A, S', d]
    r = rng.random((S, A))
    rho = np.zeros(S)
    rho[0] = 1.0
    return LinearMixtureMDP(phi, c * w, r, horizon=H, rho=rho)
