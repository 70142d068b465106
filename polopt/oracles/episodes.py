"""Seeded environments for learning rules: an episode simulator and a step simulator.

A learning rule (UCRL-VTR, UCRL2, ...) never sees the model it learns: its oracle is an
environment that samples transitions. Both simulators here are **batched over seeds**: one
``numpy.random.Generator`` per seed, every array carries a leading seed axis ``B``, and seed
``b``'s data depend on seed ``b`` only (the same seed gives the same trajectory alone or inside a
batch; ``tests/test_learning_machinery.py``).

* :class:`EpisodeSimulator` — finite horizon ``H``: ``s_0 ~ rho``, ``s_{h+1} ~ P_h(. | s_h, a_h)``
  with ``a_h = policy[b, h, s_h]`` (deterministic Markov policies, the policies optimistic planners
  commit to). Kernel ``P [S, A, S]`` (homogeneous) or ``[H, S, A, S]``; rewards ``r [S, A]`` or
  ``[H, S, A]`` are returned along the trajectory (known rewards: the learners plan with them).
* :class:`StepSimulator` — one transition at a time for the average-reward criterion:
  ``s' ~ P(. | s, a)``, reward ``r(s, a)``.

Sampling is by inverse CDF with one uniform per draw; uniforms are drawn per seed in blocks
(``Generator.random`` fills a block in the order of successive calls, so the block size does not
change the stream).

:class:`LinearMixtureEnv` and :class:`AverageRewardEnv` are the oracles the learning rules receive:
what the learner is allowed to know (features, rewards, horizon, state and action counts) plus the
simulator. The leaf-package rule holds: nothing here imports a polopt layer.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "AverageRewardEnv",
    "EpisodeSimulator",
    "LinearMixtureEnv",
    "StepSimulator",
    "Trajectories",
    "generators",
]

#: Uniforms drawn per seed and per refill (the stream does not depend on it; only the cost does).
BLOCK = 4096


def generators(seeds) -> list[np.random.Generator]:
    """One ``numpy.random.Generator`` per seed: ``seeds`` is a non-negative int (one seed) or a sequence.

    Raises:
        TypeError / ValueError: a seed that is not a non-negative int, or an empty sequence.
    """
    if isinstance(seeds, (numbers.Integral, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        seeds = [seeds]
    try:
        seeds = list(seeds)
    except TypeError:
        raise TypeError(f"seeds must be a non-negative int or a sequence of them, got {type(seeds).__name__}") from None
    if not seeds:
        raise ValueError("seeds must name at least one seed, got an empty sequence")
    for i, s in enumerate(seeds):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (numbers.Integral, np.integer)):
            raise TypeError(f"seeds[{i}] must be a non-negative int, got {type(s).__name__} {s!r}")
        if s < 0:
            raise ValueError(f"seeds[{i}] must be a non-negative int, got {s}")
    return [np.random.default_rng(int(s)) for s in seeds]


def _cdf(P: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(np.asarray(P, dtype=np.float64), axis=-1)
    cdf[..., -1] = 1.0  # round-off must never leave a uniform above the last bin
    return cdf


def _draw(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: ``cdf_rows [B, S]``, ``u [B]`` in [0, 1) -> indices [B] (``P(j) = 0`` is never drawn)."""
    return np.minimum(np.sum(cdf_rows <= u[:, None], axis=-1), cdf_rows.shape[-1] - 1)


class _Uniforms:
    """Per-seed uniform streams, consumed ``n`` at a time (blocks refilled per seed)."""

    def __init__(self, rngs: list[np.random.Generator], block: int = BLOCK):
        self.rngs = rngs
        self.block = block
        self.buf = np.empty((len(rngs), 0))
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        if self.pos + n > self.buf.shape[1]:
            size = max(self.block, n)
            fresh = np.stack([g.random(size) for g in self.rngs])
            self.buf = np.concatenate([self.buf[:, self.pos:], fresh], axis=1)
            self.pos = 0
        out = self.buf[:, self.pos:self.pos + n]
        self.pos += n
        return out


