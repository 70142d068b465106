"""Finite preference datasets: pairs of actions (responses) with binary labels, optionally per context.

A dataset of ``N`` comparisons is ``pairs [N, 2]`` (action indices ``(y, y')``), ``labels [N]``
with ``labels[i] = 1`` when ``pairs[i, 0]`` was preferred and ``0`` when ``pairs[i, 1]`` was,
and optionally ``contexts [N]`` (the prompt of each comparison). Every per-pair loss of
:mod:`polopt.rules.preference_losses` summed over the dataset equals the same loss on the
empirical pair-weight tensor :meth:`PreferenceDataset.weights` ``W[x, a, b] = #{a beat b in x} / N``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_float_array, as_positive_int
from ._base import Problem

__all__ = ["PreferenceDataset"]


def _ragged(name: str, value, ndim: int) -> None:
    """ValueError naming the first row of a nested sequence whose length differs from the first row's."""
    if ndim < 2 or isinstance(value, np.ndarray) or not hasattr(value, "__len__"):
        return
    rows = list(value)
    width = None
    for i, row in enumerate(rows):
        n = len(row) if hasattr(row, "__len__") and not isinstance(row, (str, bytes)) else None
        if width is None and i == 0:
            width = n
        elif n != width:
            got = "a scalar" if n is None else f"{n} entries"
            raise ValueError(f"{name}[{i}] has {got}, expected {width} like {name}[0] ({name} must be a "
                             f"rectangular array of shape [N, {width}])")


def _index_array(name: str, value, ndim: int, count_name: str, count: int | None) -> np.ndarray:
    """Read-only int64 copy of integral indices, exact for any int64 (never through float64); errors name
    the first non-integer / out-of-range entry, or the first row of a ragged input."""
    _ragged(name, value, ndim)
    try:
        raw = np.asarray(value)
    except ValueError as exc:  # ragged nesting deeper than one level
        raise ValueError(f"{name} must be a rectangular array of integer indices: {exc}") from None
    if raw.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {raw.shape}")
    kind = raw.dtype.kind
    if kind in "iu":
        if kind == "u" and raw.size and raw.max() > np.iinfo(np.int64).max:
            i = np.argwhere(raw > np.iinfo(np.int64).max)[0]
            raise ValueError(f"{name}[{', '.join(map(str, i))}] is {raw[tuple(i)]}, expected an int64 index")
        idx = raw.astype(np.int64)
    elif kind == "f":
        bad = ~np.isfinite(raw) | (raw != np.round(raw)) | (np.abs(raw) > 2.0**63 - 1024)
        if bad.any():
            i = np.argwhere(bad)[0]
            where = ", ".join(str(int(k)) for k in i)
            raise ValueError(f"{name}[{where}] is {raw[tuple(i)]:g}, expected an integer index")
        idx = raw.astype(np.int64)
    elif kind == "O":  # Python ints beyond int64, or a mix of numbers
        flat = raw.ravel()
        out = np.empty(flat.shape, dtype=np.int64)
        for k, v in enumerate(flat):
            where = ", ".join(str(int(j)) for j in np.unravel_index(k, raw.shape))
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, numbers.Real)):
                raise TypeError(f"{name}[{where}] is {v!r}, expected an integer index")
            if not isinstance(v, numbers.Integral) and not float(v).is_integer():
                raise ValueError(f"{name}[{where}] is {v!r}, expected an integer index")
            iv = int(v)
            if not -(2**63) <= iv < 2**63:
                raise ValueError(f"{name}[{where}] is {iv}, expected an int64 index")
            out[k] = iv
        idx = out.reshape(raw.shape)
    else:
        raise TypeError(f"{name} must hold integer indices, got dtype {raw.dtype}")
    bad = idx < 0 if count is None else (idx < 0) | (idx >= count)
    if bad.any():
        i = np.argwhere(bad)[0]
        where = ", ".join(str(int(k)) for k in i)
        rng = "a non-negative index" if count is None else f"an index in [0, {count}) ({count_name} = {count})"
        raise ValueError(f"{name}[{where}] is {idx[tuple(i)]}, expected {rng}")
    idx = np.array(idx, dtype=np.int64)
    idx.setflags(write=False)
    return idx


