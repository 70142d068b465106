"""Guarantees of the Nash-learning-from-human-feedback rules on preference games.

Set-up: ``P + P^T = 1``, reference ``mu``, KL coefficient ``beta``; ``pi*_beta`` is the unique
equilibrium of ``J_beta(pi, pi') = pi^T P pi' - beta KL(pi||mu) + beta KL(pi'||mu)``. Certificates
are those of :mod:`polopt._methods.nlhf`: ``kl_to_optimum`` = ``KL(pi*_beta || pi_t)``,
``exploitability`` = ``f_beta(pi_t)``, ``duality_gap_unregularized(_average)`` = ``DG_0``; every
bound below is a function of the instance, the hyper-parameters and ``t``.

The Lipschitz constant of the preference operator is ``L = 1/2`` in the ``(l1, l_inf)`` pair
(``||P(pi - pi')||_inf <= ||pi - pi'||_1 / 2`` since columns of ``P - 1/2`` lie in ``[-1/2, 1/2]``).

==========================  ==================================================  ===========
theorem                     bound                                               confidence
==========================  ==================================================  ===========
nash_mp.kl                  ``KL_t <= (1 + eta beta)^{-t} KL_0``, ``eta <= 2``    recalled
nash_mp.exploitability      ``f_t <= C_f (1 + eta beta)^{-t} KL_0``, C_f = 2     measured
nash_mp.log_span            ``sp_t <= C_sp (1 + eta beta)^{-t} sp_0``, C_sp = 30 measured
nash_mp.egpo_identity       Nash-MP(eta) = EGPO(eta / (1 + eta beta))           derived
egpo.linear_rate            ``KL_t <= (1 - s beta)^t KL_0``, ``s <= 2/(1+2beta)``  recalled
nash_md.rate                ``KL_T <= 8 / (beta^2 (T + 1))``, decaying step       recalled
nash_md.bias                ``KL_t <= (1 - eta beta)^t KL_0 + 2 eta / beta``       derived
sppo.average_duality_gap    ``DG_0(avg_m) <= 2 (log(1/min pi_0)/(eta m) + eta/8)``  derived
mmd.rate                    ``KL_t <= (1 + eta beta)^{-t} KL_0``, ``eta <= 4 beta`` recalled
mmd.omd_identity            MMD(eta) = OMD / INPO(eta / (1 + eta beta))         derived
==========================  ==================================================  ===========

``measured`` constants (``C_f``, ``C_sp``) were measured by polopt on :data:`NASH_MP_SWEEP`; the
property tests check them on held-out instances (other seeds, sizes, ``beta`` and ``eta``), and
the held-out counterexample of ``C_f`` at ``beta >= 2`` is kept as a test.

A theorem with a step-size condition states its range once, as ``Theorem.max_step(problem)``;
a bound whose step-size condition is not met raises ``ValueError`` (the theorem does not
apply); the formula functions (``*_bound``) evaluate the expression for any step so that
validation can show where it stops holding. Findings (bounds that fail) are kept as tests in
``tests/test_theory_nlhf.py`` and reported by ``validation/nlhf_*.py``.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._base import ABS_SLACK, RATE_SLACK
from .registry import Theorem, Verdict, register

#: Lipschitz constant of ``pi -> P pi`` from l1 to l_inf.
LIPSCHITZ = 0.5
#: Nash-MP's step-size condition ``eta <= 1 / L``.
NASH_MP_MAX_ETA = 1.0 / LIPSCHITZ
#: The sweep the two measured Nash-MP constants come from. Held-out instances for their tests use
#: other seeds (>= 1000), sizes (not 3 or 10), ``beta`` (not these values) and ``eta`` (< 2 too).
NASH_MP_SWEEP = (
    "polopt's own sweep, eta = 2 only: the validation instances (validation/nlhf_common.py: perturbed RPS and "
    "EGPO random 10 x 10 games, seeds 0-2, random reference, beta in {1e-3, 1e-2, 0.1}, plus beta = 1 for C_f) "
    "and 864 runs on tournaments, EGPO games and mixed {0, 1/2, 1, U(0,1)} games, n in 2..50, beta in "
    "{1e-3, 1e-2, 0.1, 1}, uniform and random mu"
)
#: The ``beta`` values of :data:`NASH_MP_SWEEP` (held-out tests draw other values).
NASH_MP_SWEEP_BETAS = (1e-3, 1e-2, 0.1, 1.0)
#: Measured prefactor of the exploitability rate (max of ``f_t / ((1+2beta)^{-t} KL_0)`` over
#: :data:`NASH_MP_SWEEP` was 1.5; 2.0 leaves a margin). Held-out finding: it fails at ``t = 0`` on
#: instances with ``beta >= 2`` (``f(mu) / KL(pi*||mu) -> beta`` as ``beta -> inf``), see
#: ``tests/test_theory_nlhf.py``. An earlier reported 0.73 fails too.
NASH_MP_EXPLOITABILITY_C = 2.0
#: Measured prefactor of the log-span rate (:data:`NASH_MP_SWEEP`: max 5.9, at beta = 1e-3); an
#: earlier polopt sweep reported 28 at beta = 0.01, so we register 30.
NASH_MP_LOG_SPAN_C = 30.0
#: ``beta`` from which the measured exploitability constant fails at ``t = 0`` on some instances
#: (held-out finding: perturbed RPS at ``beta = 2``; below ``beta = 1.5`` none was found).
NASH_MP_EXPLOITABILITY_C_FAILS_FROM_BETA = 2.0
#: Two runs of one recursion written with different step parameterisations: per-step round-off
#: ~1e-16 on contracting maps; probabilities agree far below this.
IDENTITY_TRAJECTORY_TOL = 1e-10

TIAPKIN = ("D. Tiapkin, D. Calandriello, D. Belomestny, E. Moulines, A. Naumov, K. Rasul, M. Valko, "
           "P. Menard, 'Accelerating Nash Learning from Human Feedback via Mirror Prox' (v1, 2025)")
ZHOU = ("R. Zhou, M. Fazel, S. S. Du, 'Extragradient Preference Optimization (EGPO): Beyond "
        "Last-Iterate Convergence for Nash Learning from Human Feedback' (2025)")
MUNOS = "R. Munos et al., 'Nash Learning from Human Feedback' (ICML 2024)"
WU = "Y. Wu, Z. Sun, H. Yuan, K. Ji, Y. Yang, Q. Gu, 'Self-Play Preference Optimization for Language Model Alignment'"
SOKOTA = ("S. Sokota, R. D'Orazio, J. Z. Kolter, N. Loizou, M. Lanctot, I. Mitliagkas, N. Brown, C. Kroer, "
          "'A Unified Approach to Reinforcement Learning, Quantal Response Equilibria, and Two-Player "
          "Zero-Sum Games' (ICLR 2023)")
ZHANG = "Y. Zhang et al., 'Iterative Nash Policy Optimization (INPO)' (ICLR 2025)"

# canonical method-table names; aliases (nash_mp, egpo, ...) are resolved by the registry
NASH_MP_METHODS = ("mirror_prox",)
EGPO_METHODS = ("extragradient",)
SPPO_METHODS = ("sppo", "dno")
MMD_METHODS = ("mmd",)
OMD_METHODS = ("inpo",)


# --------------------------------------------------------------------------- formulas
def nash_mp_kl_bound(kl0, beta, eta, t):
    """``KL_0 (1 + eta beta)^{-t}``: Nash-MP's last-iterate KL rate (valid for ``eta <= 2``)."""
    return kl0 * (1.0 + eta * beta) ** (-np.asarray(t, dtype=np.float64))


