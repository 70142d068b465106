"""The notebook executor (``polopt._notebooks``) on small in-memory notebooks: Jupyter's display rules, captured
streams and figures, determinism, the stored-versus-fresh comparison, and the ``polopt notebooks`` command."""

from __future__ import annotations

import copy
import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from polopt import _notebooks as nbrun  # noqa: E402
from polopt.cli import main  # noqa: E402


def notebook(*cells: tuple[str, str]) -> dict:
    return {"cells": [{"cell_type": kind, "metadata": {}, "source": src,
                       **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for kind, src in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def outputs(nb: dict) -> list[list[tuple[str, str]]]:
    return nbrun.cell_outputs(nb)


def test_streams_last_expression_and_semicolon():
    nb = notebook(("markdown", "# title"), ("code", "x = 6\nprint('x =', x)\nx * 7"),
                  ("code", "x + 1;  # silenced"), ("code", "import sys\nprint('oops', file=sys.stderr)\nx = None\nx"))
    run = nbrun.execute(nb, "t")
    assert outputs(run.notebook) == [[("stdout", "x = 6\n"), ("result", "42")], [], [("stderr", "oops\n")]]
    assert [c.get("execution_count") for c in run.notebook["cells"]] == [None, 1, 2, 3]
    assert run.notebook["cells"][1]["outputs"][1]["execution_count"] == 1
    assert run.namespace["_"] == 42 and run.namespace["x"] is None
    assert nb["cells"][1]["outputs"] == [] and nb["cells"][1]["execution_count"] is None  # input untouched


def test_one_namespace_and_html_repr():
    nb = notebook(("code", "class T:\n    def _repr_html_(self):\n        return '<b>t</b>'\n    def __repr__(self):\n"
                           "        return 'T()'"), ("code", "T()"))
    data = nbrun.execute(nb).notebook["cells"][1]["outputs"][0]["data"]
    assert data == {"text/plain": ["T()"], "text/html": ["<b>t</b>"]}


def test_figures_are_png_and_closed_after_each_cell():
    nb = notebook(("code", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1]);"),
                  ("code", "len(plt.get_fignums())"))
    run = nbrun.execute(nb)
    out = run.notebook["cells"][0]["outputs"]
    assert [o["output_type"] for o in out] == ["display_data"]
    import base64

    assert base64.b64decode(out[0]["data"]["image/png"]).startswith(b"\x89PNG")
    assert outputs(run.notebook)[1] == [("result", "0")]  # the inline backend closes the cell's figures


def test_execution_is_deterministic_and_addresses_masked():
    nb = notebook(("code", "import matplotlib.pyplot as plt\nimport numpy as np\nrng = np.random.default_rng(0)\n"
                           "print(rng.normal(size=2))\nplt.plot(rng.normal(size=5))\nobject()"))
    a, b = nbrun.execute(nb).notebook, nbrun.execute(nb).notebook
    assert nbrun.dumps(a) == nbrun.dumps(b)  # byte-identical, PNGs included
    text = outputs(a)[0][1][1]
    assert text.startswith("<object object at 0x...>"), text


def test_warnings_go_to_stderr_without_paths_and_filters_end_with_the_notebook():
    import warnings

    nb = notebook(("code", "import warnings\nwarnings.warn('careful', UserWarning)"),
                  ("code", "warnings.simplefilter('ignore')\nwarnings.warn('hidden')"))
    before = list(warnings.filters)
    out = outputs(nbrun.execute(nb).notebook)
    assert out == [[("stderr", "UserWarning: careful\n")], []]
    assert warnings.filters == before


def test_a_failing_cell_names_the_notebook_and_cell():
    nb = notebook(("code", "a = 1"), ("markdown", "text"), ("code", "1 / 0"))
    with pytest.raises(nbrun.NotebookError, match=r"demo.ipynb: code cell 1 raised ZeroDivisionError"):
        nbrun.execute(nb, "demo.ipynb")


@pytest.mark.parametrize(("a", "b", "agree"), [
    ("gap 1.25e-03", "gap 1.25e-03", True),
    ("gap 1.25e-03", "gap 1.26e-03", True),     # one unit in the last printed digit: a rounding boundary
    ("gap 1.25e-03", "gap 1.27e-03", False),    # two units: a different number
    ("kl 3.1e-16", "kl 0.0e+00", True),         # both round-off (ROUNDOFF_ABS)
    ("kl 3.1e-06", "kl 0.0e+00", False),
    ("ratio=0.499419026040359", "ratio=0.4994190260403611", True),  # float reprs to REPR_RTOL
    ("ratio=0.499419026040359", "ratio=0.4994190270403590", False),
    ("holds=True 12", "holds=False 12", False),  # words must be equal
    ("a 1 2", "a 1", False),
    ("value nan", "value nan", True),
])
def test_texts_agree(a, b, agree):
    assert nbrun.texts_agree(a, b) is agree


def test_output_mismatches_finds_changed_text_and_missing_figure():
    nb = notebook(("code", "import matplotlib.pyplot as plt\nprint(1.5)\nplt.plot([1, 2]);"))
    fresh = nbrun.execute(nb).notebook
    assert nbrun.output_mismatches(fresh, copy.deepcopy(fresh)) == []
    changed = copy.deepcopy(fresh)
    changed["cells"][0]["outputs"][0]["text"] = ["1.7\n"]
    assert nbrun.output_mismatches(changed, fresh) == ["cell 0 (stdout): stored '1.7\\n', fresh '1.5\\n'"]
    no_figure = copy.deepcopy(fresh)
    no_figure["cells"][0]["outputs"].pop()
    want = ["cell 0: stored outputs ['stdout'], fresh ['stdout', 'figure']"]
    assert nbrun.output_mismatches(no_figure, fresh) == want
    assert nbrun.output_mismatches(nbrun.stripped(fresh), fresh)  # a notebook stored without outputs is stale


def test_cli_execute_then_check(tmp_path, capsys):
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook(("code", "print(round(2 / 3, 4))"))), encoding="utf-8")
    assert main(["notebooks", "--check", str(path)]) == 1  # stored without outputs
    assert main(["notebooks", "--execute", str(path)]) == 0
    stored = nbrun.load(path)
    assert outputs(stored) == [[("stdout", "0.6667\n")]] and path.read_text(encoding="utf-8").endswith("}\n")
    assert main(["notebooks", "--check", str(path)]) == 0
    assert main(["notebooks", str(path)]) == 2  # neither flag: an error naming both
    assert "--execute" in capsys.readouterr().err


def test_numpy_print_options_of_the_caller_do_not_leak_in_or_out():
    import numpy as np

    nb = notebook(("code", "import numpy as np\nprint(np.array([1 / 3, 1e-9]))\nnp.set_printoptions(precision=2)"))
    with np.printoptions(precision=3, suppress=True):  # as `polopt solve` leaves them (precision=6, suppress)
        got = outputs(nbrun.execute(nb).notebook)
        assert np.get_printoptions()["precision"] == 3
    assert got == [[("stdout", "[3.33333333e-01 1.00000000e-09]\n")]]
