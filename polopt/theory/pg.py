"""Guarantees of the policy-gradient, mirror-descent and bounded-ratio rules (tabular, exact oracle).

Every theorem reads a :class:`~polopt.result.SolveResult` of ``polopt.solve(problem, method=...)``
(discounted TabularMDP, Bandit or ContextualBandit; bandits are one-step MDPs with ``gamma = 0``)
and recomputes what it needs with :mod:`polopt.exact` (values, Q, visitation of the iterates):

=========================  ==========  ===================================================================
name                       confidence  claim (``span = max r - min r``; ``rho`` = start distribution)
=========================  ==========  ===================================================================
``npg.akm``                paper       ``V*(rho) - V_t(rho) <= Phi_0/(eta t) + span/((1-gamma)^2 t)``,
                                       ``Phi_0 = E_{s~d*_rho} KL(pi*_s || pi_0(s))`` (``= log|A|`` from uniform)
``npg.pi_limit``           derived     ``eta = inf``: every step is greedy w.r.t. ``Q^{pi_t}`` (policy iteration)
``softmax_pg.mei``         paper       ``V*(rho) - V_t(rho) <= 16 S span ||d*_rho/rho||^2 ||1/rho|| /
                                       (c^2 (1-gamma)^6 t)`` x ``(1-gamma)^3/(8 eta span)`` (>= 1), ``c`` the
                                       min over the run (the larger of two restatements; see the note)
``softmax_pg.mei_bandit``  recalled    bandit, rewards in [0, 1]: ``(pi* - pi_t) . r <= 5/(c_t^2 t)`` x ``2/(5 eta)``
``entropy_npg.linear``     recalled    ``||Q*_tau - Q_tau^{t+1}|| <= C1 gamma (1 - eta tau)^t`` and
                                       ``||log pi*_tau - log pi^{t+1}|| <= 2 C1 (1 - eta tau)^t / tau``
``pmd.linear``             derived     ``e_{k+1} <= gamma e_k + max_s D(greedy_k(s), pi_k(s)) / eta_k``,
                                       ``e_k = ||V* - V_k||_inf`` (any schedule, KL or Euclidean)
``pmd.xiao_linear``        recalled    geometric steps: ``V*(rho) - V_k(rho) <= (1 - 1/theta)^k
                                       (V*(rho) - V_0(rho) + D*_0 / (eta_0 (theta - 1)))`` -- FAILS (finding)
``pmd.geometric``          derived     the same with ``D*_0 / ((1-gamma) eta_0 (theta - 1))`` (holds)
``pmd.sublinear``          paper       constant step, KL: ``V*(rho) - V_k(rho) <= (D*_0/eta + span/(1-gamma))
                                       / ((1-gamma) k)`` (AKM Thm 5.3 in PMD units)
``pmd.sublinear_euclidean`` recalled   the same with ``D = ||.||^2 / 2`` (Xiao 2022)
``brrl.improvement``       derived     ``V_{t+1} >= V_t`` and ``rho.(V_{t+1} - V_t) = eps/(1-gamma)
                                       d^{pi_{t+1}}_rho . MAD_t`` (MAD about the pi_t-median of Q_t)
``ppo.hinge``              derived     PPO's step attains ``max`` surrogate ``= eps E_{pi_t}|A_t|`` where
                                       ``(1 + eps) pi_t(A_t > 0) <= 1``, and never exceeds it
``brrl.cem``               derived     ``pi_{t+1} = lo pi_t + (1 - lo) elite_q(pi_t, Q_t)``, ``q = (1-lo)/(hi-lo)``
=========================  ==========  ===================================================================

``D*_0 = E_{s~d^{pi*}_rho} D(pi*(s), pi_0(s))`` and ``theta = ||d^{pi*}_rho / rho||_inf / (1 - gamma)``;
``c_t = min_{k <= t} min_s pi_k(a*(s)|s)`` (``softmax_pg.mei`` uses ``c = c_T``, the whole run).
Reward spans: the papers assume rewards in ``[0, 1]``; every
rule here is invariant to adding a constant to ``r`` and scaling ``r`` by ``c`` is the same as scaling
``eta`` by ``c``, so the statements above are the papers' applied to ``(r - min r)/span`` (exact).

Proofs of the ``derived`` entries: ``proofs/brrl_improvement_proof.py``, ``proofs/ppo_hinge_proof.py``,
``proofs/brrl_cem_proof.py``, ``proofs/pmd_three_point_proof.py``. Tests: ``tests/test_theory_pg.py``.
"""

from __future__ import annotations

import numpy as np

