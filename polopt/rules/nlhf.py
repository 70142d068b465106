"""Nash learning from human feedback: the update rules on a preference game, in log space.

Set-up (the README "Notation" has the glossary). ``P[..., y, y']
= Pr(y preferred to y')`` with ``P + P^T = 1``, reference ``mu``, KL coefficient ``beta``.
The beta-regularized game ``J_beta(pi, pi') = pi^T P pi' - beta KL(pi||mu) + beta KL(pi'||mu)``
is symmetric, constant-sum (value 1/2), with the unique equilibrium ``pi*_beta ∝ mu exp(P
pi*_beta / beta)``. The **exact preference oracle** is ``pref(P, pi) = P @ pi`` (batched:
``einsum('...ij,...j->...i')``), i.e. ``(P pi)(y) = Pr(y > pi)``.

Every rule is a pair ``<rule>_init(log_pi0, ...) -> State`` and
``<rule>_update(state, P, log_mu, *, eta, beta, ...) -> State`` on a NamedTuple state, written
once against the array namespace of its inputs (NumPy float64 or ``jax.numpy`` under
``jit``/``vmap`` over ``(state, P, log_mu)``; ``eta``/``beta`` may be traced scalars). Policies
are log-probabilities on the last axis; leading axes (contexts ``X``, batch) are carried
through. Every KL step is :func:`polopt.rules._core.kl_prox`. Step sizes follow one convention
everywhere: **``eta`` is the step size** (bigger = more aggressive), also for INPO and DNO whose
papers write the inverse ``1/eta``.

Rules (factory name; oracle calls per update in brackets, ``Rule.oracle_calls``):

===============  =====================  ============================================================
rule             State (fields)         one update
===============  =====================  ============================================================
mirror_prox [2]  MirrorProxState        ``h = prox(pi, P pi)``, ``pi' = prox(pi, P h)``,
                 (log_pi, log_half, t)  ``prox(x, g) = kl_prox(log x, g, eta, log_mu, beta)``
extragradient[2] ExtragradientState     the same with ``eta_MP = eta / (1 - eta beta)`` (EGPO's
                 (log_pi, log_half, t)  ``pi^{1-eta beta} mu^{eta beta} exp(eta P .)``; needs eta beta < 1)
nash_md [1]      NashMDState            ``m ∝ pi^{1-eta beta} mu^{eta beta}``, ``pi' ∝ m exp(eta P m)``;
                 (log_pi, t)            schedule "decaying": ``eta_t = 2 / (beta (t + 2))``
nash_ema [1]     NashEMAState           ``pi' = kl_prox(pi, P pibar, eta, mu, beta)``, opponent logits
                 (log_pi, log_opp, t)   ``log_opp' = (1-alpha) log_opp + alpha log pi'`` (normalised)
sppo [1]         SPPOState              ``pi' ∝ pi exp(eta P pi)`` (MWU/Hedge; beta unused);
                 (log_pi, log_avg, t)   ``log_avg`` = log of the mean of ``pi_0..pi_t``
dno [1]          DNOState (= SPPOState) the same MWU (DNO's ``exp(r/eta)`` with our ``eta`` = its 1/eta)
inpo [1]         INPOState              OMD: ``pi' ∝ pi^{1-eta beta} mu^{eta beta} exp(eta P pi)``
                 (log_pi, log_avg, t)   (= ``kl_prox`` with ``eta / (1 - eta beta)``; needs eta beta < 1)
mmd [1]          MMDState               ``pi' = kl_prox(pi, P pi, eta, m, beta)``; magnet
                 (log_pi, log_magnet,t) ``m' ∝ pi'^magnet_eta m^{1-magnet_eta}`` (0 = fixed)
online_ipo [1]   OnlineIPOState         one SGD step (lr ``eta``) on the online IPO loss with
                 (log_pi, t)            ``y, y' ~ sg(pi)``: ``theta' = theta - eta grad``
ipo_md [1]       OnlineIPOState         the same loss with ``y, y' ~ m ∝ pi^{1-b} mu^b`` (``b = mixture``)
===============  =====================  ============================================================

Further forms (same states):

* :func:`extragradient_ipo_loss_update` — EGPO as its authors run it: two SGD steps of
  learning rate ``eta`` on the "online IPO 1" loss (uniform pairs), equal to the tabular
  EGPO step with ``s = 4 eta / (beta K)`` (:func:`egpo_step_size`; derived, ``tests/test_rules_nlhf.py``).
* :func:`sppo_squared_loss_update` — SPPO's regression form: minimise
  ``E_{y~pi_t}[(log pi(y)/pi_t(y) - eta (P(y > pi_t) - 1/2))^2]`` over the simplex by
  ``inner_steps`` diagonal Gauss-Newton steps; the first step is exactly the MWU step.
* :func:`mirror_prox_approx_update` — approximate Nash-MP: each prox step replaced by
  ``inner_steps`` softmax policy-gradient steps (exact gradient, or REINFORCE with
  ``num_samples`` sampled comparisons) on its KL-regularized bandit.
* Sampled play needs no second version of a rule: ``rule.update(state, GameOracle(P, log_mu,
  rng, num_samples))`` estimates each ``Pr(y > pi)`` from ``num_samples`` Bernoulli comparisons
  against ``y'' ~ pi`` (:func:`polopt.oracles.sampled_pref`; ``K * num_samples`` comparisons per
  oracle call and context; NumPy only, reproducible from the Generator).

References: Tiapkin et al., "Accelerating Nash Learning from Human Feedback via Mirror Prox",
arXiv 2505.19731 v1 (Nash-MP); Zhou, Fazel, Du, arXiv 2503.08942 (EGPO); Munos et al.,
arXiv 2312.00886 (Nash-MD, Nash-EMA); Wu et al., arXiv 2405.00675 (SPPO); Rosset et al.,
arXiv 2404.03715 (DNO); Zhang et al., arXiv 2407.00617 (INPO); Sokota et al., arXiv
2206.05825 (MMD); Calandriello et al., arXiv 2403.08635 (online IPO, IPO-MD).
Tests: ``tests/test_rules_nlhf.py`` (hand-derived steps, fixed points, NumPy = JAX, the
identities Nash-MP(eta) = EGPO(eta / (1 + eta beta)) and MMD(eta) = OMD(eta / (1 + eta beta))).
"""

