"""Shared pieces of the NLHF experiments (``validation/nlhf_*.py``); defines no experiment itself.

Instances: perturbed rock-paper-scissors (uniform mu; the normal-form example of Sokota et al.,
arXiv 2206.05825) and EGPO-style random 10 x 10 games (strictly-lower entries U(0, 1), reference
softmax(N(0, 1)) logits; Zhou, Fazel, Du, arXiv 2503.08942, simulations), each at beta in
{0.001, 0.01, 0.1}. This is also the calibration sweep of the ``measured`` Nash-MP constants
(``polopt.theory.nlhf.NASH_MP_SWEEP``); their held-out tests avoid these seeds, sizes and betas.

:func:`rate_module` builds the experiment of one rate theorem (claim, source and confidence read
from the theorem, see :meth:`validation.Experiment.from_theorem`).
"""

from __future__ import annotations

import warnings

import numpy as np

import polopt as po
from polopt.plotting import LOG_FLOOR
from polopt.problems import catalogue
from polopt.problems.random import random_intransitive

BETAS = (0.001, 0.01, 0.1)


def instances(quick: bool, betas=BETAS) -> dict:
    """``{label: game}``: perturbed RPS and EGPO random 10 x 10 games (1 seed quick, 3 full) per beta."""
    out = {}
    for beta in betas:
        out[f"RPS beta={beta:g}"] = catalogue.perturbed_rps(beta=beta)
        for seed in range(1 if quick else 3):
            out[f"EGPO 10x10 s{seed} beta={beta:g}"] = random_intransitive(10, seed=seed, beta=beta, reference="random")
    return out


def iterations(beta: float, quick: bool) -> int:
    """Enough iterations to see the linear phase at this beta (capped in quick mode)."""
    full = int(min(3000, max(300, 3.0 / beta)))
    return min(full, 120) if quick else full


def solve(game, method, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        return po.solve(game, method=method, **kw)


def semilogy(ax, x, y, **kw):
    ax.semilogy(x, np.maximum(np.asarray(y, dtype=float), LOG_FLOOR), **kw)


def rate_experiment(method: str, theorem: str, hparams_of, quick: bool, fig_axes, sampled: int | None = 100,
                    cert: str = "kl_to_optimum"):
    """Run ``method`` on every instance, check ``theorem``, draw certificate ``cert`` and the bound;
    sampled runs (``num_samples = sampled`` comparisons per action and oracle call) drawn too.

    ``hparams_of(game) -> dict``. Returns ``(worst_ratio, failures, rows)``.
    """
    ax_kl, ax_dg = fig_axes
    worst, failures, rows = 0.0, [], []
    for i, (label, game) in enumerate(instances(quick).items()):
        T = iterations(game.beta, quick)
        res = solve(game, method, iters=T, tol=1e-300, **hparams_of(game))
        verdict = po.theory.check(res, theorem)
        worst = max(worst, verdict.worst_ratio)
        if not verdict.holds:
            failures.append(label)
        rows.append({"instance": label, "iters": res.num_iter, "holds": verdict.holds,
                     "worst_ratio": verdict.worst_ratio, "final_kl": float(res.certificates["kl_to_optimum"][-1])})
        t = np.arange(res.num_iter + 1)
        color = f"C{i % 10}"
        semilogy(ax_kl, t, res.certificates[cert], color=color, lw=1.5, label=label)
        semilogy(ax_kl, t, po.theory.get(theorem).bound(res, t), color=color, lw=0.9, ls="--")
        semilogy(ax_dg, t, res.certificates["duality_gap"], color=color, lw=1.5, label=f"{label} exact")
        if sampled and i % 3 == 0:
            rs = solve(game, method, iters=T, tol=1e-300, num_samples=sampled, seed=0, **hparams_of(game))
            semilogy(ax_dg, np.arange(rs.num_iter + 1), rs.certificates["duality_gap"], color=color, lw=0.8,
                     ls=":", label=f"{label} sampled ({sampled}/action)")
    ax_kl.set_title(f"{cert} (solid); dashed: {theorem} bound", fontsize=9)
    ax_dg.set_title("duality gap DG_beta (exact solid, sampled dotted)", fontsize=9)
    for ax in (ax_kl, ax_dg):
        ax.set_xlabel("iteration t")
        ax.grid(True, which="both", alpha=0.3)
    ax_kl.legend(fontsize=6)
    ax_dg.legend(fontsize=6)
    return worst, failures, rows


def measured(n: int, worst: float, failures: list) -> str:
    return f"{n} runs; max_t KL/bound = {worst:.3g}" + (f"; violated on {failures}" if failures else "")


def rate_module(name: str, theorem: str, method: str, hparams_of, setting: str, title: str, **kw):
    """``Experiment`` that runs :func:`rate_experiment` for ``theorem`` with ``method`` and ``hparams_of(game)``.

    ``setting`` names the hyper-parameters (it is appended to the theorem's statement in the claim);
    ``kw`` go to :func:`rate_experiment`.
    """
    from . import Experiment, Outcome
    from ._common import figure

    def run(quick: bool) -> Outcome:
        fig, axes = figure(2, title)
        worst, failures, rows = rate_experiment(method, theorem, hparams_of, quick, axes, **kw)
        return Outcome(measured(len(rows), worst, failures), not failures, fig, {"rows": rows})

    return Experiment.from_theorem(theorem, run, name=name,
                                   setting=f"{setting}, on perturbed RPS and EGPO 10 x 10 games, beta in {BETAS}")