def egpo_kl_bound(kl0, beta, s, t):
    """``KL_0 (1 - s beta)^t``: EGPO's last-iterate KL rate (``= nash_mp_kl_bound`` at ``eta = s/(1 - s beta)``)."""
    return kl0 * (1.0 - s * beta) ** np.asarray(t, dtype=np.float64)


#: EGPO's step range, stated once: the image of Nash-MP's ``eta <= 2`` under ``s = eta / (1 + eta beta)``.
EGPO_STEP_RANGE = "2 / (1 + 2 beta) (Nash-MP's eta <= 2 under s = eta / (1 + eta beta))"


def egpo_max_step(beta):
    """EGPO steps covered: the image ``2 / (1 + 2 beta)`` of Nash-MP's ``eta <= 2`` under ``s = eta/(1+eta beta)``."""
    return NASH_MP_MAX_ETA / (1.0 + NASH_MP_MAX_ETA * beta)


def mmd_max_step(beta):
    """MMD's condition ``eta <= alpha / L^2`` with ``alpha = beta``, ``L = 1/2``: ``4 beta``."""
    return beta / LIPSCHITZ**2


def nash_md_decaying_bound(beta, t):
    """``8 / (beta^2 (t + 1))``: Nash-MD with ``eta_t = 2 / (beta (t + 2))``."""
    return 8.0 / (beta**2 * (np.asarray(t, dtype=np.float64) + 1.0))


