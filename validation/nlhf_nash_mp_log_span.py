"""Nash-MP log-span: sp(log pi_k - log pi*) <= C (1 + 2 beta)^{-k} sp_0, C measured (``nash_mp.log_span``)."""

from __future__ import annotations

import numpy as np

import polopt as po
from polopt.theory import nlhf as tn

from . import Experiment, Outcome
from ._common import figure
from .nlhf_common import instances, iterations, semilogy, solve


def run(quick: bool) -> Outcome:
    fig, (ax,) = figure(1, f"Nash-MP (eta = 2): span of log pi_k - log pi*; dashed C (1+2beta)^-k sp_0, "
                           f"C = {tn.NASH_MP_LOG_SPAN_C:g}")
    rows, failures, c_max = [], [], 0.0
    for i, (label, game) in enumerate(instances(quick, betas=(0.01, 0.1)).items()):
        res = solve(game, "mirror_prox", eta=2.0, iters=iterations(game.beta, quick), tol=1e-300)
        verdict = po.theory.check(res, "nash_mp.log_span")
        spans = tn.nash_mp_log_spans(res)
        t = np.arange(spans.shape[0])
        rate = spans[0] * (1 + 2 * game.beta) ** (-t.astype(float))
        keep = res.certificates["kl_to_optimum"] > 1e-9
        c_max = max(c_max, float(np.max(spans[keep] / rate[keep])))
        rows.append({"instance": label, "holds": verdict.holds, "worst_ratio": verdict.worst_ratio})
        if not verdict.holds:
            failures.append(label)
        semilogy(ax, t, spans, color=f"C{i}", label=label)
        semilogy(ax, t, tn.NASH_MP_LOG_SPAN_C * rate, color=f"C{i}", ls="--", lw=0.8)
    ax.set_xlabel("iteration k")
    ax.legend(fontsize=6)
    text = f"{len(rows)} runs; measured C = {c_max:.3g}" + (f"; violated on {failures}" if failures else "")
    return Outcome(text, not failures, fig, {"rows": rows, "measured_C": c_max})


EXPERIMENT = Experiment.from_theorem(
    "nash_mp.log_span", run, name="nlhf_nash_mp_log_span",
    setting="eta = 2 on perturbed RPS and EGPO 10 x 10 games, beta in {0.01, 0.1} (the calibration sweep; "
    "held-out instances are in the tests)",
)