from __future__ import annotations

from typing import NamedTuple

from .._validation import as_positive_int
from ..oracles import GameOracle, pref, reinforce_pref_gradient
from ._core import Rule, array_namespace, coefficient, hparams, kl_prox, log_normalize, require, softmax, step_size

__all__ = [
    "DNOState",
    "ExtragradientState",
    "GameOracle",
    "INPOState",
    "MMDState",
    "MirrorProxState",
    "NashEMAState",
    "NashMDState",
    "OnlineIPOState",
    "OptimisticState",
    "SPPOState",
    "dno",
    "dno_init",
    "dno_update",
    "egpo_step_size",
    "extragradient",
    "extragradient_init",
    "extragradient_ipo_loss_update",
    "extragradient_update",
    "geometric_mixture",
    "inpo",
    "inpo_init",
    "inpo_update",
    "ipo_loss_gradient",
    "ipo_md",
    "ipo_md_init",
    "ipo_md_update",
    "mirror_prox",
    "mirror_prox_approx_update",
    "mirror_prox_init",
    "mirror_prox_update",
    "mmd",
    "mmd_init",
    "mmd_update",
    "nash_ema",
    "nash_ema_init",
    "nash_ema_update",
    "nash_md",
    "nash_md_init",
    "nash_md_step_size",
    "nash_md_update",
    "omd_prox_eta",
    "omwu",
    "online_ipo",
    "online_ipo_gradient",
    "online_ipo_init",
    "online_ipo_update",
    "sppo",
    "sppo_init",
    "sppo_squared_loss_update",
    "sppo_update",
]



# --------------------------------------------------------------------------- shared pieces
def _times(xp, w, x):
    """``w * x`` with ``0 * (-inf) = 0`` (a zero weight on a forbidden action leaves it out)."""
    return w * xp.where(xp.isneginf(x) & (w == 0), 0.0, x)


def geometric_mixture(log_p, log_q, a):
    """``log m``, ``m ∝ p^{1-a} q^a`` along the last axis (Nash-MD's mixture; ``0 * log 0 = 0``).

    ``a`` in [0, 1]: ``a = 0`` gives ``p``, ``a = 1`` gives ``q``.
    """
    xp = array_namespace(log_p, log_q)
    return log_normalize(_times(xp, 1.0 - a, log_p) + _times(xp, a, log_q))


def _log_mean_update(log_avg, log_pi, t):
    """``log`` of the running mean ``(t+1)/(t+2) avg + 1/(t+2) pi`` (``t`` = updates so far)."""
    xp = array_namespace(log_avg, log_pi)
    t = xp.asarray(t)[..., None]
    return xp.logaddexp(log_avg + xp.log((t + 1.0) / (t + 2.0)), log_pi - xp.log(t + 2.0))


def omd_prox_eta(eta, beta):
    """The ``kl_prox`` step ``eta / (1 - eta beta)`` that gives the OMD/EGPO step ``eta``.

    OMD writes ``theta' = (1 - eta beta) theta + eta beta log mu + eta g``; ``kl_prox`` with step
    ``e`` writes ``(theta + e beta log mu + e g) / (1 + e beta)``: they agree iff
    ``e = eta / (1 - eta beta)`` (requires ``eta beta < 1``). Inverse map: ``eta = e / (1 + e beta)``.
    """
    return eta / (1.0 - eta * beta)


def _prox(log_pi, g, eta, log_mu, beta):
    return kl_prox(log_pi, g, eta, log_mu, beta)


def _exact_oracle(P):
    return lambda pi: pref(P, pi)


# --------------------------------------------------------------------------- Nash Mirror Prox
class MirrorProxState(NamedTuple):
    """``log_pi`` [..., K] = ``log pi_k``; ``log_half`` = ``log pi_{k-1/2}`` (the last leading point;
    ``log_pi0`` at init); ``t`` [...] = updates made."""

    log_pi: object
    log_half: object
    t: object


def mirror_prox_init(log_pi0) -> MirrorProxState:
    """Start Nash-MP at ``log_pi0`` [..., K] (the paper starts at ``mu``)."""
    xp = array_namespace(log_pi0)
    log_pi0 = log_normalize(log_pi0)
    return MirrorProxState(log_pi0, log_pi0, xp.zeros(log_pi0.shape[:-1]))


def _mirror_prox_step(state, oracle, log_mu, eta, beta):
    half = _prox(state.log_pi, oracle(softmax(state.log_pi)), eta, log_mu, beta)
    new = _prox(state.log_pi, oracle(softmax(half)), eta, log_mu, beta)
    return state._replace(log_pi=new, log_half=half, t=state.t + 1.0)


def mirror_prox_update(state: MirrorProxState, P, log_mu, *, eta, beta) -> MirrorProxState:
    """One Nash Mirror Prox iteration (two oracle calls: ``P pi_k`` then ``P pi_{k+1/2}``).

    .. math::
        \\pi_{k+1/2} = \\arg\\max_\\pi \\eta[\\pi^\\top P\\pi_k - \\beta KL(\\pi\\|\\mu)] - KL(\\pi\\|\\pi_k),\\qquad
        \\pi_{k+1} = \\arg\\max_\\pi \\eta[\\pi^\\top P\\pi_{k+1/2} - \\beta KL(\\pi\\|\\mu)] - KL(\\pi\\|\\pi_k),

    closed form ``pi_{k+1/2} ∝ [pi_k mu^{eta beta} exp(eta P pi_k)]^{1/(1+eta beta)}``.
    Guarantee (theorem ``nash_mp.kl``): ``eta = 2`` (= 1/L, ``L = 1/2``) and ``pi_0 = mu``
    give ``KL(pi*_beta || pi_k) <= (1 + 2 beta)^{-k} KL(pi*_beta || mu)``.
    Reference: Tiapkin et al., arXiv 2505.19731 v1.
    """
    return _mirror_prox_step(state, _exact_oracle(P), log_mu, eta, beta)