def nash_md_constant_bound(kl0, beta, eta, t):
    """``(1 - eta beta)^t KL_0 + 2 eta / beta``: Theorem 1's recursion unrolled at a constant step.

    Valid for ``eta beta <= 1``.
    """
    return (1.0 - eta * beta) ** np.asarray(t, dtype=np.float64) * kl0 + 2.0 * eta / beta


def sppo_average_gap_bound(eta, t, log_inv_min_pi0):
    """``2 (log(1/min pi_0) / (eta m) + eta / 8)`` with ``m = t + 1`` averaged iterates ``pi_0..pi_t``.

    ``= sqrt(2 ln n / m)`` for uniform ``pi_0`` at ``eta = sqrt(8 ln n / m)`` (``proofs/sppo_hedge_proof.py``).
    """
    m = np.asarray(t, dtype=np.float64) + 1.0
    return 2.0 * (log_inv_min_pi0 / (eta * m) + eta / 8.0)


def log_span(log_p, log_q):
    """``sp(log p - log q) = max - min`` along the action axis, ``[..., K] -> [...]``."""
    d = np.asarray(log_p, dtype=np.float64) - np.asarray(log_q, dtype=np.float64)
    return np.max(d, axis=-1) - np.min(d, axis=-1)


# --------------------------------------------------------------------------- result helpers
def _beta(res) -> float:
    if "beta" in res.info:
        return float(res.info["beta"])
    return float(res.problem.beta)


def _eta(res) -> float:
    eta = res.hparams.get("eta")
    if eta is None:
        raise ValueError(f"result of {res.method!r} records no step size eta in hparams {dict(res.hparams)}")
    return float(eta)


def _require_exact(res, name: str) -> None:
    """Rate theorems are about the exact (full-information) rules."""
    for key in ("num_samples", "inner_steps"):
        if res.hparams.get(key) is not None:
            raise ValueError(
                f"theorem {name!r} is stated for the exact rule; the result used {key}={res.hparams[key]!r}"
            )


def _require_positive_beta(res, name: str) -> float:
    beta = _beta(res)
    if not beta > 0:
        raise ValueError(f"theorem {name!r} needs beta > 0 (the regularized game), got beta={beta!r}")
    return beta


def _kl0(res) -> float:
    return float(np.asarray(res.certificates["kl_to_optimum"])[0])


# --------------------------------------------------------------------------- Nash-MP
def _nash_mp_step(res, name):
    _require_exact(res, name)
    beta = _require_positive_beta(res, name)
    eta = _eta(res)
    if eta > NASH_MP_MAX_ETA:
        raise ValueError(
            f"theorem {name!r} needs eta <= 1/L = {NASH_MP_MAX_ETA:g} (L = 1/2); got eta={eta:g}. "
            "It fails beyond (tournaments, small beta): see nash_mp_kl_bound for the formula"
        )
    return beta, eta


