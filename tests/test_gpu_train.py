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
        (["--loss", "mirror_prox"], "two-phase rules"),
    ],
)
def test_cli_errors_before_compiling(argv, match, capsys, monkeypatch):
    monkeypatch.setattr(tr, "make_train_step", lambda *a, **k: pytest.fail("compiled despite a bad argument"))
    assert tr.main(argv) == 2
    assert match in capsys.readouterr().err


def test_cli_runs_on_the_synthetic_task(capsys):
    args = tr._parser().parse_args(["--loss", "grpo", "--steps", "2", "--batch", "8", "--hp", "beta=0.1"])
    lines = []
    records = tr.train(args, emit=lines.append)
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
    j_star = float(jnp.mean(tr.optimum_value(tr.make_task(4, 4, 16, seed=0), 0.1)))  # the CLI's defaults
    for rec in records:
        assert np.isfinite(rec["loss"]) and rec["grad_norm"] > 0  # the zero head still gets a gradient
        assert rec["optimum"] == pytest.approx(j_star, rel=FP32)
    # step 1 samples from the zero-head (uniform) policy: its k1 KL estimate to the uniform reference is 0
    assert abs(records[0]["kl_to_ref"]) < FP32


def test_bench_pieces_report_consistent_rates():
    from gpu import bench, model

    cfg = model.config("tiny", compute_dtype="float32")
    m = ml.make_mesh("1")
    mm = bench.bench_matmul(64, "float32", repeats=1)
    assert mm["flops_per_s"] == pytest.approx(2 * 64**3 / mm["seconds"])
    peaks = {"measured": mm["flops_per_s"], "datasheet": None}
    ts = bench.bench_train_step(cfg, 4, 16, m, 1, peaks)
    assert ts["tokens_per_s"] == pytest.approx(64 / ts["seconds"])
    assert ts["model_flops_per_s"] == pytest.approx(ts["tokens_per_s"] * model.train_flops_per_token(cfg, 16))
    assert ts["mfu_vs_measured_matmul"] == pytest.approx(ts["model_flops_per_s"] / mm["flops_per_s"])
    assert ts["mfu_vs_datasheet"] is None  # no datasheet peak for a CPU
    cp = bench.bench_copy(1 << 20, repeats=1)
    assert cp["bytes_per_s"] == pytest.approx(2 * (1 << 20) / cp["seconds"])
    assert bench.main(["--mesh", "2x4"]) == 2  # rejected before any timing
