"""The optimizer, the one jitted sharded train step, and ``python -m gpu.train``.

A training objective is a pure function ``loss_fn(params, batch) -> (loss, aux)`` (``aux`` a
dict of scalars); one step is::

    g          = grad_params loss_fn(params, batch)
    updates, s = optimizer.update(g, s, params)          # clip_by_global_norm(c) then AdamW, or plain SGD
    params     = params + updates                        # SGD: params - lr * g, exactly

:func:`make_train_step` compiles it once with ``jax.jit(step, in_shardings=(state, batch),
out_shardings=(state, replicated), donate_argnums=(0,))``: parameters and optimizer moments
stay at the partition rules' shardings (:mod:`gpu.mesh`), the batch is split over
(data, fsdp), and the old state's buffers are reused for the new one (donated). Place the
state at its shardings before the first call (:func:`place`), otherwise the step compiles twice
(llm_scale.md section 1, tunix ``_shard_optimizer``).

The CLI trains the transformer with a lifted loss of :mod:`gpu.losses` on the synthetic
closed-form task (additive reward, zero LM head: the reference policy is uniform and the
KL-regularised optimum is known; llm_scale.md section 6, item 2); two-call rules run their two
phases per step (:func:`_two_phase`)::

    python -m gpu.train --loss NAME --mesh 2x4 --size tiny --steps 20

Every step prints a progress line to stderr and a JSON line of metrics to stdout (or ``--out``):
``objective`` is the batch's Monte Carlo estimate (of the sampling policy), ``exact_objective`` the
exact KL-regularised objective of the updated policy by enumeration when ``X V^T <= EXACT_MAX_ROWS``
(else null), ``optimum`` the closed-form ``J*``, ``identical_groups`` the fraction of groups whose
responses are all equal (their group-baselined advantages vanish: a collapsed policy gets no gradient).
A bad mesh, a vocabulary / length mismatch, an unknown loss name or hyper-parameters the
loss's rule rejects raise before anything is compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from polopt.rules._core import coefficient, step_size

from . import mesh as mesh_lib
from . import model

OPTIMIZERS = ("adamw", "sgd")


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array  # int32 scalar: number of updates applied


def make_optimizer(
    name: str = "adamw",
    *,
    lr: float = 1e-3,
    clip: float = 1.0,
    weight_decay: float = 0.0,
    b1: float = 0.9,
    b2: float = 0.95,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """``"adamw"``: clip_by_global_norm(clip) then AdamW(lr, b1, b2, eps, weight_decay) (Loshchilov &
    Hutter, arXiv 1711.05101); ``"sgd"``: plain ``params - lr * grad`` (no clip, no momentum), the
    update the exactness tests compare with a tabular rule's step."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    lr = step_size(name, "lr", lr)
    if name == "sgd":
        return optax.sgd(lr)
    clip = step_size(name, "clip", clip)
    weight_decay = coefficient(name, "weight_decay", weight_decay)
    b1 = coefficient(name, "b1", b1, high=1.0)
    b2 = coefficient(name, "b2", b2, high=1.0)
    eps = coefficient(name, "eps", eps, low_open=True)
    adamw = optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    return optax.chain(optax.clip_by_global_norm(clip), adamw)


def init_state(params, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32))


def state_shardings(state: TrainState, optimizer, mesh, rules=mesh_lib.PARTITION_RULES, *, strict: bool = False):
    """A TrainState of NamedShardings: parameters and every parameter-shaped optimizer leaf (Adam's
    moments) by the partition rules, the other optimizer leaves (counts) and the step replicated.
    ``state`` may hold arrays or ``jax.ShapeDtypeStruct`` (``jax.eval_shape``)."""
    params = mesh_lib.param_shardings(state.params, mesh, rules, strict=strict)
    rep = mesh_lib.replicated(mesh)
    opt = optax.tree_map_params(optimizer, lambda _, s: s, state.opt_state, params, transform_non_params=lambda _: rep)
    return TrainState(params, opt, rep)


def batch_shardings(batch, mesh):
    """Each batch array split over (data, fsdp) along its leading axis."""
    return jax.tree_util.tree_map(lambda x: mesh_lib.batch_sharding(mesh, x.ndim), batch)


def place(tree, shardings):
    """``jax.device_put`` of ``tree`` at ``shardings`` (a matching pytree of NamedShardings)."""
    return jax.device_put(tree, shardings)


