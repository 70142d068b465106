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
extragradient (egpo)                  form "tabular" | "ipo_loss"         tabular: 1/(beta + 2) (EGPO's range [rec]);
                                                                          ipo_loss (SGD lr): beta K / (4 (beta + 2))
nash_md                               schedule "decaying" | "constant"    decaying: 2/(beta (t+2)), eta not accepted;
                                      (decaying if beta > 0)              constant: log T/(beta T); beta = 0: Hedge
nash_ema                              alpha (EMA weight, 0.1)             0.1
sppo (multiplicative_weights)         form "exact" | "squared_loss",      sqrt(8 ln K / T) (Hedge)
                                      inner_steps (20, squared_loss)
inpo (online_mirror_descent)          —                                   4 beta / (1 + 4 beta^2) (MMD's 4 beta,
                                                                          mapped); beta = 0: Hedge
mmd                                   magnet_update (False),              4 beta (= beta / L^2); beta = 0: Hedge
                                      magnet_eta (0.05 when updating)
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

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import certificates
from .._validation import as_float_array, as_positive_int, as_scalar, check_stochastic
from ..exact import games as _games
from ..problems import ContextualPreferenceGame, PreferenceGame
from ..problems.game import SKEW_ATOL
from ..result import CONVERGED, MAX_ITER, NONFINITE, Optimum, SolveResult
from ..rules import nlhf
from ..rules._sampling import as_generator
from ..solve import register
from . import reject_unknown
from ._iterative import iterate

GAME_VALUE = 0.5
#: Default stopping tolerance on the duality gap / KL to the optimum (float64 round-off floor of both).
DEFAULT_TOL = 1e-12
#: Default EMA weight of Nash-EMA and magnet step of MMD's magnet update (heuristics, no theory).
DEFAULT_ALPHA = 0.1
DEFAULT_MAGNET_ETA = 0.05
#: IPO-MD mixture coefficient (NLHF's TL;DR runs used 0.125 for Nash-MD-PG [rec]).
DEFAULT_MIXTURE = 0.125
DEFAULT_SPPO_INNER_STEPS = 20
#: Iterations per chunk of the runner (certificates and the tol test run once per chunk).
CHUNK_SIZES = (8, 32, 128, 512)
COMMON = ("eta", "num_samples", "tol", "payoff")
AVERAGE_RULES = ("sppo", "dno", "inpo")


class _Game(NamedTuple):
    """Arrays of the game, always with a leading context axis: P [X, K, K], mu [X, K], rho [X]."""

    P: np.ndarray
    mu: np.ndarray
    rho: np.ndarray
    beta: float
    contextual: bool


def _is_game(problem) -> bool:
    return isinstance(problem, (PreferenceGame, ContextualPreferenceGame))


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
def _optimum(g: _Game) -> tuple[np.ndarray, dict]:
    stars, info = [], {}
    for P, mu in zip(g.P, g.mu, strict=True):
        game = PreferenceGame(P, mu, g.beta)
        if g.beta > 0:
            stars.append(_games.regularized_nash(game).policy)
        else:
            stars.append(_games.nash(game).policy)
    if g.beta == 0:
        info["nash_unique"] = all(_games.nash_is_unique(PreferenceGame(P)) for P in g.P)
    return np.stack(stars), info


def _certificates(g: _Game, log_pols: np.ndarray, pi_star: np.ndarray, kl_defined: bool, suffix: str = "") -> dict:
    """Per-iterate certificates of the log-policies ``log_pols`` [T+1, X, K] (rho-weighted over contexts).

    The KL is taken from the log-policies, so it stays finite where a probability underflows.
    """
    pols = np.exp(log_pols)

    def avg(fn):
        per = [[fn(P, p, mu) for P, p, mu in zip(g.P, pi, g.mu, strict=True)] for pi in pols]
        return np.asarray(per, dtype=np.float64) @ g.rho

    out = {
        "kl_to_optimum": (np.array([certificates.kl_to_optimum(None, pi_star, weights=g.rho, log_pi=lp)
                                    for lp in log_pols])
                          if kl_defined else np.full(len(pols), np.nan)),
        "exploitability": avg(lambda P, p, mu: certificates.exploitability(P, p, mu, g.beta)),
        "duality_gap": avg(lambda P, p, mu: certificates.duality_gap(P, p, mu, g.beta)),
        "duality_gap_unregularized": avg(lambda P, p, mu: certificates.duality_gap(P, p, mu, 0.0)),
    }
    if suffix:
        out = {f"{k}{suffix}": v for k, v in out.items() if k != "exploitability"}
    return out


# --------------------------------------------------------------------------- hyper-parameters
def _hedge_eta(K: int, iters: int) -> float:
    return math.sqrt(8.0 * math.log(K) / max(iters, 1)) if K > 1 else 1.0


def _num_samples(value):
    return None if value is None else as_positive_int("num_samples", value)


def _need_beta(method: str, beta: float, why: str) -> None:
    if beta <= 0:
        raise ValueError(f"{method} needs a game with beta > 0 ({why}), got beta = {beta:g}")


class _Plan(NamedTuple):
    """What one run does: init, step (closure over the oracle), calls per update, eta used, hparams."""

    init: Callable
    step: Callable
    calls: int  # oracle calls (exact products) or sampled comparisons per update and context
    eta: object
    hparams: dict
    info: dict


def _plan(rule: str, method: str, g: _Game, hp: dict, iters: int, seed) -> _Plan:
    beta, K = g.beta, g.P.shape[-1]
    with np.errstate(divide="ignore"):  # a zero-mass reference is allowed at beta = 0 (log mu unused)
        P, log_mu = (g.P, np.log(g.mu)) if g.contextual else (g.P[0], np.log(g.mu[0]))
    m = _num_samples(hp.get("num_samples"))
    rng = as_generator(seed)
    info: dict = {}
    used: dict = {"num_samples": m}
    sample_cost = K * m if m is not None else 1

    def eta_of(default):
        value = hp.get("eta")
        return as_scalar("eta", default if value is None else value, low=0.0, low_open=True)

    def pick(exact_update, sampled_update, **kw):
        if m is None:
            return lambda s: exact_update(s, P, log_mu, **kw)
        return lambda s: sampled_update(s, P, log_mu, rng, num_samples=m, **kw)

    if rule == "mirror_prox":
        eta = eta_of(2.0)
        inner = hp.get("inner_steps")
        used.update(eta=eta, inner_steps=inner)
        if inner is None:
            if hp.get("inner_eta") is not None:
                raise TypeError("mirror_prox: inner_eta needs inner_steps (approximate Nash-MP)")
            step = pick(nlhf.mirror_prox_update, nlhf.mirror_prox_update_sampled, eta=eta, beta=beta)
            calls = 2 * sample_cost
        else:
            inner = as_positive_int("inner_steps", inner)
            inner_eta = hp.get("inner_eta")
            inner_eta = None if inner_eta is None else as_scalar("inner_eta", inner_eta, low=0.0, low_open=True)
            used.update(inner_steps=inner, inner_eta=inner_eta)

            def step(s):
                return nlhf.mirror_prox_approx_update(s, P, log_mu, rng, eta=eta, beta=beta, inner_steps=inner,
                                                   inner_eta=inner_eta, num_samples=m)

            calls = 2 if m is None else 2 * inner * m
        return _Plan(nlhf.mirror_prox_init, step, calls, eta, used, info)

    if rule == "extragradient":
        form = hp.get("form", "tabular")
        if form not in ("tabular", "ipo_loss"):
            raise ValueError(f"{method}: form must be 'tabular' or 'ipo_loss', got {form!r}")
        used["form"] = form
        if form == "tabular":
            eta = eta_of(1.0 / (beta + 2.0))
            s_eq = eta
            step = pick(nlhf.extragradient_update, nlhf.extragradient_update_sampled, eta=eta, beta=beta)
        else:
            _need_beta(method, beta, "the IPO loss divides by beta")
            eta = eta_of(beta * K / (4.0 * (beta + 2.0)))
            s_eq = float(nlhf.egpo_step_size(eta, beta, K))
            info["equivalent_eta"] = s_eq

            def step(s):
                return nlhf.extragradient_ipo_loss_update(s, P, log_mu, rng, eta=eta, beta=beta, num_samples=m)

        if s_eq * beta >= 1:
            raise ValueError(
                f"{method}: the EGPO step must satisfy eta * beta < 1, got step {s_eq:g} with beta {beta:g}"
            )
        used["eta"] = eta
        return _Plan(nlhf.extragradient_init, step, 2 * sample_cost, eta, used, info)

    if rule == "nash_md":
        schedule = hp.get("schedule", "decaying" if beta > 0 else "constant")
        if schedule not in ("constant", "decaying"):
            raise ValueError(f"nash_md: schedule must be 'constant' or 'decaying', got {schedule!r}")
        used["schedule"] = schedule
        if schedule == "decaying":
            _need_beta(method, beta, "the decaying step is 2 / (beta (t + 2))")
            if hp.get("eta") is not None:
                raise TypeError("nash_md: eta is not used with schedule='decaying' (eta_t = 2/(beta (t+2)))")
            eta = nlhf.nash_md_step_size(np.arange(iters, dtype=np.float64), beta)
            used["eta"] = None
        else:
            T = max(iters, 2)
            eta = eta_of(math.log(T) / (beta * T) if beta > 0 else _hedge_eta(K, iters))
            if eta * beta > 1:
                raise ValueError(f"nash_md: the mixture needs eta * beta <= 1, got eta {eta:g} with beta {beta:g}")
            used["eta"] = eta
        step = pick(nlhf.nash_md_update, nlhf.nash_md_update_sampled, eta=None if schedule == "decaying" else eta,
                    beta=beta, schedule=schedule)
        return _Plan(nlhf.nash_md_init, step, sample_cost, eta, used, info)

    if rule == "nash_ema":
        eta = eta_of(0.1)
        alpha = as_scalar("alpha", hp.get("alpha", DEFAULT_ALPHA), low=0.0, high=1.0, low_open=True)
        used.update(eta=eta, alpha=alpha)
        step = pick(nlhf.nash_ema_update, nlhf.nash_ema_update_sampled, eta=eta, beta=beta, alpha=alpha)
        return _Plan(nlhf.nash_ema_init, step, sample_cost, eta, used, info)

    if rule in ("sppo", "dno"):
        eta = eta_of(_hedge_eta(K, iters))
        used["eta"] = eta
        form = hp.get("form", "exact") if rule == "sppo" else "exact"
        if form not in ("exact", "squared_loss"):
            raise ValueError(f"{method}: form must be 'exact' or 'squared_loss', got {form!r}")
        if rule == "sppo":
            used["form"] = form
        if form == "squared_loss":
            if m is not None:
                raise TypeError(f"{method}: form='squared_loss' runs on the exact oracle (num_samples must be None)")
            inner = as_positive_int("inner_steps", hp.get("inner_steps", DEFAULT_SPPO_INNER_STEPS))
            used["inner_steps"] = inner

            def step(s):
                return nlhf.sppo_squared_loss_update(s, P, log_mu, eta=eta, inner_steps=inner)
        elif hp.get("inner_steps") is not None:
            raise TypeError(f"{method}: inner_steps is only used with form='squared_loss'")
        elif rule == "sppo":
            step = pick(nlhf.sppo_update, nlhf.sppo_update_sampled, eta=eta)
        else:
            step = pick(nlhf.dno_update, nlhf.dno_update_sampled, eta=eta)
        return _Plan(nlhf.sppo_init if rule == "sppo" else nlhf.dno_init, step, sample_cost, eta, used, info)

    if rule == "inpo":
        eta = eta_of(4.0 * beta / (1.0 + 4.0 * beta**2) if beta > 0 else _hedge_eta(K, iters))
        if eta * beta >= 1:
            raise ValueError(f"{method}: the OMD step must satisfy eta * beta < 1, got eta {eta:g} with beta {beta:g}")
        used["eta"] = eta
        step = pick(nlhf.inpo_update, nlhf.inpo_update_sampled, eta=eta, beta=beta)
        return _Plan(nlhf.inpo_init, step, sample_cost, eta, used, info)

    if rule == "mmd":
        eta = eta_of(4.0 * beta if beta > 0 else _hedge_eta(K, iters))
        update = hp.get("magnet_update", False)
        if not isinstance(update, (bool, np.bool_)):
            raise TypeError(f"mmd: magnet_update must be a bool, got {type(update).__name__}")
        lam = hp.get("magnet_eta")
        if lam is not None and not update:
            raise TypeError("mmd: magnet_eta needs magnet_update=True")
        lam = as_scalar("magnet_eta", DEFAULT_MAGNET_ETA if lam is None else lam, low=0.0, high=1.0) if update else 0.0
        used.update(eta=eta, magnet_update=bool(update), magnet_eta=lam)
        step = pick(nlhf.mmd_update, nlhf.mmd_update_sampled, eta=eta, beta=beta, magnet_eta=lam)
        return _Plan(lambda lp: nlhf.mmd_init(lp, log_mu), step, sample_cost, eta, used, info)

    if rule in ("online_ipo", "ipo_md"):
        _need_beta(method, beta, "the IPO target divides by beta")
        eta = eta_of(beta**2 / 4.0)
        used["eta"] = eta
        if rule == "online_ipo":
            step = pick(nlhf.online_ipo_update, nlhf.online_ipo_update_sampled, eta=eta, beta=beta)
        else:
            mixture = as_scalar("mixture", hp.get("mixture", DEFAULT_MIXTURE), low=0.0, high=1.0)
            used["mixture"] = mixture
            step = pick(nlhf.ipo_md_update, nlhf.ipo_md_update_sampled, eta=eta, beta=beta, mixture=mixture)
        return _Plan(nlhf.online_ipo_init, step, sample_cost, eta, used, info)

    raise ValueError(f"unknown NLHF rule {rule!r}")  # registration below only uses known names


_EXTRA = {
    "mirror_prox": ("inner_steps", "inner_eta"),
    "extragradient": ("form",),
    "nash_md": ("schedule",),
    "nash_ema": ("alpha",),
    "sppo": ("form", "inner_steps"),
    "dno": (),
    "inpo": (),
    "mmd": ("magnet_update", "magnet_eta"),
    "online_ipo": (),
    "ipo_md": ("mixture",),
}


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


def _run(rule: str, method: str, problem, *, iters: int, init, seed, **hparams) -> SolveResult:
    reject_unknown(method, hparams, COMMON + _EXTRA[rule])
    g = _arrays(problem, hparams.get("payoff"), method)
    _check_reference(g, method)
    tol = as_scalar("tol", hparams.get("tol", DEFAULT_TOL), low=0.0, low_open=True)
    plan = _plan(rule, method, g, hparams, iters, seed)
    pi0 = _init_policy(g, init, g.contextual)
    with np.errstate(divide="ignore"):
        log_pi0 = np.log(pi0 if g.contextual else pi0[0])
    has_avg = rule in AVERAGE_RULES

    def log_policy_of(state):
        return np.stack([state.log_pi, state.log_avg] if has_avg else [state.log_pi])

    pi_star, opt_info = _optimum(g)
    kl_defined = g.beta > 0 or opt_info.get("nash_unique", True)
    state, status, done = plan.init(log_pi0), MAX_ITER, 0
    chunks: list[tuple[np.ndarray, dict]] = []
    first = True
    # run in growing chunks so that a run meeting tol early does not pay for the whole budget
    while first or (done < iters and status == MAX_ITER):
        n = min(CHUNK_SIZES[min(len(chunks), len(CHUNK_SIZES) - 1)], iters - done)
        traj = iterate(state, plan.step, n, log_policy_of, log_domain=True)
        rec = traj.iterates if first else traj.iterates[1:]
        rec = rec.reshape((rec.shape[0], 2 if has_avg else 1) + g.mu.shape)
        certs = _certificates(g, rec[:, 0], pi_star, kl_defined)
        if has_avg:
            certs.update(_certificates(g, rec[:, 1], pi_star, kl_defined, suffix="_average"))
        chunks.append((rec, certs))
        state, done, first = traj.state, done + traj.num_iter, False
        met = np.flatnonzero((certs["duality_gap"] <= tol) | (certs["kl_to_optimum"] <= tol))
        if met.size:
            status = CONVERGED
            cut = int(met[0]) + 1
            chunks[-1] = (rec[:cut], {k: v[:cut] for k, v in certs.items()})
        elif traj.status == NONFINITE:
            status = NONFINITE
    recorded = np.exp(np.concatenate([c[0] for c in chunks]))
    certs = {k: np.concatenate([c[1][k] for c in chunks]) for k in chunks[0][1]}
    pols, avgs = recorded[:, 0], (recorded[:, 1] if has_avg else None)
    T = recorded.shape[0] - 1

    X = g.mu.shape[0]
    calls = (plan.calls * X * np.arange(T + 1)).astype(np.int64)
    squeeze = (lambda a: a) if g.contextual else (lambda a: a[..., 0, :])
    eta = plan.eta[:T] if isinstance(plan.eta, np.ndarray) else plan.eta
    info = {"beta": g.beta, "eta": eta, "oracle_calls": calls, **plan.info, **opt_info}
    return SolveResult(
        policy=squeeze(pols[-1]),
        iterates=squeeze(pols),
        value=GAME_VALUE,
        optimum=Optimum(squeeze(pi_star), GAME_VALUE),
        certificates=certs,
        status=status,
        method=method,
        hparams={**plan.hparams, "tol": tol, "payoff": hparams.get("payoff") is not None},
        num_iter=T,
        average=None if avgs is None else squeeze(avgs),
        info=info,
        problem=problem,
    )


_SUMMARIES = {
    "mirror_prox": "Nash Mirror Prox (two KL prox steps per iteration; approximate version with inner PG steps)",
    "extragradient": "EGPO: extragradient in policy space (tabular or its online-IPO-loss SGD form)",
    "nash_md": "Nash-MD: mirror descent against the geometric mixture with mu (constant or decaying step)",
    "nash_ema": "Nash-EMA: mirror ascent against an exponential moving average of past policies",
    "sppo": "SPPO: multiplicative weights on P(y > pi_t) (exact or squared-loss form); last and average iterates",
    "dno": "DNO tabular prototype: multiplicative weights with r_t(y) = P(y > pi_t)",
    "inpo": "INPO: online mirror descent on the beta-regularized game; last and average iterates",
    "mmd": "Magnetic mirror descent in self-play (optional magnet update)",
    "online_ipo": "Online IPO: SGD on the self-play IPO loss",
    "ipo_md": "IPO-MD: online IPO with pairs from the geometric mixture of pi and mu",
}
_ALIASES = {
    "nash_mp": "mirror_prox",
    "egpo": "extragradient",
    "multiplicative_weights": "sppo",
    "online_mirror_descent": "inpo",
}


def _register(name: str, rule: str) -> None:
    def run(problem, *, iters, init, seed, **hparams):
        return _run(rule, name, problem, iters=iters, init=init, seed=seed, **hparams)

    run.__doc__ = _SUMMARIES[rule]
    summary = _SUMMARIES[rule] if name == rule else f"alias of {rule}: {_SUMMARIES[rule]}"
    register(name, applies=_is_game, summary=summary)(run)


for _name in _SUMMARIES:
    _register(_name, _name)
for _alias, _rule in _ALIASES.items():
    _register(_alias, _rule)
