"""The theorem registry and the generic checker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._base import ABS_SLACK, RATE_SLACK
from ..problems.matrix_game import MatrixGame
from ..result import SolveResult, recorded_iterates

#: Confidence levels of a registered theorem, what each one means:
#:
#: * ``paper``: the statement (with its constants) was read in the cited source;
#: * ``derived``: polopt's own derivation, with the proof in ``proofs/`` (or, where the theorem's
#:   ``note`` says there is none, the derivation stated in the note);
#: * ``recalled``: an unconfirmed recollection of the source's statement: shown, never
#:   presented as the paper's;
#: * ``measured``: a constant polopt measured itself on a sweep of instances (the sweep is named
#:   in the theorem's ``note``): shown, never presented as a paper's constant, and checked on
#:   held-out instances (other seeds, sizes and ``beta`` than the sweep) so that the tests
#:   falsify it rather than only calibrate it. A held-out violation is kept as a test and marked
#:   in the note; the constant is not loosened after the fact.
CONFIDENCE = ("paper", "derived", "recalled", "measured")
#: One-line meaning of each confidence level (for reports).
CONFIDENCE_MEANING = {
    "paper": "statement read in the source",
    "derived": "our derivation (proof in proofs/ or stated in the note)",
    "recalled": "unconfirmed recollection, never presented as the paper's",
    "measured": "constant measured by polopt on a named sweep, never presented as a paper's, checked on "
                "held-out instances",
}


class Verdict(NamedTuple):
    """Outcome of :func:`check`.

    ``holds``: the bound held at every iterate (within the named slack);
    ``worst_ratio``: ``max_t certificate[t] / bound[t]`` (<= 1 when it holds; for checks
    without a ratio, 0.0 or 1.0/inf); ``first_violation``: first iterate index where it
    failed, or None.
    """

    holds: bool
    worst_ratio: float
    first_violation: int | None


class Theorem(NamedTuple):
    """A guarantee as data.

    Attributes:
        name: registry key, e.g. ``"vi.contraction"``.
        statement: the claim in words and maths.
        methods: ``solve`` methods it applies to.
        certificate: the certificate it bounds (key of ``res.certificates``), or "" for
            custom checks.
        bound: ``bound(res, t) -> array`` of upper bounds for iterates ``t`` (int array), or
            None when ``checker`` is given.
        source: authors / book and title.
        arxiv: arXiv id or None; equation: theorem/equation number when known.
        confidence: ``paper`` | ``derived`` | ``recalled`` | ``measured`` (see :data:`CONFIDENCE`).
        checker: optional ``checker(res) -> Verdict`` for claims that are not a bound
            (monotonicity, finite termination, containment).
        max_step: ``max_step(problem) -> float``, the largest step ``eta`` the theorem covers,
            or None when it has no step condition. The theorem states its step range once,
            here; its bound raises ``ValueError`` beyond it and experiments read it from here.
        note: what the confidence rests on, when the statement alone does not say it: the
            sweep a ``measured`` constant comes from, the derivation of a ``derived`` claim without
            a proof module, a discrepancy between restatements of the source.
    """

    name: str
    statement: str
    methods: tuple[str, ...]
    certificate: str
    bound: Callable[[SolveResult, np.ndarray], np.ndarray] | None
    source: str
    arxiv: str | None = None
    equation: str | None = None
    confidence: str = "paper"
    checker: Callable[[SolveResult], Verdict] | None = None
    max_step: Callable[[Any], float] | None = None
    note: str = ""


_THEOREMS: dict[str, Theorem] = {}


def register(theorem: Theorem) -> Theorem:
    if theorem.confidence not in CONFIDENCE:
        raise ValueError(f"confidence must be one of {CONFIDENCE}, got {theorem.confidence!r}")
    if theorem.confidence == "measured" and not theorem.note:
        raise ValueError(f"theorem {theorem.name!r} is 'measured': its note must name the sweep it comes from")
    if theorem.bound is None and theorem.checker is None:
        raise ValueError(f"theorem {theorem.name!r} needs a bound or a checker")
    if theorem.name in _THEOREMS:
        raise ValueError(f"theorem {theorem.name!r} is already registered")
    _THEOREMS[theorem.name] = theorem
    return theorem


def _canonical(method: str) -> str:
    """The method table's canonical name of ``method`` (an alias resolves to its row; unknown names stay)."""
    from ..methods import lookup  # the table imports the families, which may import theory: resolve late

    row = lookup(method)
    return method if row is None else row.name


