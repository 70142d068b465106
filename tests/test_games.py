"""Exact game solvers: Nash LP, active set, uniqueness, regularized Newton vs cvxpy, certificates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt import certificates
from polopt.exact import games
from polopt.problems import PreferenceGame, catalogue
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

#: Certified duality gap every Nash solver must reach (the brief's target for `nash`).
NASH_GAP = games.NASH_TOL
#: Two equilibria of a game with a unique NE: LP (HiGHS, feasibility 1e-10) vs the support solve.
NASH_AGREEMENT = 1e-7
#: Newton's fixed point is solved to 1e-12 (1 + 1/beta) in the log domain; policies agree to this.
NEWTON_F64 = 1e-10
#: Round-off of one K x K matrix-vector product in a certificate (K <= 60, entries in [0, 1]).
CERT_ROUNDOFF = 1e-13
#: Absolute round-off of f_beta evaluated in float64 (a logsumexp plus a KL of O(1) terms).
EXPL_ROUNDOFF = 1e-15

SETTINGS = settings(derandomize=True, max_examples=25, deadline=None)


def random_intransitive(K: int, seed: int) -> PreferenceGame:
    """The EGPO generator: strictly-lower entries U(0, 1), upper = 1 - lower."""
    rng = np.random.default_rng(seed)
    L = np.tril(rng.uniform(size=(K, K)), -1)
    return PreferenceGame(L + np.triu(1.0 - L.T, 1) + 0.5 * np.eye(K))


def tournament(K: int, seed: int) -> PreferenceGame:
    rng = np.random.default_rng(seed)
    L = np.tril(rng.integers(0, 2, size=(K, K)).astype(float), -1)
    return PreferenceGame(L + np.triu(1.0 - L.T, 1) + 0.5 * np.eye(K))


@st.composite
def preference_games(draw, max_k: int = 6):
    K = draw(st.integers(2, max_k))
    lower = draw(st.lists(st.floats(0.0, 1.0), min_size=K * (K - 1) // 2, max_size=K * (K - 1) // 2))
    P = np.full((K, K), 0.5)
    pairs = [(a, b) for a in range(K) for b in range(a)]
    for (i, j), x in zip(pairs, lower, strict=True):
        P[i, j], P[j, i] = x, 1.0 - x
    return PreferenceGame(P)


@st.composite
def games_and_policies(draw):
    game = draw(preference_games())
    w = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=game.num_actions, max_size=game.num_actions)))
    w = w + 1e-3
    return game, w / w.sum()


def brute_force_equilibria(game: PreferenceGame) -> list[np.ndarray]:
    """All equilibria with a nonsingular support system, by enumerating supports (independent of the solvers)."""
    S = game.skew
    K = game.num_actions
    found = []
    for n in range(1, K + 1):
        for T in itertools.combinations(range(K), n):
            T = list(T)
            B = np.zeros((n + 1, n + 1))
            B[:n, :n] = S[np.ix_(T, T)]
            B[:n, n] = -1.0
            B[n, :n] = 1.0
            rhs = np.zeros(n + 1)
            rhs[n] = 1.0
            x, *_ = np.linalg.lstsq(B, rhs, rcond=None)
            if np.max(np.abs(B @ x - rhs)) > 1e-10 or np.any(x[:n] < -1e-12):
                continue
            pi = np.zeros(K)
            pi[T] = x[:n]
            # no pure deviation gains: every pure strategy earns <= 1/2 against pi
            if all(sum(game.P[y, z] * pi[z] for z in range(K)) <= 0.5 + 1e-10 for y in range(K)):
                found.append(pi)
    return found


# --------------------------------------------------------------------------- unregularized Nash
@SETTINGS
@given(preference_games())
def test_nash_lp_no_pure_deviation_gains(game):
    res = games.nash_lp(game)
    pi = res.policy
    assert pi.shape == (game.num_actions,)
    assert np.all(pi >= 0) and abs(pi.sum() - 1.0) <= IDENTITY_F64
    # brute-force best response: no pure strategy beats 1/2 against pi by more than the certified gap
    for y in range(game.num_actions):
        assert sum(game.P[y, z] * pi[z] for z in range(game.num_actions)) <= 0.5 + NASH_GAP
    assert res.duality_gap <= NASH_GAP
    assert abs(res.value - 0.5) <= NASH_GAP


@SETTINGS
@given(preference_games(max_k=5))
def test_nash_matches_support_enumeration_when_unique(game):
    equilibria = brute_force_equilibria(game)
    res = games.nash(game)
    assert res.duality_gap <= NASH_GAP
    if games.nash_is_unique(game):
        assert len(equilibria) >= 1
        for eq in equilibria:
            np.testing.assert_allclose(res.policy, eq, atol=NASH_AGREEMENT)


@pytest.mark.parametrize("method", ["auto", "lp"])
def test_perturbed_rps_nash(method):
    res = games.nash(catalogue.perturbed_rps(), method=method)
    assert res.method == {"auto": "ipm_crossover", "lp": "lp"}[method]  # the support solve, not the fallback
    np.testing.assert_allclose(res.policy, catalogue.RPS_NASH, atol=EXACT_F64)
    assert res.duality_gap <= NASH_GAP


@pytest.mark.parametrize("K", [5, 11, 25, 60, 150])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nash_auto_matches_lp(K, seed):
    game = random_intransitive(K, seed)
    fast, lp = games.nash(game), games.nash_lp(game)
    assert fast.method == "ipm_crossover"  # the interior point found the support; no fallback
    assert fast.duality_gap <= NASH_GAP and lp.duality_gap <= NASH_GAP
    assert games.nash_is_unique(game)  # generic game: the two policies must be the same point
    np.testing.assert_array_equal(fast.support, np.flatnonzero(lp.policy > NASH_AGREEMENT))
    # the certificate is recomputed independently of the solver
    assert fast.duality_gap == pytest.approx(2 * np.max(game.P @ fast.policy) - 1, abs=CERT_ROUNDOFF)
    np.testing.assert_allclose(fast.policy, lp.policy, atol=NASH_AGREEMENT)


@pytest.mark.parametrize("seed", range(4))
def test_tournaments(seed):
    game = tournament(9, seed)
    fast, lp = games.nash(game), games.nash_lp(game)
    assert fast.duality_gap <= NASH_GAP and lp.duality_gap <= NASH_GAP
    # tournament games have a unique equilibrium (Laffond, Laslier, Le Breton 1993)
    assert games.nash_is_unique(game)
    np.testing.assert_allclose(fast.policy, lp.policy, atol=NASH_AGREEMENT)


def test_nash_fallback_to_lp():
    game = random_intransitive(9, 4)
    res = games.nash(game, max_iter=0)  # no interior-point iteration allowed: the LP must answer
    assert res.method == "lp (fallback)" and res.num_iter == 0
    assert res.duality_gap <= NASH_GAP
    np.testing.assert_allclose(res.policy, games.nash_lp(game).policy, atol=EXACT_F64)
    # a tighter tolerance than the certificate the LP reaches is still answered, with its true gap
    tight = games.nash(game, max_iter=0, tol=1e-300)
    assert tight.method == "lp (fallback)" and tight.duality_gap == pytest.approx(res.duality_gap, abs=CERT_ROUNDOFF)


@pytest.mark.parametrize("seed", range(3))
def test_tournament_ipm(seed):
    # 0/1 preferences: degenerate LP (many exact ties in S pi), unique equilibrium
    game = tournament(31, seed)
    res = games.nash(game)
    assert res.method in ("ipm_crossover", "interior_point", "lp (fallback)")
    assert res.duality_gap <= NASH_GAP
    np.testing.assert_allclose(res.policy, games.nash_lp(game).policy, atol=NASH_AGREEMENT)


def test_all_ties_game():
    game = PreferenceGame(np.full((4, 4), 0.5))
    res = games.nash(game)
    assert res.duality_gap <= NASH_GAP  # every policy is an equilibrium
    # S = 0: the uniform starting point already certifies (no Newton step, no LP)
    assert res.method == "interior_point" and res.num_iter == 0
    np.testing.assert_allclose(res.policy, np.full(4, 0.25), atol=EXACT_F64)
    assert not games.nash_is_unique(game)
    assert not games.nash_is_unique(game, method="lp")
    lower, upper = games.nash_ranges(game)
    np.testing.assert_allclose(lower, 0.0, atol=EXACT_F64)
    np.testing.assert_allclose(upper, 1.0, atol=EXACT_F64)


def test_uniqueness_rps_and_random():
    rps = catalogue.perturbed_rps()
    assert games.nash_is_unique(rps) and games.nash_is_unique(rps, method="lp")
    for seed in range(3):
        game = random_intransitive(7, seed)
        assert games.nash_is_unique(game) == games.nash_is_unique(game, method="lp")


def test_non_unique_with_strictly_complementary_face():
    # two copies of rock: the equilibria form a segment (weight of rock split between copies)
    A = catalogue.RPS_PAYOFF
    A4 = A[np.ix_([0, 0, 1, 2], [0, 0, 1, 2])]
    game = PreferenceGame((A4 + 3.0) / 6.0)
    assert not games.nash_is_unique(game)
    assert not games.nash_is_unique(game, method="lp")


# --------------------------------------------------------------------------- regularized Nash
@pytest.mark.parametrize("beta", sorted(catalogue.RPS_REGULARIZED))
def test_rps_regularized_equilibria(beta):
    res = games.regularized_nash(catalogue.perturbed_rps(), beta=beta)
    np.testing.assert_allclose(res.policy, catalogue.RPS_REGULARIZED[beta], atol=catalogue.RPS_REGULARIZED_DIGITS)
    assert abs(res.exploitability) <= CERT_ROUNDOFF
    res_cvx = games.regularized_nash(catalogue.perturbed_rps(), beta=beta, method="cvxpy")
    np.testing.assert_allclose(res_cvx.policy, catalogue.RPS_REGULARIZED[beta], atol=catalogue.RPS_REGULARIZED_DIGITS)


@pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_newton_matches_cvxpy(beta, seed):
    game = random_intransitive(8, seed).with_beta(beta)
    newton = games.regularized_nash(game)
    cvx = games.regularized_nash(game, method="cvxpy")
    # f_beta is beta-strongly convex in l1 with minimum 1/2 at pi*_beta, so
    # ||pi_cvx - pi*||_1 <= sqrt(2 f_beta(pi_cvx) / beta) (derived); plus Newton's own error
    bound = np.sqrt(2.0 * (max(cvx.exploitability, 0.0) + EXPL_ROUNDOFF) / beta) + NEWTON_F64
    assert np.sum(np.abs(newton.policy - cvx.policy)) <= bound
    assert np.max(np.abs(newton.policy - cvx.policy)) <= games.CVXPY_AGREEMENT
    both = games.regularized_nash(game, method="both")
    assert both.cross_check <= games.CVXPY_AGREEMENT


@pytest.mark.parametrize("beta", [1e-3, 0.05, 2.0])
def test_newton_fixed_point(beta):
    game = random_intransitive(20, 3).with_beta(beta)
    res = games.regularized_nash(game)
    # pi ∝ mu exp(P pi / beta), checked in the log domain
    assert res.residual <= 1e-12 * (1 + 1 / beta)
    gibbs = games.best_response(game, res.policy).policy
    np.testing.assert_allclose(gibbs, res.policy, atol=NEWTON_F64)
    assert abs(res.exploitability) <= CERT_ROUNDOFF / beta
    # KL(pi*_beta || mu) <= 1/(2 beta)
    assert certificates.kl(res.policy, game.mu) <= 1 / (2 * beta)


@pytest.mark.parametrize("beta", [1e-3, 1e-2, 1e-1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_beta_duality_gap_bound(beta, seed):
    # DG_0(pi*_beta) <= 2 beta log(1/min mu) = 2 beta log K for uniform mu.
    # Confidence: derived, not a paper statement.
    game = random_intransitive(15, seed).with_beta(beta)
    pi = games.regularized_nash(game).policy
    assert games.duality_gap(game, pi, beta=0.0) <= 2 * beta * np.log(game.num_actions) + CERT_ROUNDOFF


# --------------------------------------------------------------------------- certificates
@SETTINGS
@given(games_and_policies(), st.sampled_from([0.0, 0.05, 1.0]))
def test_duality_gap_is_twice_exploitability(game_pi, beta):
    game, pi = game_pi
    game = game.with_beta(beta)
    dg = games.duality_gap(game, pi)
    f = games.exploitability(game, pi)
    assert dg == pytest.approx(2 * f, abs=IDENTITY_F64)
    assert f >= -IDENTITY_F64
    br = games.best_response(game, pi)
    assert br.value - 0.5 == pytest.approx(f, abs=IDENTITY_F64)
    # the best response earns its value: J_beta(br, pi) computed directly
    J = br.policy @ game.P @ pi
    if beta > 0:
        J += -beta * certificates.kl(br.policy, game.mu) + beta * certificates.kl(pi, game.mu)
    assert J == pytest.approx(br.value, abs=IDENTITY_F64)


def test_best_response_unregularized_ties():
    game = PreferenceGame(np.full((3, 3), 0.5))
    br = games.best_response(game, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(br.policy, np.full(3, 1 / 3), atol=IDENTITY_F64)
    br = games.best_response(catalogue.perturbed_rps(), np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(br.policy, [0.0, 1.0, 0.0], atol=IDENTITY_F64)  # paper beats rock


# --------------------------------------------------------------------------- bad input
def test_bad_input():
    game = catalogue.perturbed_rps()
    with pytest.raises(ValueError, match="beta"):
        games.regularized_nash(game)  # game.beta = 0
    with pytest.raises(ValueError, match="beta"):
        games.regularized_nash(game, beta=-0.1)
    with pytest.raises(ValueError, match=r"pi\[1\]"):
        games.exploitability(game, [0.5, -0.5, 1.0])
    with pytest.raises(ValueError, match="pi sums to"):
        games.duality_gap(game, [0.5, 0.2, 0.2])
    with pytest.raises(ValueError, match="pi must have shape"):
        games.best_response(game, [0.5, 0.5])
    with pytest.raises(ValueError, match="method"):
        games.nash(game, method="simplex")
    with pytest.raises(ValueError, match="max_iter"):
        games.nash(game, max_iter=-1)
    with pytest.raises(ValueError, match="P"):
        games.nash(np.array([[0.5, 0.7], [0.7, 0.5]]))
    with pytest.raises(TypeError, match="game"):
        games.nash("rps")
    pi = np.array([0.2, 0.3, 0.5])
    pi.setflags(write=True)
    before = pi.copy()
    games.exploitability(game, pi)
    np.testing.assert_array_equal(pi, before)


# --------------------------------------------------------------------------- solve adapters
@pytest.mark.parametrize("method", ["nash", "nash_lp"])
def test_solve_nash(method):
    game = random_intransitive(12, 5)
    res = po.solve(game, method=method)
    assert res.method == method and res.status == "converged" and res.iterates.shape == (2, 12)
    assert res.value == 0.5 and res.optimum.value == 0.5
    for name in ("exploitability", "duality_gap", "kl_to_optimum"):
        assert res.certificates[name].shape == (2,)
    assert res.certificates["duality_gap"][-1] <= NASH_GAP
    assert res.certificates["kl_to_optimum"][-1] == 0.0  # measured against the returned equilibrium
    assert res.info["nash_unique"] is True
    np.testing.assert_allclose(res.iterates[0], game.mu)
    with pytest.raises(TypeError, match="eta"):
        po.solve(game, method=method, eta=1.0)


def test_solve_nash_cross_checks_a_unique_equilibrium_with_highs():
    res = po.solve(random_intransitive(12, 5), method="nash")
    assert res.info["solver"] == "ipm_crossover"
    assert res.info["lp_cross_check"] <= NASH_AGREEMENT
    assert po.solve(random_intransitive(12, 5), method="nash_lp").info["lp_cross_check"] is None


def test_nash_lp_runs_highs_and_not_the_interior_point(monkeypatch):
    """"nash_lp" is the linear program its name says; the interior point is method "nash"."""
    from polopt.exact import _ipm

    calls = []
    real = games.linprog

    def counting_linprog(*args, **kwargs):
        calls.append(kwargs.get("method"))
        return real(*args, **kwargs)

    def no_ipm(*args, **kwargs):
        raise AssertionError("nash_lp must not run the interior point")

    monkeypatch.setattr(games, "linprog", counting_linprog)
    monkeypatch.setattr(games, "interior_point", no_ipm)
    monkeypatch.setattr(_ipm, "interior_point", no_ipm)
    res = po.solve(catalogue.perturbed_rps(), method="nash_lp")
    assert calls == ["highs"] and res.info["solver"] == "lp"
    np.testing.assert_allclose(res.policy, catalogue.RPS_NASH, atol=EXACT_F64)
    with pytest.raises(ValueError, match="method 'nash'"):
        po.solve(catalogue.perturbed_rps(), method="nash_lp", solver="auto")
    with pytest.raises(ValueError, match="solver"):
        po.solve(catalogue.perturbed_rps(), method="nash", solver="simplex")


#: Games with a polytope of equilibria: all ties, and two tied actions that both beat a third.
NON_UNIQUE_GAMES = {
    "all_ties_2": np.full((2, 2), 0.5),
    "all_ties_4": np.full((4, 4), 0.5),
    "tied_pair": np.array([[0.5, 0.5, 1.0], [0.5, 0.5, 1.0], [0.0, 0.0, 0.5]]),
}


@pytest.mark.parametrize("name", sorted(NON_UNIQUE_GAMES))
@pytest.mark.parametrize("method", ["nash", "nash_lp"])
def test_several_equilibria_certificates_agree_with_the_optimum(name, method):
    """Regression: "nash_lp" on the all-ties 2x2 game returned pi = [.5, .5] with optimum [1, 0]:
    duality gap 0 but KL to "the optimum" 0.69. The optimum is now the returned equilibrium."""
    game = PreferenceGame(NON_UNIQUE_GAMES[name])
    res = po.solve(game, method=method)
    np.testing.assert_array_equal(res.optimum.policy, res.policy)
    assert res.certificates["duality_gap"][-1] <= NASH_GAP
    assert res.certificates["kl_to_optimum"][-1] == 0.0
    assert res.info["nash_unique"] is False and res.info["lp_cross_check"] is None
    assert not games.nash_is_unique(game)


def test_local_certificates_are_the_certificates_module():
    """exact.games computes its certificates locally (exact does not import certificates); the two
    implementations agree."""
    import ast
    import inspect

    from polopt.exact import _ipm

    for module in (games, _ipm):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
        assert not imported & {"certificates", "result", "polopt.certificates", "polopt.result"}, module.__name__


@SETTINGS
@given(games_and_policies(), st.sampled_from([0.0, 0.05, 1.0]))
def test_exact_certificates_match_the_certificates_module(game_pi, beta):
    from polopt.exact import _ipm

    game, pi = game_pi
    P = game.P
    assert games.exploitability(game, pi, beta) == pytest.approx(
        certificates.exploitability(game, pi, beta), abs=EXPL_ROUNDOFF)
    assert games.duality_gap(game, pi, beta) == pytest.approx(
        certificates.duality_gap(game, pi, beta), abs=EXPL_ROUNDOFF)
    assert _ipm.skew_gap(game.skew, pi) == pytest.approx(certificates.duality_gap(P, pi), abs=CERT_ROUNDOFF)


def test_solve_regularized_nash():
    game = catalogue.perturbed_rps(beta=0.1)
    res = po.solve(game, method="regularized_nash")
    assert res.status == "converged" and res.iterates.shape[1] == 3
    np.testing.assert_allclose(res.policy, catalogue.RPS_REGULARIZED[0.1], atol=catalogue.RPS_REGULARIZED_DIGITS)
    np.testing.assert_allclose(res.iterates[0], game.mu)
    assert res.certificates["kl_to_optimum"].shape == (res.num_iter + 1,)
    np.testing.assert_allclose(
        res.certificates["duality_gap"], 2 * res.certificates["exploitability"], atol=IDENTITY_F64
    )
    cvx = po.solve(game, method="regularized_nash", solver="cvxpy")
    np.testing.assert_allclose(cvx.policy, res.policy, atol=games.CVXPY_AGREEMENT)
    with pytest.raises(ValueError, match="regularized_nash"):
        po.solve(catalogue.perturbed_rps(), method="regularized_nash")  # beta = 0: does not apply
    with pytest.raises(TypeError, match="tau"):
        po.solve(game, method="regularized_nash", tau=1.0)


def test_regularized_nash_with_zero_reference_mass_is_the_restricted_game():
    """mu(y) = 0 forces pi*(y) = 0; on supp(mu) pi* is the restricted game's equilibrium."""
    P = catalogue.perturbed_rps().P
    full = po.PreferenceGame(P, reference=[0.5, 0.5, 0.0], beta=0.1)
    restricted = po.PreferenceGame(P[:2, :2], reference=[0.5, 0.5], beta=0.1)
    got = po.exact.regularized_nash(full, method="both")
    want = po.exact.regularized_nash(restricted).policy
    assert got.policy[2] == 0.0
    np.testing.assert_allclose(got.policy[:2], want, atol=EXACT_F64)
    assert got.residual <= 1e-12 * (1 + 1 / 0.1)
    assert abs(got.exploitability) <= EXACT_F64


def test_regularized_newton_recovers_where_coarse_continuation_fails():
    """random_intransitive(5, seed=6, beta=0.01, reference="random"): the x4 continuation stalls
    (residual 11.7, exploitability 0.049); the finer continuation reaches the fixed point."""
    from polopt.problems.random import random_intransitive

    game = random_intransitive(5, seed=6, beta=0.01, reference="random")
    res = po.exact.regularized_nash(game, method="both")
    assert res.residual <= 1e-12 * (1 + 1 / 0.01)
    assert abs(res.exploitability) <= EXACT_F64
    coarse = games._newton_level(game.P, np.log(game.mu), 0.01,
                                 np.log(games.regularized_newton(game.P, game.mu, 0.04)[0]), 1e-12, 100, [])
    assert coarse[1] > 1.0  # the x4 step from beta = 0.04 to 0.01 is outside Newton's region (kept as evidence)