from .._base import ABS_SLACK, RATE_SLACK
from ..exact import evaluate, q_from_v
from ..problems import Bandit, ContextualBandit, TabularMDP
from .registry import Theorem, Verdict, bound_verdict, register

__all__ = [
    "cem_elite",
    "d_star",
    "iterates_sa",
    "mean_abs_dev_median",
    "mdp_of",
    "mei_constant",
    "npg_potential",
    "pmd_a_posteriori",
    "weighted_median",
]

AKM = "Agarwal, Kakade, Lee, Mahajan, 'On the Theory of Policy Gradient Methods' (JMLR 2021)"
MEI = "Mei, Xiao, Szepesvari, Schuurmans, 'On the Global Convergence Rates of Softmax Policy Gradient Methods'"
CEN = "Cen, Cheng, Chen, Wei, Chi, 'Fast Global Convergence of Natural Policy Gradient Methods with Entropy " \
      "Regularization' (Oper. Res. 2022)"
XIAO = "Xiao, 'On the Convergence Rates of Policy Gradient Methods' (JMLR 2022)"
BRRL = "Ao et al., 'Bounded Ratio Reinforcement Learning' (2026)"
PPO = "Schulman et al., 'Proximal Policy Optimization Algorithms' (2017)"


# ------------------------------------------------------------------ instance helpers
def mdp_of(res, *, regularized: bool = False) -> TabularMDP:
    """The discounted TabularMDP a result was computed on (a bandit becomes its one-step MDP, gamma = 0).

    The theorems of this module are about the plain objective: a result on the RLHF objective (a problem
    with ``beta > 0``) is refused (ValueError) unless ``regularized`` (:mod:`polopt.theory.rlhf_pg`)."""
    problem = res.problem
    if not regularized and float(getattr(problem, "beta", 0.0)) > 0:
        raise ValueError(f"this theorem is about the unregularized objective; {problem!r} has beta > 0 (the RLHF "
                         "objective): see npg.regularized_linear")
    if isinstance(problem, (Bandit, ContextualBandit)):
        r = np.asarray(problem.r, dtype=np.float64).reshape(-1, problem.num_actions)
        X, K = r.shape
        P = np.broadcast_to(np.eye(X)[:, None, :], (X, K, X)).copy()
        rho = np.asarray(problem.rho) if isinstance(problem, ContextualBandit) else np.ones(1)
        return TabularMDP(P, r, gamma=0.0, rho=rho)
    return problem.as_tabular() if hasattr(problem, "as_tabular") else problem


def iterates_sa(res) -> np.ndarray:
    """Iterates as ``[T+1, S, A]`` (a bandit's ``[T+1, K]`` gets its single state axis back)."""
    it = np.asarray(res.iterates, dtype=np.float64)
    return it[:, None, :] if it.ndim == 2 else it


def _pi_star(res, mdp) -> np.ndarray:
    return np.asarray(res.optimum.policy, dtype=np.float64).reshape(mdp.num_states, mdp.num_actions)


def _span(mdp) -> float:
    r = np.asarray(mdp.r)
    return max(float(r.max() - r.min()), np.finfo(np.float64).tiny)


def d_star(res, mdp=None) -> np.ndarray:
    """``d^{pi*}_rho [S]``: normalized discounted visitation of the result's optimal policy from ``rho``."""
    mdp = mdp_of(res) if mdp is None else mdp
    return evaluate(mdp, _pi_star(res, mdp)).occupancy.sum(axis=1)


def _kl_rows(p, q) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return terms.sum(axis=-1)


def _bregman_rows(p, q, bregman: str) -> np.ndarray:
    if bregman == "kl":
        return _kl_rows(p, q)
    return 0.5 * np.sum((p - q) ** 2, axis=-1)


def npg_potential(res, bregman: str = "kl") -> float:
    """``D*_0 = E_{s~d*_rho} D(pi*(s), pi_0(s))`` (``log|A|`` for KL from the uniform policy)."""
    mdp = mdp_of(res)
    pi0 = iterates_sa(res)[0]
    return float(d_star(res, mdp) @ _bregman_rows(_pi_star(res, mdp), pi0, bregman))


def _inv_t(t) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(t > 0, 1.0 / np.maximum(t, 1.0), np.inf)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


# ------------------------------------------------------------------ NPG (AKM Thm 5.3)
def _npg_akm_bound(res, t):
    mdp = mdp_of(res)
    eta = float(res.hparams["eta"])
    phi = npg_potential(res)
    lead = 0.0 if np.isinf(eta) else phi / eta
    return (lead + _span(mdp) / (1.0 - mdp.gamma) ** 2) * _inv_t(t)


