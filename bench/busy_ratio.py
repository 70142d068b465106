"""Busy / idle ratios of every timing two runs of a suite share (``--busy 2`` against idle).

Usage::

    python -m bench.busy_ratio IDLE.json BUSY.json [IDLE2.json BUSY2.json ...] [--out FILE.json] [--limit 1.5]
        [--match REGEX]

Timings are the numeric leaves whose key is ``seconds`` or ends in ``_s`` / ``_seconds`` (``time_s``,
``one_thread_s``, ``jax_vmap_seconds``, ...) at the
same path in both files (``--match``: only paths matching a regular expression, e.g.
``"polopt|po\\.solve|one_thread"`` for polopt's own figures, leaving out the anchors' and the
deliberately multi-threaded BLAS ones). The report lists, per pair of files, every shared timing with its
``busy / idle`` ratio, the worst ratio, and the timings above ``--limit`` (the issue's target:
within 1.5x of idle; on 2 cores, one process beside 2 spinners gets a fair share of 2/3 of a core,
so 1.5x is what a single-threaded kernel costs under a fair scheduler).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bench._common import write_json


def _is_timing(key: str) -> bool:
    # rates such as estimates_per_s end in _s too: they are not times
    return key == "seconds" or (key.endswith(("_s", "_seconds")) and "_per_" not in key)


def timings(tree, path: tuple = ()) -> dict[str, float]:
    """``{"a/b/time_s": seconds}`` of the numeric leaves whose key names a time (:func:`_is_timing`)."""
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            sub = path + (str(key),)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and _is_timing(str(key)):
                if value > 0:
                    out["/".join(sub)] = float(value)
            else:
                out.update(timings(value, sub))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out.update(timings(value, path + (str(i),)))
    return out


def compare(idle: dict, busy: dict, limit: float, match: str | None = None) -> dict:
    """Ratios ``busy / idle`` of the timings both runs hold (whose path matches ``match``, if given)."""
    a, b = timings(idle), timings(busy)
    keep = re.compile(match) if match else None
    ratios = {k: b[k] / a[k] for k in sorted(a.keys() & b.keys()) if keep is None or keep.search(k)}
    worst = max(ratios.items(), key=lambda kv: kv[1]) if ratios else (None, None)
    return {
        "timings": len(ratios),
        "worst": {"name": worst[0], "ratio": worst[1]},
        "above_limit": {k: v for k, v in ratios.items() if v > limit},
        "ratios": ratios,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="IDLE.json BUSY.json pairs")
    parser.add_argument("--limit", type=float, default=1.5)
    parser.add_argument("--out", default=None)
    parser.add_argument("--match", default=None, help="only timings whose path matches this regular expression")
    args = parser.parse_args(argv)
    if len(args.files) % 2:
        parser.error(f"files must come in IDLE BUSY pairs, got {len(args.files)} files")
    report = {"limit": args.limit, "match": args.match, "pairs": {}}
    for idle_path, busy_path in zip(args.files[::2], args.files[1::2], strict=True):
        idle = json.loads(Path(idle_path).read_text())
        busy = json.loads(Path(busy_path).read_text())
        res = compare(idle, busy, args.limit, args.match)
        report["pairs"][f"{Path(idle_path).name} vs {Path(busy_path).name}"] = res
        worst = res["worst"]
        shown = "-" if worst["ratio"] is None else f"{worst['ratio']:.2f}x ({worst['name']})"
        print(f"{Path(busy_path).name}: {res['timings']} timings, worst {shown}, "
              f"{len(res['above_limit'])} above {args.limit:g}x")
    write_json(report, args.out)
    return report


if __name__ == "__main__":
    main()