def _prox_by_pg(log_start, g, log_anchor, c, inner_steps, inner_eta, sampler):
    """``inner_steps`` softmax PG steps on ``F(theta) = <pi_theta, g> - c KL(pi_theta || anchor)``.

    Exact gradient ``pi ⊙ (A - E_pi A)`` with ``A = g - c (log pi - log anchor)``. With a
    ``sampler`` the preference part ``pi ⊙ (g - E_pi g)`` is replaced by the REINFORCE estimate
    ``mean_j (o_j - 1/2) (e_{y_j} - pi)``, ``y_j ~ pi_theta``, ``o_j ~ Bernoulli(Pr(y_j > opp))``.
    """
    theta = log_start
    xp = array_namespace(theta)
    for _ in range(inner_steps):
        pi = softmax(theta)
        log_pi = log_normalize(theta)
        reg = -c * xp.where(pi > 0, log_pi - log_anchor, 0.0)
        grad = pi * (reg - xp.sum(pi * reg, axis=-1, keepdims=True))
        if sampler is None:
            grad = grad + pi * (g - xp.sum(pi * g, axis=-1, keepdims=True))
        else:
            grad = grad + sampler(pi)
        theta = log_normalize(theta + inner_eta * grad)
    return theta


def mirror_prox_approx_update(state: MirrorProxState, P, log_mu, rng=None, *, eta, beta, inner_steps,
                              inner_eta=None, num_samples=None) -> MirrorProxState:
    """Approximate Nash-MP: each prox step solved by ``inner_steps`` softmax policy-gradient steps.

    Each prox step of :func:`mirror_prox_update` is the KL-regularized bandit (derived)
    ``argmax_pi <pi, P pi_opp> - c KL(pi || anchor)``, ``c = beta + 1/eta``,
    ``anchor ∝ pi_k^{1/(1+eta beta)} mu^{eta beta/(1+eta beta)}`` (Nash-MD's mixture). It is
    solved approximately by gradient ascent on the logits started at ``log pi_k``, step
    ``inner_eta`` (default ``1/c``, below the inverse smoothness ``c`` of the KL term).
    ``num_samples=None``: exact gradient (2 oracle calls per update); else REINFORCE with
    ``num_samples`` sampled comparisons per inner step (``2 inner_steps num_samples`` per update
    and context; needs ``rng``). As ``inner_steps -> inf`` the update tends to the exact prox.
    Reference: Tiapkin et al., arXiv 2505.19731 v1 (approximate Nash-MP; inner details recalled).
    """
    xp = array_namespace(state.log_pi, P)
    c = beta + 1.0 / eta
    log_anchor = geometric_mixture(state.log_pi, log_mu, eta * beta / (1.0 + eta * beta))
    step = 1.0 / c if inner_eta is None else inner_eta

    def prox(pi_opp):
        if num_samples is None:
            g, sampler = pref(P, pi_opp), None
        else:
            g = xp.zeros_like(pi_opp)

            def sampler(pi, pi_opp=pi_opp):
                return reinforce_pref_gradient(rng, P, pi, pi_opp, num_samples)

        return _prox_by_pg(state.log_pi, g, log_anchor, c, inner_steps, step, sampler)

    half = prox(softmax(state.log_pi))
    new = prox(softmax(half))
    return state._replace(log_pi=new, log_half=half, t=state.t + 1.0)


# --------------------------------------------------------------------------- EGPO
class ExtragradientState(NamedTuple):
    """Same fields as :class:`MirrorProxState`: ``log_pi``, ``log_half`` (``pi_{t+1/2}``), ``t``."""

    log_pi: object
    log_half: object
    t: object


def extragradient_init(log_pi0) -> ExtragradientState:
    """Start EGPO at ``log_pi0`` [..., K] (the authors start at the reference)."""
    return ExtragradientState(*mirror_prox_init(log_pi0))


def extragradient_update(state: ExtragradientState, P, log_mu, *, eta, beta) -> ExtragradientState:
    """One tabular EGPO step (two oracle calls), valid for ``eta beta < 1``.

    .. math::
        \\pi_{t+1/2} \\propto \\pi_t^{1-\\eta\\beta}\\mu^{\\eta\\beta} e^{\\eta P\\pi_t},\\qquad
        \\pi_{t+1} \\propto \\pi_t^{1-\\eta\\beta}\\mu^{\\eta\\beta} e^{\\eta P\\pi_{t+1/2}}

    = Nash-MP with step ``eta / (1 - eta beta)`` (:func:`omd_prox_eta`); so Nash-MP(eta) =
    EGPO(eta / (1 + eta beta)). Guarantee (recalled; theorem ``egpo.linear_rate``): linear last-iterate convergence
    ``KL(pi*||pi_t) <= (1 - eta beta)^t KL_0`` for ``eta <= 1/(beta + 2)``-type steps.
    Reference: Zhou, Fazel, Du, arXiv 2503.08942.
    """
    return ExtragradientState(*_mirror_prox_step(state, _exact_oracle(P), log_mu, omd_prox_eta(eta, beta), beta))



def egpo_step_size(eta, beta, num_actions):
    """Tabular EGPO/OMD step ``s = 4 eta / (beta K)`` of one SGD step of lr ``eta`` on the IPO-1 loss."""
    return 4.0 * eta / (beta * num_actions)


def ipo_loss_gradient(log_pi, log_mu, target, beta):
    """Gradient in the logits of EGPO's "online IPO 1" loss (uniform pairs, target detached).

    .. math::
        L(\\theta) = K^{-2} \\sum_{y, y'} \\big[(d(y) - d(y')) - (r(y) - r(y'))/\\beta\\big]^2,
        \\quad d = \\log\\pi_\\theta - \\log\\mu,\\; r = \\text{target}

    Computed from the pairwise residuals ``e(y) - e(y')`` (``e = d - r / beta``), then through
    ``d log softmax``. Shapes ``[..., K]``. Reference: EGPO authors' ``simulations/loss_funcs.py``.
    """
    xp = array_namespace(log_pi, log_mu, target)
    K = log_pi.shape[-1]
    e = log_pi - log_mu - target / beta
    D = e[..., :, None] - e[..., None, :]  # residual of pair (y, y')
    grad_d = 2.0 / K**2 * (xp.sum(D, axis=-1) - xp.sum(D, axis=-2))
    pi = xp.exp(log_pi)
    return grad_d - pi * xp.sum(grad_d, axis=-1, keepdims=True)


