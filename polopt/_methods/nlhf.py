"""``solve`` adapters for the Nash-learning (NLHF) update rules of :mod:`polopt.rules.nlhf`.

``po.solve(game, method=NAME, iters=T, init=None, seed=None, eta=..., **hp)`` on a
:class:`~polopt.problems.PreferenceGame` or a :class:`~polopt.problems.ContextualPreferenceGame`.

Names (an alias is registered as its own name with the same runner; ``res.method`` is the
name called):

====================================  ==================================  ==========================================
name (alias)                          extra hparams (defaults)            default ``eta`` (K actions, T = iters)
====================================  ==================================  ==========================================
mirror_prox (nash_mp)                 inner_steps (None = exact prox),    2 (= 1/L, L = 1/2)
                                      inner_eta (1 / (beta + 1/eta))
extragradient (egpo)                  form "tabular" | "ipo_loss"         tabular: 1/(beta + 2) (EGPO's, recalled);
                                                                          ipo_loss (SGD lr): beta K / (4 (beta + 2))
nash_md                               schedule "decaying" | "constant"    decaying: 2/(beta (t+2)), eta not accepted;
                                      (decaying if beta > 0)              constant: log T/(beta T); beta = 0: Hedge
nash_ema                              alpha (EMA weight, 0.1)             0.1
sppo (multiplicative_weights)         form "exact" | "squared_loss",      sqrt(8 ln K / T) (Hedge)
                                      inner_steps (20, squared_loss)
inpo (online_mirror_descent)          —                                   4 beta / (1 + 4 beta^2) (MMD's 4 beta,
                                                                          mapped); beta = 0: Hedge
mmd                                   magnet_eta (0 = fixed magnet mu)    4 beta (= beta / L^2); beta = 0: Hedge
online_ipo                            —                                   beta^2 / 4 (SGD lr; needs beta > 0)
ipo_md                                mixture (0.125)                     beta^2 / 4 (needs beta > 0)
dno                                   —                                   sqrt(8 ln K / T) (our eta = DNO's 1/eta)
====================================  ==================================  ==========================================

Every name also takes ``eta`` (step size > 0), ``num_samples`` (None = exact oracle ``P @ pi``;
an int = each oracle call estimated from ``num_samples`` Bernoulli comparisons per action,
seeded by ``seed``), ``tol`` (default 1e-12) and ``payoff`` (a raw preference matrix [K, K] or
[X, K, K] used instead of ``game.P``; it must satisfy ``P + P.T = 1`` — a general-sum matrix,
which the game constructors reject, raises ValueError naming the method, since every rule here
and its equilibrium are defined for the symmetric constant-sum game only). ``beta`` is the
game's. Unknown hparams raise TypeError.

Result: ``policy`` / ``iterates [T+1, K]`` ([T+1, X, K] for a contextual game), ``average``
``[T+1, ...]`` (mean of ``pi_0..pi_t``) for sppo / multiplicative_weights / dno / inpo /
online_mirror_descent, ``value = 0.5``, ``optimum = Optimum(pi*, 0.5)`` with ``pi* =
regularized_nash`` (beta > 0) or the Nash equilibrium (beta = 0; if it is not unique
``kl_to_optimum`` is NaN and ``info["nash_unique"] = False``).

Certificates, arrays [T+1] (contexts: ``rho``-weighted averages of the per-context values):
``"kl_to_optimum"`` = KL(pi* || pi_t); ``"exploitability"`` and ``"duality_gap"`` of the
beta-regularized game at ``game.beta``; ``"duality_gap_unregularized"`` (beta = 0); for
average-iterate rules also ``"kl_to_optimum_average"``, ``"duality_gap_average"``,
``"duality_gap_unregularized_average"``.

``info``: ``"beta"``, ``"eta"`` (the step used; for nash_md "decaying" the array of steps),
``"oracle_calls"`` int [T+1] (cumulative: exact = number of products ``P[x] @ pi[x]`` summed over
contexts; sampled = number of sampled pairwise comparisons), ``"equivalent_eta"`` (egpo
ipo_loss form: the tabular step ``4 eta / (beta K)``), ``"nash_unique"`` (beta = 0).

Status: ``"converged"`` when some iterate has ``duality_gap <= tol`` or ``kl_to_optimum <= tol``
(the run stops there), ``"max_iter"`` after ``iters`` updates (``solve`` then warns),
``"nonfinite"`` if a policy stops being finite.

Errors (ValueError naming the argument and the value): ``eta <= 0`` or non-finite; ``eta beta
>= 1`` for extragradient / inpo (the OMD form needs ``eta beta < 1``), ``eta beta > 1`` for
nash_md; ``beta = 0`` for online_ipo / ipo_md / ipo_loss / decaying nash_md; a reference with
zero mass when ``beta > 0`` (every rule and the equilibrium take ``log mu``); a non-constant-sum
``payoff``.
"""