def _nash_mp_kl(res, t):
    beta, eta = _nash_mp_step(res, "nash_mp.kl")
    return nash_mp_kl_bound(_kl0(res), beta, eta, t)


register(
    Theorem(
        name="nash_mp.kl",
        statement="Nash Mirror Prox, exact, eta <= 2 (= 1/L, L = 1/2): KL(pi*_beta || pi_k) <= (1 + eta beta)^{-k} "
        "KL(pi*_beta || pi_0); at eta = 2 and pi_0 = mu this is (1 + 2 beta)^{-k} KL(pi*_beta||mu) <= "
        "(1 + 2 beta)^{-k} / (2 beta). The abstract states the order (1 + 2 beta)^{-N/2} in N = 2k preference "
        "queries; the step condition and constant are our reconstruction. Fails for eta > 2 on tournaments at "
        "small beta (a finding).",
        methods=NASH_MP_METHODS,
        certificate="kl_to_optimum",
        bound=_nash_mp_kl,
        source=TIAPKIN,
        arxiv="2505.19731 (v1)",
        equation="abstract (rate order); theorem number not retrieved",
        confidence="recalled",
        max_step=lambda game: NASH_MP_MAX_ETA,
    )
)


def _nash_mp_exploitability(res, t):
    beta, eta = _nash_mp_step(res, "nash_mp.exploitability")
    return NASH_MP_EXPLOITABILITY_C * nash_mp_kl_bound(_kl0(res), beta, eta, t)


register(
    Theorem(
        name="nash_mp.exploitability",
        statement=f"Nash Mirror Prox, exact, eta <= 2: f_beta(pi_k) <= C (1 + eta beta)^{{-k}} KL(pi*_beta||pi_0) "
        f"with C = {NASH_MP_EXPLOITABILITY_C:g} measured by polopt (not the paper's constant; the paper states a "
        f"linear rate independent of n). FAILS at k = 0 on instances with beta >= "
        f"{NASH_MP_EXPLOITABILITY_C_FAILS_FROM_BETA:g} (held-out finding)",
        methods=NASH_MP_METHODS,
        certificate="exploitability",
        bound=_nash_mp_exploitability,
        source=TIAPKIN,
        arxiv="2505.19731 (v1)",
        equation="abstract (linear rate); constant measured by polopt",
        confidence="measured",
        max_step=lambda game: NASH_MP_MAX_ETA,
        note=f"C measured on {NASH_MP_SWEEP} (max 1.5). Held out (tests/test_theory_nlhf.py: other seeds, sizes, "
        "beta and eta <= 2) it holds for beta <= 1 and fails at k = 0 from beta = 2 on: f_beta(mu) / "
        "KL(pi*_beta || mu) -> beta as beta -> inf, so no beta-free constant exists; the counterexample "
        "(perturbed RPS, beta = 3) is kept as a test and C is not loosened.",
    )
)


def nash_mp_log_spans(res) -> np.ndarray:
    """``sp(log pi_t - log pi*_beta)`` for every iterate ``[T+1]`` (contexts-weighted for contextual games).

    Raises ValueError where it is undefined in float64 (a zero probability in ``pi*`` or an iterate).
    """
    pi_star = np.asarray(res.optimum.policy, dtype=np.float64)
    its = np.asarray(res.iterates, dtype=np.float64)
    if np.any(pi_star <= 0) or np.any(its <= 0):
        raise ValueError(
            "log-span sp(log pi_t - log pi*) is undefined: a probability underflowed to 0 in float64 "
            f"(min pi* = {pi_star.min():.3g}, min iterate = {its.min():.3g}); use a larger beta"
        )
    spans = log_span(np.log(its), np.log(pi_star))
    if spans.ndim == 2:  # contextual: [T+1, X] -> weighted by the context distribution
        spans = spans @ np.asarray(res.problem.rho, dtype=np.float64)
    return spans