def make_train_step(
    loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]],
    optimizer: optax.GradientTransformation,
    shardings: TrainState,
    batch_sh,
    mesh,
):
    """The compiled step ``(state, batch) -> (state, metrics)``; ``state`` is donated.

    Donation hands the input state's buffers to the output: after a call the state passed in is
    deleted (use the returned one; copy it first to keep it, as the two-phase rules do).

    ``metrics``: ``loss``, ``grad_norm`` (global L2 norm of the gradient, before clipping) and
    the loss's ``aux`` entries, replicated scalars.
    """

    def step(state: TrainState, batch):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux}
        return TrainState(params, opt_state, state.step + 1), metrics

    return jax.jit(
        step,
        in_shardings=(shardings, batch_sh),
        out_shardings=(shardings, mesh_lib.replicated(mesh)),
        donate_argnums=(0,),
    )


__all__ = [
    "EXACT_MAX_ROWS",
    "OPTIMIZERS",
    "TrainState",
    "all_responses",
    "batch_shardings",
    "exact_objective",
    "init_state",
    "make_optimizer",
    "make_train_step",
    "place",
    "state_shardings",
]


# --- the CLI: on-policy training on the closed-form additive task -------------------------------------

#: Batch fields the synthetic task supplies (see :func:`synthetic_batch`); others (OBLR-PO's score_sq) it cannot.
TASK_FIELDS = ("mask", "old_logp", "ref_logp", "reward", "adv", "baseline", "label", "target")


class Task(NamedTuple):
    """Additive reward ``r(x, y) = sum_t w[x, t, y_t]`` on prompts ``x`` (a vocabulary token) and
    responses of ``length`` tokens; with a zero LM head the reference policy mu is uniform and the
    optimum of ``E r - beta KL(pi || mu)`` factorises: ``pi*(a | x, y_<t) = softmax(w[x, t] / beta)_a``,
    ``J*(x) = beta sum_t log mean_a exp(w[x, t, a] / beta)`` (``sum_t max_a w[x, t, a]`` at beta = 0)."""

    w: jax.Array  # [X, T, V]

    @property
    def length(self) -> int:
        return self.w.shape[1]


def make_task(num_prompts: int, length: int, vocab: int, seed: int = 0) -> Task:
    return Task(jax.random.normal(jax.random.key(seed), (num_prompts, length, vocab), jnp.float32))


def optimum_value(task: Task, beta: float) -> jax.Array:
    """[X]: J*(x) of :class:`Task`."""
    if beta == 0:
        return jnp.sum(jnp.max(task.w, -1), -1)
    v = task.w.shape[-1]
    return beta * jnp.sum(jax.nn.logsumexp(task.w / beta, -1) - jnp.log(v), -1)


#: Largest number of rows X V^T for which the CLI reports the exact objective of its policy every step.
EXACT_MAX_ROWS = 4096


