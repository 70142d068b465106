"""What every bench suite shares: ``--busy N`` (spinning processes beside the timed code),
the JSON writer, and the summary table the ``polopt bench`` command prints.

Why ``--busy``: CI and development machines have 2 cores and are shared; a kernel that is
fast only on an idle machine (a multi-threaded BLAS call whose threads wait for each other
when a core is taken) is slow in practice. ``--busy N`` reproduces that load: N processes
running ``while True: pass`` for the whole run, recorded as ``busy: N`` in the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
from pathlib import Path

#: Seconds to wait for the spinners to start (spawn imports the interpreter) and to stop.
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 5.0


def _spin(started) -> None:  # pragma: no cover - runs in the child
    started.release()
    while True:
        pass


@contextlib.contextmanager
def busy(n: int):
    """Run ``n`` spinning processes for the duration of the block; always stops them.

    The processes are spawned (not forked: the parent may hold JAX / BLAS threads, which a
    fork copies in an unusable state), and the block starts only once all of them run.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"busy must be an int >= 0, got {n!r}")
    ctx = mp.get_context("spawn")
    procs = []
    try:
        started = ctx.Semaphore(0)
        for _ in range(n):
            p = ctx.Process(target=_spin, args=(started,), daemon=True, name="polopt-bench-busy")
            p.start()
            procs.append(p)
        for _ in range(n):
            if not started.acquire(timeout=_START_TIMEOUT_S):
                raise RuntimeError(f"--busy: a spinning process did not start within {_START_TIMEOUT_S:g} s")
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(_STOP_TIMEOUT_S)
            if p.is_alive():  # SIGTERM ignored or delayed: SIGKILL cannot be
                p.kill()
                p.join(_STOP_TIMEOUT_S)


def add_busy_argument(parser: argparse.ArgumentParser) -> None:
    """``--busy N``: N spinning processes beside the timed code (default 0)."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--busy must be an integer >= 0, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"--busy must be an integer >= 0, got {text!r}")
        return value

    parser.add_argument("--busy", type=count, default=0, metavar="N",
                        help="run N spinning processes beside the timed code (default 0: idle)")


def load_average() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def write_json(report: dict, out) -> None:
    """Write ``report`` to ``out`` (a path; parent folders are created). None: write nothing."""
    if out is None:
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def summary_row(name: str, polopt_s, anchor: str | None, anchor_s) -> dict:
    """One line of the ``polopt bench`` table: ratio = anchor time / polopt time (> 1: polopt faster)."""
    ratio = anchor_s / polopt_s if polopt_s and anchor_s else None
    return {"name": name, "polopt_s": polopt_s, "anchor": anchor, "anchor_s": anchor_s, "ratio": ratio}


def format_table(rows: list[dict]) -> str:
    """Readable fixed-width table of :func:`summary_row` rows."""

    def sec(x):
        if x is None:
            return "-"
        return f"{x * 1e3:.2f} ms" if x < 1.0 else f"{x:.3f} s"

    head = ("benchmark", "polopt", "anchor", "anchor time", "ratio")
    body = [(r["name"], sec(r["polopt_s"]), r["anchor"] or "-", sec(r["anchor_s"]),
             "-" if r["ratio"] is None else f"{r['ratio']:.2f}x") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(b) for b in body)])


def rows_main(argv, doc: str, benchmark: str, quick_help: str, rows_of) -> dict:
    """``main`` of a suite whose report is a list of rows: ``--quick``, ``--out``, ``--busy``.

    ``rows_of(quick) -> rows`` runs the suite (beside ``--busy`` spinners); the report is
    ``{"benchmark", "quick", "busy", "load_average", "rows"}``, written to ``--out`` if given.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=None, help="write the rows as JSON to this file")
    add_busy_argument(parser)
    args = parser.parse_args(argv)
    with busy(args.busy):
        rows = rows_of(args.quick)
        load = load_average()
    report = {"benchmark": benchmark, "quick": args.quick, "busy": args.busy, "load_average": load, "rows": rows}
    write_json(report, args.out)
    return report
