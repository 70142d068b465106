"""``res.save(path)`` / ``po.load(path)``: exact round trips for every result kind, clear errors otherwise."""

from __future__ import annotations

import json
import math
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import polopt as po
from polopt.io import FORMAT_VERSION, METADATA
from polopt.problems import catalogue
from polopt.problems._base import Problem
from polopt.problems.random import random_intransitive, random_mdp
from polopt.result import LazyCertificates, OneHotIterates


def assert_same(a, b, path="res"):
    """``a`` and ``b`` are equal with the same types, dtypes, shapes and read-only flags, recursively."""
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert a.flags.writeable == b.flags.writeable, path
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), path
    elif isinstance(a, OneHotIterates):
        assert_same(a.sigmas, b.sigmas, f"{path}.sigmas")
        assert_same(a._first, b._first, f"{path}.first")
        assert a.shape == b.shape, path
    elif isinstance(a, LazyCertificates):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, Problem):
        from polopt.io import _slots

        for s in _slots(type(a)):
            assert_same(getattr(a, s, None), getattr(b, s, None), f"{path}.{s}")
    elif sp.issparse(a):
        assert a.format == b.format and a.shape == b.shape and a.dtype == b.dtype, path
        assert (a != b).nnz == 0, path
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, (float, np.floating)) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path


def _solve(problem, method=None, **hp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)  # short budgets on purpose: any status round-trips
        return po.solve(problem, method=method, **hp)


# one result of each kind: discounted (compact one-hot iterates, sparse kernel), PG rule with record=k,
# games (last and average iterates, beta = 0 with NaN-free and unique Nash), bandits, finite horizon,
# average reward, linear mixture, a loss on a bandit, a sampled estimator
KINDS = {
    "value_iteration": lambda: _solve(catalogue.puterman_two_state(0.95), "value_iteration", iters=40),
    "solve_mdp_sparse": lambda: _solve(catalogue.river_swim(6, sparse=True)),
    "policy_iteration_init": lambda: _solve(catalogue.river_swim(4), "policy_iteration",
                                            init=np.full((4, 2), 0.5)),
    "npg_record": lambda: _solve(random_mdp(4, 3, gamma=0.9, seed=0), "npg", eta=1.0, iters=20, record=3),
    "mirror_prox": lambda: _solve(random_intransitive(5, seed=0, beta=0.1), "mirror_prox", iters=30),
    "sppo_average": lambda: _solve(random_intransitive(4, seed=1), "sppo", iters=30),
    "nash": lambda: _solve(catalogue.perturbed_rps()),
    "bandit": lambda: _solve(catalogue.bernoulli_bandit()),
    "finite_horizon": lambda: _solve(po.TabularMDP(np.full((2, 2, 2), 0.5), np.eye(2), horizon=3)),
    "average_reward": lambda: _solve(catalogue.forest(gamma=1.0)),
    "linear_mixture": lambda: _solve(catalogue.linear_mixture_hard(d=3, H=3, K=10)),
    "dpo": lambda: _solve(po.Bandit([1.0, 0.3, 0.0], reference=[0.5, 0.3, 0.2], beta=0.5), "dpo", iters=30),
    "grpo_sampled": lambda: _solve(po.Bandit([1.0, 0.5, 0.0]), "grpo", mode="sampled", seed=3, iters=10),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_round_trip_is_exact(kind, tmp_path):
    res = KINDS[kind]()
    path = res.save(tmp_path / f"{kind}.npz")
    back = po.load(path)
    assert isinstance(back, po.SolveResult)
    for field in po.SolveResult._fields:
        assert_same(getattr(res, field), getattr(back, field), field)
    assert type(back.iterates) is type(res.iterates)  # compact iterates stay compact
    frame = back.to_frame()  # every kind tabulates: one row per (certificate, recorded iterate)
    pd.testing.assert_frame_equal(frame, res.to_frame())
    assert len(frame) == sum(np.size(v) for v in res.certificates.values())
    # the saved bytes do not depend on when the file was written
    assert res.save(tmp_path / "again.npz").read_bytes() == path.read_bytes()


def test_loaded_result_checks_and_plots_like_the_original(tmp_path):
    res = KINDS["mirror_prox"]()
    back = po.load(res.save(tmp_path / "r.npz"))
    assert po.theory.check(back, "nash_mp.kl") == po.theory.check(res, "nash_mp.kl")
    assert back.problem.beta == res.problem.beta and back.certificates.computed() == list(back.certificates)


def test_the_file_is_an_npz_with_readable_metadata(tmp_path):
    res = KINDS["value_iteration"]()
    path = res.save(tmp_path / "vi.npz")
    with np.load(path, allow_pickle=False) as npz:  # NumPy reads the arrays, no pickle
        arrays = [k for k in npz.files if k != METADATA]
        assert arrays and all(npz[k].dtype != object for k in arrays)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read(METADATA))
    assert meta["format_version"] == FORMAT_VERSION and meta["polopt_version"] == po.__version__
    assert meta["problem_type"] == "TabularMDP" and meta["criterion"] == "discounted"
    assert meta["result"]["method"] == "value_iteration"
    assert meta["result"]["iterates"]["__onehot__"]["num_actions"] == 2


