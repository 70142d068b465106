"""Every example runs: notebooks' code cells in order in one namespace (no Jupyter needed), scripts as processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # before any example imports pyplot

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


def load_notebook(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def code_cells(nb: dict) -> list[str]:
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = cell["source"]
            out.append("".join(src) if isinstance(src, list) else src)
    return out


def run_notebook(path: Path) -> dict:
    """Execute the code cells of ``path`` in order in one fresh namespace; return the namespace."""
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__main__"}
    try:
        for i, src in enumerate(code_cells(load_notebook(path))):
            code = compile(src, f"{path.name}[cell {i}]", "exec")
            exec(code, namespace)  # noqa: S102 - running our own example notebooks is the point
    finally:
        plt.close("all")
    return namespace


_RUNS: dict[Path, dict] = {}


def executed(path: Path) -> dict:
    if path not in _RUNS:
        _RUNS[path] = run_notebook(path)
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
def test_notebook_outputs_are_stripped(path):
    nb = load_notebook(path)
    assert nb["nbformat"] == 4
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_quickstart_results_are_right():
    """The quickstart's printed answers are the catalogue's known answers."""
    ns = executed(EXAMPLES / "quickstart.ipynb")
    v_star = catalogue.puterman_two_state_value(0.95)
    scale = np.abs(v_star).max()
    for res in (ns["res_pi"], ns["res_vi"]):
        assert res.status == "converged"
        np.testing.assert_allclose(res.value, v_star, rtol=0.0, atol=EXACT_F64 * scale)
        np.testing.assert_array_equal(np.argmax(res.policy, axis=-1), [0, 0])
    np.testing.assert_allclose(ns["nash"].policy, catalogue.RPS_NASH, rtol=0.0, atol=EXACT_F64)
    np.testing.assert_allclose(ns["reg"].policy, catalogue.RPS_REGULARIZED[0.1], rtol=0.0, atol=RPS_TABLE_TOL)
    assert ns["verdict"].holds
