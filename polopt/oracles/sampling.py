"""Sampling oracles shared by the sampled (stochastic) versions of every rule.

NumPy only (a ``numpy.random.Generator``): sampled runs are reproducible from ``seed``.
Exact (full-information) runs never sample.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_generator", "check_seed", "sample_categorical", "sample_preferences"]


def check_seed(seed):
    """``seed`` unchanged if it is None, a non-negative int, a SeedSequence or a Generator; else a clear error.

    Every ``solve`` method checks its seed, also those that never sample, so that a wrong seed is
    never accepted silently.
    """
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            "seed must be None, a non-negative int, a numpy SeedSequence or Generator; "
            f"got {type(seed).__name__} {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return seed


def as_generator(seed) -> np.random.Generator:
    """``np.random.default_rng(seed)`` after :func:`check_seed`; a Generator passes through unchanged."""
    seed = check_seed(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def sample_categorical(rng: np.random.Generator, pi, size) -> np.ndarray:
    """Draw action indices from the rows of ``pi``.

    Args:
        rng: the generator.
        pi: probabilities ``[..., K]`` (rows sum to 1).
        size: number of draws per row (int) or a tuple shape.

    Returns:
        int64 indices of shape ``pi.shape[:-1] + size`` (inverse-CDF sampling; one uniform per draw).
    """
    pi = np.asarray(pi, dtype=np.float64)
    size = (size,) if np.ndim(size) == 0 else tuple(size)
    cdf = np.cumsum(pi, axis=-1)
    cdf[..., -1] = 1.0  # round-off must never leave a uniform above the last bin
    u = rng.random(pi.shape[:-1] + size)
    k = pi.shape[-1]
    flat_cdf = cdf.reshape(-1, k)
    rows = np.arange(flat_cdf.shape[0], dtype=np.float64)[:, None]
    # shifting row i by i makes all rows one sorted array: one searchsorted for every row at once
    flat_u = u.reshape(flat_cdf.shape[0], -1) + rows
    idx = np.searchsorted((flat_cdf + rows).ravel(), flat_u.ravel(), side="right").reshape(flat_u.shape)
    idx = idx - (rows.astype(np.int64) * k)
    return np.minimum(idx, k - 1).reshape(u.shape)


def sample_preferences(rng: np.random.Generator, P, y, y_prime) -> np.ndarray:
    """Bernoulli outcomes ``1[y preferred to y']`` with probability ``P[y, y']`` (same shape as ``y``)."""
    p = np.asarray(P, dtype=np.float64)[np.asarray(y), np.asarray(y_prime)]
    return (rng.random(p.shape) < p).astype(np.float64)
