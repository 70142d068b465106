"""Public hypothesis strategies that **build** valid polopt objects directly.

No strategy filters with ``assume``: simplex points are normalised exponentials of bounded
logits, stochastic rows the same (optionally with some entries masked to exact zeros, one
entry per row always kept), preference matrices are built from their strictly-lower
triangle. Every drawn problem is therefore valid by construction and passes the
constructors' checks.

Usage::

    from hypothesis import given
    from polopt.testing.strategies import SETTINGS, mdps

    @SETTINGS
    @given(mdps(max_states=4))
    def test_something(mdp): ...
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..problems import Bandit, ContextualPreferenceGame, LinearMixtureMDP, PreferenceGame, TabularMDP

__all__ = [
    "LOGIT_BOUND",
    "SETTINGS",
    "bandits",
    "contextual_preference_games",
    "linear_mixtures",
    "masked_mdps",
    "mdps",
    "policies",
    "preference_games",
    "simplex",
    "stochastic_matrices",
    "total_reward_mdps",
]

#: The project's one settings profile for property tests: reproducible, no deadline
#: (first calls may compile / import), modest example count for CI.
SETTINGS = settings(derandomize=True, deadline=None, max_examples=25)

#: Logits are drawn from ``[-LOGIT_BOUND, LOGIT_BOUND]``: probabilities then lie in
#: ``[e^{-20} / K, 1]``, strictly positive and far from float64 underflow.
LOGIT_BOUND = 10.0

_LOGIT = st.floats(-LOGIT_BOUND, LOGIT_BOUND, allow_nan=False, allow_infinity=False)


def _softmax(logits: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Normalised exponentials along the last axis; entries with ``keep == False`` are exact zeros."""
    z = logits - logits.max(axis=-1, keepdims=True)
    w = np.exp(z)
    if keep is not None:
        w = np.where(keep, w, 0.0)
    return w / w.sum(axis=-1, keepdims=True)


def _as_strategy(value):
    """A fixed value becomes ``st.just(value)``; a strategy is returned as is."""
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


@st.composite
def _stochastic(draw, shape: tuple[int, ...], allow_zeros: bool) -> np.ndarray:
    logits = draw(hnp.arrays(np.float64, shape, elements=_LOGIT))
    if not allow_zeros:
        return _softmax(logits)
    keep = draw(hnp.arrays(np.bool_, shape))
    # Keep one entry per row so that every row has mass: the index is drawn, not filtered.
    anchor = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    keep = keep | (np.arange(shape[-1]) == anchor[..., None])
    return _softmax(logits, keep)


def simplex(k: int) -> st.SearchStrategy[np.ndarray]:
    """Points of the open simplex in R^k: ``softmax(logits)`` with logits in ``[-10, 10]``, shape [k]."""
    return _stochastic((k,), False)


def stochastic_matrices(shape, *, allow_zeros: bool = True) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``shape`` whose last axis lies on the simplex (e.g. ``(S, A, S)`` kernels).

    With ``allow_zeros`` some entries are exact zeros (deterministic or sparse transitions);
    one entry per row is always kept.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _stochastic(shape, allow_zeros)


def policies(num_states: int, num_actions: int) -> st.SearchStrategy[np.ndarray]:
    """Strictly positive stochastic policies ``pi`` [S, A] (rows on the simplex)."""
    return _stochastic((num_states, num_actions), False)