def _nash_mp_log_span(res) -> Verdict:
    from .registry import bound_verdict

    beta, eta = _nash_mp_step(res, "nash_mp.log_span")
    spans = nash_mp_log_spans(res)
    t = np.arange(spans.shape[0])
    return bound_verdict(spans, NASH_MP_LOG_SPAN_C * spans[0] * (1.0 + eta * beta) ** (-t.astype(float)))


register(
    Theorem(
        name="nash_mp.log_span",
        statement=f"Nash Mirror Prox, exact, eta <= 2: sp(log pi_k - log pi*_beta) <= C (1 + eta beta)^{{-k}} "
        f"sp(log pi_0 - log pi*_beta), sp(v) = max v - min v, with C = {NASH_MP_LOG_SPAN_C:g} measured by polopt "
        "(the span is not monotone; the paper's uniform bound has a constant we did not retrieve)",
        methods=NASH_MP_METHODS,
        certificate="",
        bound=None,
        source=TIAPKIN,
        arxiv="2505.19731 (v1)",
        equation="abstract (span semi-norm, linear); constant measured by polopt",
        confidence="measured",
        checker=_nash_mp_log_span,
        max_step=lambda game: NASH_MP_MAX_ETA,
        note=f"C measured on {NASH_MP_SWEEP} (max 5.9 at beta = 1e-3; an earlier polopt sweep found 28 at "
        "beta = 0.01). Held out (tests/test_theory_nlhf.py: other seeds, sizes, beta and eta <= 2) no "
        "violation was found.",
    )
)


def _solve_quiet(problem, method, **kw):
    from ..solve import solve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve(problem, method=method, **kw)


def common_iterates(res_a, res_b) -> tuple[np.ndarray, np.ndarray]:
    """The iterates ``t = 0..n`` both results recorded; ``ValueError`` if their policies differ in shape.

    A run stops as soon as a certificate is exactly 0 (``tol`` must be > 0), so two twins
    may record different numbers of iterates: past the shorter one there is nothing to compare.
    """
    a, b = np.asarray(res_a.iterates), np.asarray(res_b.iterates)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"iterates of different policy shapes: {a.shape[1:]} and {b.shape[1:]}")
    n = min(a.shape[0], b.shape[0])
    return a[:n], b[:n]


def identity_gap(res_a, res_b) -> float:
    """``max_t max |pi^a_t - pi^b_t|`` over the iterates both results recorded."""
    a, b = common_iterates(res_a, res_b)
    return float(np.max(np.abs(a - b)))


def _identity_verdict(res, twin_method, twin_eta) -> Verdict:
    _require_exact(res, "identity")
    # tol far below round-off: the twin runs exactly as many updates as res recorded
    twin = _solve_quiet(res.problem, twin_method, eta=twin_eta, iters=res.num_iter, init=np.asarray(res.iterates[0]),
                        tol=np.finfo(np.float64).tiny)
    gap = identity_gap(res, twin)
    ok = gap <= IDENTITY_TRAJECTORY_TOL
    if ok:
        return Verdict(True, gap / IDENTITY_TRAJECTORY_TOL, None)
    a, b = common_iterates(res, twin)
    diff = np.max(np.abs(a - b).reshape(a.shape[0], -1), axis=1)
    return Verdict(False, gap / IDENTITY_TRAJECTORY_TOL, int(np.flatnonzero(diff > IDENTITY_TRAJECTORY_TOL)[0]))


def _nash_mp_egpo_identity(res) -> Verdict:
    beta, eta = _beta(res), _eta(res)
    return _identity_verdict(res, "extragradient", eta / (1.0 + eta * beta))