from __future__ import annotations

import functools
import weakref
from typing import NamedTuple

import numpy as np

from .. import certificates
from .._validation import as_float_array, as_positive_int, as_scalar, check_stochastic
from ..exact import games as _games
from ..oracles import GameOracle, as_generator
from ..problems import ContextualPreferenceGame, PreferenceGame
from ..problems.game import SKEW_ATOL
from ..result import LazyCertificates, Optimum, SolveResult
from ..rules import nlhf
from . import reject_unknown, runner_for

GAME_VALUE = 0.5
#: Default stopping tolerance on the duality gap / KL to the optimum (float64 round-off floor of both).
DEFAULT_TOL = 1e-12
#: Hyper-parameters every game rule takes besides its factory's (``beta`` is the game's).
COMMON = ("num_samples", "tol", "payoff", "record")


class _Game(NamedTuple):
    """Arrays of the game, always with a leading context axis: P [X, K, K], mu [X, K], rho [X]."""

    P: np.ndarray
    mu: np.ndarray
    rho: np.ndarray
    beta: float
    contextual: bool


def is_game(problem) -> bool:
    return isinstance(problem, (PreferenceGame, ContextualPreferenceGame))


def is_regularized_game(problem) -> bool:
    """A game with ``beta > 0`` (the IPO rules divide by beta: they are not listed at beta = 0)."""
    return is_game(problem) and problem.beta > 0


def _arrays(problem, payoff, method: str) -> _Game:
    contextual = isinstance(problem, ContextualPreferenceGame)
    P = problem.P if contextual else problem.P[None]
    mu = problem.mu if contextual else problem.mu[None]
    rho = problem.rho if contextual else np.ones(1)
    if payoff is not None:
        raw = as_float_array("payoff", payoff, ndim=(2, 3))
        want = P.shape if contextual else P.shape[1:]
        if raw.shape != want:
            raise ValueError(f"payoff must have shape {want} like the game's P, got {raw.shape}")
        dev = np.abs(raw + np.swapaxes(raw, -1, -2) - 1.0)
        if (dev > SKEW_ATOL).any():
            idx = tuple(int(i) for i in np.argwhere(dev > SKEW_ATOL)[0])
            *lead, i, j = idx
            pre = "".join(f"{x}, " for x in lead)
            raise ValueError(
                f"{method} needs a constant-sum preference game: payoff[{pre}{i}, {j}] + payoff[{pre}{j}, {i}] = "
                f"{raw[idx] + np.swapaxes(raw, -1, -2)[idx]:.12g}, expected 1; general-sum payoffs are not supported"
            )
        bad = (raw < 0) | (raw > 1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"payoff[{', '.join(map(str, idx))}] is {raw[idx]:.6g}, expected a probability in [0, 1]")
        P = raw if contextual else raw[None]
    return _Game(np.asarray(P), np.asarray(mu), np.asarray(rho), float(problem.beta), contextual)


# --------------------------------------------------------------------------- optimum and certificates
_OPTIMA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_optimum(problem, g: _Game, payoff) -> tuple[np.ndarray, dict]:
    """:func:`_optimum` once per problem (problems are immutable; a ``payoff`` override is not cached)."""
    if payoff is not None:
        return _optimum(g)
    if problem not in _OPTIMA:
        pi_star, info = _optimum(g)
        pi_star.setflags(write=False)  # shared by every result on this problem
        _OPTIMA[problem] = (pi_star, info)
    pi_star, info = _OPTIMA[problem]
    return pi_star, dict(info)


def _optimum(g: _Game) -> tuple[np.ndarray, dict]:
    stars, info = [], {}
    for P, mu in zip(g.P, g.mu, strict=True):
        game = PreferenceGame(P, mu, g.beta)
        stars.append(_games.regularized_nash(game).policy if g.beta > 0 else _games.nash(game).policy)
    if g.beta == 0:
        info["nash_unique"] = all(_games.nash_is_unique(PreferenceGame(P)) for P in g.P)
    return np.stack(stars), info


