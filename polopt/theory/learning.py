"""Guarantees of the learning rules: regret bounds, confidence events and optimism (UCRL-VTR, UCRL-VTR+, UCRL2).

Every theorem reads a :class:`~polopt.result.SolveResult` of ``po.solve(problem, method=..., iters=K, seed=...)``
whose certificates are exact functions of the committed policies (:mod:`polopt._methods.learning`):

==========================  ==========  ================================================================
name                        confidence  claim (``T = K H`` steps; ``d`` features; ``H`` horizon)
==========================  ==========  ================================================================
``ucrl_vtr.regret``         recalled    ``Reg(K) = O~(d sqrt(H^3 T))`` (rate: 2006.01107 abstract); checked
                                        shape only, constant 1, no log factor
``ucrl_vtr_plus.regret``    recalled    ``Reg(K) = O~(d H sqrt(T))`` (rate: 2012.08507 abstract), shape only
``ucrl2.regret``            recalled    ``T g* - sum r_t <= 34 D S sqrt(A T log(T/delta))`` w.p. >= 1 - delta
``ucrl_vtr.confidence``     derived     ``theta*_h in C_{k,h}`` for every episode and step, w.p. >= 1 - delta
``ucrl_vtr_plus.confidence``recalled    the same with UCRL-VTR+'s recalled radii
``ucrl2.confidence``        recalled    the true MDP is plausible in every episode, w.p. >= 1 - delta
``learning.optimism``       derived     in every episode where the confidence event holds, optimism and
                                        (linear mixture) the planning lemma hold: deterministic
==========================  ==========  ================================================================

The probabilistic claims are checked per run (the event in every episode); their frequency over seeds is
compared with ``delta`` in ``validation/learning_regret.py`` and ``tests/test_theory_learning.py``
(:func:`frequency_verdict`). A result whose problem violates a theorem's assumptions (``||theta*|| <= B``,
``||phi_V||_2 <= 1`` on ``[0, 1]^S``; a UCRL2 model that is not communicating) is refused by :func:`check`
(ValueError naming the assumption): ``res.info["theorem_applicable"]`` says which apply.
"""

from __future__ import annotations

import numpy as np

from .registry import Theorem, Verdict, bound_verdict, register

__all__ = ["FREQUENCY_LEVEL", "frequency_verdict", "regret_shape"]

AYOUB = "Ayoub, Jia, Szepesvari, Wang, Yang, Model-based reinforcement learning with value-targeted regression"
ZHOU = ("Zhou, Gu, Szepesvari, Nearly minimax optimal reinforcement learning for linear mixture Markov "
        "decision processes")
JAKSCH = "Jaksch, Ortner, Auer, Near-optimal regret bounds for reinforcement learning (JMLR 11, 2010)"
#: A failure count over n seeds is a finding when P(Binomial(n, delta) >= count) < this level.
FREQUENCY_LEVEL = 0.01


def _applicable(res, name: str) -> None:
    flags = res.info.get("theorem_applicable", {})
    if name in flags and not flags[name]:
        raise ValueError(f"theorem {name!r} does not apply to this result: the problem violates its assumptions "
                         "(||theta*|| <= B, ||phi_V||_2 <= 1 for V in [0, 1]^S, or a communicating model); "
                         f"res.info['theorem_applicable'] = {flags}")


def regret_shape(method: str, problem, K) -> np.ndarray:
    """The regret shapes with constant 1: ``d sqrt(H^3 T)`` (UCRL-VTR), ``d H sqrt(T)`` (UCRL-VTR+), ``T = K H``."""
    d, H = problem.dim, problem.horizon
    T = np.asarray(K, dtype=np.float64) * H
    return d * np.sqrt(H**3 * T) if method == "ucrl_vtr" else d * H * np.sqrt(T)


def _shape_checker(name: str, method: str):
    def check(res) -> Verdict:
        _applicable(res, name)
        reg = np.asarray(res.certificates["regret"])
        return bound_verdict(reg, regret_shape(method, res.problem, np.arange(reg.shape[0])))

    return check