register(
    Theorem(
        name="nash_mp.egpo_identity",
        statement="Nash-MP with step eta and tabular EGPO with step s = eta / (1 + eta beta) produce the same "
        "iterates from the same start (checked by re-running EGPO; max |pi_MP - pi_EG| <= "
        f"{IDENTITY_TRAJECTORY_TOL:g})",
        methods=NASH_MP_METHODS,
        certificate="",
        bound=None,
        source="polopt derivation, proofs/nash_mp_egpo_proof.py",
        arxiv="2505.19731, 2503.08942",
        equation=None,
        confidence="derived",
        checker=_nash_mp_egpo_identity,
    )
)


# --------------------------------------------------------------------------- EGPO
def _egpo_rate(res, t):
    name = "egpo.linear_rate"
    if res.hparams.get("form", "tabular") != "tabular":
        raise ValueError(f"theorem {name!r} is stated for the tabular form, got form={res.hparams['form']!r}")
    _require_exact(res, name)
    beta = _require_positive_beta(res, name)
    s = _eta(res)
    if s > egpo_max_step(beta):
        raise ValueError(
            f"theorem {name!r} needs s <= {EGPO_STEP_RANGE} = {egpo_max_step(beta):.6g}; got s={s:g}"
        )
    return egpo_kl_bound(_kl0(res), beta, s, t)


register(
    Theorem(
        name="egpo.linear_rate",
        statement=f"tabular EGPO, exact, step s <= {EGPO_STEP_RANGE}: KL(pi*_beta || pi_t) <= (1 - s beta)^t KL_0",
        methods=EGPO_METHODS,
        certificate="kl_to_optimum",
        bound=_egpo_rate,
        source=ZHOU,
        arxiv="2503.08942",
        equation="linear last-iterate theorem; number not retrieved",
        confidence="recalled",
        max_step=lambda game: egpo_max_step(game.beta),
        note="The paper's condition (recalled) is of the type s <= 1 / (beta + 2), which lies inside the range "
        "stated here (1 / (beta + 2) <= 2 / (1 + 2 beta) for beta >= 0); the range is the image of Nash-MP's "
        "eta <= 2 under the identity s = eta / (1 + eta beta) (proofs/nash_mp_egpo_proof.py).",
    )
)


# --------------------------------------------------------------------------- Nash-MD
def _nash_md_rate(res, t):
    name = "nash_md.rate"
    _require_exact(res, name)
    beta = _require_positive_beta(res, name)
    if res.hparams.get("schedule", "constant") != "decaying":
        raise ValueError(f"theorem {name!r} needs schedule='decaying' (eta_t = 2/(beta(t+2))), got "
                         f"{res.hparams.get('schedule', 'constant')!r}; for a constant step see nash_md.bias")
    return nash_md_decaying_bound(beta, t)


register(
    Theorem(
        name="nash_md.rate",
        statement="Nash-MD with the decaying step eta_t = 2 / (beta (t + 2)): KL(pi*_beta || pi_T) <= "
        "8 / (beta^2 (T + 1))",
        methods=("nash_md",),
        certificate="kl_to_optimum",
        bound=_nash_md_rate,
        source=MUNOS,
        arxiv="2312.00886",
        equation="Theorem 1 (recalled)",
        confidence="recalled",
    )
)


def _nash_md_bias(res, t):
    name = "nash_md.bias"
    _require_exact(res, name)
    beta = _require_positive_beta(res, name)
    if res.hparams.get("schedule", "constant") != "constant":
        raise ValueError(f"theorem {name!r} is for a constant step; got schedule={res.hparams['schedule']!r}")
    eta = _eta(res)
    if eta * beta > 1.0:
        raise ValueError(f"theorem {name!r} needs eta beta <= 1; got eta beta = {eta * beta:g}")
    return nash_md_constant_bound(_kl0(res), beta, eta, t)


