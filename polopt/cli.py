"""The ``polopt`` command (also ``python -m polopt``): ``solve``, ``catalogue``, ``methods``, ``theorems``,
``validate``, ``bench``, ``notebooks``, ``docs``.

Problems come from the catalogue of named instances (``polopt catalogue`` lists them with their
parameters and defaults). A ``po.TabularMDP`` built without ``gamma`` or ``horizon`` is discounted
with ``gamma = 0.9`` (``gamma = 1.0`` with a horizon); every catalogue builder states its own
default, e.g. ``river_swim(n=6, gamma=0.95)``. Warnings (a run that did not converge) are printed as
one line, ``polopt: warning: ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import textwrap
import warnings

import numpy as np


def checkout_module(name: str):
    """Import the checkout's top-level ``validation`` or ``bench`` package (not installed with polopt).

    They live next to the ``polopt`` package in a source checkout (an editable install); from a
    plain install they are absent and the command says so.
    """
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if (root / name / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise SystemExit(
            f"polopt: the '{name}' suite ships with the source checkout, not with the installed package; "
            f"run this command from a checkout installed with pip install -e . (looked in {root})"
        ) from None


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.startswith("[") or text.startswith("{"):
        return json.loads(text)
    return text


def _parse_kv(items: list[str], what: str) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"polopt: {what} must look like name=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k] = _parse_value(v)
    return out


def _build_problem(name: str, params: dict):
    from .problems import catalogue

    return catalogue.get(name, **params)


def cmd_validate(args) -> int:
    validation = checkout_module("validation")

    records = validation.run_all(args.out, quick=args.quick, only=args.only, formats=tuple(args.format))
    bad = [r for r in records if r.verdict != "holds"]
    for r in records:
        print(f"{r.verdict:<16} {r.experiment.name:<32} {r.seconds:6.1f} s  "
              f"{r.error or r.outcome.measured}")
    print(f"report: {args.out}/report.md  ({len(records) - len(bad)}/{len(records)} claims hold)")
    errors = [r for r in records if r.error is not None]
    return 1 if errors else 0


def _width() -> int:
    """The terminal's width (80 when it cannot be read, at least 60)."""
    return max(60, shutil.get_terminal_size((80, 24)).columns)


def jsonable(obj):
    """``obj`` as plain JSON data: arrays as nested lists, NumPy scalars as numbers, non-finite floats as null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def result_record(problem, res) -> dict:
    """What ``polopt solve --json`` prints: the run, its policy and value, every final certificate."""
    return jsonable({
        "problem": repr(problem),
        "method": res.method,
        "status": res.status,
        "num_iter": res.num_iter,
        "hparams": dict(res.hparams),
        "policy": np.asarray(res.policy),
        "value": res.value,
        "optimum_value": None if res.optimum is None else res.optimum.value,
        "certificates": {k: float(np.asarray(v)[-1]) for k, v in res.certificates.items()},
    })


def cmd_solve(args) -> int:
    import polopt as po

    problem = _build_problem(args.problem, _parse_kv(args.param, "--param"))
    res = po.solve(problem, method=args.method, iters=args.iters, **_parse_kv(args.hparam, "--hparam"))
    if args.save:
        res.save(args.save)
    if args.json:
        print(json.dumps(result_record(problem, res), allow_nan=False))
        return 0
    np.set_printoptions(precision=6, suppress=True)
    print(f"problem : {problem!r}")
    print(f"method  : {res.method}  status: {res.status}  iterations: {res.num_iter}")
    print(f"policy  :\n{np.asarray(res.policy)}")
    print(f"value   : {res.value}")
    for k, v in res.certificates.items():
        print(f"{k:<18}: final {float(np.asarray(v)[-1]):.3e}")
    if args.save:
        print(f"saved   : {args.save}  (read it back with polopt.load)")
    return 0


def cmd_catalogue(args) -> int:
    """Each named instance: its builder's parameters with their defaults and a one-line description."""
    import inspect

    from .problems import catalogue

    width = _width()
    for name in catalogue.names():
        entry = catalogue.CATALOGUE[name]
        params = ", ".join(
            f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
            for p in inspect.signature(entry.build).parameters.values()
        )
        doc = (entry.build.__doc__ or "").strip().split("\n")[0].rstrip(".")
        print(f"{name}({params})")
        print(textwrap.fill(f"{doc}. Source: {entry.source}", width=width, initial_indent="    ",
                            subsequent_indent="    "))
    return 0