def extragradient_ipo_loss_update(state: ExtragradientState, P, log_mu, rng=None, *, eta, beta,
                                  num_samples=None) -> ExtragradientState:
    """EGPO in its authors' loss form: SGD with learning rate ``eta`` on the IPO-1 loss (2 oracle calls).

    ``theta_{t+1/2} = theta_t - eta grad L(theta_t; r = P pi_t)``,
    ``theta_{t+1} = theta_t - eta grad L(theta_t; r = P pi_{t+1/2})`` (:func:`ipo_loss_gradient`).
    Exactly :func:`extragradient_update` with step ``egpo_step_size(eta, beta, K) = 4 eta / (beta K)``
    (derived; ``tests/test_rules_nlhf.py``). ``num_samples``: targets from :func:`sampled_pref`.
    Needs ``mu > 0`` (the loss takes ``log mu``).
    """
    oracle = GameOracle(P, log_mu, rng, num_samples).pref

    def sgd(target):
        return log_normalize(state.log_pi - eta * ipo_loss_gradient(state.log_pi, log_mu, target, beta))

    half = sgd(oracle(softmax(state.log_pi)))
    new = sgd(oracle(softmax(half)))
    return state._replace(log_pi=new, log_half=half, t=state.t + 1.0)


# --------------------------------------------------------------------------- Nash-MD
class NashMDState(NamedTuple):
    """``log_pi`` [..., K]; ``t`` [...] = updates made (drives the decaying step)."""

    log_pi: object
    t: object


def nash_md_init(log_pi0) -> NashMDState:
    xp = array_namespace(log_pi0)
    log_pi0 = log_normalize(log_pi0)
    return NashMDState(log_pi0, xp.zeros(log_pi0.shape[:-1]))


def nash_md_step_size(t, beta):
    """Theorem 1's decaying step ``eta_t = 2 / (beta (t + 2))`` (``t = 0, 1, ...``)."""
    return 2.0 / (beta * (t + 2.0))


def _nash_md_step(state, oracle, log_mu, eta, beta, schedule):
    xp = array_namespace(state.log_pi)
    if schedule == "decaying":
        eta = nash_md_step_size(xp.asarray(state.t), beta)[..., None]
    elif schedule != "constant":
        raise ValueError(f"schedule must be 'constant' or 'decaying', got {schedule!r}")
    eta = xp.asarray(eta)
    mix = geometric_mixture(state.log_pi, log_mu, eta * beta)
    new = kl_prox(mix, oracle(softmax(mix)), eta)
    return state._replace(log_pi=new, t=state.t + 1.0)


def nash_md_update(state: NashMDState, P, log_mu, *, eta=None, beta, schedule="constant") -> NashMDState:
    """One Nash-MD step (one oracle call, against the mixture), ``eta beta <= 1``.

    .. math::
        \\pi^\\mu_t \\propto \\pi_t^{1-\\eta\\beta}\\mu^{\\eta\\beta},\\qquad
        \\pi_{t+1} \\propto \\pi^\\mu_t\\, e^{\\eta P \\pi^\\mu_t}

    ``schedule="decaying"`` uses ``eta_t = 2/(beta (t+2))`` (``eta`` is ignored) and then
    ``KL(pi*_beta||pi_T) <= 8/(beta^2 (T+1))`` (Theorem 1, recalled;
    theorem ``nash_md.rate``); a constant step has an O(eta)
    bias: its fixed point solves ``pi ∝ mu exp(P pi^mu / beta)``, not the equilibrium equation.
    Reference: Munos et al., arXiv 2312.00886, §6.
    """
    return _nash_md_step(state, _exact_oracle(P), log_mu, eta, beta, schedule)



# --------------------------------------------------------------------------- Nash-EMA
class NashEMAState(NamedTuple):
    """``log_pi`` [..., K]; ``log_opp`` = normalised EMA of past log-policies (the opponent); ``t``."""

    log_pi: object
    log_opp: object
    t: object


def nash_ema_init(log_pi0) -> NashEMAState:
    xp = array_namespace(log_pi0)
    log_pi0 = log_normalize(log_pi0)
    return NashEMAState(log_pi0, log_pi0, xp.zeros(log_pi0.shape[:-1]))


def _nash_ema_step(state, oracle, log_mu, eta, beta, alpha):
    xp = array_namespace(state.log_pi)
    new = _prox(state.log_pi, oracle(softmax(state.log_opp)), eta, log_mu, beta)
    opp = log_normalize(_times(xp, 1.0 - alpha, state.log_opp) + _times(xp, alpha, new))
    return state._replace(log_pi=new, log_opp=opp, t=state.t + 1.0)


def nash_ema_update(state: NashEMAState, P, log_mu, *, eta, beta, alpha) -> NashEMAState:
    """One Nash-EMA step (one oracle call): mirror ascent on ``J_beta(., pibar_t)`` against an EMA opponent.

    ``pi_{t+1} = kl_prox(pi_t, P pibar_t, eta, mu, beta)``,
    ``log pibar_{t+1} = lognorm((1 - alpha) log pibar_t + alpha log pi_{t+1})`` (the EMA of the
    policy *parameters*, here the logits; ``alpha`` in (0, 1]). A fictitious-play-like heuristic
    with no last-iterate guarantee. Reference: Munos et al., arXiv 2312.00886 (Nash-EMA, recalled;
    tabular instantiation ours).
    """
    return _nash_ema_step(state, _exact_oracle(P), log_mu, eta, beta, alpha)



# --------------------------------------------------------------------------- SPPO / DNO (MWU)
class SPPOState(NamedTuple):
    """``log_pi`` [..., K]; ``log_avg`` = log of the uniform mean of ``pi_0, ..., pi_t``; ``t``."""

    log_pi: object
    log_avg: object
    t: object


