"""The polopt update rules as LLM losses on per-token log-probabilities, each naming the rule it lifts.

Contract (what ``gpu/train.py`` calls)
--------------------------------------
::

    loss = gpu.losses.get("grpo", beta=0.04, kl="k3", group_size=8)   # validated here, before any jit
    value = loss(logp, batch)                                          # a scalar; differentiate it:
    grads = jax.grad(lambda params: loss(token_logprobs(params), batch))(params)
    lr = loss.rule.hparams.eta                                         # the rule's step, where it has one

* ``get(name, **hp)`` resolves ``name`` (a key of :data:`LOSSES` or a method-table alias such as
  ``"nash_mp"``, ``"egpo"``, ``"brrl"``), validates the rule's hyper-parameters through its factory
  (``polopt.rule(name, ...)``: the same errors as ``polopt.solve``) and the loss-only options
  (aggregation, group size, ratio level, KL estimator, ...), and returns a :class:`BoundLoss`.
  Unknown names, unknown options and bad values raise ``ValueError`` / ``TypeError`` there.
* ``loss(logp, batch)``: ``logp [B, T]`` the policy's per-token log-probs (the only input that is
  differentiated), ``batch`` a :class:`Batch` of everything else. Missing fields, mismatched
  shapes and a batch that does not divide into groups / pairs raise before tracing goes further.
* ``loss.lifted.phases``: 1, or 2 for the two-call rules (Nash mirror prox, extragradient): phase 1
  takes ``batch.target = P(y > pi_t)`` and minimizes from ``theta_t`` to ``theta_{t+1/2}``; phase 2
  takes ``P(y > pi_{t+1/2})`` (comparisons against samples of the half-step model) and minimizes
  **again from** ``theta_t`` (``batch.old_logp`` = log-probs of ``pi_t`` in both phases).
* Gradient rules (softmax PG, REINFORCE, RLOO, ReMax, GRPO, Dr.GRPO, OBLR-PO, online IPO, DPO,
  IPO, chi-PO): one SGD step of learning rate ``eta`` on the loss is one step of the rule (BPO:
  ``epochs`` such steps). Proximal rules (PPO, TRPO, BRRL, SPPO, Nash-MD, Nash-MP, EGPO, MMD): the
  rule's next iterate is the minimizer of the loss from the current iterate (``old_logp`` = that
  iterate; PPO's maximizer is not unique, its surrogate value is); the optimizer runs the inner
  loop. ``tests/test_gpu_exactness.py`` proves both on an enumerable task.

Rows, weights, aggregation
--------------------------
Rows are sampled responses; ``batch.weight [B]`` says what each row stands for (None: ``1/B``,
the Monte Carlo mean; the exactness tests pass ``rho_x pi(y|x)``). Group losses read consecutive
blocks of ``group_size`` rows as one group (one prompt); pair losses read rows ``(2j, 2j+1)`` as
the pair ``(y, y')`` with ``batch.label[2j] = P(y > y')`` (soft, or a sampled 0/1) and the pair
weight ``batch.weight[2j]``. With ``s_i = sum_t mask[i, t] logp[i, t]`` (the sequence log-prob)
and a per-row loss ``l_i``, the aggregation modes are

* ``"constant"`` (default): ``sum_i w_i l_i / norm`` (``norm = 1``: the sequence-level loss, the
  tabular rule; ``norm = T_max``: Dr.GRPO's constant normaliser);
* ``"sequence_mean"``: ``sum_i w_i l_i / |y_i|`` (GRPO's per-sequence token mean: length-biased);
* ``"token_mean"``: ``sum_i w_i l_i / sum_i w_i |y_i|`` (DAPO / TRL ``bnpo``).

Only ``"constant"`` is the tabular rule for responses of unequal lengths (a test keeps the
counterexample). KL estimators (:func:`kl_penalty`): ``k1 = log pi - log mu``, ``k2 = (log pi -
log mu)^2 / 2``, ``k3 = mu/pi - log(mu/pi) - 1``, at the ``"sequence"`` level (on ``s - s_ref``)
or the ``"token"`` level (summed per token, what TRL / tunix ship). Only the sequence level is
the tabular rule's k3 force (``E grad = grad KL(mu || pi)`` on sequences); per-token k3 is
``sum_t E_{prefix ~ pi} grad KL(mu(.|prefix) || pi(.|prefix))`` — a different direction (kept as
a counterexample test).

Shared formulas are imported, not restated: advantages / baselines / shaped rewards / KL estimators
(:mod:`polopt.rules.estimators`), the clipped term and the bounded-ratio target and loss
(:mod:`polopt.rules.bounded_ratio`), the DPO / IPO pair losses and the chi-PO link
(:mod:`polopt.rules.preference_losses`), the KL prox step (:func:`polopt.rules._core.kl_prox_logits`),
``omd_prox_eta`` (:mod:`polopt.rules.nlhf`) and the SNR step (``snr_step_size``).

References: as the lifted rules (``polopt.rules.*`` docstrings); LLM forms: TRL ``grpo_trainer.py``,
``dpo_trainer.py``, ``nash_md_trainer.py`` and tunix ``algo_core.py`` as summarized in
``../shared/papers/llm_scale.md`` sections 1-2; SPPO squared loss, Wu et al. arXiv 2405.00675.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from polopt._deprecation import rename, renamed_of
from polopt.methods import lookup
from polopt.methods import rule as make_rule
from polopt.rules._core import kl_prox_logits
from polopt.rules.bounded_ratio import bounded_ratio_target, bpo_loss, clipped_objective
from polopt.rules.estimators import (
    STD_EPS,
    advantages,
    estimate_snr,
    kl_from_log_ratio,
    shaped_reward,
    snr_step_size,
)
from polopt.rules.nlhf import omd_prox_eta
from polopt.rules.preference_losses import chi_link, dpo, ipo

__all__ = [
    "AGGREGATIONS",
    "KL_KINDS",
    "KL_LEVELS",
    "LOSSES",
    "Batch",
    "BoundLoss",
    "LiftedLoss",
    "aggregate",
    "get",
    "kl_penalty",
    "sequence_logp",
    "snr_step",
]

AGGREGATIONS = ("constant", "sequence_mean", "token_mean")
KL_KINDS = ("k1", "k2", "k3")
KL_LEVELS = ("sequence", "token")
RATIO_LEVELS = ("sequence", "token")
BATCH_FIELDS = ("mask", "old_logp", "ref_logp", "reward", "weight", "adv", "baseline", "score_sq", "label", "target")


class Batch(NamedTuple):
    """Everything a loss reads besides the differentiated ``logp [B, T]`` (None: not given).

    ``mask [B, T]`` response tokens; ``old_logp [B, T]`` the current iterate / behaviour policy
    (None: ``stop_gradient(logp)``, on-policy); ``ref_logp [B, T]`` the reference ``mu`` (the magnet
    for MMD); ``reward [B]`` sequence rewards; ``weight [B]`` row weights; ``adv [B]`` given
    advantages (PPO, TRPO, BRRL / BPO, softmax PG); ``baseline [B]`` ReMax's greedy-decode reward of
    the row's prompt; ``score_sq [B]`` ``||grad log pi(y)||^2`` (OBLR-PO's weights); ``label [B]`` pair
    preference ``P(y > y')`` on the first row of each pair; ``target [B]`` ``P(y > opponent)`` (NLHF).
    """

    mask: Any
    old_logp: Any = None
    ref_logp: Any = None
    reward: Any = None
    weight: Any = None
    adv: Any = None
    baseline: Any = None
    score_sq: Any = None
    label: Any = None
    target: Any = None


class LiftedLoss(NamedTuple):
    """A registry entry: ``name`` (the method-table name), ``rule`` (the table name of the lifted rule,
    resolvable with ``polopt.methods.lookup``), ``fn(logp, batch, rule_hp, **options) -> scalar``,
    ``phases`` (1, or 2 for two-call rules), ``needs`` (the :class:`Batch` fields that must be given),
    ``options`` (loss-only options and their defaults), ``check`` (rejects rule settings the loss does
    not lift)."""

    name: str
    rule: str
    fn: Callable[..., Any]
    phases: int
    needs: tuple[str, ...]
    options: dict
    check: Callable[[Any], None] | None = None


class BoundLoss(NamedTuple):
    """A loss with validated hyper-parameters: ``lifted`` (its :class:`LiftedLoss`), ``rule`` (the
    :class:`polopt.rules.Rule` it lifts, with its validated ``hparams``), ``options`` (loss-only).
    Call it: ``loss(logp, batch) -> scalar``."""

    lifted: LiftedLoss
    rule: Any
    options: dict

    def __call__(self, logp, batch: Batch):
        _check_batch(self.lifted, logp, batch, self.options, getattr(self.rule.hparams, "beta", 0.0))
        return self.lifted.fn(logp, batch, self.rule.hparams, **self.options)


# --------------------------------------------------------------------------- shared pieces
def sequence_logp(logp, mask):
    """``s_i = sum_t mask[i, t] logp[i, t]`` ``[B, T] -> [B]``: the response's log-probability."""
    return jnp.sum(logp * mask, axis=-1)


def _sg(x):
    return None if x is None else jax.lax.stop_gradient(x)


def _old(logp, batch):
    return jax.lax.stop_gradient(logp) if batch.old_logp is None else _sg(batch.old_logp)


def _weights(batch, logp):
    B = logp.shape[0]
    return jnp.full((B,), 1.0 / B, dtype=logp.dtype) if batch.weight is None else _sg(batch.weight)


def aggregate(rows, mask, weight, agg: str = "constant", norm: float = 1.0):
    """Aggregate per-row losses ``rows [B]`` (a row's sum over its tokens) by ``agg`` (module docstring)."""
    lengths = jnp.sum(mask, axis=-1)
    if agg == "constant":
        return jnp.sum(weight * rows) / norm
    if agg == "sequence_mean":
        return jnp.sum(weight * rows / jnp.maximum(lengths, 1.0))
    if agg == "token_mean":
        return jnp.sum(weight * rows) / jnp.maximum(jnp.sum(weight * lengths), jnp.finfo(rows.dtype).tiny)
    raise ValueError(f"agg must be one of {', '.join(AGGREGATIONS)}, got {agg!r}")


def kl_penalty(logp, ref_logp, mask, kind: str = "k3", level: str = "sequence"):
    """Per-row KL estimate of ``KL(pi || mu)`` from on-policy rows, ``[B, T] -> [B]``.

    ``level="sequence"``: ``k(s_ref - s)``; ``level="token"``: ``sum_t mask k(ref_t - logp_t)``;
    ``k`` from :func:`polopt.rules.estimators.kl_from_log_ratio` (k1 / k2 / k3). In a loss
    ``beta * kl_penalty`` the expected gradients at the sequence level are: k1 -> 0, k2 ->
    ``grad KL(pi || mu)``, k3 -> ``grad KL(mu || pi)`` (derived; checked by enumeration).
    """
    if level == "sequence":
        return kl_from_log_ratio(sequence_logp(ref_logp, mask) - sequence_logp(logp, mask), kind)
    if level == "token":
        return jnp.sum(mask * kl_from_log_ratio(ref_logp - logp, kind), axis=-1)
    raise ValueError(f"level must be one of {', '.join(KL_LEVELS)}, got {level!r}")


def _ratio_rows(logp, batch, adv, lo, hi, level):
    """``-clipped_objective(ratio, A)`` per row; ``ratio = exp(s - s_old)`` (sequence) or per token summed."""
    old = _old(logp, batch)
    if level == "sequence":
        ratio = jnp.exp(sequence_logp(logp, batch.mask) - sequence_logp(old, batch.mask))
        return -clipped_objective(ratio, adv, lo=lo, hi=hi)
    ratio = jnp.exp(logp - old)
    return -jnp.sum(batch.mask * clipped_objective(ratio, adv[:, None], lo=lo, hi=hi), axis=-1)


# --------------------------------------------------------------------------- policy-gradient family
def _softmax_pg(logp, batch, hp, *, agg, norm):
    """Softmax PG (rule ``softmax_pg``): ``l_i = -ratio_i sg(A_i)``, ``ratio = exp(s - s_old)``; on-policy
    its gradient is ``-E[A grad log pi]`` = minus the AKM gradient ``d pi adv`` (weights ``rho_x pi``)."""
    unclipped = (0.0, jnp.inf)
    rows = _ratio_rows(logp, batch, _sg(batch.adv), *unclipped, "sequence")
    return aggregate(rows, batch.mask, _weights(batch, logp), agg, norm)


def _group_pg(estimator):
    def fn(logp, batch, hp, *, group_size, agg, norm, kl_level="sequence", ratio="sequence"):
        B = logp.shape[0]
        mask = batch.mask
        s = sequence_logp(logp, mask)
        beta = getattr(hp, "beta", 0.0)
        kl = getattr(hp, "kl", "reward")
        R = _sg(batch.reward)
        if beta > 0 and kl == "reward":
            R = shaped_reward(R, jax.lax.stop_gradient(s), _sg(sequence_logp(batch.ref_logp, mask)), beta)
        G = group_size
        base = getattr(hp, "baseline", 0.0)
        if estimator == "remax":
            base = _sg(batch.baseline).reshape(-1, G)[:, 0]
        w = None if estimator != "oblr" else _sg(batch.score_sq).reshape(-1, G)
        std_eps = getattr(hp, "std_eps", STD_EPS)
        ddof = getattr(hp, "ddof", 1)
        A = advantages(R.reshape(-1, G), estimator, baseline=base, weights=w, std_eps=std_eps, ddof=ddof)
        A = jax.lax.stop_gradient(A.reshape(B))
        # only GRPO / Dr.GRPO clip (their multi-epoch form); the other estimators are plain importance-weighted
        lo, hi = (1.0 - hp.eps, 1.0 + hp.eps) if estimator in ("grpo", "dr_grpo") else (0.0, jnp.inf)
        rows = _ratio_rows(logp, batch, A, lo, hi, ratio)
        if beta > 0 and kl in ("k1", "k3"):
            rows = rows + beta * kl_penalty(logp, _sg(batch.ref_logp), mask, kl, kl_level)
        return aggregate(rows, mask, _weights(batch, logp), agg, norm)

    fn.__doc__ = (f"Group estimator {estimator!r}: ``l_i = -ratio_i sg(A_i) [+ beta k(i)]`` with ``A`` from "
                  "``polopt.rules.estimators.advantages`` over consecutive groups of ``group_size`` rows.")
    return fn


def snr_step(group_grads, smoothness, weights=None, num_samples: int = 1):
    """OBLR-PO's SNR step ``eta = ||grad J||^2 / (L (||grad J||^2 + tr Cov g))`` from per-group gradients.

    ``group_grads [N, ...]``: the gradient of the loss of each group (flattened parameters). Without
    ``weights``: ``N >= 2`` i.i.d. groups, unbiased estimates (:func:`polopt.rules.estimators.estimate_snr`);
    with ``weights [N]`` (an enumeration of every group with its probability): the exact moments of the
    mean of ``num_samples`` groups, ``||E g||^2`` and ``(E||g||^2 - ||E g||^2) / num_samples`` (the exact
    oracle of ``polopt.rules.estimators.oblr_po``). Then :func:`polopt.rules.estimators.snr_step_size`.
    The gradient of the loss is minus the ascent direction; the step is sign-free.
    """
    g = jnp.reshape(group_grads, (group_grads.shape[0], -1))
    if weights is None:
        est = estimate_snr(g)
        return snr_step_size(est.grad_sq, est.trace_cov, smoothness)
    mean = weights @ g
    grad_sq = jnp.sum(mean * mean)
    trace_cov = jnp.maximum(weights @ jnp.sum(g * g, axis=-1) - grad_sq, 0.0) / num_samples
    return snr_step_size(grad_sq, trace_cov, smoothness)


def _ppo(logp, batch, hp, *, agg, norm, ratio):
    """PPO-clip (rule ``ppo``): ``l_i = -min(ratio_i A_i, clip(ratio_i, lo, hi) A_i)``; at the sequence level
    ``-sum w l`` is the tabular surrogate ``sum_x rho_x ppo_surrogate`` exactly."""
    rows = _ratio_rows(logp, batch, _sg(batch.adv), hp.lo, hp.hi, ratio)
    return aggregate(rows, batch.mask, _weights(batch, logp), agg, norm)


def _trpo(logp, batch, hp, *, lam, agg, norm):
    """TRPO, penalty form (rule ``trpo``): ``l_i = -ratio_i A_i + lam (s_old_i - s_i)`` (sequence k1 of
    ``KL(pi_old || pi)`` on rows from ``pi_old``). With ``lam`` the multiplier of the active trust region
    its minimizer is the tabular ``trpo_step`` (Lagrangian duality; the tabular step finds ``lam`` itself)."""
    s, s_old = sequence_logp(logp, batch.mask), sequence_logp(_old(logp, batch), batch.mask)
    rows = -jnp.exp(s - s_old) * _sg(batch.adv) + lam * kl_from_log_ratio(s - s_old, "k1")
    return aggregate(rows, batch.mask, _weights(batch, logp), agg, norm)


def _bounded_ratio(logp, batch, hp, *, group_size):
    """BRRL / BPO (rules ``bounded_ratio``, ``bpo``): the BPO loss ``sum_i w_i |ratio_i - ratio*_i| |A_i|``.

    ``ratio*`` is ``bounded_ratio_target`` applied to each group of ``group_size`` rows (one prompt)
    with the rows' normalized weights as ``pi0`` and ``A`` as ``Q`` (the empirical quantile of the
    samples; the exact target when the rows enumerate the prompt's responses with weights
    ``rho_x pi0``). Computed by :func:`polopt.rules.bounded_ratio.bpo_loss` on ``[N, G]``: its
    minimizer is the BRRL target; ``epochs`` SGD steps of ``eta`` are the BPO rule.
    """
    G = group_size
    mask = batch.mask
    w = _weights(batch, logp).reshape(-1, G)
    d = jnp.sum(w, axis=-1)
    log_w = jnp.log(w / d[:, None])
    adv = _sg(batch.adv).reshape(-1, G)
    log_target = jax.lax.stop_gradient(bounded_ratio_target(log_w, adv, lo=hp.lo, hi=hp.hi, tie=hp.tie, kappa=hp.kappa))
    log_ratio = (sequence_logp(logp, mask) - sequence_logp(_old(logp, batch), mask)).reshape(-1, G)
    return bpo_loss(log_w + log_ratio, log_target, adv, d)


# --------------------------------------------------------------------------- pair losses
def _pairs(first, second, batch, logp):
    """``theta [N, 2]`` of the pairs and their pair-weight tensor ``W [N, 2, 2]`` (``W[a, b]`` = mass of
    "a beat b", as :func:`polopt.rules.preference_losses.pair_weights` builds it)."""
    w = _weights(batch, logp)[0::2]
    p = _sg(batch.label)[0::2]
    zero = jnp.zeros_like(p)
    W = w[:, None, None] * jnp.stack([jnp.stack([zero, p], -1), jnp.stack([1.0 - p, zero], -1)], -2)
    return jnp.stack([first, second], axis=-1), W


def _seq_pairs(logp, batch, normalize=False):
    mask = batch.mask
    s, s_ref = sequence_logp(logp, mask), sequence_logp(_sg(batch.ref_logp), mask)
    if normalize:
        n = jnp.maximum(jnp.sum(mask, axis=-1), 1.0)
        s, s_ref = s / n, s_ref / n
    theta, W = _pairs(s[0::2], s[1::2], batch, logp)
    return theta, W, jnp.stack([s_ref[0::2], s_ref[1::2]], axis=-1)


def _dpo(logp, batch, hp):
    """DPO (rule ``dpo``): :func:`polopt.rules.preference_losses.dpo` on each pair of sequences
    (``s - s_ref`` are its implicit rewards; only differences enter, so the pair is a 2-action context)."""
    theta, W, ref = _seq_pairs(logp, batch)
    return dpo(theta, W, ref, hp.beta).loss


def _ipo(logp, batch, hp, *, length_normalize):
    """IPO (rule ``ipo``): :func:`polopt.rules.preference_losses.ipo` per pair; ``length_normalize``:
    TRL's ``s / |y|`` form (not the tabular rule for unequal lengths)."""
    theta, W, ref = _seq_pairs(logp, batch, length_normalize)
    return ipo(theta, W, ref, hp.beta).loss


def _chi_po(logp, batch, hp):
    """chi-PO (rule ``chi_po``): ``softplus(-clip(beta (phi(z) - phi(z'))))``, ``z = exp(s - s_ref)``,
    ``phi`` = :func:`polopt.rules.preference_losses.chi_link`; the softplus pair term is ``dpo``'s."""
    mask = batch.mask
    u = chi_link(sequence_logp(logp, mask) - sequence_logp(_sg(batch.ref_logp), mask))
    h = jnp.clip(hp.beta * (u[0::2] - u[1::2]), -hp.clip, hp.clip)
    theta, W = _pairs(h, jnp.zeros_like(h), batch, logp)
    return dpo(theta, W, jnp.zeros_like(theta), 1.0).loss


def _online_ipo(logp, batch, hp):
    """Online IPO (rule ``online_ipo``): pairs ``y, y' ~ sg(pi)``, ``(h - (o - 1/2)/beta)^2`` with
    ``h = (s - s_ref) - (s' - s_ref')``; equal, up to a constant, to :func:`ipo` with the same ``beta``
    and soft labels ``o`` (expand both squares), which is how it is computed."""
    theta, W, ref = _seq_pairs(logp, batch)
    return ipo(theta, W, ref, hp.beta).loss


# --------------------------------------------------------------------------- KL-prox (mirror-descent) family
def _prox_loss(logp, batch, u):
    """``sum_i w_i sg(s_i - u_i) s_i`` on rows from the current model: its gradient is
    ``grad KL(pi || p*)`` with ``log p* = u + const``, so its minimizer is ``p*``."""
    s = sequence_logp(logp, batch.mask)
    return jnp.sum(_weights(batch, logp) * jax.lax.stop_gradient(s - u) * s)


def _prox_parts(logp, batch):
    mask = batch.mask
    s_old = sequence_logp(_old(logp, batch), mask)
    s_ref = None if batch.ref_logp is None else sequence_logp(_sg(batch.ref_logp), mask)
    return s_old, s_ref, _sg(batch.target)


def _mirror_prox(logp, batch, hp):
    """Nash mirror prox (rule ``mirror_prox``), each phase: ``p* = kl_prox(pi_t, P(. > opp), eta, mu, beta)``."""
    s_old, s_ref, g = _prox_parts(logp, batch)
    return _prox_loss(logp, batch, kl_prox_logits(s_old, g, hp.eta, s_ref, hp.beta))


def _extragradient(logp, batch, hp):
    """EGPO (rule ``extragradient``, tabular form): Nash-MP's phases with step ``omd_prox_eta(eta, beta)``."""
    s_old, s_ref, g = _prox_parts(logp, batch)
    return _prox_loss(logp, batch, kl_prox_logits(s_old, g, omd_prox_eta(hp.eta, hp.beta), s_ref, hp.beta))


def _nash_md(logp, batch, hp):
    """Nash-MD (rule ``nash_md``): ``p* = kl_prox(m, P(. > m), eta)``, ``m ∝ pi_t^{1 - eta beta} mu^{eta beta}``;
    ``batch.target`` = ``P(y > m)`` (comparisons against samples of the mixture)."""
    s_old, s_ref, g = _prox_parts(logp, batch)
    a = hp.eta * hp.beta
    # the unnormalized log of geometric_mixture(pi_t, mu, a): the normalizer is one constant per prompt
    mix = s_old if s_ref is None else (1.0 - a) * s_old + a * s_ref
    return _prox_loss(logp, batch, kl_prox_logits(mix, g, hp.eta))


def _mmd(logp, batch, hp):
    """MMD (rule ``mmd``): ``p* = kl_prox(pi_t, P(. > pi_t), eta, m, beta)``; ``batch.ref_logp`` is the magnet."""
    s_old, s_ref, g = _prox_parts(logp, batch)
    return _prox_loss(logp, batch, kl_prox_logits(s_old, g, hp.eta, s_ref, hp.beta))


def _sppo(logp, batch, hp):
    """SPPO (rule ``sppo``). ``form="squared_loss"`` (the paper's LLM loss):
    ``sum_i w_i (s_i - s_old_i - eta (target_i - 1/2))^2`` on rows from ``pi_t`` (weights held fixed);
    its minimizer is the rule's squared-loss iterate (``O(eta^2)`` from MWU). ``form="exact"``: the prox
    loss of MWU, ``p* = kl_prox(pi_t, P(. > pi_t), eta)``."""
    s_old, _, g = _prox_parts(logp, batch)
    if hp.form == "exact":
        return _prox_loss(logp, batch, kl_prox_logits(s_old, g, hp.eta))
    s = sequence_logp(logp, batch.mask)
    e = s - s_old - hp.eta * (g - 0.5)
    return jnp.sum(_weights(batch, logp) * e * e)


# --------------------------------------------------------------------------- registry
def _only(rule: str, **allowed):
    def check(hp):
        for name, value in allowed.items():
            got = getattr(hp, name)
            if got != value:
                raise ValueError(f"{rule}: the LLM loss lifts {name}={value!r} only, got {name}={got!r}")
    return check


def _not_optimal_baseline(hp):
    if isinstance(hp.baseline, str):
        raise ValueError("reinforce: the LLM loss lifts a constant baseline only (b* = 'optimal' needs the whole "
                         "distribution; OBLR-PO's leave-one-out form is the loss 'oblr_po')")


_AGG = {"agg": "constant", "norm": 1.0}
_GROUP = {"group_size": 8, "ratio": "sequence", **_AGG}


def _entries():
    pg_group = {"reinforce": "reinforce", "rloo": "rloo", "remax": "remax", "grpo": "grpo", "dr_grpo": "dr_grpo",
                "oblr_po": "oblr"}
    out = [LiftedLoss("softmax_pg", "softmax_pg", _softmax_pg, 1, ("adv",), dict(_AGG), _only("softmax_pg", tau=0.0))]
    for name, est in pg_group.items():
        needs = ("reward",) + {"remax": ("baseline",), "oblr": ("score_sq",)}.get(est, ())
        opts = dict(_GROUP)
        if name in ("grpo", "dr_grpo"):
            opts["kl_level"] = "sequence"
        # the variance-optimal constant b* needs the whole distribution: not a per-sample quantity
        check = _not_optimal_baseline if est == "reinforce" else None
        out.append(LiftedLoss(name, name, _group_pg(est), 1, needs, opts, check))
    out += [
        LiftedLoss("ppo", "ppo", _ppo, 1, ("adv",), {"ratio": "sequence", **_AGG}),
        LiftedLoss("trpo", "trpo", _trpo, 1, ("adv", "old_logp"), {"lam": 1.0, **_AGG}),
        LiftedLoss("bounded_ratio", "bounded_ratio", _bounded_ratio, 1, ("adv", "old_logp"), {"group_size": 8}),
        LiftedLoss("bpo", "bpo", _bounded_ratio, 1, ("adv", "old_logp"), {"group_size": 8}),
        LiftedLoss("dpo", "dpo", _dpo, 1, ("ref_logp", "label"), {}),
        LiftedLoss("ipo", "ipo", _ipo, 1, ("ref_logp", "label"), {"length_normalize": False}),
        LiftedLoss("chi_po", "chi_po", _chi_po, 1, ("ref_logp", "label"), {}),
        LiftedLoss("online_ipo", "online_ipo", _online_ipo, 1, ("ref_logp", "label"), {}),
        LiftedLoss("mirror_prox", "mirror_prox", _mirror_prox, 2, ("old_logp", "target"), {},
                   _only("mirror_prox", inner_steps=None)),
        LiftedLoss("extragradient", "extragradient", _extragradient, 2, ("old_logp", "target"), {},
                   _only("extragradient", form="tabular")),
        LiftedLoss("nash_md", "nash_md", _nash_md, 1, ("old_logp", "target"), {},
                   _only("nash_md", schedule="constant")),
        LiftedLoss("mmd", "mmd", _mmd, 1, ("old_logp", "target"), {}, _only("mmd", magnet_eta=0.0)),
        LiftedLoss("sppo", "sppo", _sppo, 1, ("old_logp", "target"), {}),
    ]
    return {e.name: e for e in out}


#: name -> :class:`LiftedLoss`; every ``rule`` is a method-table name (``polopt.methods.lookup``).
LOSSES: dict[str, LiftedLoss] = _entries()

#: rules whose KL coefficient multiplies ``log mu``: ``ref_logp`` is needed when ``beta > 0``.
_NEEDS_REF_WHEN_BETA = ("mirror_prox", "extragradient", "nash_md", "mmd", "reinforce", "rloo", "remax", "grpo",
                        "dr_grpo", "oblr_po")


def _check_option(name: str, key: str, value):
    if key == "agg" and value not in AGGREGATIONS:
        raise ValueError(f"{name}: agg must be one of {', '.join(AGGREGATIONS)}, got {value!r}")
    if key in ("ratio",) and value not in RATIO_LEVELS:
        raise ValueError(f"{name}: ratio must be one of {', '.join(RATIO_LEVELS)}, got {value!r}")
    if key == "kl_level" and value not in KL_LEVELS:
        raise ValueError(f"{name}: kl_level must be one of {', '.join(KL_LEVELS)}, got {value!r}")
    if key == "group_size" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name}: group_size must be an int >= 1, got {value!r}")
    if key in ("norm", "lam"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < float("inf"):
            raise ValueError(f"{name}: {key} must be a finite number > 0, got {value!r}")
    if key == "length_normalize" and not isinstance(value, bool):
        raise TypeError(f"{name}: length_normalize must be a bool, got {value!r}")
    return float(value) if key in ("norm", "lam") else value


def get(name: str, **hp) -> BoundLoss:
    """The loss ``name`` with hyper-parameters ``hp`` validated (rule's through ``polopt.rule``; module doc).

    Raises ValueError for an unknown name (listing :data:`LOSSES`), TypeError for an unknown
    hyper-parameter (listing the accepted ones) and the rule's own errors for bad values.
    """
    row = lookup(name) if isinstance(name, str) else None
    lifted = LOSSES.get(row.name) if row is not None else None
    if lifted is None:
        raise ValueError(f"unknown loss {name!r}; losses: {', '.join(sorted(LOSSES))}")
    rule_names = tuple(inspect.signature(row.rule).parameters)
    hp = rename(lifted.name, hp, renamed_of(row.rule))  # a renamed keyword (README "Notation") warns
    unknown = [k for k in hp if k not in rule_names and k not in lifted.options]
    if unknown:
        accepted = ", ".join(rule_names + tuple(lifted.options))
        raise TypeError(f"{lifted.name}: unknown hyper-parameter(s) {', '.join(map(repr, unknown))}; "
                        f"accepted: {accepted}")
    rule = make_rule(lifted.rule, **{k: v for k, v in hp.items() if k in rule_names})
    if lifted.check is not None:
        lifted.check(rule.hparams)
    options = {k: _check_option(lifted.name, k, hp.get(k, v)) for k, v in lifted.options.items()}
    if lifted.name in ("rloo", "grpo", "dr_grpo", "oblr_po") and options["group_size"] < 2:
        raise ValueError(f"{lifted.name}: group_size must be >= 2 (the baseline uses the other members of the "
                         f"group), got {options['group_size']}")
    return BoundLoss(lifted, rule, options)


def _check_batch(lifted: LiftedLoss, logp, batch, options, beta=0.0) -> None:
    name = lifted.name
    if not isinstance(batch, Batch):
        raise TypeError(f"{name}: batch must be a gpu.losses.Batch, got {type(batch).__name__}")
    if logp.ndim != 2:
        raise ValueError(f"{name}: logp must have shape [B, T], got {tuple(logp.shape)}")
    B, T = logp.shape
    needs = lifted.needs
    if lifted.name in _NEEDS_REF_WHEN_BETA and beta > 0:
        needs = needs + ("ref_logp",)
    for field in needs:
        if getattr(batch, field) is None:
            raise TypeError(f"{name}: batch.{field} is required by this loss (needs: {', '.join(needs)})")
    for field in BATCH_FIELDS:
        value = getattr(batch, field)
        if value is None:
            continue
        want = (B, T) if field in ("mask", "old_logp", "ref_logp") else (B,)
        if tuple(value.shape) != want:
            raise ValueError(f"{name}: batch.{field} must have shape {list(want)} (logp is [{B}, {T}]), "
                             f"got {list(value.shape)}")
    G = options.get("group_size")
    if G is not None and B % G:
        raise ValueError(f"{name}: the batch of {B} rows does not divide into groups of group_size={G}")
    if "label" in needs and B % 2:
        raise ValueError(f"{name}: pair losses read rows (2j, 2j+1) as pairs; got an odd batch of {B} rows")
