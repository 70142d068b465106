"""Adapters registering exact solvers and rules as ``solve`` methods."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


def reject_unknown(method: str, hparams: dict, allowed: tuple[str, ...]) -> None:
    """TypeError naming every hyper-parameter ``method`` does not accept, and those it does."""
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        raise TypeError(
            f"{method} got unknown hyper-parameter(s) {', '.join(unknown)}; accepted: {', '.join(allowed) or 'none'}"
        )


def once_per_problem(store: weakref.WeakKeyDictionary, problem, compute: Callable[[], Any]):
    """``compute()`` once per problem, kept in the weak ``store`` (problems are immutable, so it cannot
    go stale, and the cache never keeps a problem alive); a problem that cannot be weakly referenced
    is computed every time."""
    try:
        return store[problem]
    except (KeyError, TypeError):
        pass
    value = compute()
    try:
        store[problem] = value
    except TypeError:  # not weak-referenceable: no cache
        pass
    return value


def runner_for(name: str, run_rule_fn: Callable[..., Any]):
    """The table's ``run`` for row ``name``: ``run_rule_fn(name, problem, iters=..., init=..., seed=..., **hp)``."""

    def run(problem, *, iters, init=None, seed=None, **hparams):
        return run_rule_fn(name, problem, iters=iters, init=init, seed=seed, **hparams)

    run.__name__ = f"run_{name}"
    return run
