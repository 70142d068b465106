"""Immutable problem base: attributes are set once in ``__init__`` and arrays are read-only."""

from __future__ import annotations

import numpy as np

from .._validation import as_distribution


class Problem:
    """Base of every problem class. Instances are immutable after construction."""

    # __weakref__: solve caches the certified optimum of a problem without keeping the problem alive
    __slots__ = ("_frozen", "__weakref__")

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name, value):
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; build a new instance instead")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable")


def contexts_and_reference(contexts, reference, X: int, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only ``(rho [X], mu [X, K])`` of a contextual problem: each uniform if None, a ``[K]``
    reference shared by every context, validated by :func:`polopt._validation.as_distribution`
    (which returns read-only copies, so the caller's arrays are never touched)."""
    if contexts is None:
        rho = np.full(X, 1.0 / X)
        rho.setflags(write=False)
    else:
        rho = as_distribution("contexts", contexts, (X,))
    if reference is None or np.ndim(reference) == 1:
        shared = np.full(K, 1.0 / K) if reference is None else as_distribution("reference", reference, (K,))
        mu = np.broadcast_to(shared, (X, K)).copy()
        mu.setflags(write=False)
    else:
        mu = as_distribution("reference", reference, (X, K))
    return rho, mu
