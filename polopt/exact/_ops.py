"""Shared tabular operators: policy-induced chains, Bellman backups, greedy policies.

These are the single home of ``P_pi``, ``r_pi``, ``q = r + gamma P v`` and the greedy
step, so that every exact solver uses the same (tested) pieces.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def r_pi(r: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``r_pi[s] = sum_a pi[s, a] r[s, a]``; shapes [S, A] -> [S]."""
    return np.einsum("sa,sa->s", pi, r)


def P_pi(P_sa, pi: np.ndarray):
    """``P_pi[s, s'] = sum_a pi[s, a] P[s, a, s']`` from the ``(S*A, S)`` kernel.

    Dense input gives a dense [S, S] array; sparse input a CSR matrix (no densification).
    """
    S, A = pi.shape
    if sp.issparse(P_sa):
        # block-diagonal row selector: row s of W holds pi[s, :] at columns s*A..s*A+A-1
        W = sp.csr_matrix((pi.ravel(), np.arange(S * A), np.arange(0, S * A + 1, A)), shape=(S, S * A))
        return (W @ P_sa).tocsr()
    return np.einsum("sa,sat->st", pi, P_sa.reshape(S, A, -1))


def q_from_v(P_sa, r: np.ndarray, gamma: float, v: np.ndarray) -> np.ndarray:
    """One Bellman backup ``q[s, a] = r[s, a] + gamma sum_s' P[s, a, s'] v[s']``, shape [S, A]."""
    return r + gamma * np.asarray(P_sa @ v).reshape(r.shape)


def greedy(q: np.ndarray) -> np.ndarray:
    """Deterministic greedy policy ``argmax_a q[s, a]`` (lowest index on ties), int [S]."""
    return np.argmax(q, axis=-1)


greedy_action = greedy  # public name (polopt.exact.greedy is the MDP-level greedy(mdp, v))


def one_hot(sigma: np.ndarray, num_actions: int) -> np.ndarray:
    """Deterministic policy (int array) as a stochastic policy ``[..., A]``."""
    sigma = np.asarray(sigma)
    out = np.zeros(sigma.shape + (num_actions,))
    np.put_along_axis(out, sigma[..., None], 1.0, axis=-1)
    return out


def uniform_policy(num_states: int, num_actions: int) -> np.ndarray:
    return np.full((num_states, num_actions), 1.0 / num_actions)