def _kl(g: _Game, log_pols: np.ndarray, pi_star: np.ndarray, defined: bool) -> np.ndarray:
    """``KL(pi* || pi_t)`` from the log-policies [N, X, K] (finite where a probability underflows), rho-weighted."""
    if not defined:
        return np.full(log_pols.shape[0], np.nan)
    return certificates.kl_log_q(pi_star, log_pols) @ g.rho


def _gaps(g: _Game, log_pols: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    expl, gap = certificates.game_gaps(g.P, np.exp(log_pols), g.mu, beta)
    return expl @ g.rho, gap @ g.rho


def _certificates(g: _Game, log_pols: np.ndarray, pi_star: np.ndarray, kl_defined: bool, suffix: str = "") -> dict:
    """Lazy per-iterate certificates of the log-policies ``log_pols`` [T+1, X, K] (rho-weighted over contexts)."""
    gaps = functools.cache(lambda beta: _gaps(g, log_pols, beta))  # exploitability and gap come together
    out = {
        "kl_to_optimum": lambda: _kl(g, log_pols, pi_star, kl_defined),
        "exploitability": lambda: gaps(g.beta)[0],
        "duality_gap": lambda: gaps(g.beta)[1],
        "duality_gap_unregularized": lambda: gaps(0.0)[1],
    }
    if suffix:
        out = {f"{k}{suffix}": v for k, v in out.items() if k != "exploitability"}
    return out


# --------------------------------------------------------------------------- defaults the table reads
def egpo_defaults(game, iters: int, hp: dict) -> dict:
    """Tabular EGPO: ``1/(beta + 2)`` (its stated range); the IPO-loss SGD form: ``beta K / (4 (beta + 2))``."""
    if hp.get("form", "tabular") == "ipo_loss":
        return {"eta": game.beta * game.P.shape[-1] / (4.0 * (game.beta + 2.0))}
    return {"eta": 1.0 / (game.beta + 2.0)}


def nash_md_defaults(game, iters: int, hp: dict) -> dict:
    """Decaying ``2/(beta (t+2))`` when beta > 0 (no eta), else Hedge; constant: ``log T / (beta T)``."""
    schedule = hp.get("schedule", "decaying" if game.beta > 0 else "constant")
    if schedule == "decaying":
        return {"schedule": schedule}
    T = max(iters, 2)
    K = game.P.shape[-1]
    eta = np.log(T) / (game.beta * T) if game.beta > 0 else (np.sqrt(8.0 * np.log(K) / max(iters, 1)) if K > 1
                                                             else 1.0)
    return {"schedule": schedule, "eta": float(eta)}


# --------------------------------------------------------------------------- the runner
def _init_policy(g: _Game, init, contextual: bool) -> np.ndarray:
    if init is None:
        return np.array(g.mu, dtype=np.float64)
    shape = g.mu.shape if contextual else g.mu.shape[1:]
    arr = as_float_array("init", init)
    if arr.shape != shape:
        raise ValueError(f"init must have shape {shape}, got {arr.shape}")
    check_stochastic("init", arr)
    return arr.reshape(g.mu.shape)


def _check_reference(g: _Game, method: str) -> None:
    if g.beta > 0 and (g.mu <= 0).any():
        idx = tuple(int(i) for i in np.argwhere(g.mu <= 0)[0])
        where = f"reference[{idx[1]}]" if not g.contextual else f"reference[{idx[0]}, {idx[1]}]"
        raise ValueError(
            f"{where} is {g.mu[idx]:g}: {method} with beta = {g.beta:g} takes log(reference), "
            "expected reference > 0 for every action (or beta = 0)"
        )


def _make_rule(row, game, g: _Game, hp: dict, iters: int):
    """The row's Rule: the user's hyper-parameters, theory defaults for those not given, the game's beta."""
    accepted = row.hparam_names()
    if "beta" in hp:
        raise TypeError(f"{row.name}: beta is the game's (PreferenceGame(P, reference, beta)), "
                        "not a hyper-parameter")
    given = {k: v for k, v in hp.items() if v is not None}
    for k, v in row.defaults(game, iters, given).items():
        given.setdefault(k, v)
    if "beta" in accepted:
        given["beta"] = g.beta
    rule = row.rule(**given)
    form = getattr(rule.hparams, "form", None)
    if row.name == "extragradient" and form == "ipo_loss":
        s_eq = float(nlhf.egpo_step_size(rule.hparams.eta, g.beta, g.P.shape[-1]))
        if s_eq * g.beta >= 1:
            raise ValueError(f"{row.name}: the EGPO step must satisfy eta * beta < 1, got step {s_eq:g} "
                             f"(= 4 eta / (beta K)) with beta {g.beta:g}")
    return rule


def run_game_rule(name: str, problem, *, iters: int, init, seed, **hparams) -> SolveResult:
    """Run the game rule of table row ``name`` through the driver and assemble its SolveResult."""
    from ..methods import lookup
    from ..solve import run_rule

    row = lookup(name)
    reject_unknown(name, hparams, tuple(n for n in row.hparam_names() if n != "beta"))
    hp = dict(hparams)
    payoff = hp.pop("payoff", None)
    g = _arrays(problem, payoff, name)
    _check_reference(g, name)
    tol = as_scalar("tol", hp.pop("tol", DEFAULT_TOL), low=0.0, low_open=True)
    record = as_positive_int("record", hp.pop("record", 1))
    m = hp.pop("num_samples", None)
    m = None if m is None else as_positive_int("num_samples", m)
    rule = _make_rule(row, problem, g, hp, iters)

    pi0 = _init_policy(g, init, g.contextual)
    with np.errstate(divide="ignore"):  # a zero-mass reference is allowed at beta = 0 (log mu unused)
        log_mu, log_pi0 = np.log(g.mu), np.log(pi0)
    squeeze = (lambda a: a) if g.contextual else (lambda a: a[..., 0, :])
    P_or = g.P if g.contextual else g.P[0]
    oracle = GameOracle(P_or, squeeze(log_mu), as_generator(seed) if m is not None else None, m)
    state = rule.init(squeeze(log_pi0), oracle)
    X = g.mu.shape[0]

    def record_of(s):
        return np.stack([s.log_pi, s.log_avg]) if rule.averages else s.log_pi[None]

    pi_star, opt_info = _cached_optimum(problem, g, payoff)
    kl_defined = g.beta > 0 or opt_info.get("nash_unique", True)

    def last(block):  # [n, 1|2, (X,) K] -> [n, X, K] of the last iterate
        return block[:, 0].reshape((block.shape[0],) + g.mu.shape)

    def stop(block):
        lp = last(block)
        return np.minimum(_gaps(g, lp, g.beta)[1], np.nan_to_num(_kl(g, lp, pi_star, kl_defined), nan=np.inf))

    traj = run_rule(rule, oracle, state, iters, record_of=record_of, stop=stop, tol=tol, record=record)
    recs = traj.records.reshape((traj.records.shape[0], 2 if rule.averages else 1) + g.mu.shape)
    certs = _certificates(g, recs[:, 0], pi_star, kl_defined)
    if rule.averages:
        certs.update(_certificates(g, recs[:, 1], pi_star, kl_defined, suffix="_average"))
    pols = np.exp(recs[:, 0])
    avgs = np.exp(recs[:, 1]) if rule.averages else None

    calls = rule.oracle_calls * oracle.cost()
    if m is not None and getattr(rule.hparams, "inner_steps", None) is not None and name == "mirror_prox":
        calls = 2 * rule.hparams.inner_steps * m  # approximate Nash-MP: one REINFORCE batch per inner step
    eta = rule.hparams.eta if hasattr(rule.hparams, "eta") else None
    if name == "nash_md" and rule.hparams.schedule == "decaying":
        eta = nlhf.nash_md_step_size(np.arange(traj.num_iter, dtype=np.float64), g.beta)
    info = {"beta": g.beta, "eta": eta, "oracle_calls": (calls * X * traj.steps).astype(np.int64), **opt_info}
    if name == "extragradient" and rule.hparams.form == "ipo_loss":
        info["equivalent_eta"] = float(nlhf.egpo_step_size(rule.hparams.eta, g.beta, g.P.shape[-1]))
    if record > 1:
        info["recorded"] = traj.steps
    used = {k: v for k, v in rule.hparams._asdict().items() if k != "beta"}
    return SolveResult(
        policy=squeeze(pols[-1]),
        iterates=squeeze(pols),
        value=GAME_VALUE,
        optimum=Optimum(squeeze(pi_star), GAME_VALUE),
        certificates=LazyCertificates(certs),
        status=traj.status,
        method=name,
        hparams={**used, "num_samples": m, "tol": tol, "payoff": payoff is not None},
        num_iter=traj.num_iter,
        average=None if avgs is None else squeeze(avgs),
        info=info,
        problem=problem,
    )


def runner(name: str):
    """The table's ``run`` for row ``name``."""
    return runner_for(name, run_game_rule)
