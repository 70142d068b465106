"""polopt._threads: the BLAS / OpenMP thread limit the dense game kernels run under."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS, so both libraries are controlled)
from threadpoolctl import threadpool_info

from polopt import _threads
from polopt._threads import blas_threads, single_threaded


def counts(user_api: str | None = None) -> dict[str, int]:
    """Thread count of every loaded library, read independently of the module under test."""
    return {d["filepath"]: d["num_threads"] for d in threadpool_info()
            if user_api is None or d["user_api"] == user_api}


def limited(before: dict[str, int], n: int) -> dict[str, int]:
    return {k: min(v, n) for k, v in before.items()}


def test_limit_applies_inside_and_restores_after():
    before = counts()
    with blas_threads(1) as cm:
        assert counts() == limited(before, 1)
        assert repr(cm) == "blas_threads(1, user_api=None)"
    assert counts() == before


def test_nested_entries_restore_only_what_they_lowered_and_never_raise():
    before = counts()
    with blas_threads(1):
        with blas_threads(2):  # does not raise a count lowered by the outer block
            assert counts() == limited(before, 1)
        assert counts() == limited(before, 1)  # the inner exit left the outer limit in place
    assert counts() == before


def test_restores_after_an_exception():
    before = counts()
    with pytest.raises(RuntimeError, match="inside"):
        with single_threaded():
            raise RuntimeError("inside")
    assert counts() == before


def test_decorator_forms_and_recursion():
    before = counts()
    seen = []

    @single_threaded
    def bare(depth: int) -> int:
        seen.append(counts())
        return depth if depth == 0 else bare(depth - 1)

    @single_threaded()
    def called():
        seen.append(counts())

    @blas_threads(1, user_api="blas")
    def blas_only():
        seen.append(counts("blas"))

    assert bare(2) == 0
    called()
    blas_only()
    assert seen[:4] == [limited(before, 1)] * 4
    assert seen[4] == limited(counts("blas"), 1)
    assert counts() == before


def test_user_api_limits_only_that_api():
    before_blas, before_all = counts("blas"), counts()
    with blas_threads(1, user_api="openmp"):
        assert counts("blas") == before_blas
    with blas_threads(1, user_api="blas"):
        others = {k: v for k, v in counts().items() if k not in before_blas}
        assert counts("blas") == limited(before_blas, 1)
        assert others == {k: v for k, v in before_all.items() if k not in before_blas}


def test_none_is_a_no_op():
    before = counts()
    with blas_threads(None):
        assert counts() == before


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "1"])
def test_bad_thread_count_names_the_argument(n):
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        blas_threads(n)


def test_bad_user_api_names_the_argument():
    with pytest.raises(ValueError, match="user_api must be one of"):
        blas_threads(1, user_api="cuda")
    with pytest.raises(TypeError, match="single_threaded takes a function"):
        single_threaded(3)


def test_controller_is_cached_until_a_module_is_imported(monkeypatch):
    first = _threads.controller()
    assert _threads.controller() is first  # no import in between: no rescan of the libraries
    monkeypatch.setitem(sys.modules, "polopt_test_fake_module", types.ModuleType("polopt_test_fake_module"))
    assert _threads.controller() is not first  # a new module may have loaded a new BLAS


@pytest.mark.parametrize(("text", "expected"), [(None, 1), ("", 1), ("0", None), ("4", 4)])
def test_environment_variable(monkeypatch, text, expected):
    if text is None:
        monkeypatch.delenv("POLOPT_BLAS_THREADS", raising=False)
    else:
        monkeypatch.setenv("POLOPT_BLAS_THREADS", text)
    monkeypatch.setattr(_threads, "_env_read", False)
    monkeypatch.setattr(_threads, "_ENV_THREADS", None)
    assert _threads.default_threads() == expected
    before = counts()
    with single_threaded():  # the decorator form created at import follows the variable too
        assert counts() == (before if expected is None else limited(before, expected))


@pytest.mark.parametrize("text", ["two", "-1", "1.5"])
def test_bad_environment_variable_is_named(monkeypatch, text):
    monkeypatch.setenv("POLOPT_BLAS_THREADS", text)
    monkeypatch.setattr(_threads, "_env_read", False)
    with pytest.raises(ValueError, match="POLOPT_BLAS_THREADS must be an integer >= 0"):
        with single_threaded():
            pass


def test_game_kernels_run_single_threaded(monkeypatch):
    """The interior point, the regularized Newton solver and the uniqueness SVD see one thread."""
    from polopt.exact import _ipm, games
    from polopt.problems import PreferenceGame, catalogue

    seen = []
    real_lu, real_solve, real_svd = _ipm.lu_factor, np.linalg.solve, np.linalg.svd

    def spy(fn):
        def wrapped(*args, **kwargs):
            seen.append(max(counts().values()))
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(_ipm, "lu_factor", spy(real_lu))
    monkeypatch.setattr(np.linalg, "solve", spy(real_solve))
    monkeypatch.setattr(np.linalg, "svd", spy(real_svd))
    game = catalogue.perturbed_rps()
    games.nash(game)
    games.regularized_nash(PreferenceGame(game.P, beta=0.1))
    games.nash_is_unique(game)
    assert seen and set(seen) == {1}