def covers(theorem: Theorem, method: str) -> bool:
    """Whether ``theorem`` applies to ``method``; aliases come from the method table, never listed here."""
    return _canonical(method) in {_canonical(m) for m in theorem.methods}


def theorems(method: str | None = None) -> list[Theorem]:
    """Registered theorems, optionally only those for ``method`` (or one of its aliases)."""
    out = list(_THEOREMS.values())
    if method is not None:
        out = [t for t in out if covers(t, method)]
    return sorted(out, key=lambda t: t.name)


def get(name: str) -> Theorem:
    if name not in _THEOREMS:
        raise ValueError(f"unknown theorem {name!r}; registered: {', '.join(sorted(_THEOREMS))}")
    return _THEOREMS[name]


def bound_verdict(cert, bound, rel: float = RATE_SLACK, abs_: float = ABS_SLACK) -> Verdict:
    """Verdict for ``cert[t] <= bound[t] (1 + rel) + abs_`` at every t."""
    cert = np.asarray(cert, dtype=np.float64)
    bound = np.asarray(bound, dtype=np.float64)
    ok = cert <= bound * (1.0 + rel) + abs_
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, cert / bound, np.where(cert <= abs_, 0.0, np.inf))
    worst = float(np.max(ratio)) if ratio.size else 0.0
    bad = np.flatnonzero(~ok)
    return Verdict(bool(ok.all()), worst, int(bad[0]) if bad.size else None)


#: Preference-game theorems whose statement carries over to a two-player ``MatrixGame`` in its
#: normalized units (G = A / (2c): each player's payoff is 1/2-Lipschitz in the other's strategy in
#: (l1, l_inf), the constant the statements use; the KL is summed over the players). Each is checked
#: on hypothesis-generated rectangular games in ``tests/test_matrix_game.py``; the others (e.g. SPPO's
#: sqrt(2 ln n / T), stated for one player's n) are refused on a matrix game.
MATRIX_GAME_THEOREMS = ("nash_mp.kl", "nash_mp.exploitability", "egpo.linear_rate", "mmd.rate", "nash_md.rate")


def check(res: SolveResult, name: str) -> Verdict:
    """Check theorem ``name`` on every iterate of ``res``.

    Raises:
        ValueError: unknown theorem, or ``res`` comes from a method the theorem does not cover,
            or lacks the certificate, or is a matrix-game result and the theorem is not in
            :data:`MATRIX_GAME_THEOREMS`.
    """
    thm = get(name)
    if isinstance(res.problem, MatrixGame) and name not in MATRIX_GAME_THEOREMS:
        raise ValueError(f"theorem {name!r} is stated for preference games; on a MatrixGame polopt checks "
                         f"{', '.join(MATRIX_GAME_THEOREMS)}")
    if not covers(thm, res.method):
        raise ValueError(
            f"theorem {name!r} covers methods {thm.methods}, but the result is from {res.method!r}"
        )
    if thm.checker is not None:
        return thm.checker(res)
    if thm.certificate not in res.certificates:
        raise ValueError(
            f"result has no certificate {thm.certificate!r}; it has {sorted(res.certificates)}"
        )
    cert = np.asarray(res.certificates[thm.certificate])
    t = recorded_iterates(res, cert.shape[0])  # a run that kept every k-th iterate is checked at those k
    return bound_verdict(cert, thm.bound(res, t))
