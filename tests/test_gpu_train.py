"""gpu.train: the jitted step is the optimizer's update (hand-derived on a softmax table), donates its
state, keeps its shardings; the CLI's synthetic batch by hand, its closed-form optimum, its errors
before compilation, and a short run."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gpu import mesh as ml
from gpu import train as tr

#: float32 arithmetic on a handful of O(1) numbers: a few ulps (1.2e-7 each).
FP32 = 1e-6


def _bandit():
    """J(theta) = sum_a softmax(theta)_a r_a; its gradient by hand: pi * (r - pi . r)."""
    r = jnp.array([1.0, 0.0, -0.5])

    def loss_fn(params, batch):
        pi = jax.nn.softmax(params["theta"])
        return -jnp.sum(pi * batch["r"][0]), {"value": jnp.sum(pi * batch["r"][0])}

    return r, loss_fn


def _step(optimizer, loss_fn, params, batch):
    m = ml.make_mesh("1")
    state = tr.init_state(params, optimizer)
    sh = tr.state_shardings(state, optimizer, m)
    step = tr.make_train_step(loss_fn, optimizer, sh, tr.batch_shardings(batch, m), m)
    placed = tr.place(state, sh)
    new, metrics = step(placed, tr.place(batch, tr.batch_shardings(batch, m)))
    return placed, new, metrics, sh


def test_sgd_step_is_theta_plus_eta_times_the_hand_gradient():
    r, loss_fn = _bandit()
    theta = np.array([0.2, -0.1, 0.4], np.float32)
    pi = np.exp(theta) / np.exp(theta).sum()
    grad_j = pi * (np.asarray(r) - pi @ np.asarray(r))  # d/dtheta of sum_a pi_a r_a
    old, new, metrics, _ = _step(tr.make_optimizer("sgd", lr=0.5), loss_fn, {"theta": jnp.array(theta)}, {"r": r[None]})
    np.testing.assert_allclose(np.asarray(new.params["theta"]), theta + 0.5 * grad_j, atol=FP32)
    np.testing.assert_allclose(float(metrics["grad_norm"]), np.linalg.norm(grad_j), rtol=FP32)
    np.testing.assert_allclose(float(metrics["value"]), pi @ np.asarray(r), rtol=FP32)
    assert int(new.step) == 1
    assert old.params["theta"].is_deleted()  # donated: the step reused the old state's buffers


def test_adamw_first_step_by_hand_with_clipping():
    r, loss_fn = _bandit()
    theta = np.array([0.2, -0.1, 0.4], np.float32)
    pi = np.exp(theta) / np.exp(theta).sum()
    g = -(pi * (np.asarray(r) - pi @ np.asarray(r)))
    clip, lr, wd, eps = 0.1, 0.01, 0.1, 1e-8
    g_clip = g * min(1.0, clip / np.linalg.norm(g))
    # first Adam step: bias-corrected m = g, v = g^2, so the step is -lr g / (|g| + eps), then decoupled decay
    want = theta - lr * g_clip / (np.abs(g_clip) + eps) - lr * wd * theta
    opt = tr.make_optimizer("adamw", lr=lr, clip=clip, weight_decay=wd)
    _, new, _, _ = _step(opt, loss_fn, {"theta": jnp.array(theta)}, {"r": r[None]})
    np.testing.assert_allclose(np.asarray(new.params["theta"]), want, atol=FP32)


def test_state_shardings_follow_the_parameters():
    params = {"embed": jnp.zeros((4, 2)), "layers": {"wq": jnp.zeros((1, 2, 2))}, "final_norm": jnp.ones(2)}
    opt = tr.make_optimizer("adamw")
    state = tr.init_state(params, opt)
    sh = tr.state_shardings(state, opt, ml.make_mesh("1"))
    adam = sh.opt_state[1][0]  # chain(clip, adamw): adamw's ScaleByAdamState
    assert adam.mu["embed"].spec == ml.spec_for("embed") and adam.nu["layers"]["wq"].spec == ml.spec_for("layers/wq")
    assert adam.count.spec == jax.sharding.PartitionSpec() and sh.step.spec == jax.sharding.PartitionSpec()


def test_make_optimizer_rejects_bad_values():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        tr.make_optimizer("lion")
    with pytest.raises(ValueError, match="adamw: lr"):
        tr.make_optimizer("adamw", lr=0.0)
    with pytest.raises(ValueError, match="sgd: lr"):
        tr.make_optimizer("sgd", lr=-1.0)
    with pytest.raises(ValueError, match="adamw: b2"):
        tr.make_optimizer("adamw", b2=1.5)
    assert isinstance(tr.make_optimizer("sgd", lr=0.1), optax.GradientTransformation)


def test_optimum_value_closed_form():
    w = jnp.array([[[1.0, 0.0], [0.5, -0.5]]])  # X = 1, T = 2, V = 2
    beta = 0.5
    want = sum(beta * math.log((math.exp(a / beta) + math.exp(b / beta)) / 2) for a, b in ((1.0, 0.0), (0.5, -0.5)))
    np.testing.assert_allclose(float(tr.optimum_value(tr.Task(w), beta)[0]), want, rtol=FP32)
    np.testing.assert_allclose(float(tr.optimum_value(tr.Task(w), 0.0)[0]), 1.5, rtol=FP32)  # sum_t max_a w


def test_exact_objective_is_the_gibbs_gap_to_the_closed_form_optimum():
    """J at the uniform policy = the mean reward; J at pi* = optimum_value; J* - J(pi) = beta KL(pi || pi*)."""
    task = tr.make_task(2, 2, 3, seed=1)  # X = 2, T = 2, V = 3: 9 responses per prompt
    beta = 0.7
    rows = np.asarray(tr.all_responses(task))
    assert rows.shape == (18, 3) and (rows[:, 0] == np.repeat([0, 1], 9)).all()
    assert [tuple(r) for r in rows[:4, 1:]] == [(0, 0), (0, 1), (0, 2), (1, 0)]  # base-V order
    w = np.asarray(task.w, np.float64)
    uniform = np.full(18, -2 * math.log(3))
    np.testing.assert_allclose(np.asarray(tr.exact_objective(task, uniform, beta)), w.mean(-1).sum(-1), rtol=FP32)
    log_tok = w / beta - np.logaddexp.reduce(w / beta, axis=-1, keepdims=True)  # pi*(a | x, t) = softmax(w / beta)
    log_star = log_tok[rows[:, 0], 0, rows[:, 1]] + log_tok[rows[:, 0], 1, rows[:, 2]]
    j_star = np.asarray(tr.optimum_value(task, beta))
    np.testing.assert_allclose(np.asarray(tr.exact_objective(task, log_star, beta)), j_star, rtol=FP32)
    z = np.random.default_rng(0).normal(size=(2, 9))
    log_pi = (z - np.logaddexp.reduce(z, axis=-1, keepdims=True)).ravel()
    kl = (np.exp(log_pi) * (log_pi - log_star)).reshape(2, 9).sum(-1)
    # float32 sums of 9 O(1) terms (exp, log, products) on each side: ~10 ulps of 1.2e-7; 1e-5 is a decade above
    np.testing.assert_allclose(np.asarray(tr.exact_objective(task, log_pi, beta)), j_star - beta * kl, rtol=1e-5)


def test_versus_samples_by_hand():
    w = jnp.array([[[1.0, 0.0, 2.0]]])  # X = 1, T = 1, V = 3: reward = w[0, 0, y]
    rows = jnp.array([[0, 0], [0, 2]])  # rewards 1, 2
    opponents = jnp.array([[0, 1], [0, 2]])  # rewards 0, 2
    s = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    want = [(s(1) + s(-1)) / 2, (s(2) + s(0)) / 2]
    np.testing.assert_allclose(np.asarray(tr.versus_samples(tr.Task(w), rows, opponents, 2)), want, rtol=FP32)


def test_synthetic_batch_by_hand():
    w = jnp.array([[[1.0, 0.0, 2.0]], [[0.0, 3.0, 1.0]]])  # X = 2 prompts, T = 1, V = 3
    tokens = jnp.array([[0, 0], [0, 2], [1, 1], [1, 2]])  # two groups of two, one per prompt
    b = tr.synthetic_batch(tr.Task(w), tokens, jnp.zeros((4, 1)), group=2)
    np.testing.assert_allclose(np.asarray(b["reward"]), [1.0, 2.0, 3.0, 1.0])
    np.testing.assert_allclose(np.asarray(b["adv"]), [-0.5, 0.5, 1.0, -1.0])
    s = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    np.testing.assert_allclose(np.asarray(b["label"]), [s(-1), 1 - s(-1), s(2), 1 - s(2)], rtol=FP32)
    np.testing.assert_allclose(np.asarray(b["target"]), [s(-1), s(1), s(2), s(-2)], rtol=FP32)  # vs the other member
    np.testing.assert_allclose(np.asarray(b["ref_logp"]), -math.log(3), rtol=FP32)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--loss", "grpo", "--mesh", "2x4"], "uses 8 devices, expected the 1 available"),
        (["--loss", "nope"], "unknown loss 'nope'"),
        (["--loss", "grpo", "--prompts", "40"], "exceeds the vocabulary 16"),
        (["--loss", "grpo", "--response-len", "80"], "exceeds the model's max_len 64"),
        (["--loss", "grpo", "--hp", "beta=-1"], "grpo: beta must lie in"),
        (["--loss", "grpo", "--hp", "gamma=1"], "unknown hyper-parameter"),
        (["--loss", "oblr_po"], "needs batch.score_sq"),
        (["--loss", "grpo", "--batch", "6"], "--batch 6 is not divisible by --group 4"),
    ],
)
def test_cli_errors_before_compiling(argv, match, capsys, monkeypatch):
    monkeypatch.setattr(tr, "make_train_step", lambda *a, **k: pytest.fail("compiled despite a bad argument"))
    assert tr.main(argv) == 2
    assert match in capsys.readouterr().err


#: Sampled RLOO on the enumerable closed-form task (X = 2, T = 3, V = 4, beta = 0.1, J* = 4.047): Adam with a
#: constant step on a sampled gradient hovers at a noise floor instead of converging; measured
#: J* - J(pi) = beta KL(pi || pi*) between 4e-3 and 1.5e-2 over steps 80-200, 5e-3 at step 200 (exact, by
#: enumeration). 0.05 is three times the worst of that floor and 40 times below the gap of the collapsed run
#: of the counterexample below (1.93).
RLOO_GAP = 0.05
RLOO_TASK = ["--loss", "rloo", "--hp", "beta=0.1", "--vocab", "4", "--prompts", "2", "--response-len", "3",
             "--batch", "32", "--group", "8"]


def test_cli_rloo_reaches_the_kl_regularized_optimum_of_the_closed_form_task():
    """``python -m gpu.train --loss rloo`` end to end: the records, and the exact objective of the trained
    transformer (all 2 x 64 responses enumerated) within RLOO_GAP of the closed-form J*."""
    args = tr._parser().parse_args([*RLOO_TASK, "--lr", "1e-2", "--steps", "200"])
    lines = []
    records = tr.train(args, emit=lines.append)
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 201))
    j_star = float(jnp.mean(tr.optimum_value(tr.make_task(2, 3, 4, seed=0), 0.1)))
    for rec in records:
        assert np.isfinite(rec["loss"]) and rec["grad_norm"] >= 0
        assert rec["optimum"] == pytest.approx(j_star, rel=FP32)
        assert rec["exact_objective"] <= j_star + FP32 * 10  # J* is the maximum (the gap is beta KL >= 0)
    # step 1 samples from the zero-head (uniform) policy: its k1 KL estimate to the uniform reference is 0
    assert abs(records[0]["kl_to_ref"]) < FP32 and records[0]["grad_norm"] > 0  # the zero head gets a gradient
    assert j_star - records[-1]["exact_objective"] <= RLOO_GAP


def test_counterexample_a_collapsed_policy_gets_no_rloo_gradient_far_from_the_optimum():
    """Finding (an optimization limit, not a defect of the loss). On RLOO_TASK with Adam lr 3e-2 instead of 1e-2
    the run collapses within 20 steps onto a deterministic policy with partly wrong tokens and stays there
    (measured, 60 steps: exact objective 2.113 against J* = 4.047, KL = 3 log 4 = 4.16, every group identical);
    at the CLI's default sizes (X = 4, T = 4, V = 16, beta = 0.1, batch 64, lr 3e-3) it plateaus at 4.77 against
    5.385 with 35 % identical groups after 400 steps. Mechanism, checked here on one prompt and one token:
    RLOO's advantage ``R_i - mean_{j != i} R_j`` (KL-shaped reward included) is exactly 0 on a group of identical
    responses, which a collapsed policy draws with probability ``pi(y0)^G ~ 1``, so the sampled gradient is
    exactly zero while the exact gradient of ``J = E r - beta KL`` is non-zero (of size ``1 - pi(y0)``) and
    points to the optimum: the escape is exponentially slow in the collapse (Mei et al., arXiv 2005.06392,
    softmax policy gradient near deterministic policies)."""
    from gpu import losses

    w = jnp.array([0.3, 1.0, -0.2, 0.1])  # rewards of the 4 one-token responses; y0 = 0 is not the best
    beta, group, v = 0.1, 8, 4
    theta = jnp.array([12.0, 0.0, 0.0, 0.0])  # collapsed on y0: pi(y0) = 1 - 1.8e-5
    rows = jnp.zeros((group, 1), jnp.int32)  # the group it draws: y0 eight times
    batch = losses.Batch(mask=jnp.ones((group, 1)), ref_logp=jnp.full((group, 1), -math.log(v)),
                         reward=jnp.full((group,), w[0]))
    rloo = losses.get("rloo", beta=beta, group_size=group)

    def sampled(th):
        return rloo(jnp.take_along_axis(jax.nn.log_softmax(th)[None], rows, -1), batch)

    def exact(th):  # J(theta) = sum_y pi_y (w_y - beta log(pi_y / mu_y)), mu uniform
        log_pi = jax.nn.log_softmax(th)
        return jnp.sum(jnp.exp(log_pi) * (w - beta * (log_pi + math.log(v))))

    # zero up to float32 rounding: the leave-one-out mean of 8 equal rewards is off by a few ulps (~1e-7), times
    # a score of size 1 - pi(y0) ~ 2e-5 (measured 3e-13); 1e-9 is still 1000 times below the exact gradient
    assert np.max(np.abs(np.asarray(jax.grad(sampled)(theta)))) <= 1e-9
    g = np.asarray(jax.grad(exact)(theta))
    assert np.all(g[1:] > 0) and np.argmax(g) == 1  # ascent towards every other token, most to the best one
    assert 1e-6 < np.linalg.norm(g) < 1e-4  # of the order of 1 - pi(y0)
    j_star = beta * math.log(float(jnp.mean(jnp.exp(w / beta))))
    assert j_star - float(exact(theta)) > 0.5  # far from the optimum (gap 0.71 = beta KL(pi || pi*))
    assert 1 - float(jax.nn.softmax(theta)[0]) ** group < 2e-4  # a non-identical group is that rare


def test_bench_rates_by_hand_and_measured_peaks():
    from gpu import bench, model

    cfg = model.config("100m")
    per_token = model.train_flops_per_token(cfg, 1024)
    # 16 x 1024 tokens in 0.1 s on an H100 (989.4 TFLOP/s datasheet, 798 measured): MFU by hand
    r = bench.train_rates(0.1, 16 * 1024, per_token, {"measured": 798e12, "datasheet": 989.4e12})
    assert r["tokens_per_s"] == pytest.approx(163840.0)
    assert r["mfu_vs_datasheet"] == pytest.approx(163840.0 * per_token / 989.4e12)
    assert r["mfu_vs_measured_matmul"] == pytest.approx(163840.0 * per_token / 798e12)
    assert bench.train_rates(1.0, 1, 1.0, {"measured": 1.0, "datasheet": None})["mfu_vs_datasheet"] is None
    mm = bench.bench_matmul(64, "float32", repeats=1)
    assert mm["flops_per_s"] == pytest.approx(2 * 64**3 / mm["seconds"])
    cp = bench.bench_copy(1 << 20, repeats=1)
    assert cp["bytes_per_s"] == pytest.approx(2 * (1 << 20) / cp["seconds"])
    assert bench.main(["--mesh", "2x4"]) == 2  # rejected before any timing


def test_two_phase_restarts_phase_2_from_theta_t(monkeypatch):
    """Phase 1 runs from theta_t, phase 2 runs again from theta_t with targets against half-step samples."""
    import gpu.generate

    w = jnp.array([[[1.0, 0.0, 2.0]]])
    task = tr.Task(w)
    tokens = jnp.array([[0, 0], [0, 2]])
    batch = {"tokens": tokens, "target": jnp.array([0.3, 0.7])}
    seen = []

    def fake_step(state, b):  # theta <- theta + 1, recording the target it was given
        seen.append(np.asarray(b["target"]))
        return tr.TrainState({"theta": state.params["theta"] + 1.0}, state.opt_state, state.step + 1), {"loss": 0.0}

    half = jnp.array([[0, 1], [0, 2]])
    monkeypatch.setattr(gpu.generate, "generate", lambda params, *a, **k: gpu.generate.Sample(half, None))
    args = tr._parser().parse_args(
        ["--loss", "mirror_prox", "--inner-steps", "3", "--group", "2", "--response-len", "1"]
    )
    state = tr.TrainState({"theta": jnp.zeros(2)}, (), jnp.zeros((), jnp.int32))
    out, _ = tr._two_phase(fake_step, state, batch, task, args, None, tokens[:, :1], jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(out.params["theta"]), [3.0, 3.0])  # 3 steps from theta_t, not 6
    assert int(out.step) == 3
    np.testing.assert_allclose(seen[0], [0.3, 0.7], rtol=FP32)  # phase 1: the given P(y > pi_t)
    np.testing.assert_allclose(seen[3], np.asarray(tr.versus_samples(task, tokens, half, 2)), rtol=FP32)
