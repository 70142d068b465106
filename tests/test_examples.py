"""Every example runs: notebooks' code cells in order in one namespace (no Jupyter needed, ``polopt._notebooks``),
scripts as processes; each notebook is stored with outputs that a fresh run reproduces."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # before any example imports pyplot

from polopt import _notebooks as nbrun  # noqa: E402
from polopt.problems import catalogue  # noqa: E402
from polopt.testing.tolerances import EXACT_F64  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
#: A script that needs longer than this is not a quick example.
SCRIPT_TIMEOUT_S = 120
#: The regularized equilibrium table is quoted to RPS_REGULARIZED_DIGITS; a solver accurate to
#: EXACT_F64 agrees with it to their sum.
RPS_TABLE_TOL = catalogue.RPS_REGULARIZED_DIGITS + EXACT_F64


_RUNS: dict[Path, nbrun.NotebookRun] = {}


def executed(path: Path) -> nbrun.NotebookRun:
    """One fresh execution of ``path`` per session (cwd = examples/, as Jupyter runs it), shared by the tests."""
    if path not in _RUNS:
        with contextlib.chdir(path.parent):
            _RUNS[path] = nbrun.execute(nbrun.load(path), path.name)
    return _RUNS[path]


def test_examples_exist():
    assert NOTEBOOKS or SCRIPTS, "examples/ holds the notebooks and scripts a newcomer runs first"
    assert EXAMPLES / "quickstart.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS + SCRIPTS, ids=lambda p: p.name)
def test_example_runs(path):
    if path.suffix == ".ipynb":
        executed(path)
        return
    # the checkout's polopt, not whichever one the interpreter has installed (a script's sys.path[0] is examples/)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get(
        "PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
    )
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_outputs_match_a_fresh_run(path):
    """Stored as executed (every code cell has its count) and with the outputs a fresh run prints (README
    links to the notebooks as a reader sees them; refresh them with ``polopt notebooks --execute``)."""
    stored = nbrun.load(path)
    codes = [c for c in stored["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in codes] == list(range(1, len(codes) + 1)), \
        f"{path.name} is not stored executed: run polopt notebooks --execute"
    assert nbrun.output_mismatches(stored, executed(path).notebook) == [], \
        f"{path.name}: stored outputs are stale: run polopt notebooks --execute"


def test_quickstart_results_are_right():
    """The quickstart's printed answers are the catalogue's known answers."""
    ns = executed(EXAMPLES / "quickstart.ipynb").namespace
    v_star = catalogue.puterman_two_state_value(0.95)
    scale = np.abs(v_star).max()
    for res in (ns["res_pi"], ns["res_vi"]):
        assert res.status == "converged"
        np.testing.assert_allclose(res.value, v_star, rtol=0.0, atol=EXACT_F64 * scale)
        np.testing.assert_array_equal(np.argmax(res.policy, axis=-1), [0, 0])
    np.testing.assert_allclose(ns["nash"].policy, catalogue.RPS_NASH, rtol=0.0, atol=EXACT_F64)
    np.testing.assert_allclose(ns["reg"].policy, catalogue.RPS_REGULARIZED[0.1], rtol=0.0, atol=RPS_TABLE_TOL)
    assert ns["verdict"].holds