register(
    Theorem(
        name="npg.akm",
        statement="NPG pi <- pi exp(eta A/(1-gamma))/Z: V*(rho) - V_t(rho) <= log|A|/(eta t) + 1/((1-gamma)^2 t) "
        "for rewards in [0, 1] from the uniform policy; checked in the form Phi_0/(eta t) + span(r)/((1-gamma)^2 t) "
        "with Phi_0 = E_{d*_rho} KL(pi* || pi_0) (the potential of the proof; = log|A| from uniform)",
        methods=("npg",),
        certificate="suboptimality",
        bound=_npg_akm_bound,
        source=AKM,
        arxiv="1908.00261",
        equation="Thm 5.3 (v5)",
        confidence="paper",
    )
)


def _npg_pi_limit(res) -> Verdict:
    _require(np.isinf(float(res.hparams.get("eta", 0.0))), "npg.pi_limit needs a run with eta = inf")
    mdp = mdp_of(res)
    its = iterates_sa(res)
    worst, bad = 0.0, None
    for t in range(its.shape[0] - 1):
        q = evaluate(mdp, its[t]).Q
        on = its[t] > 0
        best = np.where(on, q, -np.inf).max(axis=1, keepdims=True)
        scale = max(1.0, float(np.max(np.abs(q))))
        # mass of pi_{t+1} on actions that are not greedy for Q^{pi_t} (within round-off of the max)
        off = (its[t + 1] * (q < best - RATE_SLACK * scale)).sum(axis=1).max()
        worst = max(worst, float(off))
        if off > ABS_SLACK and bad is None:
            bad = t + 1
    return Verdict(bad is None, worst, bad)


register(
    Theorem(
        name="npg.pi_limit",
        statement="NPG / KL policy mirror descent with eta -> inf is policy iteration: pi_{t+1}(.|s) is supported on "
        "argmax_a Q^{pi_t}(s, a) (pi exp(eta A)/Z -> pi restricted to argmax A)",
        methods=("npg", "policy_mirror_descent"),
        certificate="",
        bound=None,
        source=AKM + "; " + XIAO,
        arxiv="1908.00261",
        equation="AKM Lemma 5.1 (NPG = soft policy iteration) and its eta -> inf limit",
        confidence="derived",
        checker=_npg_pi_limit,
    )
)


# ------------------------------------------------------------------ softmax PG (Mei et al. Thm 4)
def _c_running(res, mdp) -> np.ndarray:
    """``c_t = min_{k <= t} min_s pi_k(a*(s)|s)``, ``a*(s)`` the optimal action of ``res.optimum``."""
    its = iterates_sa(res)
    a_star = np.argmax(_pi_star(res, mdp), axis=1)
    c = its[:, np.arange(mdp.num_states), a_star].min(axis=1)
    return np.minimum.accumulate(c)


def mei_constant(res) -> float:
    """``16 S span ||d*_rho/rho||^2 ||1/rho|| / (1-gamma)^6 x max(1, (1-gamma)^3/(8 eta span))`` (without c^2)."""
    mdp = mdp_of(res)
    rho = np.asarray(mdp.rho, dtype=np.float64)
    eta, span, g = float(res.hparams["eta"]), _span(mdp), mdp.gamma
    _require(eta * span <= (1.0 - g) ** 3 / 8.0 * (1.0 + RATE_SLACK),
             f"softmax_pg.mei needs eta * span(r) <= (1-gamma)^3/8 = {(1 - g) ** 3 / 8 / span:.6g} / span, "
             f"got eta={eta:.6g}, span={span:.6g}")
    if np.any(rho <= 0):
        return np.inf
    ratio = float(np.max(d_star(res, mdp) / rho))
    return 16.0 * mdp.num_states * span * ratio**2 * float(np.max(1.0 / rho)) / (1.0 - g) ** 6 * max(
        1.0, (1.0 - g) ** 3 / (8.0 * eta * span))


def _mei_bound(res, t):
    """The larger of the two restatements of Thm 4 (see the theorem's note): ``c`` is the minimum over the
    whole recorded run ``k = 0..T``, which is <= both the running ``c_t`` and the run-wide ``c`` of Lemma 9
    restricted to the record."""
    mdp = mdp_of(res)
    c = _c_running(res, mdp)[-1]
    return mei_constant(res) / c**2 * _inv_t(t)


