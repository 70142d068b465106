"""Named instances with their known answers and a source line each.

Tests use these instead of unexplained literals.

Each builder returns the problem; ``ANSWERS[name]`` holds what is known about it exactly
(closed forms, or reference values from the cited source) and ``SOURCES[name]`` where it
comes from. Tests use these instead of unexplained literals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .bandit import Bandit
from .game import PreferenceGame
from .linear_mixture import LinearMixtureMDP
from .mdp import TabularMDP


class Entry(NamedTuple):
    name: str
    build: Callable[..., Any]
    source: str


# --------------------------------------------------------------------------- games
RPS_PAYOFF = np.array([[0.0, -3.0, 3.0], [3.0, 0.0, -1.0], [-3.0, 1.0, 0.0]])
#: Unregularized Nash equilibrium of perturbed RPS (unique).
RPS_NASH = np.array([1.0, 3.0, 3.0]) / 7.0
#: beta-regularized equilibria (uniform mu), from the MMD example's QRE and agreed by
#: Newton to < 5e-9 (MMD paper's perturbed RPS example, arXiv 2206.05825).
RPS_REGULARIZED = {
    0.05: np.array([0.1517447, 0.46794775, 0.38030755]),
    0.1: np.array([0.17347803, 0.48630324, 0.34021873]),
    0.2: np.array([0.22364492, 0.47798817, 0.29836691]),
    0.5: np.array([0.29813319, 0.41382045, 0.28804635]),
}
#: The table above is quoted to 8 digits.
RPS_REGULARIZED_DIGITS = 1e-7


def perturbed_rps(beta: float = 0.0, reference=None) -> PreferenceGame:
    """Perturbed rock-paper-scissors as a preference game: ``P = (A + 3) / 6``.

    A = [[0,-3,3],[3,0,-1],[-3,1,0]]; Nash (1/7, 3/7, 3/7); regularized equilibria in
    :data:`RPS_REGULARIZED`.
    """
    return PreferenceGame((RPS_PAYOFF + 3.0) / 6.0, reference=reference, beta=beta)


# --------------------------------------------------------------------------- MDPs
def puterman_two_state(gamma: float = 0.95) -> TabularMDP:
    """Puterman (1994) §3.1 two-state MDP.

    State 0: action 0 gives 5 and moves to (0.5, 0.5); action 1 gives 10 and moves to state 1.
    State 1: one action (duplicated as action 1, so every state has two) gives -1 and stays.
    For ``gamma > 10/11`` the optimal policy is action 0 everywhere and
    ``v* = [(5 - 5.5 gamma) / ((1 - 0.5 gamma)(1 - gamma)), -1 / (1 - gamma)]`` (Ex. 6.2.1).
    """
    P = np.array([[[0.5, 0.5], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    r = np.array([[5.0, 10.0], [-1.0, -1.0]])
    return TabularMDP(P, r, gamma=gamma)


def puterman_two_state_value(gamma: float) -> np.ndarray:
    """Analytic v* of :func:`puterman_two_state` (valid for gamma > 10/11)."""
    return np.array([(5 - 5.5 * gamma) / ((1 - 0.5 * gamma) * (1 - gamma)), -1 / (1 - gamma)])


def river_swim(n: int = 6, gamma: float = 0.95, *, sparse: bool = False) -> TabularMDP:
    """RiverSwim (Strehl & Littman 2008), the chain variant used in the anchors' benchmark.

    Actions: 0 = left (deterministic move left; reward 5/1000 in state 0), 1 = right
    (moves right w.p. 0.35, stays w.p. 0.6, left w.p. 0.05; at the ends the left/right mass
    stays; reward 1 in the last state). Start state 0. Optimal policy: always right when
    ``gamma`` is large (the value of the far end dominates).
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    import scipy.sparse as sp

    rows, cols, vals = [], [], []

    def add(s, a, t, p):
        rows.append(s * 2 + a)
        cols.append(t)
        vals.append(p)

    for s in range(n):
        add(s, 0, max(s - 1, 0), 1.0)
        if s == 0:
            add(s, 1, 1, 0.35 if n > 1 else 0.0)
            add(s, 1, 0, 0.65)
        elif s == n - 1:
            add(s, 1, s, 0.95)
            add(s, 1, s - 1, 0.05)
        else:
            add(s, 1, s + 1, 0.35)
            add(s, 1, s, 0.6)
            add(s, 1, s - 1, 0.05)
    P = sp.csr_matrix((vals, (rows, cols)), shape=(2 * n, n))
    r = np.zeros((n, 2))
    r[0, 0] = 5.0 / 1000.0
    r[n - 1, 1] = 1.0
    rho = np.zeros(n)
    rho[0] = 1.0
    if not sparse:
        P = P.toarray().reshape(n, 2, n)
    return TabularMDP(P, r, gamma=gamma, rho=rho)


