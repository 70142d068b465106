"""``res.to_frame()`` and ``po.compare``: long frames that hold exactly the certificates, computed lazily."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import polopt as po
from polopt.frames import COLUMNS, COMPARE_COLUMNS, format_hparams
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive, random_mdp


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)  # short budgets on purpose
        return fn(*args, **kw)


class _Untouchable:
    """Iterates that fail if anything reads them."""

    def __getattr__(self, name):
        raise AssertionError(f"to_frame read the iterates ({name})")

    def __array__(self, *args, **kw):
        raise AssertionError("to_frame densified the iterates")


def test_to_frame_holds_every_certificate_in_long_format():
    res = _quiet(po.solve, random_intransitive(5, seed=0, beta=0.1), method="mirror_prox", iters=12)
    frame = res.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == sum(len(v) for v in res.certificates.values())
    for name, y in res.certificates.items():
        rows = frame[frame.certificate == name]
        np.testing.assert_array_equal(rows.value.to_numpy(), y)  # the values themselves, bit for bit
        np.testing.assert_array_equal(rows.iterate.to_numpy(), np.arange(len(y)))
    assert set(frame.method) == {"mirror_prox"} and set(frame.status) == {res.status}
    assert frame.hparams.iloc[0] == "eta=2.0, tol=1e-12, payoff=False"
    assert frame.value.dtype == np.float64 and frame.iterate.dtype == np.int64


def test_to_frame_computes_only_what_it_reports_and_never_reads_iterates():
    res = _quiet(po.solve, random_intransitive(5, seed=0, beta=0.1), method="mirror_prox", iters=12)
    res = res._replace(iterates=_Untouchable())
    assert res.certificates.computed() == []
    frame = res.to_frame(certificates="kl_to_optimum")
    assert set(frame.certificate) == {"kl_to_optimum"}
    assert res.certificates.computed() == ["kl_to_optimum"]
    with pytest.raises(ValueError, match="no certificate 'gap'.*duality_gap"):
        res.to_frame(certificates=["kl_to_optimum", "gap"])


def test_to_frame_of_compact_iterates_and_record_k():
    vi = po.solve(catalogue.puterman_two_state(0.95), method="value_iteration")
    assert type(vi.iterates).__name__ == "OneHotIterates"
    assert len(vi.to_frame()) == 3 * (vi.num_iter + 1)
    res = _quiet(po.solve, random_mdp(4, 3, gamma=0.9, seed=0), method="npg", eta=1.0, iters=20, record=6)
    frame = res.to_frame()
    assert frame.iterate.tolist() == [0, 6, 12, 18, 20] == list(res.info["recorded"])


def test_format_hparams():
    assert format_hparams({"eta": 0.1, "tau": None, "form": "exact", "k": np.int64(3), "x": np.float32(0.5)}) == \
        "eta=0.1, form='exact', k=3, x=0.5"
    assert format_hparams({}) == ""


def test_compare_runs_every_method_and_seed_and_matches_solve():
    mdp = random_mdp(4, 3, gamma=0.9, seed=1)
    methods = ["npg", ("policy_mirror_descent", {"eta": 0.5}), "softmax_pg", "policy_iteration"]
    frame = _quiet(po.compare, mdp, methods=methods, seeds=[0, 1], iters=15, eta=2.0, certificates="suboptimality")
    assert list(frame.columns) == list(COMPARE_COLUMNS)
    assert frame.seed.dtype == "Int64" and sorted(frame.seed.unique()) == [0, 1]
    assert list(frame.method.unique()) == ["npg", "policy_mirror_descent", "softmax_pg", "policy_iteration"]
    hp = frame.groupby("method", sort=False).hparams.first()
    assert hp["npg"].startswith("eta=2.0") and hp["policy_mirror_descent"].startswith("eta=0.5")  # own beats common
    assert "eta" not in hp["policy_iteration"]  # common hparams never go to exact solvers
    for name, own in [("npg", {"eta": 2.0}), ("policy_mirror_descent", {"eta": 0.5}), ("policy_iteration", {})]:
        res = _quiet(po.solve, mdp, method=name, iters=15, **own)
        rows = frame[(frame.method == name) & (frame.seed == 1)]
        np.testing.assert_array_equal(rows.value.to_numpy(), res.certificates["suboptimality"])


def test_compare_seeds_change_sampled_runs_only():
    bandit = po.Bandit([1.0, 0.5, 0.0])
    frame = _quiet(po.compare, bandit, methods=[("grpo", {"mode": "sampled"}), "grpo"], seeds=[0, 0, 1], iters=10,
                   certificates="kl_to_optimum")

    def values(hp_mode, seed_index):
        rows = frame[frame.hparams.str.contains(hp_mode)]
        per_run = [g.value.to_numpy() for _, g in rows.groupby(rows.index // 11)]
        return per_run[seed_index]

    np.testing.assert_array_equal(values("sampled", 0), values("sampled", 1))  # same seed, same run
    assert not np.array_equal(values("sampled", 0), values("sampled", 2))
    np.testing.assert_array_equal(values("'exact'", 0), values("'exact'", 2))  # exact mode ignores the seed


def test_compare_defaults_and_errors():
    game = catalogue.perturbed_rps(beta=0.1)
    frame = po.compare(game, methods=["regularized_nash"])
    assert frame.seed.isna().all() and set(frame.certificate) == set(po.solve(game).certificates)
    with pytest.raises(ValueError, match="taken by none of the methods"):
        po.compare(game, methods=["regularized_nash"], eta=1.0)
    with pytest.raises(TypeError, match="methods must be a non-empty list"):
        po.compare(game, methods="mirror_prox")
    with pytest.raises(TypeError, match=r"methods\[1\] must be a name"):
        po.compare(game, methods=["mirror_prox", ("sppo", 1)])
    with pytest.raises(TypeError, match=r"seeds\[1\] must be a non-negative int"):
        po.compare(game, methods=["mirror_prox"], seeds=[0, -1])
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        po.compare(game, methods=["nope"])


def test_concatenated_frames_keep_dtypes():
    a = po.solve(catalogue.bernoulli_bandit()).to_frame()
    b = po.solve(catalogue.perturbed_rps()).to_frame()
    both = pd.concat([a, b], ignore_index=True)
    assert both.value.dtype == np.float64 and both.iterate.dtype == np.int64


def test_import_polopt_does_not_import_pandas_tqdm_or_matplotlib():
    code = ("import sys, polopt; heavy = [m for m in ('pandas', 'tqdm', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=".")
    assert out.stdout.strip() == ""