DNOState = SPPOState


def sppo_init(log_pi0) -> SPPOState:
    """Start MWU at ``log_pi0`` (SPPO's theory: uniform)."""
    xp = array_namespace(log_pi0)
    log_pi0 = log_normalize(log_pi0)
    return SPPOState(log_pi0, log_pi0, xp.zeros(log_pi0.shape[:-1]))


def _with_average(state, new):
    return state._replace(log_pi=new, log_avg=_log_mean_update(state.log_avg, new, state.t), t=state.t + 1.0)


def _mwu_step(state, oracle, eta):
    return _with_average(state, kl_prox(state.log_pi, oracle(softmax(state.log_pi)), eta))


def sppo_update(state: SPPOState, P, log_mu=None, *, eta, beta=0.0) -> SPPOState:
    """One SPPO step = multiplicative weights (one oracle call); ``log_mu``/``beta`` are unused.

    ``pi_{t+1}(y) ∝ pi_t(y) exp(eta P(y > pi_t))``. Guarantee (Hedge with rewards in [0, 1], derived;
    theorem ``sppo.average_duality_gap``):
    the average of ``T`` iterates has ``DG_0 <= 2 (ln K / (eta T) + eta / 8)``, ``= sqrt(2 ln K / T)``
    at ``eta = sqrt(8 ln K / T)``; the last iterate does not converge (it cycles).
    Reference: Wu et al., arXiv 2405.00675 (Thm 4.1, recalled).
    """
    return _mwu_step(state, _exact_oracle(P), eta)



def sppo_squared_loss_update(state: SPPOState, P, log_mu=None, *, eta, beta=0.0, inner_steps=20) -> SPPOState:
    """SPPO's squared-loss form (one oracle call): the regression step with ``log Z_t ≈ eta / 2``.

    .. math::
        \\pi_{t+1} = \\arg\\min_{\\pi\\in\\Delta} \\sum_y \\pi_t(y)\\Big(\\log\\frac{\\pi(y)}{\\pi_t(y)}
                     - \\eta\\big(P(y \\succ \\pi_t) - \\tfrac12\\big)\\Big)^2

    solved in the logits by ``inner_steps`` diagonal Gauss-Newton steps
    ``theta <- theta - grad / (2 pi_t)`` from ``theta = log pi_t``. The first step is exactly the
    MWU step of :func:`sppo_update` (the ``pi_t``-mean of the target is 0); the further steps
    move to the least-squares minimiser, which differs from MWU by ``O(eta^2)``.
    Reference: Wu et al., arXiv 2405.00675 (loss recalled; as tabulated in MNPO, arXiv 2509.23102, Table 1).
    """
    return _sppo_squared_loss_step(state, _exact_oracle(P), eta, inner_steps)


def _sppo_squared_loss_step(state, pref_fn, eta, inner_steps):
    xp = array_namespace(state.log_pi)
    w = softmax(state.log_pi)
    b = state.log_pi + eta * (pref_fn(w) - 0.5)
    theta = state.log_pi
    safe_w = xp.where(w > 0, w, 1.0)
    for _ in range(inner_steps):
        u = log_normalize(theta)
        g = 2.0 * w * xp.where(w > 0, u - b, 0.0)  # d loss / d log pi
        grad = g - xp.exp(u) * xp.sum(g, axis=-1, keepdims=True)
        theta = log_normalize(theta - xp.where(w > 0, grad / (2.0 * safe_w), 0.0))
    return _with_average(state, theta)


def dno_init(log_pi0) -> DNOState:
    """Start DNO's tabular prototype at ``log_pi0``."""
    return sppo_init(log_pi0)


def dno_update(state: DNOState, P, log_mu=None, *, eta, beta=0.0) -> DNOState:
    """DNO's tabular prototype (one oracle call): ``r_t(y) = P(y > pi_t)``, ``pi_{t+1} ∝ pi_t exp(eta r_t)``.

    The paper writes ``exp(r_t / eta)``; our ``eta`` is its ``1/eta``. Its realisation by the
    logistic regression on pairs has this step as its optimum (derived), so the exact tabular rule
    is MWU (= :func:`sppo_update`). Guarantee (recalled): average-iterate ``O(1/sqrt T)``.
    Reference: Rosset et al., arXiv 2404.03715.
    """
    return _mwu_step(state, _exact_oracle(P), eta)



# --------------------------------------------------------------------------- INPO / OMD
class INPOState(NamedTuple):
    """``log_pi`` [..., K]; ``log_avg`` = log mean of ``pi_0..pi_t``; ``t``."""

    log_pi: object
    log_avg: object
    t: object


def inpo_init(log_pi0) -> INPOState:
    return INPOState(*sppo_init(log_pi0))


def _omd_step(state, oracle, log_mu, eta, beta):
    new = _prox(state.log_pi, oracle(softmax(state.log_pi)), omd_prox_eta(eta, beta), log_mu, beta)
    return _with_average(state, new)


def inpo_update(state: INPOState, P, log_mu, *, eta, beta) -> INPOState:
    """One INPO / online-mirror-descent step (one oracle call), ``eta beta < 1``.

    ``pi_{t+1} ∝ pi_t^{1 - eta beta} mu^{eta beta} exp(eta P pi_t)`` (INPO writes the inverse step:
    ``tau / eta`` there is ``eta beta`` here). Last-iterate convergence to ``pi*_beta`` needs
    ``eta ≲ beta / L^2``; MMD(eta) = OMD(eta / (1 + eta beta)).
    Reference: Zhang et al., arXiv 2407.00617 (as tabulated in MNPO, arXiv 2509.23102, Table 1).
    """
    return _omd_step(state, _exact_oracle(P), log_mu, eta, beta)



# --------------------------------------------------------------------------- MMD
class MMDState(NamedTuple):
    """``log_pi`` [..., K]; ``log_magnet`` = ``log m`` (``log mu`` at init); ``t``."""

    log_pi: object
    log_magnet: object
    t: object