register(
    Theorem(
        name="softmax_pg.mei",
        statement="softmax PG with eta = (1-gamma)^3/8 (rewards in [0,1]): V*(rho) - V_t(rho) <= 16 S "
        "||d*_mu/mu||^2 ||1/mu|| / (c^2 (1-gamma)^6 t), mu = rho (the gradient's distribution); c is the min over "
        "the recorded run k = 0..T of min_s pi_k(a*(s)|s); smaller eta scales the bound by (1-gamma)^3/(8 eta) "
        "(the ascent lemma with eta <= 1/L)",
        methods=("softmax_pg",),
        certificate="suboptimality",
        bound=_mei_bound,
        source=MEI,
        arxiv="2005.06392",
        equation="Thm 4 (with Lemma 8, non-uniform Lojasiewicz)",
        confidence="paper",
        note="Two restatements of Mei, Xiao, Szepesvari, Schuurmans (arXiv 2005.06392) Thm 4 differ. (i) The "
        "theorem as stated: with eta = (1-gamma)^3/8 and rewards in [0, 1], V*(rho) - V_t(rho) <= 16 S "
        "||d^{pi*}_mu / mu||_inf^2 ||1/mu||_inf / (c^2 (1-gamma)^6 t) for every t >= 1, where mu is the start "
        "distribution of the gradient, rho any evaluation distribution, and c = inf_{s, t >= 1} pi_t(a*(s)|s) > 0 "
        "(Lemma 9) is one constant for the whole run. (ii) The form the proof gives by telescoping the ascent "
        "lemma with the non-uniform Lojasiewicz inequality (Lemma 8) up to t: the same bound with c replaced by "
        "the running c_t = min_{k <= t} min_s pi_k(a*(s)|s). Neither c is below the other in general (c_t sees the "
        "start k = 0 and not the future; Lemma 9's c the converse), so polopt checks the larger bound: rho = mu "
        "(where the two ratio forms coincide), c = min over the recorded run k = 0..T (<= both), and the factor "
        "max(1, (1-gamma)^3 / (8 eta span)) for steps below the paper's.",
    )
)


def _mei_bandit_bound(res, t):
    mdp = mdp_of(res)
    _require(mdp.num_states == 1, "softmax_pg.mei_bandit applies to a (one-state) bandit")
    eta, span = float(res.hparams["eta"]), _span(mdp)
    _require(eta * span <= 0.4 * (1.0 + RATE_SLACK), f"softmax_pg.mei_bandit needs eta * span <= 2/5, got {eta * span}")
    c = _c_running(res, mdp)[np.asarray(t)]
    return 5.0 * span * max(1.0, 0.4 / (eta * span)) / c**2 * _inv_t(t)


register(
    Theorem(
        name="softmax_pg.mei_bandit",
        statement="softmax PG on a K-armed bandit, rewards in [0,1], eta = 2/5: (pi* - pi_t) . r <= 5/(c^2 t)",
        methods=("softmax_pg",),
        certificate="suboptimality",
        bound=_mei_bandit_bound,
        source=MEI,
        arxiv="2005.06392",
        equation="§3 bandit theorem (Lemmas 2-3: 5/2-smoothness, NL); numbers unverified",
        confidence="recalled",
    )
)


# ------------------------------------------------------------------ entropy-regularized NPG (Cen et al. Thm 1)
def cen_errors(res):
    """``(||Q*_tau - Q_tau^t||_inf, ||log pi*_tau - log pi^t||_inf)`` per iterate ``[T+1]`` each, and ``C1``."""
    mdp = mdp_of(res)
    v_reg = np.asarray(res.info["regularized_values"], dtype=np.float64)  # [T+1, S], entropy convention
    q_t = np.stack([q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v) for v in v_reg])
    v_star = np.asarray(res.optimum.value, dtype=np.float64).reshape(-1)
    q_star = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v_star)
    log_star = np.log(_pi_star(res, mdp))
    with np.errstate(divide="ignore"):
        log_t = np.log(iterates_sa(res))
    q_err = np.abs(q_star[None] - q_t).max(axis=(1, 2))
    log_err = np.abs(log_star[None] - log_t).max(axis=(1, 2))
    eta, tau = float(res.hparams["eta"]), float(res.hparams["tau"])
    c1 = q_err[0] + 2.0 * tau * (1.0 - eta * tau / (1.0 - mdp.gamma)) * log_err[0]
    return q_err, log_err, c1


def cen_verdict(q_err, log_err, c1: float, gamma: float, coef: float, factor: float) -> Verdict:
    """Cen et al.'s pair of linear bounds on iterates ``t + 1``: ``||Q* - Q^{t+1}|| <= C1 gamma factor^t``
    and ``||log pi* - log pi^{t+1}|| <= 2 C1 / coef factor^t`` (``coef``: the regularization weight)."""
    rate = factor ** np.arange(q_err.shape[0] - 1)
    vq = bound_verdict(q_err[1:], c1 * gamma * rate)
    vl = bound_verdict(log_err[1:], 2.0 * c1 / coef * rate)
    firsts = [v.first_violation + 1 for v in (vq, vl) if v.first_violation is not None]
    return Verdict(vq.holds and vl.holds, max(vq.worst_ratio, vl.worst_ratio), min(firsts) if firsts else None)