class Trajectories(NamedTuple):
    """One episode per seed: ``states`` int [B, H+1] (``s_0 .. s_H``), ``actions`` int [B, H], ``rewards`` [B, H]."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray


class EpisodeSimulator:
    """Seeded finite-horizon episodes, batched over seeds.

    Args:
        P: kernel ``[S, A, S]`` or ``[H, S, A, S]`` (rows on the simplex; the problem validated them).
        r: rewards ``[S, A]`` or ``[H, S, A]``.
        rho: start distribution ``[S]``.
        horizon: ``H``.
        seeds: an int or a sequence of ints (one generator each; ``B = len(seeds)``).
    """

    def __init__(self, P, r, rho, horizon: int, seeds):
        self.horizon = int(horizon)
        P = np.asarray(P, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        H = self.horizon
        self.cdf = _cdf(P if P.ndim == 4 else np.broadcast_to(P, (H,) + P.shape))
        self.r = r if r.ndim == 3 else np.broadcast_to(r, (H,) + r.shape)
        self.rho_cdf = _cdf(rho)
        self.num_states = self.cdf.shape[-1]
        self._u = _Uniforms(generators(seeds))
        self.batch = len(self._u.rngs)

    def rollout(self, policy) -> Trajectories:
        """Play the deterministic Markov policy ``policy`` int [B, H, S] for one episode in every seed."""
        policy = np.asarray(policy)
        B, H = self.batch, self.horizon
        if policy.shape != (B, H, self.num_states):
            raise ValueError(f"policy must have shape [B, H, S] = [{B}, {H}, {self.num_states}], got {policy.shape}")
        u = self._u.take(H + 1)
        rows = np.arange(B)
        states = np.empty((B, H + 1), dtype=np.int64)
        actions = np.empty((B, H), dtype=np.int64)
        rewards = np.empty((B, H))
        states[:, 0] = _draw(np.broadcast_to(self.rho_cdf, (B, self.num_states)), u[:, 0])
        for h in range(H):
            s = states[:, h]
            a = policy[rows, h, s]
            actions[:, h] = a
            rewards[:, h] = self.r[h, s, a]
            states[:, h + 1] = _draw(self.cdf[h, s, a], u[:, h + 1])
        return Trajectories(states, actions, rewards)


class StepSimulator:
    """Seeded single transitions of a stationary MDP, batched over seeds.

    Args:
        P: kernel ``[S, A, S]``; r: rewards ``[S, A]`` (returned as observed, noiseless);
        seeds: an int or a sequence of ints (``B = len(seeds)``).
    """

    def __init__(self, P, r, seeds):
        self.cdf = _cdf(P)
        self.r = np.asarray(r, dtype=np.float64)
        self.num_states, self.num_actions = self.r.shape
        self._u = _Uniforms(generators(seeds))
        self.batch = len(self._u.rngs)

    def start(self, rho) -> np.ndarray:
        """Start states ``s_1 ~ rho`` int [B] (one uniform per seed)."""
        cdf = np.broadcast_to(_cdf(rho), (self.batch, self.num_states))
        return _draw(cdf, self._u.take(1)[:, 0])

    def step(self, s, a) -> tuple[np.ndarray, np.ndarray]:
        """``(s' [B], reward [B])`` for states ``s`` int [B] and actions ``a`` int [B]."""
        s, a = np.asarray(s), np.asarray(a)
        u = self._u.take(1)[:, 0]
        return _draw(self.cdf[s, a], u), self.r[s, a]


class LinearMixtureEnv(NamedTuple):
    """Oracle of a linear-mixture learner: what it may know, and the simulator it learns from.

    Fields: ``phi`` features ``[S, A, S, d]`` or ``[H, S, A, S, d]``; ``r`` known rewards ``[H, S, A]``
    in ``[0, 1]``; ``rho`` start distribution ``[S]`` (the learner plans from every state; ``rho``
    only weighs its optimistic value); ``step_dependent`` (the model class has one ``theta_h`` per step:
    one regression per step, else one shared regression); ``sim`` an :class:`EpisodeSimulator`.
    """

    phi: Any
    r: Any
    rho: Any
    step_dependent: bool
    sim: EpisodeSimulator

    @property
    def horizon(self) -> int:
        return self.sim.horizon

    @property
    def batch(self) -> int:
        return self.sim.batch

    @property
    def dim(self) -> int:
        return int(self.phi.shape[-1])


class AverageRewardEnv(NamedTuple):
    """Oracle of an average-reward learner: state / action counts, the start states ``s0`` int [B], the simulator.

    Rewards are unknown to the learner (it estimates them from what :meth:`StepSimulator.step` returns)
    and assumed in ``[0, 1]``.
    """

    num_states: int
    num_actions: int
    s0: Any
    sim: StepSimulator

    @property
    def batch(self) -> int:
        return self.sim.batch