def forest(S: int = 3, r1: float = 4.0, r2: float = 2.0, p: float = 0.1, gamma: float = 0.9) -> TabularMDP:
    """Forest management (pymdptoolbox ``example.forest``), actions 0 = wait, 1 = cut.

    Wait: with prob. ``p`` a fire resets the forest to state 0, else it ages one step (the
    oldest state stays); reward ``r1`` in the oldest state. Cut: back to state 0; reward 1
    in states 1..S-2, ``r2`` in the oldest, 0 in state 0. Known (pymdptoolbox doctest,
    gamma 0.9): ``v* = (26.244, 29.484, 33.484)``, policy (0, 0, 0).
    """
    if S < 2:
        raise ValueError(f"S must be >= 2, got {S}")
    P = np.zeros((S, 2, S))
    for s in range(S):
        P[s, 0, 0] = p
        P[s, 0, min(s + 1, S - 1)] += 1 - p
        P[s, 1, 0] = 1.0
    r = np.zeros((S, 2))
    r[S - 1, 0] = r1
    r[1:, 1] = 1.0
    r[S - 1, 1] = r2
    r[0, 1] = 0.0
    return TabularMDP(P, r, gamma=gamma)


FOREST_VALUE = np.array([26.244, 29.484, 33.484])
#: pymdptoolbox prints the doctest values to 3 decimals.
FOREST_VALUE_DIGITS = 5e-4
#: pymdptoolbox's RVI doctest on forest(): average reward 3.24 (printed to 2 decimals).
FOREST_GAIN = 3.24


def periodic_chain() -> TabularMDP:
    """Two states that swap deterministically; reward 1 in state 0, 0 in state 1; one action.

    Average-reward criterion (``gamma = 1``): the chain has period 2 and gain 1/2 in both
    states; relative value iteration without the aperiodicity transform oscillates forever
    (pymdptoolbox's RelativeValueIteration reports 0.0 here).
    """
    P = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    r = np.array([[1.0], [0.0]])
    return TabularMDP(P, r, gamma=1.0)


PERIODIC_CHAIN_GAIN = 0.5


def two_class_chain() -> TabularMDP:
    """A multichain model: two closed classes of different gains and a transient state choosing between them.

    State 0 stays under both actions (reward 1 or 0), state 1 stays (reward 1/2 or 1/5); state 2 moves
    to state 0 with reward 0 (action 0) or to state 1 with reward 0.8 (action 1). Average reward
    (``gamma = 1``): ``g* = (1, 1/2, 1)`` (go to state 0 from state 2); with ``P* h = 0``,
    ``h(0) = h(1) = 0`` and ``1 + h(2) = 0 + h(0)``, so ``h* = (0, 0, -1)``. The myopic policy takes
    action 1 in state 2 (0.8 > 0) and has gain 1/2 there: a policy iteration from it must improve the
    gain, and the optimal gain is not constant (the unichain LP and plain RVI do not apply).
    """
    P = np.zeros((3, 2, 3))
    P[0, :, 0] = 1.0
    P[1, :, 1] = 1.0
    P[2, 0, 0] = 1.0
    P[2, 1, 1] = 1.0
    r = np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 0.8]])
    return TabularMDP(P, r, gamma=1.0)