def _cen_linear(res) -> Verdict:
    mdp = mdp_of(res)
    eta, tau = float(res.hparams["eta"]), float(res.hparams["tau"])
    q_err, log_err, c1 = cen_errors(res)
    return cen_verdict(q_err, log_err, c1, mdp.gamma, tau, 1.0 - eta * tau)


register(
    Theorem(
        name="entropy_npg.linear",
        statement="entropy-regularized NPG, 0 < eta <= (1-gamma)/tau: ||Q*_tau - Q_tau^{t+1}||_inf <= C1 gamma "
        "(1 - eta tau)^t and ||log pi*_tau - log pi^{t+1}||_inf <= 2 C1 tau^{-1} (1 - eta tau)^t, C1 = "
        "||Q*_tau - Q_tau^0||_inf + 2 tau (1 - eta tau/(1-gamma)) ||log pi*_tau - log pi^0||_inf",
        methods=("entropy_npg",),
        certificate="",
        bound=None,
        source=CEN,
        arxiv="2007.06558",
        equation="Thm 1 (rate 1 - eta tau from secondary sources; C1 recalled)",
        confidence="recalled",
        checker=_cen_linear,
    )
)


# ------------------------------------------------------------------ policy mirror descent
def _pmd_steps(res, mdp, its, evals):
    """``eta_k`` actually used at each update ``k`` (the rule's own schedule function, reused)."""
    from ..rules import pg as rules_pg

    hp = res.hparams
    out = []
    for k in range(its.shape[0] - 1):
        state = rules_pg.PolicyState(rules_pg.log_policy(its[k]), k)
        oracle = rules_pg.PGOracle(evals[k].V, evals[k].Q, evals[k].advantage, None)
        out.append(float(rules_pg.pmd_step_size(state, oracle, eta=hp["eta"], gamma=mdp.gamma,
                                                schedule=hp["schedule"], growth=hp.get("growth"),
                                                c0=hp.get("c0", 1.0), bregman=hp["bregman"])))
    return np.array(out)


def pmd_a_posteriori(res):
    """``(e [T+1], bound [T+1])``: ``e_k = ||V* - V_k||_inf`` and the unrolled three-point bound
    ``b_0 = e_0``, ``b_{k+1} = gamma b_k + max_s D(greedy(Q_k)(s), pi_k(s)) / eta_k``.

    ``greedy(Q_k)`` is the argmax action with the largest ``pi_k`` mass (any argmax is a valid
    comparator; this one gives the smallest divergence).
    """
    mdp = mdp_of(res)
    its = iterates_sa(res)
    evals = [evaluate(mdp, p) for p in its]
    v_star = np.asarray(res.optimum.value, dtype=np.float64).reshape(-1)
    e = np.array([float(np.max(v_star - ev.V)) for ev in evals])
    if np.isinf(float(res.hparams["eta"])):
        steps = np.full(its.shape[0] - 1, np.inf)
    else:
        steps = _pmd_steps(res, mdp, its, evals)
    b = np.empty_like(e)
    b[0] = e[0]
    S = mdp.num_states
    for k in range(its.shape[0] - 1):
        q = evals[k].Q
        scale = max(1.0, float(np.max(np.abs(q))))
        top = q >= q.max(axis=1, keepdims=True) - RATE_SLACK * scale
        a = np.argmax(np.where(top, its[k], -1.0), axis=1)
        greedy = np.zeros_like(its[k])
        greedy[np.arange(S), a] = 1.0
        D = float(np.max(_bregman_rows(greedy, its[k], res.hparams.get("bregman", "kl"))))
        b[k + 1] = mdp.gamma * b[k] + (0.0 if np.isinf(steps[k]) else D / steps[k])
    return e, b


def _pmd_linear(res) -> Verdict:
    e, b = pmd_a_posteriori(res)
    return bound_verdict(e, b)


