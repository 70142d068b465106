"""gpu.mesh: mesh strings, partition rules, sharding checks; equality across meshes and processes.

The multi-device checks run in subprocesses: this pytest process already initialised JAX with
one CPU device, and the simulated device count is fixed at backend start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AbstractMesh, AxisType
from jax.sharding import PartitionSpec as P

from gpu import mesh as ml
from gpu import model
from gpu.sharding_check import RTOL

ROOT = Path(__file__).resolve().parents[1]
#: Seconds for a subprocess: JAX start-up plus a handful of compiles on a busy 2-core machine.
SUBPROCESS_TIMEOUT_S = 600
#: XLA CPU flags that cut the subprocess's compile time by ~40 % (measured 21 s -> 13 s for the meshes): they
#: lower LLVM's code-generation effort only; sharding propagation and the SPMD partitioner (what the checks
#: test) are XLA passes that run unchanged, and each mesh is compared with one device in the same process.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def abstract(shape):
    return AbstractMesh(tuple(shape), ml.AXES, axis_types=(AxisType.Auto,) * 3)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("8", (8, 1, 1)),
        ("2x4", (2, 4, 1)),
        ("2x2x2", (2, 2, 2)),
        (" 1X8 ", (1, 8, 1)),
        (4, (4, 1, 1)),
        ((2, 3), (2, 3, 1)),
    ],
)
def test_parse_mesh(spec, want):
    assert ml.parse_mesh(spec) == want


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("2x0", r"factor 1 \(fsdp\) must be a positive integer, got '0'"),
        ("2xa", r"factor 1 \(fsdp\)"),
        ("-2", r"factor 0 \(data\)"),
        ("1x2x2x2", "1 to 3 factors"),
        ("", r"factor 0"),
        ((2, 2.0), r"factor 1"),
    ],
)
def test_parse_mesh_rejects(spec, match):
    with pytest.raises(ValueError, match=match):
        ml.parse_mesh(spec)
    with pytest.raises(TypeError):
        ml.parse_mesh(True)


def test_check_mesh_device_count_and_batch():
    ml.check_mesh((2, 2, 2), 8, batch=12)  # data x fsdp = 4 divides 12; tp does not split the batch
    with pytest.raises(ValueError, match=r"mesh 2x4x1 uses 8 devices, expected the 1 available"):
        ml.check_mesh((2, 4, 1), 1)
    with pytest.raises(ValueError, match=r"batch 6 is not divisible by data x fsdp = 2 x 2 = 4"):
        ml.check_mesh((2, 2, 2), 8, batch=6)
    with pytest.raises(ValueError, match="uses 8 devices"):
        ml.make_mesh("2x4")  # this process has one device: rejected before anything is compiled


def test_make_mesh_is_auto_with_the_three_axes():
    m = ml.make_mesh("1")
    assert m.axis_names == ml.AXES
    assert tuple(m.axis_types) == (AxisType.Auto,) * 3
    assert dict(m.shape) == {"data": 1, "fsdp": 1, "tp": 1}


def test_partition_rules_by_name():
    assert ml.spec_for("embed") == P("tp", "fsdp")
    assert ml.spec_for("pos_embed") == P(None, "fsdp")
    assert ml.spec_for("layers/wk") == P(None, "fsdp", "tp")
    assert ml.spec_for("layers/wo") == P(None, "tp", "fsdp")
    assert ml.spec_for("layers/w_down") == P(None, "tp", "fsdp")
    assert ml.spec_for("layers/attn_norm") == P()
    assert ml.spec_for("something_else") == P()  # unmatched: replicated


def test_param_specs_of_the_transformer():
    cfg = model.config("tiny")
    shapes = jax.eval_shape(lambda k: model.init(k, cfg), jax.random.key(0))
    specs = ml.param_specs(shapes, abstract((1, 4, 2)), strict=True)
    assert specs["layers"]["wq"] == P(None, "fsdp", "tp")
    assert specs["head"] == P("fsdp", "tp")
    assert specs["pos_embed"] == P(None, "fsdp")
    assert specs["final_norm"] == P()


def test_fit_spec_drops_an_axis_that_does_not_divide():
    m = abstract((1, 4, 2))
    assert ml.fit_spec(P("tp", "fsdp"), (6, 8), m) == (P("tp", "fsdp"), ())
    assert ml.fit_spec(P("tp", "fsdp"), (6, 6), m) == (P("tp"), (1,))  # 6 % 4 != 0: dim 1 replicated
    assert ml.fit_spec(P(("data", "fsdp")), (8, 3), m) == (P(("data", "fsdp")), ())
    cfg = model.config("tiny", vocab=15)  # 15 is odd: the head's tp split cannot happen
    shapes = jax.eval_shape(lambda k: model.init(k, cfg), jax.random.key(0))
    assert ml.param_specs(shapes, m)["head"] == P("fsdp")
    with pytest.raises(ValueError, match=r"parameter 'embed' of shape \(15, 16\) cannot be split .* dimension 0"):
        ml.param_specs(shapes, m, strict=True)


def test_assert_sharding_names_the_mismatch():
    m = ml.make_mesh("1")
    x = jax.device_put(jnp.zeros((4, 2)), ml.batch_sharding(m))
    ml.assert_sharding(x, ml.batch_sharding(m))
    ml.assert_tree_shardings({"a": x}, {"a": ml.replicated(m)})  # one device: every layout is equivalent
    with pytest.raises(AssertionError, match="leaves"):
        ml.assert_tree_shardings({"a": x, "b": x}, {"a": ml.replicated(m)})


def test_initialize_distributed_validates_before_calling_jax():
    with pytest.raises(ValueError, match="host:port"):
        ml.initialize_distributed("localhost", 2, 0)
    with pytest.raises(ValueError, match=r"process_id must be an int in \[0, 2\), got 2"):
        ml.initialize_distributed("localhost:1234", 2, 2)
    with pytest.raises(ValueError, match="num_processes"):
        ml.initialize_distributed("localhost:1234", 0, 0)


def _run(args, env_extra):
    env = {**os.environ, **env_extra, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, proc.stderr[-3000:]
    return proc.returncode, json.loads(lines[-1])


def test_loss_and_gradients_equal_on_every_mesh_and_across_two_processes():
    """One subprocess (JAX start-up and compiles dominate on a small CPU): 8 simulated devices for the meshes
    and the CLI, and meanwhile the two localhost processes of gpu.distributed_check (one device each)."""
    rc, out = _run(
        ["gpu.sharding_check", "--meshes", "1x8,2x4,2x2x2", "--cli-mesh", "2x2x2", "--distributed", "2"],
        {"XLA_FLAGS": f"--xla_force_host_platform_device_count=8 {FAST_COMPILE}"},
    )
    assert out["devices"] == 8
    for spec, (data, fsdp, tp) in {"1x8": (1, 8, 1), "2x4": (2, 4, 1), "2x2x2": (2, 2, 2)}.items():
        row = out["meshes"][spec]
        assert row["loss_rel_err"] <= RTOL and row["grad_rel_err"] <= RTOL, (spec, row)
        # the rules really split: wq [L, D, D] over (fsdp, tp), tokens [B, T] over data x fsdp
        assert row["wq_shard_shape"] == [2, 16 // fsdp, 16 // tp]
        assert row["tokens_shard_shape"] == [8 // (data * fsdp), 9]
    assert out["meshes"]["2x2x2"]["step_params_rel_err"] <= RTOL  # one donated AdamW step, sharded
    assert out["cli"]["step"] == 1 and out["cli"]["grad_norm"] > 0  # python -m gpu.train on 8 devices
    dist = out["distributed"]
    assert dist["processes"] == 2 and len(dist["workers"]) == 2
    for w in dist["workers"]:
        assert "error" not in w, w  # the exact error of a jax build without CPU collectives lands here
        assert w["devices"] == 2
        assert w["rel_err"] <= RTOL
    assert rc == 0 and out["ok"]