register(Theorem(
    name="ucrl_vtr.regret",
    statement="Reg(K) = O~(d sqrt(H^3 T)), T = KH; checked as shape only: Reg(K) <= d sqrt(H^3 K H)",
    methods=("ucrl_vtr",), certificate="regret", bound=None, source=AYOUB, arxiv="2006.01107",
    equation="abstract (rate); constant and logarithms not found", confidence="recalled",
    checker=_shape_checker("ucrl_vtr.regret", "ucrl_vtr"),
    note="The rate is read in the abstract; the constant 1 and the dropped logarithms are ours (shape only). "
         "Assumes ||theta*|| <= B and ||phi_V|| <= H for V in [0, H] (recalled).",
))
register(Theorem(
    name="ucrl_vtr_plus.regret",
    statement="Reg(K) = O~(d H sqrt(T)), T = KH, matching the Omega(d H sqrt T) lower bound; checked as shape "
              "only: Reg(K) <= d H sqrt(K H)",
    methods=("ucrl_vtr_plus",), certificate="regret", bound=None, source=ZHOU, arxiv="2012.08507",
    equation="abstract (rate); finer form O~(sqrt(d^2H^2 + dH^3) sqrt T + d^2H^3 + d^3H^2) recalled",
    confidence="recalled", checker=_shape_checker("ucrl_vtr_plus.regret", "ucrl_vtr_plus"),
    note="Rate read in the abstract; constants and radii recalled. Assumes ||phi_V||_2 <= H for V: S -> [0, H] "
         "(checked exactly by polopt.problems.linear_mixture.normalization).",
))


def _ucrl2_bound(res, t):
    p, delta = res.problem, res.hparams["delta"]
    t = np.asarray(t, dtype=np.float64)
    D = res.info["diameter"]
    return 34.0 * D * p.num_states * np.sqrt(p.num_actions * t * np.log(np.maximum(t, 1.0) / delta))


def _ucrl2_regret(res) -> Verdict:
    _applicable(res, "ucrl2.regret")
    reg = np.asarray(res.certificates["sampled_regret"])
    return bound_verdict(reg, _ucrl2_bound(res, np.arange(reg.shape[0])))


register(Theorem(
    name="ucrl2.regret",
    statement="with probability >= 1 - delta, T g* - sum_t r_t <= 34 D S sqrt(A T log(T / delta)) for every T > 1 "
              "(communicating MDP, diameter D)",
    methods=("ucrl2",), certificate="sampled_regret", bound=None, source=JAKSCH, equation="Thm 2",
    confidence="recalled", checker=_ucrl2_regret,
    note="Constant 34 recalled (the O(D S sqrt(A T)) form is in the public Colosseum UCRL2 notes).",
))


def _event_checker(name: str, event: str):
    def check(res) -> Verdict:
        _applicable(res, name)
        ev = np.asarray(res.certificates[f"event_{event}"]) > 0.5
        bad = np.flatnonzero(~ev)
        return Verdict(bad.size == 0, float(bad.size) / ev.size, int(bad[0]) if bad.size else None)

    return check