register(
    Theorem(
        name="pmd.linear",
        statement="policy mirror descent (KL or Euclidean, any step schedule): ||V* - V_{k+1}||_inf <= gamma "
        "||V* - V_k||_inf + max_s D(greedy_k(s), pi_k(s)) / eta_k (three-point lemma + monotone improvement); "
        "with Johnson et al.'s adaptive eta_k >= ||D_k||/(c0 gamma^{2k+2}) this is the gamma-rate of policy "
        "iteration, ||V* - V_k|| <= gamma^k (||V* - V_0|| + c0 gamma/(1-gamma))",
        methods=("policy_mirror_descent",),
        certificate="",
        bound=None,
        source="Johnson, Pike-Burke, Rebeschini, 'Optimal Convergence Rate for Exact Policy Mirror Descent in "
        "Discounted Markov Decision Processes' (2023); " + XIAO,
        arxiv="2302.11381",
        equation="the one-step recursion of the proof; our derivation (proofs/pmd_three_point_proof.py)",
        confidence="derived",
        checker=_pmd_linear,
    )
)


def _xiao_bound(res, t, corrected: bool):
    mdp = mdp_of(res)
    hp = res.hparams
    _require(hp.get("bregman") == "kl" and hp.get("schedule") == "geometric",
             "pmd.xiao_linear / pmd.geometric need bregman='kl', schedule='geometric'")
    rho = np.asarray(mdp.rho, dtype=np.float64)
    if np.any(rho <= 0):
        return np.full(np.shape(t), np.inf)
    theta = float(np.max(d_star(res, mdp) / rho)) / (1.0 - mdp.gamma)
    _require(theta > 1.0, f"the geometric-step theorems need theta = ||d*/rho||/(1-gamma) > 1, got {theta:.6g}")
    growth = hp.get("growth") or (1.0 / mdp.gamma if mdp.gamma > 0 else np.inf)
    _require(growth >= theta / (theta - 1.0) * (1.0 - RATE_SLACK),
             f"the geometric-step theorems need growth >= theta/(theta-1) = {theta / (theta - 1):.6g}, got {growth}")
    gap0 = float(res.certificates["suboptimality"][0])
    scale = 1.0 / (1.0 - mdp.gamma) if corrected else 1.0
    start = gap0 + scale * npg_potential(res) / (float(hp["eta"]) * (theta - 1.0))
    return start * (1.0 - 1.0 / theta) ** np.asarray(t, dtype=np.float64)


register(
    Theorem(
        name="pmd.xiao_linear",
        statement="PMD-KL with eta_{k+1} >= eta_k theta/(theta-1), theta = ||d*_rho/rho||_inf/(1-gamma): "
        "V*(rho) - V_k(rho) <= (1 - 1/theta)^k (V*(rho) - V_0(rho) + D*_0/(eta_0 (theta-1))) -- as recalled; "
        "FAILS on tests/test_theory_pg.py::test_xiao_recalled_constant_counterexample (a 1/(1-gamma) is missing "
        "for steps without the 1/(1-gamma) factor; see pmd.geometric)",
        methods=("policy_mirror_descent",),
        certificate="suboptimality",
        bound=lambda res, t: _xiao_bound(res, t, corrected=False),
        source=XIAO,
        arxiv="2201.07443",
        equation="linear-convergence theorem for increasing steps (number not seen)",
        confidence="recalled",
    )
)

register(
    Theorem(
        name="pmd.geometric",
        statement="PMD-KL pi_{k+1} = pi_k exp(eta_k Q_k)/Z with eta_{k+1} >= eta_k theta/(theta-1) (e.g. growth "
        "1/gamma): V*(rho) - V_k(rho) <= (1 - 1/theta)^k (V*(rho) - V_0(rho) + D*_0/((1-gamma) eta_0 (theta-1))) "
        "(potential Delta_k + D*_k/((1-gamma) eta_k (theta-1)) contracts by 1 - 1/theta)",
        methods=("policy_mirror_descent",),
        certificate="suboptimality",
        bound=lambda res, t: _xiao_bound(res, t, corrected=True),
        source=XIAO,
        arxiv="2201.07443",
        equation="our derivation of Xiao's linear rate in these step units (proofs/pmd_three_point_proof.py)",
        confidence="derived",
    )
)


def _sublinear(bregman: str):
    def bound(res, t):
        mdp = mdp_of(res)
        hp = res.hparams
        _require(hp.get("bregman") == bregman and hp.get("schedule") == "constant",
                 f"this theorem needs bregman={bregman!r}, schedule='constant'; got {hp.get('bregman')!r}, "
                 f"{hp.get('schedule')!r}")
        eta = float(hp["eta"])
        lead = 0.0 if np.isinf(eta) else npg_potential(res, bregman) / eta
        return (lead + _span(mdp) / (1.0 - mdp.gamma)) / (1.0 - mdp.gamma) * _inv_t(t)

    return bound