register(
    Theorem(
        name="nash_md.bias",
        statement="Nash-MD with a constant step eta (eta beta <= 1): KL(pi*_beta || pi_t) <= (1 - eta beta)^t KL_0 "
        "+ 2 eta / beta (Theorem 1's recursion KL_{t+1} <= (1 - eta beta) KL_t + 2 eta^2 unrolled); the last "
        "iterate keeps an O(eta) bias: its fixed point solves pi ∝ mu exp(P pi^mu / beta)",
        methods=("nash_md",),
        certificate="kl_to_optimum",
        bound=_nash_md_bias,
        source=MUNOS,
        arxiv="2312.00886",
        equation="Theorem 1 (recursion recalled), unrolled",
        confidence="derived",
        max_step=lambda game: 1.0 / game.beta,
        note="Derived here; no proof module in proofs/ covers it. The derivation is the geometric sum: with "
        "a = 1 - eta beta in [0, 1], KL_t <= a^t KL_0 + 2 eta^2 sum_{k<t} a^k <= a^t KL_0 + 2 eta^2 / (eta beta) "
        "= a^t KL_0 + 2 eta / beta. Its premise, the one-step recursion KL_{t+1} <= (1 - eta beta) KL_t + 2 eta^2 "
        "of Munos et al. Theorem 1, is recalled, not read.",
    )
)


# --------------------------------------------------------------------------- SPPO / MWU
def _sppo_average_gap(res, t):
    name = "sppo.average_duality_gap"
    _require_exact(res, name)
    if res.hparams.get("form", "exact") != "exact":
        raise ValueError(f"theorem {name!r} is for the exact MWU step, got form={res.hparams['form']!r}")
    pi0 = np.asarray(res.iterates[0], dtype=np.float64)
    if np.any(pi0 <= 0):
        raise ValueError(f"theorem {name!r} needs pi_0 > 0 (its bound has log(1/min pi_0)); min pi_0 = {pi0.min():g}")
    log_inv = -np.log(pi0.min(axis=-1))
    if np.ndim(log_inv) > 0:  # contextual: the bound is linear in log(1/min pi_0); weight by the contexts
        log_inv = float(log_inv @ np.asarray(res.problem.rho, dtype=np.float64))
    return sppo_average_gap_bound(_eta(res), t, log_inv)


register(
    Theorem(
        name="sppo.average_duality_gap",
        statement="SPPO / multiplicative weights (exact, step eta, rewards P pi in [0, 1]): the average of "
        "pi_0..pi_t has DG_0 <= 2 (log(1/min pi_0) / (eta (t+1)) + eta / 8); = sqrt(2 ln n / T) at "
        "eta = sqrt(8 ln n / T) from uniform pi_0. The last iterate does not converge.",
        methods=SPPO_METHODS,
        certificate="duality_gap_unregularized_average",
        bound=_sppo_average_gap,
        source=WU + " (O(1/sqrt T) rate); constants by Hedge's regret bound, proofs/sppo_hedge_proof.py",
        arxiv="2405.00675",
        equation="Thm 4.1 (rate, recalled); constants derived",
        confidence="derived",
    )
)


# --------------------------------------------------------------------------- MMD / OMD
def _mmd_rate(res, t):
    name = "mmd.rate"
    _require_exact(res, name)
    beta = _require_positive_beta(res, name)
    if float(res.hparams.get("magnet_eta") or 0.0) != 0.0:
        raise ValueError(f"theorem {name!r} is for a fixed magnet (magnet_eta = 0), got {res.hparams['magnet_eta']!r}")
    eta = _eta(res)
    if eta > mmd_max_step(beta):
        raise ValueError(
            f"theorem {name!r} needs eta <= alpha / L^2 = 4 beta = {mmd_max_step(beta):.6g}; got eta={eta:g}"
        )
    return nash_mp_kl_bound(_kl0(res), beta, eta, t)


