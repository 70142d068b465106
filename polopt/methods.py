"""The method table: every name :func:`polopt.solve` accepts, in one place.

A row is a :class:`Method`. Everything that lists methods is derived from the rows: the names
``po.methods(problem)`` returns (aliases included), ``po.describe`` summaries, which problems a
method applies to, whether it averages, its oracle cost, ``po.rule(name, ...)``, the theorems'
method lists and the test suites' parametrisations.

Update rules are rows with a ``rule`` factory (``polopt.rules.<family>.<name>(**hparams) ->
Rule``); the family runner (``run``) turns a problem into an oracle, calls the factory with the
hyper-parameters (theory defaults from ``defaults(problem, iters, given)`` where the user gave
none) and hands the Rule to the driver in :mod:`polopt.solve`. Exact solvers are rows with a
``run`` only (family ``"exact"``), added by the :func:`register` decorator of their adapters.

The rows are collected on first use by :func:`_load`: the game rows below, the ``rows()`` of the
policy-gradient, estimator and loss families, and the exact-solver adapters; every import is
explicit and an import error is raised, never skipped. :func:`polopt._methods.matrix_game.extend`
then widens the game rows to two-player matrix games.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .rules import nlhf


class Method(NamedTuple):
    """One row of the table.

    Fields: ``name``; ``applies(problem) -> bool``; ``run(problem, *, iters, init, seed, **hparams) ->
    SolveResult``; ``summary`` (one line); ``rule`` (the factory, None for exact solvers); ``aliases``;
    ``defaults(problem, iters, given) -> dict`` (theory defaults of the factory's hyper-parameters);
    ``extra`` (hyper-parameters the runner takes besides the factory's); ``family``; ``needs`` (what
    ``applies`` asks, in words, for the error when a method does not apply).
    """

    name: str
    applies: Callable[[Any], bool]
    run: Callable[..., Any]
    summary: str
    rule: Callable[..., Any] | None = None
    aliases: tuple[str, ...] = ()
    defaults: Callable[[Any, int, dict], dict] | None = None
    extra: tuple[str, ...] = ()
    family: str = ""
    needs: str = ""  # what ``applies`` asks of a problem, in words (said when a method is refused)

    @property
    def averages(self) -> bool:
        """Whether the rule's state carries an averaged iterate (read off the rule itself)."""
        return self.rule is not None and self.probe().averages

    @property
    def oracle_calls(self) -> int | None:
        """Oracle calls one update makes (None for exact solvers)."""
        return None if self.rule is None else self.probe().oracle_calls

    def hparam_names(self) -> tuple[str, ...]:
        """The factory's keyword names (its maths names), then the runner's extras."""
        names = () if self.rule is None else tuple(inspect.signature(self.rule).parameters)
        return names + tuple(self.extra)

    def probe(self):
        """The rule at its probe hyper-parameters (only what the rule declares is read)."""
        return self.rule(**_PROBE.get(self.name, {}))


_ROWS: dict[str, Method] = {}
_ALIASES: dict[str, str] = {}
_loaded = False

#: Admissible hyper-parameters used to read what a factory declares (oracle calls, averaging).
_PROBE = {
    "extragradient": {"eta": 0.5},
    "nash_md": {"eta": 0.5},
    "sppo": {"eta": 0.5},
    "dno": {"eta": 0.5},
    "inpo": {"eta": 0.5},
    "mmd": {"eta": 0.5},
    "online_ipo": {"eta": 0.01, "beta": 0.1},
    "ipo_md": {"eta": 0.01, "beta": 0.1},
    "omwu": {"eta": 0.5},
    "entropy_npg": {"tau": 0.1},
}


def add(row: Method) -> Method:
    """Add ``row`` (and its aliases) to the table; a name may be added once."""
    for name in (row.name, *row.aliases):
        if name in _ROWS or name in _ALIASES:
            raise ValueError(f"method {name!r} is already in the table")
    _ROWS[row.name] = row
    for alias in row.aliases:
        _ALIASES[alias] = row.name
    return row


def register(name: str, *, applies: Callable[[object], bool], summary: str = "", family: str = "exact"):
    """Decorator adding the runner ``fn`` as an exact-solver row ``name`` (family ``"exact"``)."""

    def deco(fn):
        add(Method(name, applies, fn, summary or (fn.__doc__ or "").strip().split("\n")[0], family=family))
        return fn

    return deco


# --------------------------------------------------------------------------- preference-game rules
def _hedge_eta(K: int, iters: int) -> float:
    return math.sqrt(8.0 * math.log(K) / max(iters, 1)) if K > 1 else 1.0


def _K(game) -> int:
    return int(game.P.shape[-1])


def _games_rows():
    from ._methods import nlhf as games

    def row(name, rule, summary, defaults, aliases=(), applies=games.is_game):
        needs = ("a preference game with beta > 0 (the IPO target divides by beta)"
                 if applies is games.is_regularized_game else "a PreferenceGame or ContextualPreferenceGame")
        return Method(name, applies, games.runner(name), summary, rule, aliases, defaults, games.COMMON, "games",
                      needs)

    hedge = lambda g, T, hp: {"eta": _hedge_eta(_K(g), T)}  # noqa: E731  (Hedge: sqrt(8 ln K / T))
    return (
        _mirror_prox_row(row("mirror_prox", nlhf.mirror_prox,
                             "Nash Mirror Prox (two KL prox steps per iteration; approximate version with inner "
                             "PG steps); on an MDP, mirror prox on the LP saddle point",
                             lambda g, T, hp: {"eta": 2.0}, ("nash_mp",))),
        row("extragradient", nlhf.extragradient,
            "EGPO: extragradient in policy space (tabular or its online-IPO-loss SGD form)",
            games.egpo_defaults, ("egpo",)),
        row("nash_md", nlhf.nash_md,
            "Nash-MD: mirror descent against the geometric mixture with mu (constant or decaying step)",
            games.nash_md_defaults),
        row("nash_ema", nlhf.nash_ema,
            "Nash-EMA: mirror ascent against an exponential moving average of past policies",
            lambda g, T, hp: {"eta": 0.1}),
        row("sppo", nlhf.sppo,
            "SPPO: multiplicative weights on P(y > pi_t) (exact or squared-loss form); last and average iterates",
            hedge, ("multiplicative_weights",)),
        row("dno", nlhf.dno, "DNO tabular prototype: multiplicative weights with r_t(y) = P(y > pi_t)", hedge),
        row("inpo", nlhf.inpo, "INPO: online mirror descent on the beta-regularized game; last and average iterates",
            lambda g, T, hp: {"eta": 4.0 * g.beta / (1.0 + 4.0 * g.beta**2) if g.beta > 0 else _hedge_eta(_K(g), T)},
            ("online_mirror_descent",)),
        row("mmd", nlhf.mmd, "Magnetic mirror descent in self-play (optional magnet update)",
            lambda g, T, hp: {"eta": 4.0 * g.beta if g.beta > 0 else _hedge_eta(_K(g), T)}),
        row("online_ipo", nlhf.online_ipo, "Online IPO: SGD on the self-play IPO loss",
            lambda g, T, hp: {"eta": g.beta**2 / 4.0}, applies=games.is_regularized_game),
        row("ipo_md", nlhf.ipo_md, "IPO-MD: online IPO with pairs from the geometric mixture of pi and mu",
            lambda g, T, hp: {"eta": g.beta**2 / 4.0}, applies=games.is_regularized_game),
        row("omwu", nlhf.omwu,
            "Optimistic multiplicative weights: last-iterate convergence to a unique Nash (beta = 0)",
            lambda g, T, hp: {"eta": 0.1}, ("optimistic_mwu",)),
    )


def _mirror_prox_row(game_row: Method) -> Method:
    """The "mirror_prox" row: Nash-MP on preference games, mirror prox on the LP saddle point on MDPs.

    The table has one row per name, so one row serves both problem kinds: ``applies`` accepts a game
    or a discounted / average-reward MDP and ``run`` dispatches on the problem. ``rule`` stays the game
    factory :func:`polopt.rules.nlhf.mirror_prox` (what ``po.rule("mirror_prox")``, the rule suite and
    the game theorems read); the MDP factory is :func:`polopt.rules.saddle.mdp_mirror_prox`, reached
    through its runner :mod:`polopt._methods.saddle` (its steps depend on the instance's operator norm,
    so a problem-free ``po.rule`` call could not build it). The alias ``nash_mp`` resolves to this row,
    so on an MDP it runs the saddle method too (an alias names a row, not a problem kind).
    """
    from ._methods import nlhf as games
    from ._methods import saddle

    run_game = game_row.run

    def applies(problem) -> bool:
        return games.is_game(problem) or saddle.is_saddle_mdp(problem)

    def run(problem, **kw):
        return run_game(problem, **kw) if games.is_game(problem) else saddle.run_mdp_mirror_prox(problem, **kw)

    needs = f"{game_row.needs} (Nash-MP), or {saddle.NEEDS}"
    return game_row._replace(applies=applies, run=run, needs=needs)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    # the exact-solver adapters register their rows on import (an ImportError is raised: nothing is skipped)
    from ._methods import (  # noqa: F401
        adversarial,
        average,
        games,
        learning,
        llm,
        llm_losses,
        matrix_game,
        mdp,
        pg,
        reward_free,
    )

    for row in _games_rows():
        add(row)
    for family in (pg, llm, llm_losses, learning, adversarial, reward_free):
        for row in family.rows():
            add(row)
    matrix_game.extend(_ROWS)  # the game rows also take a two-player MatrixGame


def table() -> dict[str, Method]:
    """``{name: Method}`` of every row (canonical names; aliases resolve through :func:`lookup`)."""
    _load()
    return dict(_ROWS)


def aliases() -> dict[str, str]:
    """``{alias: canonical name}``."""
    _load()
    return dict(_ALIASES)


def lookup(name: str) -> Method | None:
    """The row for ``name`` or one of its aliases (None if unknown)."""
    _load()
    return _ROWS.get(_ALIASES.get(name, name))


def rule_rows() -> list[Method]:
    """The rows that run an update rule (the common rule suite is parametrised over these)."""
    return [m for m in table().values() if m.rule is not None]


def rule(name: str, **hparams):
    """The :class:`~polopt.rules.Rule` that ``solve(..., method=name)`` runs, with validated hyper-parameters.

    ``po.rule("mirror_prox", eta=2.0, beta=0.1)``; aliases are accepted. Raises ValueError for an
    unknown name (listing the rule names) and TypeError/ValueError for bad hyper-parameters.
    """
    row = lookup(name) if isinstance(name, str) else None
    if row is None or row.rule is None:
        names = sorted(m.name for m in rule_rows())
        raise ValueError(f"unknown rule {name!r}; rules: {', '.join(names)}")
    from ._deprecation import rename, renamed_of

    # a renamed keyword warns here, attributed to the caller of po.rule (README "Notation")
    return row.rule(**rename(row.name, hparams, renamed_of(row.rule)))