register(
    Theorem(
        name="pmd.sublinear",
        statement="PMD-KL with constant step eta (= NPG with step eta (1-gamma)): V*(rho) - V_k(rho) <= "
        "(D*_0/eta + span/(1-gamma)) / ((1-gamma) k), D*_0 = E_{d*_rho} KL(pi* || pi_0)",
        methods=("policy_mirror_descent",),
        certificate="suboptimality",
        bound=_sublinear("kl"),
        source=AKM + "; " + XIAO,
        arxiv="1908.00261",
        equation="AKM Thm 5.3 (restated in PMD step units); Xiao 2022 sublinear theorem",
        confidence="paper",
    )
)

register(
    Theorem(
        name="pmd.sublinear_euclidean",
        statement="PMD with the Euclidean Bregman divergence and constant step: V*(rho) - V_k(rho) <= "
        "(D*_0/eta + span/(1-gamma)) / ((1-gamma) k), D*_0 = E_{d*_rho} ||pi* - pi_0||^2 / 2",
        methods=("policy_mirror_descent",),
        certificate="suboptimality",
        bound=_sublinear("euclidean"),
        source=XIAO,
        arxiv="2201.07443",
        equation="sublinear theorem for general Bregman PMD (form recalled)",
        confidence="recalled",
    )
)