def cmd_methods(args) -> int:
    import polopt as po

    if args.problem:
        problem = _build_problem(args.problem, _parse_kv(args.param, "--param"))
        for name, summary in po.describe(problem).items():
            print(f"{name:<28} {summary}")
    else:
        print("\n".join(po.methods()))
    return 0


def cmd_theorems(args) -> int:
    from . import theory

    width = _width()
    for t in theory.theorems(args.method):
        ref = ", ".join(x for x in (t.arxiv and f"arXiv {t.arxiv}", t.equation) if x)
        print(f"{t.name} [{t.confidence}]")
        for text in (t.statement, f"{t.source}{'; ' + ref if ref else ''}"):
            print(textwrap.fill(text, width=width, initial_indent="    ", subsequent_indent="    ",
                                break_on_hyphens=False))
    return 0


def bench_suites() -> list[str]:
    """Names of the benchmark suites: every ``bench/bench_<name>.py`` module."""
    import pkgutil

    bench = checkout_module("bench")
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))


def cmd_bench(args) -> int:
    """Run the suites, print one table (benchmark, polopt time, anchor, anchor time, ratio) and write
    the JSON: one ``<suite>.json`` per suite when ``--out`` is a folder, or all suites in one file
    when ``--out`` ends in ``.json``."""
    import importlib
    import tempfile
    from pathlib import Path

    checkout_module("bench")
    from bench._common import format_table, write_json

    if args.busy < 0:
        raise ValueError(f"--busy must be an integer >= 0, got {args.busy}")
    available = bench_suites()
    suites = args.suite or available
    unknown = [s for s in suites if s not in available]
    if unknown:
        raise SystemExit(f"unknown bench suite(s) {', '.join(unknown)}; available: {', '.join(available)}")
    out = Path(args.out)
    one_file = out.suffix == ".json"
    reports, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for suite in suites:
            mod = importlib.import_module(f"bench.bench_{suite}")
            # per-suite file: the same name as the committed results (bench/results/<suite>.json);
            # with a single --out file the suites write to a scratch folder (some default to bench/results)
            target = (Path(tmp) if one_file else out) / f"{suite}.json"
            argv = (["--quick"] if args.quick else []) + ["--busy", str(args.busy), "--out", str(target)]
            report = mod.main(argv)
            reports[suite] = report
            if hasattr(mod, "summary") and report is not None:
                rows += [{**row, "name": f"{suite}: {row['name']}"} for row in mod.summary(report)]
    if one_file:
        write_json({"busy": args.busy, "quick": args.quick, "summary": rows, "suites": reports}, out)
    print(f"\nbusy processes: {args.busy}; ratio = anchor time / polopt time (> 1: polopt faster)")
    print(format_table(rows))
    print(f"results: {out}")
    return 0


def cmd_notebooks(args) -> int:
    """Execute the example notebooks: ``--execute`` stores their outputs, ``--check`` compares with the stored."""
    from . import _notebooks

    if args.execute == args.check:
        raise ValueError("polopt notebooks: give exactly one of --execute (store outputs) or --check (compare)")
    paths = args.paths or _notebooks.example_notebooks()
    problems = _notebooks.refresh(paths, check=args.check)
    for line in problems:
        print(line)
    print(f"{len(paths)} notebook(s) {'checked' if args.check else 'executed, outputs stored'}"
          + (f"; {len(problems)} mismatch(es)" if problems else ""))
    return 1 if problems else 0