@st.composite
def mdps(
    draw,
    min_states: int = 1,
    max_states: int = 6,
    min_actions: int = 1,
    max_actions: int = 4,
    gamma=None,
    horizon=None,
    time_inhomogeneous: bool = False,
    reward_bound: float = 1.0,
) -> TabularMDP:
    """Tabular MDPs with ``S in [min_states, max_states]``, ``A in [min_actions, max_actions]``.

    Args:
        gamma: float or strategy; default ``floats in [0, 0.95]``. Ignored with a horizon.
        horizon: None (discounted / average), an int or a strategy of ints (finite horizon).
        time_inhomogeneous: with a horizon, draw ``P`` [H, S, A, S] and ``r`` [H, S, A].
        reward_bound: rewards lie in ``[-reward_bound, reward_bound]``.

    Kernels may contain exact zeros; rewards are bounded floats; ``rho`` is drawn on the simplex.
    """
    S = draw(st.integers(min_states, max_states))
    A = draw(st.integers(min_actions, max_actions))
    H = draw(_as_strategy(horizon))
    lead = (H,) if (H is not None and time_inhomogeneous) else ()
    P = draw(stochastic_matrices(lead + (S, A, S)))
    reward = st.floats(-reward_bound, reward_bound, allow_nan=False, allow_infinity=False)
    r = draw(hnp.arrays(np.float64, lead + (S, A), elements=reward))
    rho = draw(simplex(S))
    if H is not None:
        return TabularMDP(P, r, rho=rho, horizon=H)
    g = draw(st.floats(0.0, 0.95) if gamma is None else _as_strategy(gamma))
    return TabularMDP(P, r, gamma=g, rho=rho)


@st.composite
def masked_mdps(draw, max_states: int = 5, max_actions: int = 4, gamma=None, horizon=None) -> TabularMDP:
    """MDPs with infeasible actions: a drawn mask (each state keeps at least one action, at least
    one pair infeasible when ``A >= 2``) on an :func:`mdps` instance. The infeasible pairs are given
    the reward ``10 * reward_bound`` before masking, so a solver that ignored the mask would take them.
    """
    base = draw(mdps(min_states=1, max_states=max_states, min_actions=2, max_actions=max_actions, gamma=gamma,
                     horizon=horizon))
    S, A = base.shape
    mask = draw(hnp.arrays(np.bool_, (S, A)))
    mask[np.arange(S), draw(hnp.arrays(np.int64, (S,), elements=st.integers(0, A - 1)))] = True
    if mask.all():
        mask[0, draw(st.integers(0, A - 1))] = False
        mask[0, (np.flatnonzero(~mask[0])[0] + 1) % A] = True
    r = np.where(mask, base.r, 10.0)
    if base.horizon is not None:
        return TabularMDP(base.P, r, rho=base.rho, horizon=base.horizon, mask=mask)
    return TabularMDP(base.P, r, gamma=base.gamma, rho=base.rho, mask=mask)


@st.composite
def total_reward_mdps(draw, max_states: int = 5, max_actions: int = 3, masked: bool = True) -> TabularMDP:
    """Episodic total-reward MDPs meeting the stochastic-shortest-path assumptions by construction.

    ``S`` transient states plus one terminal state ``S``; each transient row terminates with a drawn
    probability that may be 0 (so improper policies exist), except action 0 of every state, which
    always keeps some mass on the terminal state (a proper policy exists); transient rewards lie in
    ``[-1, -0.1]`` (costs), so every improper policy has total reward ``-inf``. With ``masked``, some
    actions other than 0 are infeasible.
    """
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(1, max_actions))
    P = np.zeros((S + 1, A, S + 1))
    P[:S, :, :] = draw(stochastic_matrices((S, A, S + 1)))
    P[:S, 0, S] = np.maximum(P[:S, 0, S], 0.1)
    P[:S] /= P[:S].sum(axis=-1, keepdims=True)
    P[S, :, S] = 1.0
    cost = st.floats(0.1, 1.0, allow_nan=False, allow_infinity=False)
    r = np.zeros((S + 1, A))
    r[:S] = -draw(hnp.arrays(np.float64, (S, A), elements=cost))
    mask = np.ones((S + 1, A), dtype=bool)
    if masked and A >= 2:
        mask[:S, 1:] = draw(hnp.arrays(np.bool_, (S, A - 1)))
    rho = np.append(draw(simplex(S)), 0.0)
    return TabularMDP(P, r, gamma=1.0, rho=rho, mask=mask, terminal=[S])