register(
    Theorem(
        name="mmd.rate",
        statement="magnetic mirror descent in self-play (alpha = beta, magnet mu fixed, exact), eta <= alpha / L^2 "
        "= 4 beta: KL(pi*_beta || pi_t) <= (1 + eta beta)^{-t} KL_0 (the symmetric-game form of "
        "B(z*, z_{t+1}) <= B(z*, z_t) / (1 + eta alpha))",
        methods=MMD_METHODS,
        certificate="kl_to_optimum",
        bound=_mmd_rate,
        source=SOKOTA,
        arxiv="2206.05825",
        equation="linear convergence theorem for strongly monotone VIs (number not retrieved)",
        confidence="recalled",
        max_step=lambda game: mmd_max_step(game.beta),
    )
)


def _mmd_omd_identity(res) -> Verdict:
    beta, eta = _beta(res), _eta(res)
    if float(res.hparams.get("magnet_eta") or 0.0) != 0.0:
        raise ValueError("theorem 'mmd.omd_identity' is for a fixed magnet (magnet_eta = 0)")
    return _identity_verdict(res, "inpo", eta / (1.0 + eta * beta))


register(
    Theorem(
        name="mmd.omd_identity",
        statement="MMD with step eta (magnet mu, alpha = beta) and OMD / INPO with step s = eta / (1 + eta beta) "
        f"produce the same iterates (checked by re-running INPO; max |difference| <= {IDENTITY_TRAJECTORY_TOL:g})",
        methods=MMD_METHODS,
        certificate="",
        bound=None,
        source="polopt derivation, proofs/mmd_omd_proof.py",
        arxiv="2206.05825, 2407.00617",
        equation=None,
        confidence="derived",
        checker=_mmd_omd_identity,
    )
)


# --------------------------------------------------------------------------- optimistic MWU
DP = "Daskalakis & Panageas, Last-Iterate Convergence: Zero-Sum Games and Constrained Min-Max Optimization"


def _omwu_last_iterate(res):
    """KL(pi* || pi_t) non-increasing from t = 1 on, on a beta = 0 game with a unique Nash equilibrium."""
    name = "omwu.last_iterate"
    _require_exact(res, name)
    if float(res.info.get("beta", 0.0)) != 0.0:
        raise ValueError(f"theorem {name!r} is for the unregularized game (beta = 0), got beta = {res.info['beta']:g}")
    if not res.info.get("nash_unique", False):
        raise ValueError(f"theorem {name!r} assumes a unique Nash equilibrium; this game's is not unique")
    kl = np.asarray(res.certificates["kl_to_optimum"], dtype=np.float64)
    # t = 0 -> 1 is an MWU step (the previous gradient is the current one), which may move away
    inc = kl[2:] - kl[1:-1] * (1.0 + RATE_SLACK) - ABS_SLACK
    bad = np.flatnonzero(inc > 0)
    worst = float(np.max(np.diff(kl[1:]) / np.maximum(kl[1:-1], ABS_SLACK), initial=0.0)) + 1.0
    return Verdict(not bad.size, worst, int(bad[0]) + 2 if bad.size else None)


register(
    Theorem(
        name="omwu.last_iterate",
        statement="Optimistic MWU pi_{t+1} ∝ pi_t exp(eta (2 P pi_t - P pi_{t-1})) on a symmetric zero-sum "
        "preference game (beta = 0) with a unique Nash equilibrium pi*, small constant eta: the last iterate "
        "converges to pi*, with KL(pi* || pi_t) decreasing monotonically (checked from t = 1, the first "
        "update being an MWU step); MWU's last iterate does not converge.",
        methods=("omwu",),
        certificate="kl_to_optimum",
        bound=None,
        checker=_omwu_last_iterate,
        source=DP,
        arxiv="1807.04252",
        equation="Theorem 1.1 (last-iterate convergence; unique equilibrium, small step)",
        confidence="recalled",
        note="The abstract (read) states that OMWU monotonically improves the KL divergence to the min-max "
        "solution until a neighbourhood of it, inside which OMWU is a contraction; the step-size condition and "
        "the uniqueness assumption are recalled, not read. The check is polopt's checkable form: monotone KL "
        "from the second iterate on.",
    )
)