def _rewrite(src, dst, edit_meta=None, drop=None, mangle=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == drop:
                continue
            if item.filename == METADATA and edit_meta is not None:
                meta = json.loads(data)
                edit_meta(meta)
                data = json.dumps(meta).encode()
            if item.filename == mangle:
                data = data[:-8]
            zout.writestr(item.filename, data)
    return dst


@pytest.fixture
def saved(tmp_path):
    return KINDS["npg_record"]().save(tmp_path / "ok.npz")


def test_newer_format_version_is_refused(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "v2.npz", edit_meta=lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}.*upgrade polopt"):
        po.load(bad)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format_version="1"), "format_version is '1'"),
    (lambda m: m.update(format="other"), "not a polopt result file"),
    (lambda m: m["result"].pop("status"), "result fields are"),
    (lambda m: m["result"].update(status={"__bogus__": 1}), "unknown entry tag"),
    (lambda m: m["result"]["problem"].update(__problem__="os:system"), "only polopt classes"),
])
def test_malformed_metadata_is_a_clear_error(saved, tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        po.load(_rewrite(saved, tmp_path / "bad.npz", edit_meta=edit))


def test_truncated_and_corrupted_files(saved, tmp_path):
    data = saved.read_bytes()
    (tmp_path / "half.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a polopt result file"):
        po.load(tmp_path / "half.npz")
    # flip bytes inside the first array member: its CRC-32 no longer matches
    with zipfile.ZipFile(saved) as zf:
        member = next(i for i in zf.infolist() if i.filename.endswith(".npy"))
    flipped = bytearray(data)
    start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    for i in range(start, start + min(member.compress_size, 16)):
        flipped[i] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted"):
        po.load(tmp_path / "flip.npz")
    with pytest.raises(ValueError, match="corrupted.*a0.npy is missing"):
        po.load(_rewrite(saved, tmp_path / "drop.npz", drop="a0.npy"))
    with pytest.raises(ValueError, match="corrupted.*cannot be read"):
        po.load(_rewrite(saved, tmp_path / "short.npz", mangle="a0.npy"))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a polopt result file"):
        po.load(tmp_path / "text.npz")
    with zipfile.ZipFile(tmp_path / "plain.npz", "w") as zf:
        zf.writestr("x.npy", b"")
    with pytest.raises(ValueError, match="no metadata.json"):
        po.load(tmp_path / "plain.npz")
    with pytest.raises(FileNotFoundError):
        po.load(tmp_path / "absent.npz")


def test_values_without_a_pickle_free_encoding_are_refused(tmp_path):
    res = KINDS["bandit"]()
    with pytest.raises(TypeError, match=r"info\['f'\].*function"):
        res._replace(info={"f": lambda: 0}).save(tmp_path / "f.npz")
    with pytest.raises(TypeError, match=r"info\['o'\].*object array"):
        res._replace(info={"o": np.array([None, 1])}).save(tmp_path / "o.npz")
    with pytest.raises(TypeError, match="expects a SolveResult"):
        po.io.save({"not": "a result"}, tmp_path / "d.npz")
    assert not list(tmp_path.iterdir())  # a refused save leaves no file behind


def test_special_values_round_trip(tmp_path):
    res = KINDS["bandit"]()
    info = {"nan": float("nan"), "inf": -math.inf, "f32": np.float32(0.1), "i8": np.int8(-3), "flag": np.bool_(True),
            "tuple": (1, "a", None), "nested": {"x": [1.5, np.arange(3)]}, "empty": np.zeros((0, 2))}
    back = po.load(res._replace(info=info, hparams={"eta": np.float64(0.3)}).save(tmp_path / "s.npz"))
    assert_same(info, back.info, "info")
    assert type(back.hparams["eta"]) is np.float64
