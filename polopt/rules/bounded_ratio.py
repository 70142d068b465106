"""Ratio-bounded policy updates: PPO-clip (exact maximizer), Bounded Ratio RL (analytic optimum), BPO.

Every rule is a factory returning a :class:`~polopt.rules.Rule` (``ppo``, ``bounded_ratio`` = ``brrl``,
``bpo``) whose ``update(state, oracle)`` makes one call ``oracle.evaluate(pi0)`` of the exact MDP oracle
(:class:`polopt.oracles.mdp.MDPOracle`) at the current policy ``pi0`` and uses its ``q``, ``adv``, ``d``.
States are :class:`polopt.rules.pg.PolicyState` ``(log_pi [..., S, A], k)``. Ratios are
``ratio(s, a) = pi(a|s) / pi0(a|s)``; everything is per state (actions last axis), xp-generic
(NumPy float64 / ``jax.numpy`` with jit + vmap), fixed shapes, sort-based.

Bounds: symmetric ``eps in (0, 1)`` means ``lo = 1 - eps``, ``hi = 1 + eps``; asymmetric bounds need
``0 <= lo < 1 < hi`` (:func:`check_bounds`; the factories validate once, default ``eps = 0.2`` when
neither ``eps`` nor ``lo, hi`` is given). ``q_mass = (1 - lo)/(hi - lo)``.

Public functions
----------------
``bounded_ratio_target(log_pi0, q, *, lo, hi, tie="median", kappa=0.0) -> log pi*``
    Analytic optimum of ``max_pi E_{pi0}[ratio Q]`` s.t. ``lo <= ratio <= hi`` per state (BRRL Thm 4.1, general
    case derived): ``ratio = hi`` on the top-``Q`` actions holding ``pi0``-mass ``q_mass``, ``lo`` on the rest,
    one fractional ratio at the (weighted) quantile. ``tie="median"`` gives every action whose ``Q`` equals the
    quantile value ``u(s)`` one common ratio ``(1 - hi m_above - lo m_below)/m_at`` (for symmetric bounds this is
    the paper's ``ratio = 1 + eps sign(Q - median_pi0 Q)`` with the atom case resolved); ``tie="fractional"``
    fills tied actions one after another in index order (the fractional-knapsack vertex). Both are optimal.
    ``kappa > 0``: the smoothed target ``ratio = lo + (hi - lo) sigmoid((Q - u)/kappa)`` with ``u`` solving
    ``E_pi0 sigmoid((Q - u)/kappa) = q_mass`` (symmetric: ``1 + eps tanh((Q - u)/(2 kappa))``, the BPO code's
    target, whose ``lambda_`` it is); ``kappa -> 0`` recovers the hard target. ``kappa`` is a temperature in
    reward units (README "Notation"); ``lam=`` is its deprecated keyword (``lam`` is a regularizer weight).
``bounded_ratio(*, eps=None, lo=None, hi=None, tie="median", kappa=0.0) -> Rule`` (alias ``brrl``)
    ``pi <- bounded_ratio_target(log pi, Q^pi, ...)``.
``ppo_surrogate(log_pi, log_pi0, adv, *, lo, hi)``
    per-state clipped surrogate ``sum_a pi0 min(ratio A, clip(ratio, lo, hi) A)`` (Schulman et al. 2017 eq. (7)).
``ppo_maximizer(log_pi0, adv, *, lo, hi) -> log pi``, ``ppo(*, eps=None, lo=None, hi=None) -> Rule``
    An exact maximizer of the clipped surrogate over the simplex, per state. **Not unique**: the surrogate is
    flat in ``ratio`` above ``hi`` for ``A > 0`` and below ``lo`` for ``A < 0``. Canonical choice returned:
    (1) fill ``A > 0`` actions in decreasing ``A`` up to ``ratio = hi``; (2) give the remaining mass to the
    ``A <= 0`` actions at a common ratio ``t = min(R / pi0(A <= 0), lo)`` (free: the surrogate is flat there);
    (3) put any mass still left on the ``argmax A`` actions in proportion to ``pi0`` (flat beyond ``hi`` when
    ``max A > 0``; the least costly when all ``A <= 0``). The BRRL target is another maximizer whenever its
    ``ratio = hi`` set is the ``A > 0`` set (tests check both attain the same surrogate value).
``bpo_loss(log_pi, log_target, adv, d)``
    ``sum_s d(s) sum_a |pi(a|s) - pi*(a|s)| |adv(s, a)|`` (the BPO advantage-weighted TV loss, tabular form).
``bpo(*, eps=None, lo=None, hi=None, tie="median", kappa=0.0, eta=1.0, epochs=10) -> Rule``
    ``epochs`` steps of (sub)gradient descent on ``bpo_loss`` in the logits from ``theta = log pi``, toward the
    fixed (detached) target ``bounded_ratio_target(log pi, Q^pi, ...)``, weights ``|A^pi|`` (:func:`bpo_step`).

Guarantees (tests/test_rules_bounded_ratio.py): the target matches ``scipy.optimize.linprog`` per state and
improves ``V`` by exactly ``1/(1-gamma) E_{s~d^{pi*}} E_{a~pi0}[(ratio - 1) Q]`` (= ``eps/(1-gamma)
E|Q - median Q|`` for symmetric bounds, Ao et al. Thm 4.2 with the derived exact size); asymmetric bounds
with ``lo = 0`` give the cross-entropy method's elite distribution (``pi0`` conditioned on its top
``q_mass`` quantile of ``Q``); the PPO maximizer attains the LP optimum of the surrogate.

References: Ao et al., "Bounded Ratio Reinforcement Learning", arXiv 2604.18578 (Thm 4.1, 4.2, BPO loss);
Schulman et al., "Proximal Policy Optimization Algorithms", arXiv 1707.06347, eq. (7).
"""