def cmd_docs(args) -> int:
    """Build the documentation site offline (README, API pages, the notebooks with their stored outputs)."""
    from pathlib import Path

    from . import _docs

    site = _docs.build(args.out)
    broken = _docs.broken_links(args.out)
    for line in broken:
        print(f"broken link: {line}")
    print(_docs.summary(site, Path(args.out)))
    print(f"open {Path(args.out) / 'index.html'}")
    return 1 if broken else 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="polopt", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"polopt {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("catalogue", help="list the named instances, their parameters and a one-line description")
    c.set_defaults(fn=cmd_catalogue)

    v = sub.add_parser("validate", help="run every validation experiment; write figures and report.md")
    v.add_argument("--quick", action="store_true", help="small instances (under 2 minutes on 2 cores)")
    v.add_argument("--out", default="report", help="output directory (default: report)")
    v.add_argument("--only", nargs="*", help="run only these experiments")
    v.add_argument("--format", nargs="+", default=["png"], choices=("png", "pdf", "svg"), metavar="FMT",
                   help="figure formats: png (default), pdf, svg (vector, text kept as text); several allowed")
    v.set_defaults(fn=cmd_validate)

    s = sub.add_parser("solve", help="solve a catalogue instance")
    s.add_argument("problem", help="catalogue name, e.g. puterman_two_state, perturbed_rps")
    s.add_argument("--method", default=None,
                   help="a name from `polopt methods --problem NAME`; default: the certified exact solver")
    s.add_argument("--iters", type=int, default=1000, help="iteration budget (default: 1000)")
    s.add_argument("--param", nargs="*",
                   help="instance parameters, e.g. gamma=0.99 n=20 (defaults: `polopt catalogue`; a TabularMDP "
                        "without gamma or horizon has gamma=0.9)")
    s.add_argument("--hparam", nargs="*", help="method hyper-parameters, e.g. tol=1e-12")
    s.add_argument("--json", action="store_true",
                   help="print the result as JSON (policy, value, final certificates; non-finite numbers as null)")
    s.add_argument("--save", metavar="FILE.npz", help="also write the whole result (read it with polopt.load)")
    s.set_defaults(fn=cmd_solve)

    m = sub.add_parser("methods", help="list solve methods (for a catalogue instance)")
    m.add_argument("--problem")
    m.add_argument("--param", nargs="*")
    m.set_defaults(fn=cmd_methods)

    t = sub.add_parser("theorems", help="list registered guarantees")
    t.add_argument("--method")
    t.set_defaults(fn=cmd_theorems)

    b = sub.add_parser("bench", help="benchmarks against QuantEcon, pymdptoolbox, nashpy, SciPy")
    b.add_argument("--quick", action="store_true")
    b.add_argument("--out", default="bench/results",
                   help="folder for <suite>.json files, or one FILE.json for all suites (default: bench/results)")
    b.add_argument("--busy", type=int, default=0, metavar="N",
                   help="run N spinning processes beside the timed code (default 0: idle)")
    b.add_argument("--suite", nargs="*", help="suites to run (default: all bench/bench_*.py)")
    b.set_defaults(fn=cmd_bench)

    n = sub.add_parser("notebooks", help="execute the example notebooks; store or check their outputs")
    n.add_argument("paths", nargs="*", help="notebooks (default: every examples/*.ipynb of the checkout)")
    n.add_argument("--execute", action="store_true", help="run them and store the outputs in the files")
    n.add_argument("--check", action="store_true", help="run them and compare with the stored outputs")
    n.set_defaults(fn=cmd_notebooks)

    d = sub.add_parser("docs", help="build the documentation site (offline, static HTML) and check its links")
    d.add_argument("--out", default="site", help="output directory (default: site)")
    d.set_defaults(fn=cmd_docs)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    text = " ".join(str(message).split())
    print(f"polopt: warning: {text} ({category.__name__})", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # restores the caller's warning display on the way out
        warnings.showwarning = _one_line_warning
        try:
            return args.fn(args)
        except (ValueError, TypeError) as exc:
            print(f"polopt: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