TWO_CLASS_GAIN = np.array([1.0, 0.5, 1.0])
TWO_CLASS_BIAS = np.array([0.0, 0.0, -1.0])


def bernoulli_bandit(means=(0.2, 0.5, 0.7), reference=None, beta: float = 0.0) -> Bandit:
    """Bernoulli bandit with arm means ``means``: optimal arm argmax, value max(means).

    With ``beta > 0`` the optimum is the Gibbs policy ``mu exp(r / beta) / Z``.
    """
    return Bandit(np.asarray(means, dtype=float), reference=reference, beta=beta)


def linear_mixture_hard(d: int = 5, H: int = 6, K: int = 10000, seed: int = 0) -> LinearMixtureMDP:
    """Hard-to-learn episodic linear mixture MDP (lower bound of arXiv 2012.08507).

    States x_1..x_H (chain), absorbing x_{H+1} (reward 0) and x_{H+2} (reward 1 per step);
    actions a in {-1, +1}^{d-1}; ``delta = 1/H``, ``Delta = sqrt(delta / K) / (4 sqrt 2)``;
    per step h signs ``mu_h in {-Delta, +Delta}^{d-1}``; from a chain state,
    ``P(next | x_i, a) = 1 - delta - <mu_h, a>`` and ``P(x_{H+2} | x_i, a) = delta + <mu_h, a>``.
    Features ``phi(next|x_i,a) = (alpha(1-delta), -beta_f a)``, ``phi(x_{H+2}|x_i,a) =
    (alpha delta, beta_f a)``, ``phi(x|x,a) = (alpha, 0)`` for absorbing x;
    ``theta_h = (1/alpha, mu_h / beta_f)``. The optimal action at step h < H-1 is
    ``sign(mu_h)`` (at the last step all actions tie: rewards depend only on the state).
    The last chain state x_H moves to x_{H+1} on "continue". Rewards are paid in x_{H+2}.
    Normalization (:func:`polopt.problems.linear_mixture.normalization`, exact): at d=5, H=6, K=10^4,
    ``max_h ||theta_h|| = 1.0029`` and ``max ||phi_V||_2 = 0.9986`` over ``V in [0, 1]^S``, within the
    ``||phi_V|| <= 1`` that UCRL-VTR+ assumes (``tests/test_learning_machinery.py``).
    """
    if d < 2 or H < 1:
        raise ValueError(f"need d >= 2 and H >= 1, got d={d}, H={H}")
    rng = np.random.default_rng(seed)
    delta = 1.0 / H
    Delta = np.sqrt(delta / K) / (4.0 * np.sqrt(2.0))
    m = d - 1
    actions = np.array(np.meshgrid(*([[-1.0, 1.0]] * m), indexing="ij")).reshape(m, -1).T  # [2^m, m]
    A = actions.shape[0]
    S = H + 2
    absorb0, absorb1 = H, H + 1  # x_{H+1}, x_{H+2} (0-based)
    alpha = np.sqrt(1.0 / (1.0 + Delta * m))
    beta_f = np.sqrt(Delta / (1.0 + Delta * m))
    mus = rng.choice([-Delta, Delta], size=(H, m))
    phi = np.zeros((S, A, S, d))
    for i in range(H):
        nxt = i + 1 if i + 1 < H else absorb0
        phi[i, :, nxt, 0] = alpha * (1 - delta)
        phi[i, :, nxt, 1:] = -beta_f * actions
        phi[i, :, absorb1, 0] = alpha * delta
        phi[i, :, absorb1, 1:] = beta_f * actions
    for x in (absorb0, absorb1):
        phi[x, :, x, 0] = alpha
    theta = np.concatenate([np.full((H, 1), 1.0 / alpha), mus / beta_f], axis=1)
    r = np.zeros((S, A))
    r[absorb1, :] = 1.0
    rho = np.zeros(S)
    rho[0] = 1.0
    return LinearMixtureMDP(phi, theta, r, horizon=H, rho=rho)


