"""Progress for long work: ``solve(..., progress=..., callback=...)`` through the driver ``run_rule``."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import polopt as po
from polopt import _progress as driver
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive, random_mdp

# short budgets on purpose; the test that needs the warning asks for it with pytest.warns
pytestmark = pytest.mark.filterwarnings("ignore::polopt.NotConvergedWarning")

# one update-rule family each: games, policy gradient, LLM estimators, preference losses
RUNS = {
    "mirror_prox": (lambda: random_intransitive(5, seed=0, beta=0.1), {"tol": 1e-300}),
    "npg": (lambda: random_mdp(4, 3, gamma=0.9, seed=0), {"eta": 1.0}),
    "grpo": (lambda: po.Bandit([1.0, 0.5, 0.0]), {}),
    "dpo": (lambda: po.Bandit([1.0, 0.3, 0.0], reference=[0.5, 0.3, 0.2], beta=0.5), {}),
}


@pytest.mark.parametrize("method", sorted(RUNS))
def test_callback_sees_each_recorded_iterate_and_stops_the_run(method):
    build, hp = RUNS[method]
    seen = []

    def callback(t, state):
        seen.append((t, np.exp(np.asarray(state.log_pi, dtype=np.float64))))
        return t >= 6

    with warnings.catch_warnings():
        warnings.simplefilter("error", po.NotConvergedWarning)  # a run the caller stopped does not warn
        res = po.solve(build(), method=method, iters=50, callback=callback, **hp)
    assert res.status == po.result.STOPPED and res.num_iter == 6
    assert [t for t, _ in seen] == list(range(7))
    iterates = np.asarray(res.iterates)
    assert iterates.shape[0] == 7
    for t, pi in seen:  # the state handed to the callback is the iterate the result keeps
        np.testing.assert_allclose(pi.reshape(iterates[t].shape), iterates[t], rtol=0, atol=1e-15)


def test_callback_follows_the_recording_cadence():
    ts = []
    res = po.solve(random_mdp(4, 3, gamma=0.9, seed=0), method="npg", eta=1.0, iters=23, record=5, tol=0.0,
                   callback=lambda t, s: ts.append(t))
    assert ts == [0, 5, 10, 15, 20, 23] == list(res.info["recorded"])


def test_callback_at_iterate_zero_and_falsy_returns():
    res = po.solve(random_intransitive(4, seed=0, beta=0.1), method="sppo", iters=20, callback=lambda t, s: True)
    assert res.status == "stopped" and res.num_iter == 0 and np.asarray(res.iterates).shape[0] == 1
    with pytest.warns(po.NotConvergedWarning):
        res = po.solve(random_intransitive(4, seed=0, beta=0.1), method="sppo", iters=20,
                       callback=lambda t, s: None)
    assert res.status == "max_iter" and res.num_iter == 20


def test_callback_and_progress_are_checked():
    mdp = catalogue.puterman_two_state()
    with pytest.raises(ValueError, match="exact solver"):
        po.solve(mdp, method="policy_iteration", callback=lambda t, s: None)
    with pytest.raises(TypeError, match="callback must be callable"):
        po.solve(mdp, method="npg", callback=3)
    with pytest.raises(TypeError, match="progress must be None, True or False"):
        po.solve(mdp, method="npg", progress="yes")


def test_progress_bar_when_asked_and_silent_otherwise(capsys):
    game = random_intransitive(5, seed=0, beta=0.1)
    po.solve(game, method="mirror_prox", iters=30, tol=1e-300, progress=True)
    err = capsys.readouterr().err
    assert "mirror_prox" in err and "30/30" in err and "it/s" in err
    po.solve(game, method="mirror_prox", iters=30, tol=1e-300)  # automatic: off under pytest
    po.solve(game, method="mirror_prox", iters=30, tol=1e-300, progress=False)
    assert capsys.readouterr().err == ""


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_automatic_progress_rule(monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setattr("sys.stderr", _Stream(True))
    assert driver.progress_enabled(None) and not driver.progress_enabled(False)
    monkeypatch.setattr("sys.stderr", _Stream(False))
    assert not driver.progress_enabled(None) and driver.progress_enabled(True)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "x")
    monkeypatch.setattr("sys.stderr", _Stream(True))
    assert not driver.progress_enabled(None)


def test_automatic_bar_waits_before_showing(monkeypatch):
    """In a terminal the bar is created with tqdm's delay: a run shorter than PROGRESS_DELAY_S prints nothing."""
    stream = _Stream(True)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.setattr("sys.stderr", stream)
    bar = driver.progress_bar(None, 10, "npg")
    assert bar.delay == driver.PROGRESS_DELAY_S == 2.0
    bar.update(10)
    bar.close()
    assert stream.getvalue() == ""


def test_run_rule_options_do_not_leak_between_calls():
    calls = []
    po.solve(random_intransitive(4, seed=0, beta=0.1), method="mirror_prox", iters=3, tol=1e-300,
             callback=lambda t, s: calls.append(t))
    assert driver.RUN_OPTIONS.get() == driver.RunOptions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        po.solve(random_intransitive(4, seed=0, beta=0.1), method="mirror_prox", iters=3, tol=1e-300)
    assert calls == [0, 1, 2, 3]
