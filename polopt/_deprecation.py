"""Renamed keywords: the old name keeps working for now, with a :class:`DeprecationWarning` naming the new one.

One symbol has one meaning (README "Notation"): where a keyword used to carry a second meaning it was
renamed (``relative_value_iteration(tau=)`` is ``omega=``, IPO's ``tau=`` is ``beta=``, the saddle
point's ``eta_mu=`` is ``eta_d=``, the bounded-ratio ``lam=`` is ``kappa=``). The one mechanism is here:

* :func:`renamed` decorates a function (a rule factory, an exact solver, a runner) with its
  ``{old: new}`` map; the map is kept on the wrapper as ``__renamed__`` so that :func:`polopt.solve`
  and ``po.rule`` translate ``solve(..., old=value)`` before any check of accepted names;
* :func:`rename` translates one keyword dictionary (the warning, the both-given error);
* :func:`renamed_function` and :func:`renamed_field` keep an old function name / NamedTuple field
  readable (the saddle point's ``grad_mu``, ``SaddleState.log_mu``).

Passing the old and the new name together is a TypeError (the two cannot both be meant).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = ["rename", "renamed", "renamed_field", "renamed_function", "renamed_of"]


def rename(where: str, kwargs: Mapping, old_to_new: Mapping[str, str], *, stacklevel: int = 3) -> dict:
    """``kwargs`` with every deprecated key of ``old_to_new`` replaced by its new name (a new dict).

    Warns once per old name found (``DeprecationWarning`` naming ``where``, the old and the new name);
    raises TypeError when both the old and the new name are given. ``kwargs`` is not modified.
    """
    out = dict(kwargs)
    for old, new in old_to_new.items():
        if old not in out:
            continue
        if new in out:
            raise TypeError(f"{where}: got both {old}= (deprecated) and {new}=; pass only {new}=")
        warnings.warn(f"{where}: {old}= is deprecated, use {new}= (same value; README 'Notation' gives "
                      f"each symbol one meaning)", DeprecationWarning, stacklevel=stacklevel)
        out[new] = out.pop(old)
    return out


def renamed(*, where: str | None = None, **old_to_new: str) -> Callable:
    """Decorator: ``fn`` also accepts each old keyword of ``old_to_new`` (deprecated) for its new one.

    The wrapper keeps ``fn``'s signature (``inspect.signature`` follows ``__wrapped__``: the method
    table reads the new names only) and exposes the map as ``__renamed__``. ``where`` names the
    function in the warning (default ``fn.__name__``; a runner names its method).
    """
    for old, new in old_to_new.items():
        if not (isinstance(new, str) and new.isidentifier() and new != old):
            raise ValueError(f"renamed: {old}= must map to a different keyword name, got {new!r}")
    table = MappingProxyType(dict(old_to_new))

    def deco(fn: Callable) -> Callable:
        name = where or fn.__name__

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **rename(name, kwargs, table))

        wrapper.__renamed__ = MappingProxyType({**getattr(fn, "__renamed__", {}), **table})
        return wrapper

    return deco


def renamed_of(*fns) -> dict[str, str]:
    """The union of the ``{old: new}`` maps of ``fns`` (None and undecorated functions give none)."""
    out: dict[str, str] = {}
    for fn in fns:
        out.update(getattr(fn, "__renamed__", {}))
    return out


def renamed_function(old: str, fn: Callable) -> Callable:
    """``fn`` under its old name ``old``: every call warns (``DeprecationWarning`` naming ``fn``) and runs ``fn``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warnings.warn(f"{old} is deprecated, use {fn.__name__} (README 'Notation')", DeprecationWarning, stacklevel=2)
        return fn(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = old
    return wrapper


def renamed_field(old: str, new: str) -> property:
    """A read-only property ``old`` of a NamedTuple that warns and returns the field ``new``."""

    def get(self):
        warnings.warn(f"{type(self).__name__}.{old} is deprecated, use .{new} (README 'Notation')",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated name of ``{new}``.")