@st.composite
def linear_mixtures(
    draw,
    max_states: int = 4,
    max_actions: int = 3,
    max_dim: int = 3,
    max_horizon: int = 4,
    step_dependent: bool | None = None,
) -> LinearMixtureMDP:
    """Episodic linear mixtures ``phi(s'|s, a) = (P_1, ..., P_d)(s'|s, a)``, ``theta`` (or ``theta_h``) on the simplex.

    ``S in [2, max_states]``, ``A in [1, max_actions]``, ``d in [1, max_dim]``, ``H in [1, max_horizon]``;
    rewards in ``[0, 1]`` (the learners' assumption); ``rho`` on the simplex. ``step_dependent``: one
    ``theta_h`` per step (True), one shared ``theta`` (False) or either (None).
    """
    S = draw(st.integers(2, max_states))
    A = draw(st.integers(1, max_actions))
    d = draw(st.integers(1, max_dim))
    H = draw(st.integers(1, max_horizon))
    per_step = draw(st.booleans()) if step_dependent is None else step_dependent
    kernels = draw(stochastic_matrices((d, S, A, S)))
    theta = np.stack([draw(simplex(d)) for _ in range(H if per_step else 1)])
    r = draw(hnp.arrays(np.float64, (S, A), elements=st.floats(0.0, 1.0, allow_nan=False)))
    return LinearMixtureMDP(np.moveaxis(kernels, 0, -1), theta if per_step else theta[0], r, horizon=H,
                            rho=draw(simplex(S)))


@st.composite
def bandits(
    draw,
    min_actions: int = 1,
    max_actions: int = 8,
    beta=0.0,
    random_reference: bool = False,
    reward_bound: float = 1.0,
) -> Bandit:
    """Bandits with rewards in ``[-reward_bound, reward_bound]``; ``beta`` a float or strategy.

    ``random_reference=True`` draws ``mu`` from :func:`simplex`; otherwise ``mu`` is uniform.
    """
    K = draw(st.integers(min_actions, max_actions))
    reward = st.floats(-reward_bound, reward_bound, allow_nan=False, allow_infinity=False)
    r = draw(hnp.arrays(np.float64, (K,), elements=reward))
    mu = draw(simplex(K)) if random_reference else None
    return Bandit(r, reference=mu, beta=draw(_as_strategy(beta)))


@st.composite
def preference_games(
    draw,
    min_actions: int = 2,
    max_actions: int = 8,
    beta=0.0,
    random_reference: bool = False,
) -> PreferenceGame:
    """Preference games: strictly-lower entries in ``[0, 1]``, ``P[j, i] = 1 - P[i, j]``, diagonal 1/2.

    Entries are drawn from ``[0, 1]`` including the endpoints and 1/2, so tournaments and
    ties occur. ``beta``: float or strategy; ``random_reference`` draws ``mu`` on the simplex.
    """
    K = draw(st.integers(min_actions, max_actions))
    entry = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))
    lower = draw(hnp.arrays(np.float64, (K, K), elements=entry))
    mask = np.tril(np.ones((K, K), dtype=bool), k=-1)
    P = np.where(mask, lower, 0.0) + np.where(mask.T, 1.0 - lower.T, 0.0) + 0.5 * np.eye(K)
    mu = draw(simplex(K)) if random_reference else None
    return PreferenceGame(P, reference=mu, beta=draw(_as_strategy(beta)))


@st.composite
def contextual_preference_games(
    draw,
    min_contexts: int = 1,
    max_contexts: int = 3,
    min_actions: int = 2,
    max_actions: int = 5,
    beta=0.0,
    random_reference: bool = False,
    random_contexts: bool = False,
) -> ContextualPreferenceGame:
    """Contextual preference games: one :func:`preference_games` matrix per context (same K).

    ``random_reference`` draws a per-context ``mu`` [X, K]; ``random_contexts`` draws ``rho``
    on the simplex (else uniform). ``beta``: float or strategy.
    """
    X = draw(st.integers(min_contexts, max_contexts))
    K = draw(st.integers(min_actions, max_actions))
    Ps = [draw(preference_games(min_actions=K, max_actions=K)).P for _ in range(X)]
    mu = np.stack([draw(simplex(K)) for _ in range(X)]) if random_reference else None
    rho = draw(simplex(X)) if random_contexts else None
    return ContextualPreferenceGame(np.stack(Ps), contexts=rho, reference=mu, beta=draw(_as_strategy(beta)))