def all_responses(task: Task) -> jax.Array:
    """int32 [X V^T, 1 + T]: every (prompt, response) row, prompt-major, responses in base-V order."""
    x, t, v = task.w.shape
    k = v**t
    digits = v ** np.arange(t - 1, -1, -1)
    seqs = (np.arange(k)[:, None] // digits[None, :]) % v
    return jnp.asarray(np.concatenate([np.repeat(np.arange(x), k)[:, None], np.tile(seqs, (x, 1))], 1), jnp.int32)


def exact_objective(task: Task, seq_logp, beta: float) -> jax.Array:
    """[X]: ``J(x) = sum_y pi(y|x) (r(x, y) - beta (log pi(y|x) + T log V))``, the exact KL-regularised
    objective against the uniform reference, from ``seq_logp [X V^T]`` = ``log pi`` of :func:`all_responses`'
    rows. ``J*(x) - J(x) = beta KL(pi(.|x) || pi*(.|x))`` (complete the square of the Gibbs variational
    formula; checked against :func:`optimum_value` in tests/test_gpu_train.py)."""
    x, t, v = task.w.shape
    rows = all_responses(task)
    reward = synthetic_batch(task, rows, jnp.zeros(rows[:, 1:].shape), 1)["reward"].reshape(x, -1)
    lp = seq_logp.reshape(x, -1)
    return jnp.sum(jnp.exp(lp) * (reward - beta * (lp + t * jnp.log(v))), -1)


def _bt(r_a, r_b):
    """Bradley-Terry preference P(a > b) = sigmoid(r_a - r_b)."""
    return jax.nn.sigmoid(r_a - r_b)


@partial(jax.jit, static_argnames=("group",))
def synthetic_batch(task: Task, tokens, old_logp, group: int, baseline=None) -> dict:
    """The loss inputs for on-policy rows ``tokens [B, 1 + T]`` (prompt, response) sampled in consecutive
    groups of ``group`` rows per prompt:

    * ``reward [B]`` the additive reward; ``adv = reward - mean of its group``;
    * ``ref_logp = -log V`` (the zero-head reference is uniform), ``old_logp`` the sampler's;
    * ``label [B]`` pairs (2j, 2j+1): ``P(y_2j > y_2j+1)`` (Bradley-Terry on the rewards), and its complement;
    * ``target [B]`` ``P(y_i > pi)`` estimated by the other members of the group (opponents drawn from pi).
    """
    b, t1 = tokens.shape
    x, y = tokens[:, 0], tokens[:, 1:]
    reward = jnp.sum(jnp.take_along_axis(task.w[x], y[..., None], -1)[..., 0], -1)
    groups = reward.reshape(-1, group)
    adv = (groups - groups.mean(-1, keepdims=True)).reshape(b)
    pairs = reward.reshape(-1, 2)
    first = _bt(pairs[:, 0], pairs[:, 1])
    label = jnp.stack([first, 1 - first], -1).reshape(b)
    versus = _bt(groups[:, :, None], groups[:, None, :])  # [N, G, G]
    target = ((versus.sum(-1) - 0.5) / max(group - 1, 1)).reshape(b)  # drop the self-comparison sigma(0)
    out = {
        "mask": jnp.ones((b, t1 - 1), jnp.float32),
        "old_logp": old_logp,
        "ref_logp": jnp.full((b, t1 - 1), -jnp.log(task.w.shape[-1]), jnp.float32),
        "reward": reward,
        "adv": adv,
        "label": label,
        "target": target,
    }
    if baseline is not None:
        out["baseline"] = baseline
    return out


def _parse_hparams(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--hp expects NAME=VALUE, got {item!r}")
        for cast in (int, float):
            try:
                out[key] = cast(raw)
                break
            except ValueError:
                continue
        else:
            out[key] = {"true": True, "false": False}.get(raw.lower(), raw)
    return out


def _parser():
    import argparse

    p = argparse.ArgumentParser(prog="python -m gpu.train", description="Train the transformer with a lifted loss")
    p.add_argument("--loss", required=True, help="a gpu.losses name (e.g. grpo, ppo, dpo, nash_md)")
    p.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE", help="a loss / rule hyper-parameter")
    p.add_argument("--mesh", default="1", help="data[xfsdp[xtp]], e.g. 8, 2x4, 2x2x2 (default 1)")
    p.add_argument("--size", default="tiny", help="model preset: " + ", ".join(model.PRESETS))
    p.add_argument("--vocab", type=int, default=None, help="override the preset's vocabulary")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=16, help="sequences per step (groups of --group per prompt)")
    p.add_argument("--group", type=int, default=4, help="responses per prompt (group_size of group losses)")
    p.add_argument("--prompts", type=int, default=4, help="number of distinct prompts X (<= vocab)")
    p.add_argument("--response-len", type=int, default=4)
    p.add_argument("--inner-steps", type=int, default=1, help="optimizer steps per sampled batch")
    p.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, default=None, help="default: the rule's eta for sgd, 1e-3 for adamw")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--chunk", type=int, default=None, help="positions per block of the log-prob pass")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the JSON lines here instead of stdout")
    return p


