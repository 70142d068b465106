"""``solve(problem, method=..., **hparams) -> SolveResult`` and the method registry.

A method is registered once with the problem kinds it applies to::

    @register("value_iteration", applies=is_discounted_mdp, summary="...")
    def _value_iteration(problem, *, iters, init, seed, **hparams) -> SolveResult: ...

``solve`` validates the common arguments, dispatches, and never returns silently after
``iters``: a run that stops on its iteration limit has ``status="max_iter"`` and issues a
:class:`~polopt.result.NotConvergedWarning`.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import NamedTuple

from ._validation import as_positive_int
from .problems import (
    Bandit,
    ContextualBandit,
    ContextualPreferenceGame,
    LinearMixtureMDP,
    PreferenceGame,
    TabularMDP,
)
from .result import MAX_ITER, NONFINITE, NotConvergedWarning, SolveResult

PROBLEM_TYPES = (Bandit, ContextualBandit, TabularMDP, LinearMixtureMDP, PreferenceGame, ContextualPreferenceGame)


class Method(NamedTuple):
    name: str
    applies: Callable[[object], bool]
    run: Callable[..., SolveResult]
    summary: str


_REGISTRY: dict[str, Method] = {}
# Modules whose import registers methods; loaded lazily so ``import polopt`` stays light.
# A module not (yet) present is skipped; an import error inside a present module is raised.
_METHOD_MODULES = (
    "polopt._methods.mdp",
    "polopt._methods.average",
    "polopt._methods.games",
    "polopt._methods.nlhf",
    "polopt._methods.pg",
    "polopt._methods.llm",
)
_loaded = False


def register(name: str, *, applies: Callable[[object], bool], summary: str = ""):
    """Decorator registering ``fn`` as ``solve`` method ``name``."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = Method(name, applies, fn, summary or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for mod in _METHOD_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    _loaded = True


def _check_problem(problem) -> None:
    if not isinstance(problem, PROBLEM_TYPES):
        names = ", ".join(t.__name__ for t in PROBLEM_TYPES)
        raise TypeError(f"problem must be one of {names}; got {type(problem).__name__}")


def methods(problem=None) -> list[str]:
    """Names that :func:`solve` accepts for ``problem`` (all registered names if None)."""
    _load()
    if problem is None:
        return sorted(_REGISTRY)
    _check_problem(problem)
    return sorted(n for n, m in _REGISTRY.items() if m.applies(problem))


def describe(problem=None) -> dict[str, str]:
    """``{name: one-line summary}`` for the methods that apply to ``problem``."""
    return {n: _REGISTRY[n].summary for n in methods(problem)}


def solve(problem, method: str, iters: int = 1000, init=None, seed=None, **hparams) -> SolveResult:
    """Solve ``problem`` with ``method``; see DESIGN.md "Public contract".

    Args:
        problem: a polopt problem instance.
        method: a name from :func:`methods(problem) <methods>`.
        iters: iteration budget (exact methods: maximum number of sweeps / improvements).
        init: initial policy ([K], [S, A]) or method-specific initial value; default uniform
            or the reference.
        seed: seed for sampled methods.
        **hparams: hyper-parameters by their maths names (eta, tau, eps, ...).

    Raises:
        ValueError: unknown method or one that does not apply (the message lists the valid
            names), bad hyper-parameters.
        TypeError: ``problem`` is not a polopt problem.
    """
    _check_problem(problem)
    _load()
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    valid = methods(problem)
    if method not in _REGISTRY:
        raise ValueError(f"unknown method {method!r}; valid methods for {problem!r}: {', '.join(valid)}")
    if method not in valid:
        raise ValueError(
            f"method {method!r} does not apply to {problem!r}; valid methods: {', '.join(valid)}"
        )
    iters = as_positive_int("iters", iters, minimum=0)
    res = _REGISTRY[method].run(problem, iters=iters, init=init, seed=seed, **hparams)
    if res.status in (MAX_ITER, NONFINITE):
        warnings.warn(
            f"{method} stopped with status {res.status!r} after {res.num_iter} iterations; "
            "increase iters or check the hyper-parameters",
            NotConvergedWarning,
            stacklevel=2,
        )
    return res
