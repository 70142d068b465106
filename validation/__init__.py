"""Validation experiments: one module per claim; ``polopt validate`` runs them all.

Each module defines ``EXPERIMENT = Experiment(...)`` whose ``run(quick)`` returns an
:class:`Outcome` (what was measured, whether the claim held, a matplotlib figure, and JSON
data). :func:`run_all` writes ``<name>.png``, ``<name>.json`` and ``report.md``.

An experiment that checks one registered theorem is built with :meth:`Experiment.from_theorem`:
its claim, source and confidence are read from the :class:`~polopt.theory.Theorem`, so they are
stated once, on the theorem.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple


class Outcome(NamedTuple):
    measured: str
    holds: bool
    figure: Any  # matplotlib Figure
    data: dict


class Experiment(NamedTuple):
    name: str
    claim: str
    source: str
    confidence: str  # one of polopt.theory.CONFIDENCE
    run: Callable[[bool], Outcome]
    theorem: str | None = None  # registry name when built by from_theorem

    @classmethod
    def from_theorem(cls, theorem, run: Callable[[bool], Outcome], *, name: str, setting: str = "") -> Experiment:
        """The experiment checking ``theorem`` (a :class:`~polopt.theory.Theorem` or its registry name).

        ``claim`` is the theorem's name and statement (plus ``setting``: the instances and
        hyper-parameters the experiment uses); ``source`` is its source, arXiv id and equation;
        ``confidence`` is the theorem's.
        """
        import polopt as po

        thm = po.theory.get(theorem) if isinstance(theorem, str) else theorem
        claim = f"{thm.name}: {thm.statement}" + (f". Checked: {setting}" if setting else "")
        source = "; ".join(x for x in (thm.source, thm.arxiv and f"arXiv {thm.arxiv}", thm.equation) if x)
        return cls(name=name, claim=claim, source=source, confidence=thm.confidence, run=run, theorem=thm.name)


class Record(NamedTuple):
    experiment: Experiment
    outcome: Outcome | None
    seconds: float
    error: str | None

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "ERROR"
        return "holds" if self.outcome.holds else "FAILS (finding)"


#: The experiment modules, listed explicitly (one discovery mechanism with the method table and
#: the theorem modules); ``tests/test_validation.py`` checks the list against the files.
MODULES = (
    "average_reward",
    "duality_gap_factor",
    "exact_agreement",
    "gpu_exactness",
    "learning_adversarial",
    "learning_regret",
    "learning_reward_free",
    "llm_estimators_kl",
    "llm_estimators_learning",
    "llm_estimators_variance",
    "llm_losses_coverage",
    "llm_losses_divergence",
    "llm_losses_frontier",
    "mdp_mirror_prox",
    "nlhf_egpo_rate",
    "nlhf_identities",
    "nlhf_mmd_rate",
    "nlhf_nash_md_bias",
    "nlhf_nash_md_rate",
    "nlhf_nash_mp_exploitability",
    "nlhf_nash_mp_log_span",
    "nlhf_nash_mp_rate",
    "nlhf_omwu_last_iterate",
    "nlhf_query_comparison",
    "nlhf_sppo_average",
    "nlhf_step_size_sweep",
    "pg_brrl",
    "pg_entropy_npg",
    "pg_hard_chain",
    "pg_npg_akm",
    "pg_pi_limit",
    "pg_pmd_rates",
    "pg_rlhf",
    "pg_softmax_mei",
    "pi_monotone",
    "rps_equilibria",
    "rvi_gain_bounds",
    "soft_value_iteration",
    "vi_certified_bounds",
    "vi_contraction",
)


def experiments() -> list[Experiment]:
    """All experiments, in :data:`MODULES` order (module-name order)."""
    return [importlib.import_module(f"{__name__}.{name}").EXPERIMENT for name in MODULES]


def _json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    return str(o)


def _progress(i: int, n: int, name: str, stream) -> None:
    width = 24
    filled = int(width * i / n)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {i}/{n} {name:<40}")
    stream.flush()


def run_all(out_dir: str | Path = "report", quick: bool = False, only: list[str] | None = None,
            stream=None, formats: tuple[str, ...] = ("png",)) -> list[Record]:
    """Run every experiment, write figures, JSON and ``report.md`` into ``out_dir``.

    ``stream``: where the progress line goes (default: ``sys.stderr`` at call time).
    ``formats``: the figure files written per experiment (``png``, vector ``pdf`` / ``svg``, see
    :func:`polopt.plotting.save_figure`); figures are drawn in :func:`polopt.plotting.style`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from polopt import plotting

    stream = sys.stderr if stream is None else stream  # read at call time: stderr may have been replaced
    formats = tuple(formats)
    bad = [f for f in formats if f not in plotting.FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of {plotting.FORMATS}, got {formats}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    exps = experiments()
    if only:
        unknown = sorted(set(only) - {e.name for e in exps})
        if unknown:
            raise ValueError(f"unknown experiment(s) {unknown}; available: {[e.name for e in exps]}")
        exps = [e for e in exps if e.name in only]
    records = []
    for i, exp in enumerate(exps):
        _progress(i, len(exps), exp.name, stream)
        t0 = time.perf_counter()
        try:
            with plotting.style():
                outcome = exp.run(quick)
            err = None
        except Exception as exc:  # a failing experiment is reported, not hidden
            outcome, err = None, f"{type(exc).__name__}: {exc}"
        dt = time.perf_counter() - t0
        if outcome is not None:
            plotting.save_figure(outcome.figure, out / exp.name, formats)
            plt.close(outcome.figure)
            payload = {"claim": exp.claim, "source": exp.source, "confidence": exp.confidence, "theorem": exp.theorem,
                       "measured": outcome.measured, "holds": outcome.holds, "seconds": dt,
                       "data": outcome.data}
            (out / f"{exp.name}.json").write_text(json.dumps(payload, indent=1, default=_json_default))
        records.append(Record(exp, outcome, dt, err))
    _progress(len(exps), len(exps), "done", stream)
    stream.write("\n")
    shown = "png" if "png" in formats else formats[0]
    (out / "report.md").write_text(render_report(records, quick, figure_format=shown))
    return records


def render_report(records: list[Record], quick: bool, figure_format: str = "png") -> str:
    """``report.md``: one row per claim; a PNG figure is shown inline, a vector one linked."""
    from polopt.theory import CONFIDENCE_MEANING

    meaning = ", ".join(f"`{k}` = {v}" for k, v in CONFIDENCE_MEANING.items())
    lines = [
        "# polopt validation report",
        "",
        f"Mode: {'quick' if quick else 'full'}. Each row is one claim, checked numerically against the "
        f"exact optimum. Confidence: {meaning}.",
        "",
        "| claim | source | confidence | measured | verdict | figure |",
        "|---|---|---|---|---|---|",
    ]
    for rec in records:
        e = rec.experiment
        measured = rec.error if rec.error else rec.outcome.measured
        shown = "!" if figure_format == "png" else ""  # markdown viewers show PNG inline, link PDF / SVG
        fig = f"{shown}[{e.name}]({e.name}.{figure_format})" if rec.outcome is not None else ""
        row = [e.claim, e.source, e.confidence, measured, rec.verdict, fig]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |")
    n_fail = sum(r.verdict != "holds" for r in records)
    lines += ["", f"{len(records) - n_fail} of {len(records)} claims hold."]
    return "\n".join(lines) + "\n"