# ------------------------------------------------------------------ BRRL, PPO, CEM
def weighted_median(q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """A ``pi``-weighted median of each row of ``q`` (the first value, best first, whose cumulative mass
    reaches 1/2; only actions with ``pi > 0`` count). Shapes ``[S, A] -> [S]``."""
    q_on = np.where(pi > 0, q, -np.inf)
    order = np.argsort(-q_on, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(pi, order, axis=1), axis=1)
    idx = np.minimum((cum < 0.5).sum(axis=1), q.shape[1] - 1)
    return np.take_along_axis(q_on, order, axis=1)[np.arange(q.shape[0]), idx]


def mean_abs_dev_median(q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``MAD(s) = sum_a pi(a|s) |Q(s,a) - median_pi Q(s,.)|`` ``[S]`` (0 log 0 style: pi = 0 ignored)."""
    m = weighted_median(q, pi)
    return np.sum(np.where(pi > 0, pi * np.abs(q - m[:, None]), 0.0), axis=1)


def _symmetric_eps(res) -> float:
    lo, hi = float(res.hparams["lo"]), float(res.hparams["hi"])
    _require(abs((hi - 1.0) - (1.0 - lo)) <= 1e-12 and float(res.hparams.get("kappa", 0.0)) == 0.0,
             f"brrl.improvement needs symmetric bounds and kappa = 0, got lo={lo}, hi={hi}, "
             f"kappa={res.hparams.get('kappa')}")
    return hi - 1.0


def _brrl_improvement(res) -> Verdict:
    e = _symmetric_eps(res)
    mdp = mdp_of(res)
    its = iterates_sa(res)
    evals = [evaluate(mdp, p) for p in its]
    rho = np.asarray(mdp.rho, dtype=np.float64)
    worst, bad = 0.0, None
    for t in range(its.shape[0] - 1):
        gain = float(rho @ (evals[t + 1].V - evals[t].V))
        size = e / (1.0 - mdp.gamma) * float(evals[t + 1].occupancy.sum(axis=1) @ mean_abs_dev_median(evals[t].Q,
                                                                                                        its[t]))
        scale = max(1.0, float(np.max(np.abs(evals[t].V))))
        slack = RATE_SLACK * scale + ABS_SLACK
        drop = float(np.max(evals[t].V - evals[t + 1].V))
        err = abs(gain - size)
        worst = max(worst, err / slack, max(drop, 0.0) / slack)
        if (err > slack or drop > slack) and bad is None:
            bad = t + 1
    return Verdict(bad is None, worst, bad)


register(
    Theorem(
        name="brrl.improvement",
        statement="BRRL step (symmetric band eps, median / fractional ties): V^{pi_{t+1}} >= V^{pi_t} pointwise and "
        "J(pi_{t+1}) - J(pi_t) = eps/(1-gamma) sum_s d^{pi_{t+1}}_rho(s) E_{a~pi_t}|Q_t(s,a) - median_{pi_t} Q_t(s)| "
        "(worst_ratio: largest |gap - size| or drop in units of the round-off slack)",
        methods=("bounded_ratio", "brrl"),
        certificate="",
        bound=None,
        source=BRRL,
        arxiv="2604.18578",
        equation="Thm 4.2 (the paper: V_{pi*} >= V_{pi0} + eps B); exact B derived in proofs/brrl_improvement_proof.py",
        confidence="derived",
        checker=_brrl_improvement,
    )
)


def _ppo_hinge(res) -> Verdict:
    lo, hi = float(res.hparams["lo"]), float(res.hparams["hi"])
    _require(abs((hi - 1.0) - (1.0 - lo)) <= 1e-12, f"ppo.hinge needs symmetric bounds, got lo={lo}, hi={hi}")
    e = hi - 1.0
    mdp = mdp_of(res)
    its = iterates_sa(res)
    worst, bad = 0.0, None
    for t in range(its.shape[0] - 1):
        pi0, pi1 = its[t], its[t + 1]
        adv = evaluate(mdp, pi0).advantage
        on = pi0 > 0
        rho = np.where(on, pi1 / np.where(on, pi0, 1.0), 0.0)
        # the surrogate through the hinge identity (independent of the rule's own surrogate)
        hinge = np.where(adv > 0, np.maximum(1 + e - rho, 0.0), np.maximum(rho - 1 + e, 0.0))
        surrogate = np.sum(np.where(on, pi0 * (adv + e * np.abs(adv) - np.abs(adv) * hinge), 0.0), axis=1)
        top = e * np.sum(np.where(on, pi0 * np.abs(adv), 0.0), axis=1)
        feasible = (1 + e) * np.where(adv > 0, pi0, 0.0).sum(axis=1) <= 1.0
        slack = RATE_SLACK * max(1.0, float(np.max(np.abs(adv)))) + ABS_SLACK
        over = surrogate - top
        short = np.where(feasible, top - surrogate, 0.0)
        err = max(float(np.max(over)), float(np.max(short)), 0.0)
        worst = max(worst, err / slack)
        if err > slack and bad is None:
            bad = t + 1
    return Verdict(bad is None, worst, bad)


register(
    Theorem(
        name="ppo.hinge",
        statement="-min(rho A, clip(rho, 1-eps, 1+eps) A) = |A| hinge(rho; 1 + eps sign A) - A - eps|A|, hence the "
        "per-state surrogate is <= eps E_{pi0}|A| with equality iff rho >= 1+eps on A > 0 and rho <= 1-eps on "
        "A < 0 (feasible iff (1+eps) pi0(A > 0) <= 1); the exact PPO step attains it (maximizer not unique)",
        methods=("ppo",),
        certificate="",
        bound=None,
        source=PPO + "; " + BRRL,
        arxiv="1707.06347",
        equation="PPO eq. (7); hinge form derived in proofs/ppo_hinge_proof.py",
        confidence="derived",
        checker=_ppo_hinge,
    )
)


def cem_elite(q: np.ndarray, pi: np.ndarray, frac: float) -> np.ndarray:
    """CEM elite distribution per state: ``pi`` conditioned on its top-``frac`` mass of ``q`` (a tied level
    at the boundary shares the remaining mass in proportion to ``pi``). ``[S, A] -> [S, A]``."""
    out = np.zeros_like(pi)
    for s in range(q.shape[0]):
        left = frac
        on = pi[s] > 0
        for value in np.unique(q[s, on])[::-1]:
            level = on & (q[s] == value)
            mass = pi[s, level].sum()
            take = min(mass, left)
            out[s, level] = pi[s, level] * take / mass
            left -= take
    return out / frac


def _brrl_cem(res) -> Verdict:
    lo, hi = float(res.hparams["lo"]), float(res.hparams["hi"])
    _require(float(res.hparams.get("kappa", 0.0)) == 0.0, "brrl.cem needs the hard target (kappa = 0)")
    frac = (1.0 - lo) / (hi - lo)
    mdp = mdp_of(res)
    its = iterates_sa(res)
    worst, bad = 0.0, None
    for t in range(its.shape[0] - 1):
        q = evaluate(mdp, its[t]).Q
        want = lo * its[t] + (1.0 - lo) * cem_elite(q, its[t], frac)
        err = float(np.max(np.abs(its[t + 1] - want)))
        worst = max(worst, err / ABS_SLACK)
        if err > ABS_SLACK and bad is None:
            bad = t + 1
    return Verdict(bad is None, worst, bad)


register(
    Theorem(
        name="brrl.cem",
        statement="BRRL with bounds lo <= rho <= hi: pi_{t+1} = lo pi_t + (1 - lo) elite_q(pi_t, Q_t), the smoothed "
        "cross-entropy-method update with elite fraction q = (1-lo)/(hi-lo); lo = 0, hi = 1/q is CEM exactly",
        methods=("bounded_ratio", "brrl"),
        certificate="",
        bound=None,
        source=BRRL + "; Rubinstein & Kroese, 'The Cross-Entropy Method' (2004)",
        arxiv="2604.18578",
        equation="§4.6 (CEM connection stated; form derived in proofs/brrl_cem_proof.py)",
        confidence="derived",
        checker=_brrl_cem,
    )
)