register(Theorem(
    name="ucrl_vtr.confidence",
    statement="with probability >= 1 - delta, ||theta_{k,j} - theta*_j||_{Sigma_{k,j}} <= rad_{k,j} for every "
              "episode k and regression j, rad = sqrt(lam) B + R_j sqrt(2 log(n/delta) + logdet Sigma - d log lam)",
    methods=("ucrl_vtr",), certificate="event_confidence", bound=None,
    source="Abbasi-Yadkori, Pal, Szepesvari, Improved algorithms for linear stochastic bandits (NeurIPS 2011)",
    equation="Thm 2 (self-normalized bound), union bound over the n regressions", confidence="derived",
    checker=_event_checker("ucrl_vtr.confidence", "confidence"),
    note="Derivation: the targets V_{h+1}(s') lie in [0, H-h-1], so the noise y - <x, theta*> is conditionally "
         "R_j = (H-h-1)/2 sub-Gaussian (Hoeffding's lemma) with predictable features; AY11 Thm 2 holds uniformly in "
         "time with probability 1 - delta/n for each of the n regressions. Checked per run; the failure frequency "
         "over seeds is compared with delta.",
))
register(Theorem(
    name="ucrl_vtr_plus.confidence",
    statement="with probability >= 1 - delta, ||theta_hat_k - theta*||_{Sigma_hat_k} <= rad_hat_k in every episode "
              "(Bernstein-weighted regression)",
    methods=("ucrl_vtr_plus",), certificate="event_confidence", bound=None, source=ZHOU, arxiv="2012.08507",
    equation="the radii rad_hat, rad_breve, rad_tilde (recalled)", confidence="recalled",
    checker=_event_checker("ucrl_vtr_plus.confidence", "confidence"),
))
register(Theorem(
    name="ucrl2.confidence",
    statement="with probability >= 1 - delta the true MDP lies in every episode's plausible set "
              "(|r - r^| <= conf_r, ||p - p^||_1 <= conf_p)",
    methods=("ucrl2",), certificate="event_confidence", bound=None, source=JAKSCH,
    equation="Lemma 17 (P(M not in M_k) <= delta / (15 t_k^6)), recalled", confidence="recalled",
    checker=_event_checker("ucrl2.confidence", "confidence"),
))


def _optimism(res) -> Verdict:
    e1 = np.asarray(res.certificates["event_confidence"]) > 0.5
    ok = np.asarray(res.certificates["event_optimism"]) > 0.5
    if "event_planning" in res.certificates:
        ok = ok & (np.asarray(res.certificates["event_planning"]) > 0.5)
    bad = np.flatnonzero(e1 & ~ok)
    return Verdict(bad.size == 0, float(bad.size) / max(int(e1.sum()), 1), int(bad[0]) if bad.size else None)


register(Theorem(
    name="learning.optimism",
    statement="in every episode where the true model is in the confidence set: optimism rho.V^k_0 >= rho.V*_0 and "
              "the planning lemma rho.(V^k_0 - V^{pi_k}_0) <= E_{pi_k} sum_h min(H-h, 2 rad ||phi_{V^k_{h+1}}||"
              "_{Sigma^-1}) (linear mixture); max_s (T~u - u)(s) >= g* (UCRL2)",
    methods=("ucrl_vtr", "ucrl_vtr_plus", "ucrl2"), certificate="event_optimism", bound=None,
    source="W. Zhang, UCLA dissertation (2024), Lemma 2.8.1; Jaksch, Ortner, Auer (2010), Sec. 4.3",
    equation="Lemma 2.8.1 (planning); optimism by induction over h", confidence="derived", checker=_optimism,
    note="Derivation: on E1, |<theta_hat - theta*, phi_V>| <= rad ||phi_V||_{Sigma^-1}, so by induction on h "
         "Q^k_h >= min(H-h, r + P V*_{h+1}) = Q*_h; and Q^k_h - Q^pi_h <= min(H-h, 2 rad ||phi||) + P(V^k - V^pi) "
         "because P(V^k - V^pi) >= 0. UCRL2: on E1 the extended MDP contains M and is communicating, so "
         "max_s (T~u - u)(s) >= g~* >= g*. Deterministic: no failure is allowed in any run.",
))


def frequency_verdict(failures: int, runs: int, delta: float, level: float = FREQUENCY_LEVEL) -> Verdict:
    """Whether ``failures`` runs out of ``runs`` are consistent with a failure probability ``<= delta``.

    A finding when ``P(Binomial(runs, delta) >= failures) < level``; ``worst_ratio`` = observed frequency / delta.
    """
    from scipy.stats import binom  # imported when used: scipy.stats costs ~0.5 s at `import polopt`

    tail = float(binom.sf(failures - 1, runs, delta)) if failures > 0 else 1.0
    return Verdict(tail >= level, failures / runs / delta, None if tail >= level else failures)
