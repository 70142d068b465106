"""Immutable problem base: attributes are set once in ``__init__`` and arrays are read-only."""

from __future__ import annotations


class Problem:
    """Base of every problem class. Instances are immutable after construction."""

    __slots__ = ("_frozen",)

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name, value):
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; build a new instance instead")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable")
