"""Run the example notebooks without Jupyter and store their outputs in the notebook files.

A notebook (nbformat 4 JSON) runs as Jupyter would run it with the inline matplotlib backend: its
code cells in order in one namespace, each cell's stdout and stderr captured as ``stream``
outputs, the value of a last bare expression as an ``execute_result`` (``text/plain`` = its repr,
plus ``text/html`` where the object has ``_repr_html_``, e.g. a pandas frame; a trailing ``;``
suppresses it, as in IPython), then every open figure as a PNG ``display_data``, after which the
figures are closed. Warnings are written to the cell's stderr as ``Category: message`` (no file
paths), with Python's default "once per location" filter reset for each notebook; NumPy prints with its
default options whatever the calling process set.

The stored outputs are deterministic: the notebooks fix their seeds, nothing records a time, PNGs
carry no software stamp, and object addresses in reprs (``<... at 0x7f...>``) are masked. The
check :func:`output_mismatches` compares the text of stored and fresh outputs token by token: words
must be equal, numbers equal up to one unit in the finer last printed digit or :data:`ROUNDOFF_ABS`
(round-off of float64 solvers differs between BLAS builds); figures are compared by presence only.

``polopt notebooks --execute`` (:func:`refresh`) rewrites the files; ``tests/test_examples.py``
checks that each stored notebook matches a fresh run.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import copy
import io
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any, NamedTuple

#: Figures are stored at this resolution (dots per inch): legible in a browser, ~30 KB per figure.
FIGURE_DPI = 72
#: Numbers in stored and fresh outputs that differ by at most this are equal: exact certificates of
#: float64 solvers on the examples' instances are 1e-16 to 1e-13, where BLAS builds disagree.
ROUNDOFF_ABS = 1e-12
#: A number printed with at least REPR_DIGITS significant digits is a float's repr (17 digits), not a chosen
#: format; two such agree to REPR_RTOL, far above the 1e-16 relative round-off of one float64 operation and
#: below any change a reader could see in a rounded print.
REPR_DIGITS = 12
REPR_RTOL = 1e-9

#: NumPy's default print options: a notebook starts in a fresh kernel, so options set earlier in the process
#: (``polopt solve`` sets ``precision=6, suppress=True``) do not leak into its printed arrays.
NUMPY_PRINT_DEFAULTS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, nanstr="nan",
                            infstr="inf", sign="-", floatmode="maxprec", legacy=False)

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


class NotebookError(RuntimeError):
    """A code cell raised: the message names the notebook and the cell (0-based among code cells)."""


class NotebookRun(NamedTuple):
    """One execution: ``notebook`` is a new nbformat-4 dict with the outputs; ``namespace`` the cells' globals."""

    notebook: dict
    namespace: dict


def load(path: str | Path) -> dict:
    """The notebook at ``path`` as a dict (nbformat 4)."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    if nb.get("nbformat") != 4:
        raise ValueError(f"notebook {path}: expected nbformat 4, found {nb.get('nbformat')!r}")
    return nb


def source(cell: dict) -> str:
    """A cell's source as one string (nbformat allows a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    """Text as nbformat stores it: a list of lines, each keeping its newline."""
    return text.splitlines(keepends=True)


def _mask(text: str) -> str:
    return _ADDRESS.sub(" at 0x...", text)


def _stream(name: str, text: str) -> dict:
    return {"name": name, "output_type": "stream", "text": _lines(_mask(text))}


def _rich(value: Any) -> dict:
    data = {"text/plain": _lines(_mask(repr(value)))}
    html = getattr(value, "_repr_html_", None)
    if callable(html):
        rendered = html()
        if isinstance(rendered, str):
            data["text/html"] = _lines(_mask(rendered))
    return data


def _figures() -> list[dict]:
    """Every open matplotlib figure as a PNG ``display_data`` (then closed), as the inline backend shows them."""
    import matplotlib.pyplot as plt

    out = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
        w, h = fig.get_size_inches() * fig.dpi
        out.append({"data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii") + "\n",
                             "text/plain": [f"<Figure size {w:g}x{h:g} with {len(fig.axes)} Axes>"]},
                    "metadata": {}, "output_type": "display_data"})
    plt.close("all")
    return out