from __future__ import annotations

from .._deprecation import renamed
from .._validation import as_positive_int, as_scalar
from ._core import Rule, array_namespace, coefficient, hparams, log_normalize, step_size
from .pg import BISECTION_STEPS, PGOracle, _init, _next, _values, choice, fori, log_policy

__all__ = [
    "DEFAULT_EPS",
    "TIES",
    "bounded_ratio",
    "bounded_ratio_target",
    "bounds_of",
    "bpo",
    "bpo_loss",
    "bpo_step",
    "brrl",
    "check_bounds",
    "clipped_objective",
    "ppo",
    "ppo_maximizer",
    "ppo_surrogate",
]

#: |pi - pi*| at or below this is treated as exactly on the kink of |.| (round-off of log/exp round trips is
#: ~1e-16; 1e-12 leaves margin and is far below any step BPO takes).
SIGN_DEADZONE = 1e-12

#: Ratio bound used when neither ``eps`` nor ``(lo, hi)`` is given (PPO's clip range).
DEFAULT_EPS = 0.2
TIES = ("median", "fractional")


# --------------------------------------------------------------------------- bounds
def check_bounds(eps=None, lo=None, hi=None) -> tuple[float, float]:
    """``(lo, hi)`` from ``eps in (0, 1)`` or from ``0 <= lo < 1 < hi``; ValueError / TypeError naming the
    argument and the value otherwise (boundary validation for :func:`polopt.solve`)."""
    if eps is not None:
        if lo is not None or hi is not None:
            raise ValueError(f"give either eps or (lo, hi), got eps={eps!r}, lo={lo!r}, hi={hi!r}")
        e = as_scalar("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
        return 1.0 - e, 1.0 + e
    if lo is None or hi is None:
        raise TypeError(f"bounds need eps in (0, 1) or both lo and hi, got lo={lo!r}, hi={hi!r}")
    lo_f = as_scalar("lo", lo, low=0.0, high=1.0, high_open=True)
    hi_f = as_scalar("hi", hi, low=1.0, low_open=True, allow_inf=False)
    return lo_f, hi_f


def bounds_of(eps=None, lo=None, hi=None):
    """``(lo, hi)`` without validation (inside rules; arrays allowed): ``eps`` wins when given."""
    if eps is not None:
        return 1.0 - eps, 1.0 + eps
    return lo, hi


def _with_ratio(log_pi0, ratio):
    """``log(ratio pi0)`` with ``ratio = 0`` -> ``-inf``, normalised against round-off."""
    xp = array_namespace(log_pi0, ratio)
    return log_normalize(xp.where(ratio > 0, log_pi0 + xp.log(xp.where(ratio > 0, ratio, 1.0)), -xp.inf))


def _sorted_desc(xp, key, *arrays):
    """Sort ``arrays`` along the last axis by ``key`` descending (stable); returns (order, sorted...)."""
    order = xp.argsort(-key, axis=-1, stable=True) if xp.__name__ != "numpy" else xp.argsort(-key, axis=-1,
                                                                                          kind="stable")
    return order, [xp.take_along_axis(a, order, axis=-1) for a in arrays]


def _unsort(xp, order, values):
    inv = xp.argsort(order, axis=-1)
    return xp.take_along_axis(values, inv, axis=-1)


# --------------------------------------------------------------------------- BRRL target
def _hard_ratio(pi0, q, lo, hi, tie):
    xp = array_namespace(pi0, q)
    on = pi0 > 0
    q_on = xp.where(on, q, -xp.inf)
    q_mass = (1.0 - lo) / (hi - lo)
    order, (q_s, p_s) = _sorted_desc(xp, q_on, q_on, pi0)
    before = xp.cumsum(p_s, axis=-1) - p_s
    if tie == "fractional":
        m_hi = xp.clip(q_mass - before, 0.0, p_s)  # mass of each action given the upper ratio
        ratio_s = xp.where(p_s > 0, (hi * m_hi + lo * (p_s - m_hi)) / xp.where(p_s > 0, p_s, 1.0), 1.0)
        return _unsort(xp, order, ratio_s)
    if tie != "median":
        raise ValueError(f"tie must be 'median' or 'fractional', got {tie!r}")
    # quantile value u: Q of the first sorted action whose cumulative mass reaches q_mass
    K = q.shape[-1]
    idx = xp.minimum(xp.sum((before + p_s) < q_mass, axis=-1, keepdims=True), K - 1)
    u = xp.take_along_axis(q_s, idx, axis=-1)
    above, at = on & (q > u), on & (q == u)
    m_above = xp.sum(xp.where(above, pi0, 0.0), axis=-1, keepdims=True)
    m_at = xp.sum(xp.where(at, pi0, 0.0), axis=-1, keepdims=True)
    m_below = 1.0 - m_above - m_at
    ratio_at = (1.0 - hi * m_above - lo * m_below) / xp.where(m_at > 0, m_at, 1.0)
    return xp.where(above, hi, xp.where(at, ratio_at, lo))


def _smooth_ratio(pi0, q, lo, hi, kappa):
    xp = array_namespace(pi0, q)
    on = pi0 > 0
    q_mass = (1.0 - lo) / (hi - lo)
    q_f = xp.where(on, q, 0.0)
    big = xp.max(xp.where(on, q, -xp.inf), axis=-1, keepdims=True)
    small = xp.min(xp.where(on, q, xp.inf), axis=-1, keepdims=True)
    # sigmoid(-60) ~ 1e-26: the bracket [min Q - 60 kappa, max Q + 60 kappa] holds u for q_mass in (1e-26, 1 - 1e-26)

    def sig(u):
        # sigmoid(x) = (1 + tanh(x/2))/2: no overflow for any x
        return 0.5 * (1.0 + xp.tanh((q_f - u) / (2.0 * kappa)))

    def bisect(bracket):
        a, b = bracket
        u = 0.5 * (a + b)
        high = xp.sum(xp.where(on, pi0 * sig(u), 0.0), axis=-1, keepdims=True) > q_mass  # u too small
        return (xp.where(high, u, a), xp.where(high, b, u))

    a, b = fori(xp, BISECTION_STEPS, bisect, (small - 60.0 * kappa, big + 60.0 * kappa))
    return lo + (hi - lo) * sig(0.5 * (a + b))


@renamed(lam="kappa")
def bounded_ratio_target(log_pi0, q, *, lo, hi, tie="median", kappa=0.0):
    """``log pi*`` of the BRRL problem per state (see the module docstring). Shapes ``[..., A]``."""
    xp = array_namespace(log_pi0, q)
    pi0 = xp.exp(log_pi0)
    if isinstance(kappa, (int, float)) and kappa == 0.0:
        ratio = _hard_ratio(pi0, q, lo, hi, tie)
    else:
        ratio = _smooth_ratio(pi0, q, lo, hi, kappa)
    return _with_ratio(log_pi0, xp.where(pi0 > 0, ratio, 0.0))


def _bounds(rule: str, eps, lo, hi) -> tuple[float, float]:
    """:func:`check_bounds` with the rule's name in the message; ``eps = DEFAULT_EPS`` when nothing is given."""
    if eps is None and lo is None and hi is None:
        eps = DEFAULT_EPS
    try:
        return check_bounds(eps=eps, lo=lo, hi=hi)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{rule}: {exc}") from None


def _target_args(rule: str, tie, kappa):
    return choice(rule, "tie", tie, TIES), coefficient(rule, "kappa", kappa)


def _bounded_ratio(name, eps, lo, hi, tie, kappa) -> Rule:
    lo, hi = _bounds(name, eps, lo, hi)
    tie, kappa = _target_args(name, tie, kappa)

    def update(state, oracle):
        o = _values(state, oracle)
        return _next(state, bounded_ratio_target(state.log_pi, o.q, lo=lo, hi=hi, tie=tie, kappa=kappa))

    return Rule(name, _init, update, 1, False, hparams(name, lo=lo, hi=hi, tie=tie, kappa=kappa))


@renamed(lam="kappa")
def bounded_ratio(*, eps=None, lo=None, hi=None, tie="median", kappa=0.0) -> Rule:
    """Bounded Ratio RL, one oracle call: ``pi <- pi*(pi, Q^pi)`` (Ao et al. Thm 4.1; see
    :func:`bounded_ratio_target`); monotone improvement (Thm 4.2; theorems ``brrl.improvement``,
    ``brrl.cem``). ``tie`` in ``TIES``, ``kappa >= 0`` (0: hard target)."""
    return _bounded_ratio("bounded_ratio", eps, lo, hi, tie, kappa)


@renamed(lam="kappa")
def brrl(*, eps=None, lo=None, hi=None, tie="median", kappa=0.0) -> Rule:
    """Alias of :func:`bounded_ratio` (the rule is named ``"brrl"``)."""
    return _bounded_ratio("brrl", eps, lo, hi, tie, kappa)


# --------------------------------------------------------------------------- PPO
def ppo_surrogate(log_pi, log_pi0, adv, *, lo, hi):
    """``sum_a pi0(a) min(ratio(a) A(a), clip(ratio(a), lo, hi) A(a))`` per state, ``[..., A] -> [...]``."""
    xp = array_namespace(log_pi, log_pi0, adv)
    pi, pi0 = xp.exp(log_pi), xp.exp(log_pi0)
    on = pi0 > 0
    ratio = xp.where(on, pi / xp.where(on, pi0, 1.0), 0.0)
    return xp.sum(xp.where(on, pi0 * clipped_objective(ratio, adv, lo=lo, hi=hi), 0.0), axis=-1)


def clipped_objective(ratio, adv, *, lo, hi):
    """PPO's per-sample clipped term ``min(ratio A, clip(ratio, lo, hi) A)`` (elementwise; arXiv 1707.06347 eq. (7))."""
    xp = array_namespace(ratio, adv)
    return xp.minimum(ratio * adv, xp.clip(ratio, lo, hi) * adv)


def ppo_maximizer(log_pi0, adv, *, lo, hi):
    """A maximizer of :func:`ppo_surrogate` over the simplex, per state (canonical choice in the module doc)."""
    xp = array_namespace(log_pi0, adv)
    pi0 = xp.exp(log_pi0)
    on = pi0 > 0
    pos = on & (adv > 0)
    # (1) greedy fill of the A > 0 actions, by decreasing A, up to hi pi0 each
    cap = xp.where(pos, hi * pi0, 0.0)
    order, (cap_s,) = _sorted_desc(xp, xp.where(pos, adv, -xp.inf), cap)
    before = xp.cumsum(cap_s, axis=-1) - cap_s
    p = _unsort(xp, order, xp.clip(1.0 - before, 0.0, cap_s))
    R = 1.0 - xp.sum(p, axis=-1, keepdims=True)
    # (2) the A <= 0 actions share the rest at a common ratio, never above lo (free region)
    rest = on & ~pos
    m_rest = xp.sum(xp.where(rest, pi0, 0.0), axis=-1, keepdims=True)
    t = xp.minimum(R / xp.where(m_rest > 0, m_rest, 1.0), lo)
    t = xp.where(m_rest > 0, t, 0.0)
    p = p + xp.where(rest, t * pi0, 0.0)
    # (3) what is left goes to the argmax-A actions in proportion to pi0
    R2 = 1.0 - xp.sum(p, axis=-1, keepdims=True)
    a_on = xp.where(on, adv, -xp.inf)
    top = on & (a_on >= xp.max(a_on, axis=-1, keepdims=True))
    m_top = xp.sum(xp.where(top, pi0, 0.0), axis=-1, keepdims=True)
    p = p + xp.where(top, xp.maximum(R2, 0.0) * pi0 / m_top, 0.0)
    return log_normalize(log_policy(p))


def ppo(*, eps=None, lo=None, hi=None) -> Rule:
    """PPO-clip with its per-state surrogate maximized exactly (mean advantage), one oracle call:
    ``pi <- ppo_maximizer(pi, A^pi)`` (theorem ``ppo.hinge``)."""
    lo, hi = _bounds("ppo", eps, lo, hi)

    def update(state, oracle):
        return _next(state, ppo_maximizer(state.log_pi, _values(state, oracle).adv, lo=lo, hi=hi))

    return Rule("ppo", _init, update, 1, False, hparams("ppo", lo=lo, hi=hi))


# --------------------------------------------------------------------------- BPO
def bpo_loss(log_pi, log_target, adv, d):
    """``sum_s d(s) sum_a |pi(a|s) - pi*(a|s)| |adv(s,a)|`` (BPO ``adv_TV`` loss, tabular; scalar)."""
    xp = array_namespace(log_pi, log_target, adv)
    per_state = xp.sum(xp.abs(xp.exp(log_pi) - xp.exp(log_target)) * xp.abs(adv), axis=-1)
    return xp.sum(xp.asarray(d) * per_state)


@renamed(lam="kappa")
def bpo_step(log_pi, o: PGOracle, *, lo, hi, tie="median", kappa=0.0, eta=1.0, epochs=10):
    """BPO from ``log_pi`` with the oracle output ``o`` of ``exp(log_pi)``: ``epochs`` subgradient steps
    ``theta <- theta - eta grad_theta bpo_loss`` toward the detached target.

    ``grad_theta[s, b] = d(s) pi(b|s) (g(s, b) - sum_a pi(a|s) g(s, a))`` with
    ``g = |adv| sign(pi - pi*)`` (softmax chain rule; the subgradient 0 is taken where
    ``|pi - pi*| <= SIGN_DEADZONE``, so that round-off does not pick a side of the kink).
    """
    xp = array_namespace(log_pi, o.q)
    target = xp.exp(bounded_ratio_target(log_pi, o.q, lo=lo, hi=hi, tie=tie, kappa=kappa))
    w = xp.asarray(o.d)[..., None]
    # an infeasible action (adv = -inf) has no mass and no target mass: it weighs nothing
    weight = xp.where(xp.isfinite(o.adv), xp.abs(o.adv), 0.0)

    def descend(lp):
        pi = xp.exp(lp)
        diff = pi - target
        g = weight * xp.where(xp.abs(diff) > SIGN_DEADZONE, xp.sign(diff), 0.0)
        grad = w * pi * (g - xp.sum(pi * g, axis=-1, keepdims=True))
        return log_normalize(lp - eta * grad)

    return fori(xp, int(epochs), descend, log_pi)


@renamed(lam="kappa")
def bpo(*, eps=None, lo=None, hi=None, tie="median", kappa=0.0, eta=1.0, epochs=10) -> Rule:
    """BPO (Ao et al.), one oracle call: :func:`bpo_step` with step ``eta > 0`` and ``epochs >= 1``
    subgradient steps per update toward the bounded-ratio target (bounds, ``tie``, ``kappa`` as in
    :func:`bounded_ratio`)."""
    lo, hi = _bounds("bpo", eps, lo, hi)
    tie, kappa = _target_args("bpo", tie, kappa)
    eta = step_size("bpo", "eta", eta)
    try:
        epochs = as_positive_int("epochs", epochs)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"bpo: {exc}") from None

    def update(state, oracle):
        o = _values(state, oracle)
        return _next(state, bpo_step(state.log_pi, o, lo=lo, hi=hi, tie=tie, kappa=kappa, eta=eta, epochs=epochs))

    return Rule("bpo", _init, update, 1, False, hparams("bpo", lo=lo, hi=hi, tie=tie, kappa=kappa, eta=eta,
                                                       epochs=epochs))