def linear_mixture_hard_optimal_actions(d: int = 5, H: int = 6, K: int = 10000, seed: int = 0) -> np.ndarray:
    """Index (into the action list of :func:`linear_mixture_hard`) of ``sign(mu_h)`` per step."""
    rng = np.random.default_rng(seed)
    delta = 1.0 / H
    Delta = np.sqrt(delta / K) / (4.0 * np.sqrt(2.0))
    mus = rng.choice([-Delta, Delta], size=(H, d - 1))
    # actions enumerate {-1,+1}^{d-1} in C order with -1 first: bit 1 means +1
    bits = (mus > 0).astype(int)
    weights = 2 ** np.arange(d - 2, -1, -1)
    return bits @ weights


def reward_free_hard(d: int = 3, H: int = 4, Delta: float = 0.05, delta: float = 0.3,
                     seed: int = 0) -> LinearMixtureMDP:
    """The 3-state reward-free lower-bound instance (Zhang, Zhang, Gu, arXiv 2303.10165; W. Zhang's dissertation
    Thm 2.6.8), homogeneous, with the gap ``Delta`` given (the theorem takes ``Delta = sqrt(delta/K)/(4 sqrt 2)``).

    States x1 (start), x2, x3 (absorbing); actions ``a in {-1, +1}^{d-1}``; ``P(x3 | x1, a) = delta + <mu, a>``,
    ``P(x2 | x1, a) = 1 - delta - <mu, a>``, ``mu ~ U{-Delta, +Delta}^{d-1}`` (seeded); reward ``1/H`` in x3, 0
    elsewhere (``sum_h r_h <= 1``). Features ``phi(x3|x1, a) = (delta, a)/sqrt(d)``, ``phi(x2|x1, a) =
    (1 - delta, -a)/sqrt(d)``, ``phi(x|x, a) = (1, 0)/sqrt(d)`` for x in {x2, x3}, ``theta = sqrt(d) (1, mu)``, so
    ``||phi_V||_2 <= 1`` for ``V in [0, 1]^S`` (the horizon-free normalization). Needs ``delta + (d-1) Delta <= 1``
    and ``delta >= (d-1) Delta``. The optimal first action is ``sign(mu)``.
    """
    if d < 2 or H < 1:
        raise ValueError(f"need d >= 2 and H >= 1, got d={d}, H={H}")
    m = d - 1
    if not (m * Delta <= delta <= 1.0 - m * Delta):
        raise ValueError(f"need (d-1) Delta <= delta <= 1 - (d-1) Delta for valid transitions, got d={d}, "
                         f"Delta={Delta:g}, delta={delta:g}")
    mu = np.random.default_rng(seed).choice([-Delta, Delta], size=m)
    actions = np.array(np.meshgrid(*([[-1.0, 1.0]] * m), indexing="ij")).reshape(m, -1).T  # [2^m, m]
    A = actions.shape[0]
    c = 1.0 / np.sqrt(d)
    phi = np.zeros((3, A, 3, d))
    phi[0, :, 2, 0], phi[0, :, 2, 1:] = c * delta, c * actions
    phi[0, :, 1, 0], phi[0, :, 1, 1:] = c * (1.0 - delta), -c * actions
    phi[1, :, 1, 0] = phi[2, :, 2, 0] = c
    r = np.zeros((3, A))
    r[2] = 1.0 / H
    return LinearMixtureMDP(phi, np.sqrt(d) * np.concatenate([[1.0], mu]), r, horizon=H, rho=np.array([1.0, 0.0, 0.0]))