def _split_last_expression(src: str, filename: str):
    """``(body, expression)`` code objects: the expression is the cell's last statement when it is a bare
    expression not followed by ``;`` (IPython's display rule), else None."""
    tree = ast.parse(src, filename=filename)
    last = tree.body[-1] if tree.body else None
    code_lines = [line for line in src.rstrip().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    silenced = bool(code_lines) and code_lines[-1].split("#")[0].rstrip().endswith(";")
    if isinstance(last, ast.Expr) and not silenced:
        body = ast.Module(body=tree.body[:-1], type_ignores=[])
        expr = ast.Expression(body=last.value)
        return compile(body, filename, "exec"), compile(expr, filename, "eval")
    return compile(tree, filename, "exec"), None


def _run_cell(src: str, filename: str, namespace: dict, count: int) -> list[dict]:
    out, err = io.StringIO(), io.StringIO()

    def show(message, category, fname, lineno, file=None, line=None):
        err.write(f"{category.__name__}: {message}\n")

    warnings.showwarning = show
    value = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        body, expr = _split_last_expression(src, filename)
        exec(body, namespace)  # noqa: S102 - running the project's own example notebooks is the point
        if expr is not None:
            value = eval(expr, namespace)  # noqa: S307 - the cell's last expression, displayed as Jupyter does
    outputs = [_stream(name, buf.getvalue()) for name, buf in (("stdout", out), ("stderr", err)) if buf.getvalue()]
    if value is not None:
        namespace["_"] = value
        outputs.append({"data": _rich(value), "execution_count": count, "metadata": {},
                        "output_type": "execute_result"})
    return outputs + _figures()


def execute(nb: dict, name: str = "notebook") -> NotebookRun:
    """Run ``nb``'s code cells in order in one fresh namespace; return a copy of ``nb`` with the outputs.

    ``nb`` is not modified. Raises :class:`NotebookError` naming ``name`` and the cell when a cell raises.
    """
    import matplotlib

    matplotlib.use("Agg")  # the inline backend's role: figures rendered off screen, collected after each cell
    import matplotlib.pyplot as plt

    plt.close("all")
    result = copy.deepcopy(nb)
    namespace: dict = {"__name__": "__main__"}
    count = 0
    import numpy as np

    with warnings.catch_warnings(), np.printoptions(**NUMPY_PRINT_DEFAULTS):  # the notebook's filters end with it
        warnings.simplefilter("default")  # also resets the once-per-location registries of earlier runs
        for index, cell in enumerate(c for c in result["cells"] if c["cell_type"] == "code"):
            count += 1
            try:
                cell["outputs"] = _run_cell(source(cell), f"{name}[cell {index}]", namespace, count)
            except Exception as exc:
                plt.close("all")
                raise NotebookError(f"{name}: code cell {index} raised {type(exc).__name__}: {exc}") from exc
            cell["execution_count"] = count
    return NotebookRun(result, namespace)


def stripped(nb: dict) -> dict:
    """A copy of ``nb`` without outputs or execution counts."""
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return out


def dumps(nb: dict) -> str:
    """``nb`` as Jupyter writes it (one-space indent, sorted keys, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def refresh(paths, *, check: bool = False) -> list[str]:
    """Execute each notebook at ``paths`` with its folder as working directory.

    ``check=False`` writes the outputs into the files; ``check=True`` writes nothing and returns the
    mismatches between stored and fresh outputs (empty when they agree).
    """
    problems = []
    for path in map(Path, paths):
        nb = load(path)
        with contextlib.chdir(path.parent):
            fresh = execute(nb, path.name).notebook
        if check:
            problems += [f"{path.name}: {m}" for m in output_mismatches(nb, fresh)]
        else:
            path.write_text(dumps(fresh), encoding="utf-8")
    return problems


def cell_outputs(nb: dict) -> list[list[tuple[str, str]]]:
    """Per code cell, its outputs as ``(kind, text)``: kind ``stdout`` / ``stderr`` / ``result`` (text/plain)
    / ``figure`` (text empty: figures are compared by presence)."""
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        items = []
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                items.append((o["name"], "".join(o["text"])))
            elif "image/png" in o.get("data", {}):
                items.append(("figure", ""))
            else:
                items.append(("result", "".join(o.get("data", {}).get("text/plain", ""))))
        cells.append(items)
    return cells


def _last_digit_unit(token: str) -> float:
    """One unit in the last printed digit of a number token (``1.25e-3`` -> 1e-5, ``40`` -> 1)."""
    mantissa, _, exponent = token.lower().lstrip("+-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _digits(token: str) -> int:
    """Significant digits printed in a number token."""
    mantissa = token.lower().lstrip("+-").partition("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def numbers_agree(a: str, b: str) -> bool:
    """Printed numbers ``a``, ``b`` agree: equal text, or within one unit of the finer last digit (a rounding
    boundary crossed by round-off) or :data:`ROUNDOFF_ABS`; full-precision reprs to :data:`REPR_RTOL`."""
    if a == b:
        return True
    x, y = float(a), float(b)
    if not (math.isfinite(x) and math.isfinite(y)):
        return False
    rel = REPR_RTOL * max(abs(x), abs(y)) if min(_digits(a), _digits(b)) >= REPR_DIGITS else 0.0
    # the finer unit: a zero printed as 0.0e+00 says nothing about the other number's scale; the factor
    # absorbs the binary representation of decimal differences (1.26e-3 - 1.25e-3 = 1.0000000000000026e-5)
    unit = min(_last_digit_unit(a), _last_digit_unit(b)) * (1.0 + 1e-9)
    return abs(x - y) <= max(unit, ROUNDOFF_ABS, rel)


def texts_agree(a: str, b: str) -> bool:
    """The same words in the same order and the numbers pairwise agreeing (:func:`numbers_agree`)."""
    words_a, words_b = _NUMBER.split(a), _NUMBER.split(b)
    nums_a, nums_b = _NUMBER.findall(a), _NUMBER.findall(b)
    return (words_a == words_b and len(nums_a) == len(nums_b)
            and all(numbers_agree(x, y) for x, y in zip(nums_a, nums_b, strict=True)))


def output_mismatches(stored: dict, fresh: dict) -> list[str]:
    """Where ``stored``'s outputs differ from ``fresh``'s: one line per differing code cell (0-based)."""
    a, b = cell_outputs(stored), cell_outputs(fresh)
    if len(a) != len(b):
        return [f"{len(a)} code cells stored, {len(b)} executed"]
    bad = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        kinds_x, kinds_y = [k for k, _ in x], [k for k, _ in y]
        if kinds_x != kinds_y:
            bad.append(f"cell {i}: stored outputs {kinds_x}, fresh {kinds_y}")
            continue
        for (kind, tx), (_, ty) in zip(x, y, strict=True):
            if not texts_agree(tx, ty):
                bad.append(f"cell {i} ({kind}): stored {tx[:200]!r}, fresh {ty[:200]!r}")
                break
    return bad


def example_notebooks() -> list[Path]:
    """The checkout's ``examples/*.ipynb`` (they ship with the source checkout, not the installed package)."""
    folder = Path(__file__).resolve().parent.parent / "examples"
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise ValueError(f"no notebooks found: expected examples/*.ipynb beside the polopt package, in {folder}")
    return found