def mmd_init(log_pi0, log_mu) -> MMDState:
    """Start MMD at ``log_pi0`` with magnet ``m = mu``."""
    xp = array_namespace(log_pi0, log_mu)
    log_pi0 = log_normalize(log_pi0)
    return MMDState(log_pi0, log_normalize(log_mu), xp.zeros(log_pi0.shape[:-1]))


def _mmd_step(state, oracle, eta, beta, magnet_eta):
    new = _prox(state.log_pi, oracle(softmax(state.log_pi)), eta, state.log_magnet, beta)
    magnet = geometric_mixture(state.log_magnet, new, magnet_eta)
    return state._replace(log_pi=new, log_magnet=magnet, t=state.t + 1.0)


def mmd_update(state: MMDState, P, log_mu=None, *, eta, beta, magnet_eta=0.0) -> MMDState:
    """One magnetic-mirror-descent step in self-play (one oracle call).

    ``pi_{t+1} ∝ [pi_t m_t^{eta beta} exp(eta P pi_t)]^{1/(1 + eta beta)}`` (= :func:`kl_prox`);
    magnet ``m_{t+1} ∝ pi_{t+1}^magnet_eta m_t^{1-magnet_eta}``, the magnet's step (0: fixed magnet
    ``mu``; ``> 0`` targets the unregularized equilibrium). ``log_mu`` is unused (the magnet
    lives in the state, set by :func:`mmd_init`). Guarantee (recalled;
    theorem ``mmd.rate``): for ``eta <= beta / L^2 = 4 beta``
    ``KL(pi*||pi_{t+1}) <= KL(pi*||pi_t) / (1 + eta beta)``.
    Reference: Sokota et al., arXiv 2206.05825 (authors' ``mmd/nfg/learners.py``).
    """
    return _mmd_step(state, _exact_oracle(P), eta, beta, magnet_eta)



# --------------------------------------------------------------------------- online IPO / IPO-MD
class OnlineIPOState(NamedTuple):
    """``log_pi`` [..., K] (the logits, normalised); ``t``."""

    log_pi: object
    t: object


def online_ipo_init(log_pi0) -> OnlineIPOState:
    return OnlineIPOState(*nash_md_init(log_pi0))


ipo_md_init = online_ipo_init


def online_ipo_gradient(log_pi, log_mu, log_w, Pw, beta):
    """Logit gradient of the online IPO loss with pairs ``y, y' ~ sg(w)``.

    .. math::
        L(\\theta) = \\sum_{y,y'} w(y) w(y') \\Big[d(y) - d(y') - \\frac{P[y,y'] - 1/2}{\\beta}\\Big]^2,
        \\quad d = \\log\\pi_\\theta - \\log\\mu

    ``dL/dd = 4 w ⊙ (d - E_w d - (P w - 1/2) / beta)`` (antisymmetry of ``P - 1/2``), then through
    ``d log softmax``: ``grad = G - pi sum(G)``. With ``w = pi`` (online IPO) ``sum(G) = 0`` and
    the gradient vanishes iff ``log pi - log mu - P pi / beta`` is constant: the stationary point
    is ``pi*_beta`` (derived). ``Pw = P @ w`` is the oracle output.
    """
    xp = array_namespace(log_pi, log_mu, log_w, Pw)
    w = xp.exp(log_w)
    d = xp.where(w > 0, log_pi - log_mu, 0.0)
    G = 4.0 * w * (d - xp.sum(w * d, axis=-1, keepdims=True) - (Pw - 0.5) / beta)
    return G - xp.exp(log_pi) * xp.sum(G, axis=-1, keepdims=True)


def _ipo_step(state, oracle, log_mu, eta, beta, mixture):
    log_w = state.log_pi if mixture is None else geometric_mixture(state.log_pi, log_mu, mixture)
    grad = online_ipo_gradient(state.log_pi, log_mu, log_w, oracle(softmax(log_w)), beta)
    return state._replace(log_pi=log_normalize(state.log_pi - eta * grad), t=state.t + 1.0)


def online_ipo_update(state: OnlineIPOState, P, log_mu, *, eta, beta) -> OnlineIPOState:
    """One SGD step (learning rate ``eta``) on the online IPO loss (one oracle call), ``beta > 0``, ``mu > 0``.

    ``theta' = theta - 4 eta pi ⊙ (d - E_pi d - (P pi - 1/2) / beta)``, ``d = log(pi / mu)``
    (:func:`online_ipo_gradient`): a ``pi``-preconditioned OMD step, stable only for small ``eta``
    (per-action OMD step ``4 eta pi(y) / beta``). Its stationary point is ``pi*_beta``.
    Reference: Calandriello et al., arXiv 2403.08635; Azar et al., arXiv 2310.12036 (IPO).
    """
    return _ipo_step(state, _exact_oracle(P), log_mu, eta, beta, None)



def ipo_md_update(state: OnlineIPOState, P, log_mu, *, eta, beta, mixture) -> OnlineIPOState:
    """IPO-MD: the online IPO SGD step with pairs drawn from ``m ∝ pi^{1-b} mu^b``, ``b = mixture`` in [0, 1].

    One oracle call (``P m``). ``mixture = 0`` is :func:`online_ipo_update`.
    Reference: Calandriello et al., arXiv 2403.08635 (IPO-MD).
    """
    return _ipo_step(state, _exact_oracle(P), log_mu, eta, beta, mixture)



# --------------------------------------------------------------------------- optimistic MWU
class OptimisticState(NamedTuple):
    """``log_pi`` [..., K]; ``g_prev`` [..., K] = the oracle output of the previous update (unused at
    ``t = 0``, where the previous gradient is taken equal to the current one); ``t`` [...]."""

    log_pi: object
    g_prev: object
    t: object


def _omwu_step(state, pref_fn, eta):
    xp = array_namespace(state.log_pi)
    g = pref_fn(softmax(state.log_pi))
    # optax's optimistic convention: at the first step the "previous" gradient is the current one,
    # so the first update is plain MWU (no phantom zero gradient)
    g_prev = xp.where(xp.asarray(state.t)[..., None] == 0, g, state.g_prev)
    new = kl_prox(state.log_pi, 2.0 * g - g_prev, eta)
    return state._replace(log_pi=new, g_prev=g, t=state.t + 1.0)