class PreferenceDataset(Problem):
    """``N`` labelled comparisons ``(pairs, labels, contexts)`` over ``K`` actions and ``X`` contexts.

    Args:
        pairs: integer action indices ``[N, 2]``, ``N >= 1``.
        labels: ``[N]`` in ``{0, 1}``; ``1``: ``pairs[i, 0]`` preferred, ``0``: ``pairs[i, 1]``.
            Default: all ones (pairs given as ``(winner, loser)``).
        contexts: context index of each pair ``[N]``, or None (one context).
        num_actions: ``K``; inferred as ``max(pairs) + 1`` if None, else every pair must lie in ``[0, K)``.
        num_contexts: ``X``; inferred as ``max(contexts) + 1`` if None (1 without contexts).

    Raises:
        ValueError: empty dataset, wrong shapes, labels outside {0, 1}, non-integer indices,
            indices outside range -- the message names the argument, the value and the first
            bad index, e.g. ``"pairs[3, 1] is 7, expected an index in [0, 5) (num_actions = 5)"``.
        TypeError: non-numeric input.
    """

    __slots__ = ("pairs", "labels", "contexts", "num_actions", "num_contexts", "num_pairs")

    def __init__(self, pairs, labels=None, contexts=None, num_actions=None, num_contexts=None):
        if pairs is None or isinstance(pairs, (str, bytes)):
            raise TypeError(f"pairs must be integer action indices of shape [N, 2], got {type(pairs).__name__}")
        K = None if num_actions is None else as_positive_int("num_actions", num_actions)
        _ragged("pairs", pairs, 2)
        if hasattr(pairs, "__len__") and len(pairs) == 0:
            raise ValueError(f"pairs must hold at least one comparison (shape [N, 2], N >= 1), got shape "
                             f"{np.shape(pairs)}")
        P = _index_array("pairs", pairs, 2, "num_actions", K)
        if P.shape[1] != 2:
            raise ValueError(f"pairs must have shape [N, 2], got {P.shape}")
        N = P.shape[0]
        K = int(P.max()) + 1 if K is None else K
        if labels is None:
            y = np.ones(N, dtype=np.int64)
        else:
            lab = as_float_array("labels", labels, ndim=1)
            if lab.shape[0] != N:
                raise ValueError(f"labels must have shape ({N},) to match pairs, got {lab.shape}")
            bad = (lab != 0.0) & (lab != 1.0)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"labels[{i}] is {lab[i]:g}, expected 0 or 1")
            y = lab.astype(np.int64)
        y.setflags(write=False)
        X = None if num_contexts is None else as_positive_int("num_contexts", num_contexts)
        if contexts is None:
            c = None
            X = 1 if X is None else X
        else:
            c = _index_array("contexts", contexts, 1, "num_contexts", X)
            if c.shape[0] != N:
                raise ValueError(f"contexts must have shape ({N},) to match pairs, got {c.shape}")
            X = int(c.max()) + 1 if X is None else X
        self.pairs = P
        self.labels = y
        self.contexts = c
        self.num_actions = K
        self.num_contexts = X
        self.num_pairs = N
        self._freeze()

    @property
    def winners(self) -> np.ndarray:
        """Preferred action of each comparison ``[N]``."""
        return np.where(self.labels == 1, self.pairs[:, 0], self.pairs[:, 1])

    @property
    def losers(self) -> np.ndarray:
        """Dispreferred action of each comparison ``[N]``."""
        return np.where(self.labels == 1, self.pairs[:, 1], self.pairs[:, 0])

    def counts(self) -> np.ndarray:
        """``C[x, a, b]`` = number of comparisons in context ``x`` where ``a`` beat ``b``, ``[X, K, K]``."""
        X, K = self.num_contexts, self.num_actions
        c = np.zeros(self.num_pairs, dtype=np.int64) if self.contexts is None else self.contexts
        C = np.zeros((X, K, K))
        np.add.at(C, (c, self.winners, self.losers), 1.0)
        return C

    def weights(self) -> np.ndarray:
        """Empirical pair weights ``W = counts / N`` (sum 1): ``[K, K]`` without contexts, else ``[X, K, K]``."""
        W = self.counts() / self.num_pairs
        return W[0] if self.contexts is None else W

    def pair_frequencies(self) -> np.ndarray:
        """Empirical distribution of the unlabelled ordered pairs ``nu[x, a, b]`` (sum 1), shaped as :meth:`weights`."""
        X, K = self.num_contexts, self.num_actions
        c = np.zeros(self.num_pairs, dtype=np.int64) if self.contexts is None else self.contexts
        nu = np.zeros((X, K, K))
        np.add.at(nu, (c, self.pairs[:, 0], self.pairs[:, 1]), 1.0 / self.num_pairs)
        return nu[0] if self.contexts is None else nu

    @classmethod
    def sample(cls, P, num_pairs: int, behaviour=None, contexts=None, seed=None) -> PreferenceDataset:
        """Draw ``num_pairs`` comparisons ``x ~ contexts``, ``y, y' ~ behaviour[x]``, labels ``~ P[x, y, y']``.

        Args:
            P: preference matrix ``[K, K]`` or per context ``[X, K, K]`` (e.g.
                :func:`polopt.rules.preference_losses.bradley_terry` of rewards).
            num_pairs: ``N >= 1``.
            behaviour: pair-sampling policy ``[K]`` or ``[X, K]``; uniform if None.
            contexts: context distribution ``[X]`` (only with a per-context ``P``); uniform if None.
            seed: seed or ``numpy.random.Generator``.
        """
        from ..oracles.sampling import as_generator, sample_categorical

        rng = as_generator(seed)
        N = as_positive_int("num_pairs", num_pairs)
        P = as_float_array("P", P, ndim=(2, 3))
        per_context = P.ndim == 3
        P3 = P if per_context else P[None]
        X, K = P3.shape[0], P3.shape[-1]
        if P3.shape[1:] != (K, K):
            raise ValueError(f"P must have shape [K, K] or [X, K, K], got {P.shape}")
        b = np.full((X, K), 1.0 / K) if behaviour is None else as_float_array("behaviour", behaviour, ndim=(1, 2))
        b = np.broadcast_to(b, (X, K))
        rho = np.full(X, 1.0 / X) if contexts is None else as_float_array("contexts", contexts, ndim=1)
        x = sample_categorical(rng, rho, N) if per_context else np.zeros(N, dtype=np.int64)
        y = sample_categorical(rng, b[x], 1)[:, 0]
        y2 = sample_categorical(rng, b[x], 1)[:, 0]
        # one uniform per comparison: y wins with probability P[x, y, y'] (as in sample_preferences, per context)
        lab = (rng.random(N) < P3[x, y, y2]).astype(np.float64)
        return cls(np.stack([y, y2], axis=1), lab, x if per_context else None, num_actions=K,
                   num_contexts=X if per_context else None)

    def __repr__(self) -> str:
        ctx = f", X={self.num_contexts}" if self.contexts is not None else ""
        return f"PreferenceDataset(N={self.num_pairs}, K={self.num_actions}{ctx})"