def prepare(args):
    """Everything validated and built that needs no compilation: (cfg, mesh, bound loss, optimizer, task).

    Raises ValueError / TypeError for a bad mesh, vocabulary / length mismatch, unknown loss or
    hyper-parameters, a loss needing inputs the task cannot supply, and bad sizes.
    """
    from . import losses

    for name in ("steps", "batch", "group", "prompts", "response_len", "inner_steps"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    overrides = {"zero_head": True}
    if args.vocab is not None:
        overrides["vocab"] = args.vocab
    cfg = model.config(args.size, **overrides)
    if args.prompts > cfg.vocab:
        raise ValueError(f"--prompts {args.prompts} exceeds the vocabulary {cfg.vocab} (a prompt is one token)")
    if 1 + args.response_len > cfg.max_len:
        raise ValueError(f"1 + --response-len = {1 + args.response_len} exceeds the model's max_len {cfg.max_len}")
    if args.batch % args.group:
        raise ValueError(f"--batch {args.batch} is not divisible by --group {args.group}")
    mesh_shape = mesh_lib.parse_mesh(args.mesh)
    mesh_lib.check_mesh(mesh_shape, jax.device_count(), args.batch)
    hp = _parse_hparams(args.hp)
    probe = losses.get(args.loss, **hp)
    if "group_size" in probe.lifted.options:
        hp.setdefault("group_size", args.group)
    bound = losses.get(args.loss, **hp)
    missing = [f for f in bound.lifted.needs if f not in TASK_FIELDS]
    if missing:
        name = bound.lifted.name
        raise ValueError(f"--loss {name} needs batch.{missing[0]}, which the synthetic task does not supply")
    if bound.lifted.needs and "label" in bound.lifted.needs and args.group % 2:
        raise ValueError(f"--loss {bound.lifted.name} reads pairs within a group: --group must be even")
    lr = args.lr
    if lr is None:
        lr = getattr(bound.rule.hparams, "eta", None) if args.optimizer == "sgd" else 1e-3
        if lr is None:
            raise ValueError(f"--lr is required: rule {bound.rule.name} has no step size eta")
    optimizer = make_optimizer(args.optimizer, lr=lr, clip=args.clip)
    mesh = mesh_lib.make_mesh(args.mesh, batch=args.batch)
    task = make_task(args.prompts, args.response_len, cfg.vocab, args.seed)
    return cfg, mesh, bound, optimizer, task


def train(args, emit=print, progress=None) -> list[dict]:
    """Run the CLI's loop; ``emit(json_line)`` per step, ``progress(text)`` per step (None: silent)."""
    import json
    import time

    from . import losses
    from .generate import generate
    from .logprobs import token_logprobs

    cfg, mesh, bound, optimizer, task = prepare(args)
    policy = model.transformer(cfg)
    key = jax.random.key(args.seed)
    key, k_init = jax.random.split(key)
    # everything outside the step, the sampler and the metrics is jitted whole: op-by-op dispatch would
    # compile ~100 small programs on the first step, the bulk of a short run's time on a CPU
    state0 = jax.jit(lambda k: init_state(policy.init(k), optimizer))(k_init)
    shardings = state_shardings(state0, optimizer, mesh)
    state = place(state0, shardings)
    beta = float(getattr(bound.rule.hparams, "beta", 0.0) or 0.0)
    j_star = float(jax.jit(lambda w: jnp.mean(optimum_value(Task(w), beta)))(task.w))
    fields = [f for f in TASK_FIELDS if f != "baseline" or "baseline" in bound.lifted.needs]

    rows = all_responses(task) if args.prompts * cfg.vocab**args.response_len <= EXACT_MAX_ROWS else None

    @jax.jit
    def exact(params):
        return jnp.mean(exact_objective(task, jnp.sum(token_logprobs(policy, params, rows), -1), beta))

    def loss_fn(params, batch):
        logp = token_logprobs(policy, params, batch["tokens"], chunk=args.chunk)
        value = bound(logp, losses.Batch(**{k: v for k, v in batch.items() if k in losses.Batch._fields}))
        return value, {}

    step = None
    prompts = jnp.asarray((np.arange(args.batch // args.group) % args.prompts).repeat(args.group)[:, None], jnp.int32)
    records = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        key, k_sample = jax.random.split(key)
        sample = generate(state.params, prompts, cfg, steps=args.response_len, key=k_sample)
        baseline = None
        if "baseline" in fields:
            greedy = generate(state.params, prompts, cfg, steps=args.response_len, key=k_sample, temperature=0.0)
            baseline = synthetic_batch(task, greedy.tokens, greedy.logprobs, args.group)["reward"]
        data = synthetic_batch(task, sample.tokens, sample.logprobs, args.group, baseline)
        batch = {"tokens": sample.tokens, **{k: data[k] for k in fields if k in data}}
        b_sh = batch_shardings(batch, mesh)
        if step is None:
            step = make_train_step(loss_fn, optimizer, shardings, b_sh, mesh)
        batch = place(batch, b_sh)  # the sampler's outputs come back replicated: split them over (data, fsdp)
        if bound.lifted.phases == 2:
            state, metrics = _two_phase(step, state, batch, task, args, cfg, prompts, k_sample)
        else:
            for _ in range(args.inner_steps):
                state, metrics = step(state, batch)
        seen = jax.device_get(_sample_metrics(sample.tokens, data["reward"], data["old_logp"], data["ref_logp"],
                                              args.group))
        jax.block_until_ready(state)
        dt = time.perf_counter() - t0
        rec = {
            "step": i + 1,
            "loss": float(metrics["loss"]),
            "grad_norm": float(metrics["grad_norm"]),
            "reward": float(seen["reward"]),
            "kl_to_ref": float(seen["kl_to_ref"]),
            "objective": float(seen["reward"]) - beta * float(seen["kl_to_ref"]),
            "optimum": j_star,
            "identical_groups": float(seen["identical_groups"]),
            "exact_objective": None if rows is None else float(exact(state.params)),
            "seconds": dt,
            "tokens_per_s": args.batch * (1 + args.response_len) * args.inner_steps / dt,
        }
        records.append(rec)
        emit(json.dumps(rec))
        if progress is not None:
            progress(
                f"step {i + 1}/{args.steps}  loss {rec['loss']:.4g}  objective {rec['objective']:.4g} "
                + ("" if rows is None else f"exact {rec['exact_objective']:.4g} ")
                + f"(optimum {j_star:.4g})  {dt * 1e3:.0f} ms"
            )
    return records


@partial(jax.jit, static_argnames=("group",))
def _sample_metrics(tokens, reward, old_logp, ref_logp, group: int) -> dict:
    """Mean reward and k1 KL estimate of the sampled rows, and the fraction of groups whose responses are all
    equal (their group-baselined advantages vanish, so a collapsed policy gets no gradient from them)."""
    groups = tokens.reshape(-1, group, tokens.shape[1])
    return {
        "reward": jnp.mean(reward),
        "kl_to_ref": jnp.mean(jnp.sum(old_logp - ref_logp, -1)),
        "identical_groups": jnp.mean(jnp.all(groups == groups[:, :1], axis=(1, 2))),
    }


def versus_samples(task: Task, tokens, opponents, group: int) -> jax.Array:
    """[B]: ``P(y_i > pi')`` estimated by the ``group`` opponent samples ``opponents [B, 1 + T]`` of row i's
    group (same prompt), Bradley-Terry on the additive rewards."""
    r = synthetic_batch(task, tokens, jnp.zeros(tokens[:, 1:].shape), group)["reward"].reshape(-1, group)
    r_opp = synthetic_batch(task, opponents, jnp.zeros(opponents[:, 1:].shape), group)["reward"].reshape(-1, group)
    return jnp.mean(_bt(r[:, :, None], r_opp[:, None, :]), -1).reshape(-1)


def _two_phase(step, state, batch, task, args, cfg, prompts, key):
    """One step of a two-call rule (Nash mirror prox, extragradient; ``gpu.losses`` contract):

    phase 1 minimises from theta_t with ``target = P(y > pi_t)`` to theta_{t+1/2}; opponents are then
    sampled from pi_{t+1/2} and phase 2 minimises **again from theta_t** (parameters and optimizer
    state restored) with ``target = P(y > pi_{t+1/2})``; the rows and ``old_logp`` stay pi_t's.
    """
    from .generate import generate

    start = jax.tree_util.tree_map(jnp.copy, state)  # the step donates its input: keep theta_t
    for _ in range(args.inner_steps):
        state, _ = step(state, batch)
    half = generate(state.params, prompts, cfg, steps=args.response_len, key=jax.random.fold_in(key, 1))
    target = versus_samples(task, batch["tokens"], half.tokens, args.group)
    batch = {**batch, "target": jax.device_put(target, batch["target"].sharding)}
    state = start
    for _ in range(args.inner_steps):
        state, metrics = step(state, batch)
    return state, metrics


def main(argv=None) -> int:
    import sys

    args = _parser().parse_args(argv)
    try:
        prepare(args)  # every argument error before anything is compiled
    except (TypeError, ValueError) as exc:
        print(f"python -m gpu.train: error: {exc}", file=sys.stderr)
        return 2
    out = open(args.out, "w") if args.out else None  # noqa: SIM115 - closed below
    try:
        emit = (lambda line: print(line, file=out, flush=True)) if out else (lambda line: print(line, flush=True))
        train(args, emit, progress=lambda text: print(text, file=sys.stderr, flush=True))
    finally:
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