# --------------------------------------------------------------------------- rule factories
# Each factory takes the hyper-parameters by their maths names, validates them once and returns
# a Rule whose ``update(state, oracle)`` asks a :class:`~polopt.oracles.GameOracle`; the functional
# forms above (``<rule>_update(state, P, log_mu, ...)``) are the same steps on the exact oracle.
def _beta(rule, beta):
    return coefficient(rule, "beta", beta)


def _need_positive_beta(rule, beta, why):
    require(rule, beta > 0, f"needs beta > 0 ({why}), got beta = {beta:g}")


def mirror_prox(*, eta=2.0, beta=0.0, inner_steps=None, inner_eta=None) -> Rule:
    """Nash Mirror Prox (two oracle calls): see :func:`mirror_prox_update`; ``eta = 2 = 1/L`` by default.

    ``inner_steps`` (int): approximate Nash-MP, each prox solved by that many softmax-PG steps of size
    ``inner_eta`` (default ``1 / (beta + 1/eta)``); with a sampled oracle the inner gradients are
    REINFORCE estimates (:func:`mirror_prox_approx_update`). Guarantee: ``nash_mp.kl`` (theory).
    """
    eta, beta = step_size("mirror_prox", "eta", eta), _beta("mirror_prox", beta)
    if inner_steps is None:
        if inner_eta is not None:
            raise TypeError("mirror_prox: inner_eta needs inner_steps (approximate Nash-MP)")

        def update(state, oracle):
            return _mirror_prox_step(state, oracle.pref, oracle.log_mu, eta, beta)
    else:
        inner_steps = as_positive_int("inner_steps", inner_steps)
        inner_eta = None if inner_eta is None else step_size("mirror_prox", "inner_eta", inner_eta)

        def update(state, oracle):
            return mirror_prox_approx_update(state, oracle.P, oracle.log_mu, oracle.rng, eta=eta, beta=beta,
                                             inner_steps=inner_steps, inner_eta=inner_eta,
                                             num_samples=oracle.num_samples)

    hp = hparams("mirror_prox", eta=eta, beta=beta, inner_steps=inner_steps, inner_eta=inner_eta)
    return Rule("mirror_prox", lambda log_pi0, oracle=None: mirror_prox_init(log_pi0), update, 2, False, hp)


def extragradient(*, eta, beta=0.0, form="tabular") -> Rule:
    """EGPO (two oracle calls), ``eta beta < 1``: tabular (:func:`extragradient_update`) or its
    ``"ipo_loss"`` SGD form (:func:`extragradient_ipo_loss_update`, learning rate ``eta``, ``beta > 0``;
    the family checks its tabular step ``4 eta / (beta K)`` against ``1 / beta``)."""
    eta, beta = step_size("extragradient", "eta", eta), _beta("extragradient", beta)
    if form == "tabular":
        require("extragradient", eta * beta < 1, f"the EGPO step must satisfy eta * beta < 1, got eta {eta:g} "
                f"with beta {beta:g}")

        def update(state, oracle):
            return _mirror_prox_step(state, oracle.pref, oracle.log_mu, omd_prox_eta(eta, beta), beta)
    elif form == "ipo_loss":
        _need_positive_beta("extragradient", beta, "the IPO loss divides by beta")

        def update(state, oracle):
            return extragradient_ipo_loss_update(state, oracle.P, oracle.log_mu, oracle.rng, eta=eta, beta=beta,
                                                 num_samples=oracle.num_samples)
    else:
        raise ValueError(f"extragradient: form must be 'tabular' or 'ipo_loss', got {form!r}")
    hp = hparams("extragradient", eta=eta, beta=beta, form=form)
    return Rule("extragradient", lambda log_pi0, oracle=None: mirror_prox_init(log_pi0), update, 2, False, hp)


def nash_md(*, eta=None, beta=0.0, schedule="constant") -> Rule:
    """Nash-MD (one oracle call): see :func:`nash_md_update`. ``schedule="decaying"``: ``eta_t =
    2/(beta (t+2))`` (needs beta > 0, no ``eta``); ``"constant"``: ``eta`` with ``eta beta <= 1``."""
    beta = _beta("nash_md", beta)
    if schedule == "decaying":
        _need_positive_beta("nash_md", beta, "the decaying step is 2 / (beta (t + 2))")
        if eta is not None:
            raise TypeError("nash_md: eta is not used with schedule='decaying' (eta_t = 2/(beta (t+2)))")
    elif schedule == "constant":
        eta = step_size("nash_md", "eta", eta)
        require("nash_md", eta * beta <= 1, f"the mixture needs eta * beta <= 1, got eta {eta:g} with beta {beta:g}")
    else:
        raise ValueError(f"nash_md: schedule must be 'constant' or 'decaying', got {schedule!r}")

    def update(state, oracle):
        return _nash_md_step(state, oracle.pref, oracle.log_mu, eta, beta, schedule)

    hp = hparams("nash_md", eta=eta, beta=beta, schedule=schedule)
    return Rule("nash_md", lambda log_pi0, oracle=None: nash_md_init(log_pi0), update, 1, False, hp)


def nash_ema(*, eta=0.1, beta=0.0, alpha=0.1) -> Rule:
    """Nash-EMA (one oracle call): see :func:`nash_ema_update`; ``alpha`` in (0, 1] is the EMA weight
    (the defaults are heuristics without theory)."""
    eta, beta = step_size("nash_ema", "eta", eta), _beta("nash_ema", beta)
    alpha = coefficient("nash_ema", "alpha", alpha, low=0.0, high=1.0, low_open=True)

    def update(state, oracle):
        return _nash_ema_step(state, oracle.pref, oracle.log_mu, eta, beta, alpha)

    hp = hparams("nash_ema", eta=eta, beta=beta, alpha=alpha)
    return Rule("nash_ema", lambda log_pi0, oracle=None: nash_ema_init(log_pi0), update, 1, False, hp)