def softmax_pg_hard_chain(n: int = 6, gamma: float = 0.9, quit_fraction: float = 0.9) -> TabularMDP:
    """Chain on which exact softmax policy gradient plateaus, in the shape of Li, Wei, Chi, Gu, Chen's
    lower-bound instance (arXiv 2102.11270: a chain MDP with 3 actions; their exact rewards and buffer
    states were not consulted, so this is a same-mechanism instance, not theirs).

    States ``0..n-1`` form a chain, state ``n`` is absorbing with reward 0. In chain state ``s``:
    action 0 ("advance") moves to ``s + 1`` with reward 0, or from ``s = n-1`` to the absorbing state with
    reward 1; action 1 ("quit") pays ``quit_fraction * gamma^(n-1-s)`` and ends; action 2 pays 0 and ends.
    Start state 0. Optimal policy: advance everywhere, ``v*(s) = gamma^(n-1-s)`` (closed form,
    :func:`softmax_pg_hard_chain_value`). The quit action is almost as good at every state, so softmax PG
    first learns it in the late states and the advance signal reaching the early states is damped: the
    iteration count to reach a fixed sub-optimality grows quickly with ``n``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must lie in (0, 1), got {gamma}")
    if not 0.0 <= quit_fraction < 1.0:
        raise ValueError(f"quit_fraction must lie in [0, 1), got {quit_fraction}")
    S = n + 1
    P = np.zeros((S, 3, S))
    r = np.zeros((S, 3))
    for s in range(n):
        P[s, 0, s + 1] = 1.0
        P[s, 1, n] = 1.0
        P[s, 2, n] = 1.0
        r[s, 1] = quit_fraction * gamma ** (n - 1 - s)
    r[n - 1, 0] = 1.0
    P[n, :, n] = 1.0
    rho = np.zeros(S)
    rho[0] = 1.0
    return TabularMDP(P, r, gamma=gamma, rho=rho)


def softmax_pg_hard_chain_value(n: int = 6, gamma: float = 0.9) -> np.ndarray:
    """``v*`` of :func:`softmax_pg_hard_chain`: ``gamma^(n-1-s)`` on the chain, 0 in the absorbing state."""
    return np.append(gamma ** (n - 1 - np.arange(n, dtype=float)), 0.0)


CATALOGUE: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("perturbed_rps", perturbed_rps,
              "Sokota et al., arXiv 2206.05825 (MMD), perturbed RPS example; equilibria by Newton"),
        Entry("puterman_two_state", puterman_two_state, "Puterman (1994) §3.1, Ex. 6.2.1"),
        Entry("river_swim", river_swim, "Strehl & Littman (2008), 'An analysis of model-based interval estimation'"),
        Entry("forest", forest, "pymdptoolbox example.forest (Cordwell et al.), doctest values"),
        Entry("periodic_chain", periodic_chain,
              "Puterman (1994) §8.5.4: periodic chains need the aperiodicity transform"),
        Entry("two_class_chain", two_class_chain,
              "multichain example in the spirit of Puterman (1994) ch. 9: two recurrent classes, gains 1 and 1/2"),
        Entry("bernoulli_bandit", bernoulli_bandit, "textbook Bernoulli bandit (Lattimore & Szepesvari 2020, ch. 4)"),
        Entry("softmax_pg_hard_chain", softmax_pg_hard_chain,
              "after Li, Wei, Chi, Gu, Chen, arXiv 2102.11270 (3-action chain; same mechanism, own rewards)"),
        Entry("linear_mixture_hard", linear_mixture_hard,
              "Zhou, Gu, Szepesvari, arXiv 2012.08507, lower-bound instance (HardToLearn)"),
    )
}


def names() -> list[str]:
    return sorted(CATALOGUE)


def get(name: str, **kwargs):
    """Build the catalogue instance ``name`` (keyword arguments go to its builder)."""
    if name not in CATALOGUE:
        raise ValueError(f"unknown catalogue instance {name!r}; available: {', '.join(names())}")
    return CATALOGUE[name].build(**kwargs)