def sppo(*, eta, form="exact", inner_steps=None) -> Rule:
    """SPPO = multiplicative weights (one oracle call; last and average iterates): see :func:`sppo_update`.
    ``form="squared_loss"``: SPPO's regression step by ``inner_steps`` (default 20) Gauss-Newton steps."""
    eta = step_size("sppo", "eta", eta)
    if form == "exact":
        if inner_steps is not None:
            raise TypeError("sppo: inner_steps is only used with form='squared_loss'")

        def update(state, oracle):
            return _mwu_step(state, oracle.pref, eta)
    elif form == "squared_loss":
        inner_steps = as_positive_int("inner_steps", 20 if inner_steps is None else inner_steps)

        def update(state, oracle):
            return _sppo_squared_loss_step(state, oracle.pref, eta, inner_steps)
    else:
        raise ValueError(f"sppo: form must be 'exact' or 'squared_loss', got {form!r}")
    hp = hparams("sppo", eta=eta, form=form, inner_steps=inner_steps)
    return Rule("sppo", lambda log_pi0, oracle=None: sppo_init(log_pi0), update, 1, True, hp)


def dno(*, eta) -> Rule:
    """DNO's tabular prototype (one oracle call; last and average iterates): see :func:`dno_update`."""
    eta = step_size("dno", "eta", eta)

    def update(state, oracle):
        return _mwu_step(state, oracle.pref, eta)

    return Rule("dno", lambda log_pi0, oracle=None: sppo_init(log_pi0), update, 1, True, hparams("dno", eta=eta))


def inpo(*, eta, beta=0.0) -> Rule:
    """INPO / online mirror descent (one oracle call; last and average iterates), ``eta beta < 1``."""
    eta, beta = step_size("inpo", "eta", eta), _beta("inpo", beta)
    require("inpo", eta * beta < 1, f"the OMD step must satisfy eta * beta < 1, got eta {eta:g} with beta {beta:g}")

    def update(state, oracle):
        return _omd_step(state, oracle.pref, oracle.log_mu, eta, beta)

    return Rule("inpo", lambda log_pi0, oracle=None: sppo_init(log_pi0), update, 1, True,
                hparams("inpo", eta=eta, beta=beta))


def mmd(*, eta, beta=0.0, magnet_eta=0.0) -> Rule:
    """Magnetic mirror descent in self-play (one oracle call): see :func:`mmd_update`. The magnet starts
    at the oracle's reference; ``magnet_eta`` in [0, 1] moves it (0 = fixed)."""
    eta, beta = step_size("mmd", "eta", eta), _beta("mmd", beta)
    magnet_eta = coefficient("mmd", "magnet_eta", magnet_eta, low=0.0, high=1.0)

    def init(log_pi0, oracle=None):
        log_mu = None if oracle is None else oracle.log_mu
        if log_mu is None:
            raise TypeError("mmd: init needs an oracle with log_mu (the magnet starts at the reference)")
        return mmd_init(log_pi0, log_mu)

    def update(state, oracle):
        return _mmd_step(state, oracle.pref, eta, beta, magnet_eta)

    return Rule("mmd", init, update, 1, False, hparams("mmd", eta=eta, beta=beta, magnet_eta=magnet_eta))


def online_ipo(*, eta, beta) -> Rule:
    """Online IPO (one oracle call): one SGD step of learning rate ``eta`` (:func:`online_ipo_update`), beta > 0."""
    eta, beta = step_size("online_ipo", "eta", eta), _beta("online_ipo", beta)
    _need_positive_beta("online_ipo", beta, "the IPO target divides by beta")

    def update(state, oracle):
        return _ipo_step(state, oracle.pref, oracle.log_mu, eta, beta, None)

    return Rule("online_ipo", lambda log_pi0, oracle=None: nash_md_init(log_pi0), update, 1, False,
                hparams("online_ipo", eta=eta, beta=beta))


def ipo_md(*, eta, beta, mixture=0.125) -> Rule:
    """IPO-MD (one oracle call): online IPO with pairs from ``m ∝ pi^{1-b} mu^b``, ``b = mixture`` in [0, 1].

    The default mixture 0.125 is the value NLHF's TL;DR runs used for Nash-MD-PG (recalled)."""
    eta, beta = step_size("ipo_md", "eta", eta), _beta("ipo_md", beta)
    _need_positive_beta("ipo_md", beta, "the IPO target divides by beta")
    mixture = coefficient("ipo_md", "mixture", mixture, low=0.0, high=1.0)

    def update(state, oracle):
        return _ipo_step(state, oracle.pref, oracle.log_mu, eta, beta, mixture)

    return Rule("ipo_md", lambda log_pi0, oracle=None: nash_md_init(log_pi0), update, 1, False,
                hparams("ipo_md", eta=eta, beta=beta, mixture=mixture))


def omwu(*, eta) -> Rule:
    """Optimistic multiplicative weights in self-play (one oracle call per update).

    .. math:: \\pi_{t+1}(y) \\propto \\pi_t(y)\\,\\exp\\big(\\eta\\,[2 (P\\pi_t)(y) - (P\\pi_{t-1})(y)]\\big),
              \\qquad \\pi_{-1} := \\pi_0

    Shapes ``[..., K]``; the state keeps the previous oracle output (:class:`OptimisticState`), so
    each update makes one oracle call. On the symmetric zero-sum game ``P - 1/2`` with a unique
    Nash equilibrium, OMWU's last iterate converges to it for a small enough constant step
    (theorem ``omwu.last_iterate``), where MWU's last iterate cycles.
    Reference: Daskalakis & Panageas, "Last-Iterate Convergence: Zero-Sum Games and Constrained
    Min-Max Optimization", arXiv 1807.04252 (OMWU, Eq. (4); Theorem 1.1).
    """
    eta = step_size("omwu", "eta", eta)

    def init(log_pi0, oracle=None):
        xp = array_namespace(log_pi0)
        log_pi0 = log_normalize(log_pi0)
        return OptimisticState(log_pi0, xp.zeros_like(log_pi0), xp.zeros(log_pi0.shape[:-1]))

    def update(state, oracle):
        return _omwu_step(state, oracle.pref, eta)

    return Rule("omwu", init, update, 1, False, hparams("omwu", eta=eta))
