"""Two-player zero-sum matrix games: construction, exact equilibria, certificates, rules, OpenSpiel and nashpy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import polopt as po
from polopt import certificates
from polopt._methods import matrix_game as mg_methods
from polopt.exact import matrix_game as mg
from polopt.problems import MatrixGame, PreferenceGame, StrategyPair, catalogue
from polopt.testing.strategies import SETTINGS, preference_games
from polopt.testing.tolerances import EXACT_F64

#: The certified duality gap of the exact Nash solver (its own tolerance).
NASH_GAP = mg.NASH_TOL
#: Two solvers' equilibria of a game with a unique equilibrium: HiGHS (feasibility 1e-10) vs the
#: embedding's support solve; an error e in a strategy moves the gap by ~e, and both gaps are <= 1e-9.
NASH_AGREEMENT = 1e-7
#: Newton solves the fixed point to 1e-12 (1 + 1/beta) in the log domain; strategies agree to this.
NEWTON_F64 = 1e-10
#: Round-off of certificates built from a few K x K products of O(1) entries (K <= 10).
CERT_ROUNDOFF = 1e-13
#: The catalogue's regularized RPS equilibria are quoted to 8 digits.
RPS_TABLE_TOL = catalogue.RPS_REGULARIZED_DIGITS + EXACT_F64


def _game_matrices(max_m=5, max_n=6):
    """Random rectangular payoff matrices with entries in [-3, 3] (seeded through hypothesis)."""
    return st.tuples(st.integers(1, max_m), st.integers(1, max_n), st.integers(0, 2**31 - 1)).map(
        lambda t: np.round(np.random.default_rng(t[2]).uniform(-3.0, 3.0, size=t[:2]), 3))


def _pairs(game: MatrixGame, seed: int) -> StrategyPair:
    rng = np.random.default_rng(seed)
    return StrategyPair(rng.dirichlet(np.ones(game.num_rows)), rng.dirichlet(np.ones(game.num_cols)))


# --------------------------------------------------------------------------- construction
def test_constructor_normalizes_and_is_immutable():
    A = np.array([[0.0, -3.0, 3.0], [3.0, 0.0, -1.0]])
    before = A.copy()
    g = MatrixGame(A, beta=0.1)
    np.testing.assert_array_equal(A, before)  # the caller's array is copied, not touched
    assert g.scale == 3.0 and g.shape == (2, 3)
    np.testing.assert_array_equal(g.G, A / 6.0)
    np.testing.assert_array_equal(g.mu_row, np.full(2, 0.5))
    np.testing.assert_array_equal(g.mu_col, np.full(3, 1 / 3))
    with pytest.raises(AttributeError, match="immutable"):
        g.beta = 0.2
    with pytest.raises(ValueError, match="read-only"):
        g.A[0, 0] = 1.0
    assert MatrixGame(np.zeros((2, 2))).scale == 0.5  # all-zero payoffs: G = 0, any scale would do


@pytest.mark.parametrize("A, kwargs, err, match", [
    ([1.0, 2.0], {}, ValueError, "A must have 2 dimensions"),
    (np.zeros((0, 3)), {}, ValueError, "at least one row"),
    ([[1.0, np.nan], [0.0, 1.0]], {}, ValueError, r"A\[0, 1\] is nan"),
    ([[1.0, 1j]], {}, TypeError, "A must be real"),
    ("abc", {}, TypeError, "A must be an array"),
    ([[1.0, -4.0]], {"scale": 2.0}, ValueError, r"scale must bound \|A\|: A\[0, 1\] = -4"),
    ([[1.0, 0.0]], {"beta": -1.0}, ValueError, "beta must lie in"),
    ([[1.0, 0.0], [0.0, 1.0]], {"reference": ([1.0, 0.0, 0.0], [0.5, 0.5])}, ValueError, r"reference\[0\] must have"),
    ([[1.0, 0.0, 2.0]], {"reference": [0.5, 0.5]}, ValueError, "must be a pair"),
    ([[1.0, 0.0], [0.0, 1.0]], {"beta": 0.1, "reference": ([1.0, 0.0], [0.5, 0.5])}, ValueError,
     r"reference \(row player\)\[1\] is 0"),
])
def test_constructor_rejects_bad_input(A, kwargs, err, match):
    with pytest.raises(err, match=match):
        MatrixGame(A, **kwargs)


def test_square_reference_is_shared():
    g = MatrixGame(np.eye(2), reference=[0.25, 0.75])
    np.testing.assert_array_equal(g.mu_row, [0.25, 0.75])
    np.testing.assert_array_equal(g.mu_col, [0.25, 0.75])


# --------------------------------------------------------------------------- exact Nash: hand-derived
def test_matching_pennies_runs_as_it_is():
    mp = MatrixGame([[1.0, -1.0], [-1.0, 1.0]])
    res = po.solve(mp)
    assert res.method == "nash" and res.status == "converged"
    np.testing.assert_allclose(res.policy.row, [0.5, 0.5], atol=EXACT_F64)
    np.testing.assert_allclose(res.policy.col, [0.5, 0.5], atol=EXACT_F64)
    assert abs(res.value) <= EXACT_F64
    assert res.certificates["duality_gap"][-1] <= NASH_GAP


def test_two_by_two_mixed_equilibrium_closed_form():
    """A = [[a, b], [c, d]] without a saddle point: x_1 = (d - c)/D, y_1 = (d - b)/D, v = (ad - bc)/D,
    D = a - b - c + d (each player makes the other indifferent). Here a, b, c, d = 3, -1, -2, 1: D = 7."""
    g = MatrixGame([[3.0, -1.0], [-2.0, 1.0]])
    for method in ("auto", "lp"):
        res = mg.nash(g, method=method)
        np.testing.assert_allclose(res.policy.row, [3 / 7, 4 / 7], atol=NASH_AGREEMENT)
        np.testing.assert_allclose(res.policy.col, [2 / 7, 5 / 7], atol=NASH_AGREEMENT)
        assert res.value == pytest.approx(1 / 7, abs=NASH_AGREEMENT)
        assert res.duality_gap <= NASH_GAP


def test_saddle_point_is_pure():
    """Row 1 dominates row 0 and column 0 is the column player's best reply: the saddle (1, 0), value 2."""
    g = MatrixGame([[1.0, 0.0, 4.0], [2.0, 3.0, 5.0]])
    res = mg.nash(g)
    np.testing.assert_allclose(res.policy.row, [0.0, 1.0], atol=EXACT_F64)
    np.testing.assert_allclose(res.policy.col, [1.0, 0.0, 0.0], atol=EXACT_F64)
    assert res.value == pytest.approx(2.0, abs=EXACT_F64)


def test_embedding_equilibrium_maps_back():
    """The symmetric embedding's equilibrium is (sigma x, sigma y, t) with sum p = sum q and t > 0."""
    g = MatrixGame([[3.0, -1.0], [-2.0, 1.0]])
    P = mg.symmetric_embedding(g.G)
    np.testing.assert_allclose(P + P.T, 1.0, atol=EXACT_F64)
    z = po.exact.nash(PreferenceGame(P)).policy
    p, q, t = z[:2], z[2:4], z[4]
    assert t > 0 and p.sum() == pytest.approx(q.sum(), abs=NASH_AGREEMENT)
    np.testing.assert_allclose(p / p.sum(), [3 / 7, 4 / 7], atol=NASH_AGREEMENT)


@given(_game_matrices())
@SETTINGS
def test_embedding_and_lp_agree_and_certify(A):
    g = MatrixGame(A)
    fast, lp = mg.nash(g), mg.nash_lp(g)
    assert fast.duality_gap <= NASH_GAP and lp.duality_gap <= NASH_GAP
    assert fast.value == pytest.approx(lp.value, abs=2 * g.scale * NASH_GAP)  # values in A's units
    if mg.nash_is_unique(g):
        np.testing.assert_allclose(fast.policy.row, lp.policy.row, atol=NASH_AGREEMENT)
        np.testing.assert_allclose(fast.policy.col, lp.policy.col, atol=NASH_AGREEMENT)


def test_nashpy_agrees_on_random_rectangular_games():
    """Differential test: nashpy's own zero-sum LP (``Game(A).linear_program()``) on 12 random games."""
    import nashpy  # a test dependency (the [test] extra)
    rng = np.random.default_rng(11)
    for m, n in [(2, 3), (3, 2), (4, 7), (6, 5)] * 3:
        A = rng.normal(size=(m, n))
        g = MatrixGame(A)
        ours = mg.nash(g)
        x, y = nashpy.Game(A).linear_program()
        x, y = np.clip(x, 0, None) / np.clip(x, 0, None).sum(), np.clip(y, 0, None) / np.clip(y, 0, None).sum()
        theirs = (x, y)
        # nashpy's answer, certified by our duality gap, is an equilibrium with the same value
        assert mg.duality_gap(g, theirs) <= NASH_AGREEMENT
        assert float(x @ A @ y) == pytest.approx(ours.value, abs=2 * g.scale * NASH_AGREEMENT)
        assert mg.nash_is_unique(g)  # continuous random payoffs: unique with probability 1
        np.testing.assert_allclose(ours.policy.row, x, atol=NASH_AGREEMENT)
        np.testing.assert_allclose(ours.policy.col, y, atol=NASH_AGREEMENT)


def test_non_unique_equilibrium_is_detected():
    """Two identical columns: the column player can split weight between them (a segment of equilibria)."""
    g = MatrixGame([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]])
    assert not mg.nash_is_unique(g)
    assert mg.nash_is_unique(MatrixGame([[1.0, -1.0], [-1.0, 1.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(g, method="mirror_prox", iters=5)
    assert np.isnan(res.certificates["kl_to_optimum"]).all() and res.info["nash_unique"] is False


# --------------------------------------------------------------------------- regularized equilibria
def test_perturbed_rps_matches_the_catalogue():
    """P = (A + 3)/6 = 1/2 + A/(2c) with c = 3: the MatrixGame is the catalogue's preference game."""
    for beta, star in catalogue.RPS_REGULARIZED.items():
        res = po.solve(MatrixGame(catalogue.RPS_PAYOFF, beta=beta))
        assert res.method == "regularized_nash" and res.status == "converged"
        np.testing.assert_allclose(res.policy.row, star, atol=RPS_TABLE_TOL)
        np.testing.assert_allclose(res.policy.col, star, atol=RPS_TABLE_TOL)


@given(_game_matrices(4, 5), st.sampled_from([0.02, 0.2, 2.0]))
@SETTINGS
def test_regularized_fixed_point_and_certificate(A, beta):
    mu_row = np.linspace(1.0, 2.0, A.shape[0]) / np.linspace(1.0, 2.0, A.shape[0]).sum()  # a non-uniform reference
    g = MatrixGame(A, beta=beta, reference=(mu_row, np.full(A.shape[1], 1.0 / A.shape[1])))
    res = mg.regularized_nash(g)
    x, y = res.policy
    # the pair of fixed points, written out directly
    gx = g.mu_row * np.exp(g.G @ y / beta)
    gy = g.mu_col * np.exp(-(x @ g.G) / beta)
    np.testing.assert_allclose(x, gx / gx.sum(), atol=NEWTON_F64)
    np.testing.assert_allclose(y, gy / gy.sum(), atol=NEWTON_F64)
    assert abs(res.exploitability) <= CERT_ROUNDOFF


def test_newton_and_cvxpy_agree_on_a_rectangular_game():
    g = MatrixGame(np.random.default_rng(3).normal(size=(4, 6)), beta=0.05)
    res = mg.regularized_nash(g, method="both")
    assert res.cross_check <= mg.CVXPY_AGREEMENT
    solved = po.solve(g, method="regularized_nash", solver="cvxpy")
    np.testing.assert_allclose(solved.policy.row, res.policy.row, atol=mg.CVXPY_AGREEMENT)


def test_regularized_rejects_beta_zero():
    with pytest.raises(ValueError, match="beta must lie in"):
        mg.regularized_nash(MatrixGame(np.eye(2)))
    assert "regularized_nash" not in po.methods(MatrixGame(np.eye(2)))


# --------------------------------------------------------------------------- the symmetric case
@given(preference_games(max_actions=5), st.sampled_from([0.0, 0.1]))
@SETTINGS
def test_preference_game_is_the_symmetric_case(game, beta):
    """PreferenceGame(P) and MatrixGame(P - 1/2, scale=1/2): same equilibrium, same certificates,
    and the same iterates of a rule in self-play (both players of the pair follow the symmetric run)."""
    P = game.P
    pg, mat = PreferenceGame(P, beta=beta), MatrixGame(P - 0.5, beta=beta, scale=0.5)
    pi = np.random.default_rng(0).dirichlet(np.ones(P.shape[0]))
    assert mg.exploitability(mat, (pi, pi)) == pytest.approx(po.exact.exploitability(pg, pi), abs=CERT_ROUNDOFF)
    assert mg.duality_gap(mat, (pi, pi)) == pytest.approx(po.exact.duality_gap(pg, pi), abs=CERT_ROUNDOFF)
    if beta > 0:
        star = po.exact.regularized_nash(pg).policy
        pair = mg.regularized_nash(mat).policy
        np.testing.assert_allclose(pair.row, star, atol=NEWTON_F64)
        np.testing.assert_allclose(pair.col, star, atol=NEWTON_F64)
    elif po.exact.nash_is_unique(pg):
        star = po.exact.nash(pg).policy
        pair = mg.nash(mat).policy
        np.testing.assert_allclose(pair.row, star, atol=NASH_AGREEMENT)
        np.testing.assert_allclose(pair.col, star, atol=NASH_AGREEMENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        a = po.solve(pg, method="mirror_prox", iters=6, tol=1e-300)
        b = po.solve(mat, method="mirror_prox", iters=6, tol=1e-300)
    np.testing.assert_allclose(b.iterates.row, a.iterates, atol=EXACT_F64)
    np.testing.assert_allclose(b.iterates.col, a.iterates, atol=EXACT_F64)


# --------------------------------------------------------------------------- certificates
def test_certificates_agree_and_follow_their_identities():
    g = MatrixGame(catalogue.RPS_PAYOFF[:, :2] * 2, beta=0.3)
    pairs = [_pairs(g, s) for s in range(5)]
    X, Y = np.stack([p.row for p in pairs]), np.stack([p.col for p in pairs])
    for beta in (0.0, 0.3):
        expl, gap = certificates.matrix_game_gaps(g.G, X, Y, g.mu_row, g.mu_col, beta)
        for k, p in enumerate(pairs):
            assert gap[k] == pytest.approx(mg.duality_gap(g, p, beta), abs=CERT_ROUNDOFF)
            assert expl[k] == pytest.approx(po.exact.exploitability(g, p, beta), abs=CERT_ROUNDOFF)
            assert gap[k] >= 0
    for p in pairs:
        # NashConv = 2c DG_0, written out: row gain + column gain in A's units
        A, (x, y) = g.A, p
        by_hand = (np.max(A @ y) - x @ A @ y) + (x @ A @ y - np.min(x @ A))
        assert mg.nash_conv(g, p) == pytest.approx(by_hand, abs=CERT_ROUNDOFF)
        assert mg.nash_conv(g, p) == pytest.approx(2 * g.scale * mg.duality_gap(g, p, 0.0), abs=CERT_ROUNDOFF)


def test_strategy_pairs_are_validated():
    g = MatrixGame(np.ones((2, 3)))
    with pytest.raises(TypeError, match="policy must be a pair"):
        mg.duality_gap(g, np.full(2, 0.5))
    with pytest.raises(ValueError, match=r"policy\[1\] must have shape \(3,\)"):
        mg.duality_gap(g, ([0.5, 0.5], [0.5, 0.5]))
    with pytest.raises(ValueError, match=r"init\[0\]\[1\] is -0.5"):
        po.solve(g, method="mirror_prox", init=([1.5, -0.5], [1 / 3] * 3))


# --------------------------------------------------------------------------- OpenSpiel's conventions
def _openspiel_policy(pyspiel, game: MatrixGame, pair):
    from open_spiel.python import policy as os_policy

    turn_based = pyspiel.convert_to_turn_based(pyspiel.create_matrix_game(game.A, -game.A))
    pol = os_policy.TabularPolicy(turn_based)
    for state in pol.states:  # the turn-based game pads the shorter player's actions (illegal there)
        probs = np.zeros(pol.action_probability_array.shape[1])
        probs[state.legal_actions()] = pair[state.current_player()]
        pol.action_probability_array[pol.state_index(state)] = probs
    return turn_based, pol


def test_openspiel_exploitability_is_2c_times_ours():
    pyspiel = pytest.importorskip("pyspiel")
    from open_spiel.python.algorithms import exploitability as os_expl

    g = MatrixGame(np.array([[0.0, -1.0, 3.0], [1.0, 0.0, -3.0], [-3.0, 3.0, 0.0]])[:, :2] * 1.5)
    for seed in range(3):
        pair = _pairs(g, seed)
        turn_based, pol = _openspiel_policy(pyspiel, g, pair)
        assert os_expl.nash_conv(turn_based, pol) == pytest.approx(mg.nash_conv(g, pair), abs=CERT_ROUNDOFF)
        assert os_expl.exploitability(turn_based, pol) == pytest.approx(
            2 * g.scale * mg.exploitability(g, pair), abs=CERT_ROUNDOFF)


def test_openspiel_qre_is_our_regularized_equilibrium_at_beta_alpha_over_2c():
    pytest.importorskip("pyspiel")
    from open_spiel.python.algorithms.adidas_utils.helpers.nonsymmetric import exploitability as adidas

    A = np.array([[0.0, -1.0, 3.0], [1.0, 0.0, -3.0], [-3.0, 3.0, 0.0]])  # OpenSpiel's MMD example game
    payoffs = np.stack([A, -A])
    alpha = 0.1
    c = float(np.max(np.abs(A)))
    g = MatrixGame(A, beta=alpha / (2 * c))
    star = mg.regularized_nash(g).policy
    assert abs(adidas.qre_exploitability(list(star), payoffs, temperature=alpha)) <= CERT_ROUNDOFF
    for seed in range(3):
        pair = _pairs(g, seed)
        theirs = adidas.qre_exploitability(list(pair), payoffs, temperature=alpha)  # mean of the players' gaps
        assert theirs == pytest.approx(2 * c * mg.exploitability(g, pair), abs=CERT_ROUNDOFF)
        assert adidas.unreg_exploitability(list(pair), payoffs) == pytest.approx(
            2 * c * mg.exploitability(g, pair, beta=0.0), abs=CERT_ROUNDOFF)


# --------------------------------------------------------------------------- rules on a matrix game
RECTANGULAR = np.array([[0.8, -0.4, 0.1, -1.0], [-0.6, 0.5, -0.2, 0.9], [0.3, 0.2, -0.7, 0.4]])


@pytest.mark.parametrize("name", sorted(mg_methods.RULES))
def test_every_rule_runs_on_a_rectangular_game(name):
    g = MatrixGame(RECTANGULAR, beta=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(g, method=name, iters=40)
    assert isinstance(res.policy, StrategyPair) and res.policy.row.shape == (3,) and res.policy.col.shape == (4,)
    assert res.iterates.row.shape == (res.num_iter + 1, 3) and res.iterates.col.shape == (res.num_iter + 1, 4)
    np.testing.assert_allclose(res.iterates.row.sum(axis=1), 1.0, atol=EXACT_F64)
    assert set(res.certificates) >= {"duality_gap", "exploitability", "nash_conv", "kl_to_optimum"}
    np.testing.assert_allclose(res.certificates["exploitability"], res.certificates["duality_gap"] / 2, atol=0)
    assert (res.average is not None) == po.methods_table()[name].averages


def test_nash_mp_converges_linearly_to_the_exact_equilibrium():
    """Nash-MP at eta = 2 on the normalized game: KL to (x*, y*) falls at least like (1 + 2 beta)^{-k}
    (the preference game's rate, nash_mp.kl; checked here on a 3 x 4 game, both players' KLs summed)."""
    beta = 0.1
    g = MatrixGame(RECTANGULAR, beta=beta)
    res = po.solve(g, method="nash_mp", iters=400)
    assert res.status == "converged"
    star = mg.regularized_nash(g).policy
    # it stopped at KL <= tol or DG_beta <= tol; either bounds the distance: |x - x*|_1 <= sqrt(2 KL) (Pinsker),
    # and DG_beta >= beta/2 (|x - x*|_1^2 + |y - y*|_1^2) (J_beta is beta-strongly concave-convex in l1)
    kl_end, gap_end = res.certificates["kl_to_optimum"][-1], res.certificates["duality_gap"][-1]
    assert min(kl_end, gap_end) <= mg_methods.DEFAULT_TOL
    radius = np.sqrt(2 * min(kl_end, gap_end / beta)) + EXACT_F64
    np.testing.assert_allclose(res.policy.row, star.row, atol=radius)
    np.testing.assert_allclose(res.policy.col, star.col, atol=radius)
    kl = res.certificates["kl_to_optimum"]
    k = np.arange(kl.size)
    assert np.all(kl <= (1 + 2 * beta) ** (-k) * kl[0] + EXACT_F64)


def test_mwu_average_obeys_the_two_player_hedge_bound():
    """Each player's Hedge regret with rewards in [0, 1] is <= ln K_i / eta + eta T / 8, so the average
    pair has DG_0 <= (ln m + ln n) / (eta T) + eta / 4 (derived: DG_0(avg) = (regret_x + regret_y) / T)."""
    g = MatrixGame(RECTANGULAR)
    T = 400
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(g, method="multiplicative_weights", iters=T)
    eta = res.info["eta"]
    assert eta == pytest.approx(np.sqrt(8 * np.log(4) / T))  # Hedge's step with K = max(m, n)
    gap_avg = res.certificates["duality_gap_unregularized_average"]
    t = np.arange(1, gap_avg.size)
    # the average over pi_0..pi_t has t + 1 terms: the bound with T -> t + 1
    bound = (np.log(3) + np.log(4)) / (eta * (t + 1)) + eta / 4
    assert np.all(gap_avg[1:] <= bound)


def test_omwu_last_iterate_converges_on_matching_pennies():
    """Unique interior equilibrium: OMWU's last iterate converges (Daskalakis & Panageas, arXiv 1807.04252),
    where MWU's last iterate cycles (its duality gap does not fall)."""
    mp = MatrixGame([[1.0, -1.0], [-1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        omwu = po.solve(mp, method="omwu", iters=3000, eta=0.2, init=([0.8, 0.2], [0.5, 0.5]))
        mwu = po.solve(mp, method="sppo", iters=3000, eta=0.2, init=([0.8, 0.2], [0.5, 0.5]))
    assert omwu.certificates["duality_gap"][-1] <= 1e-6
    assert mwu.certificates["duality_gap"][-1] >= 0.5 * mwu.certificates["duality_gap"][0]


def test_forms_that_need_a_preference_matrix_are_refused():
    g = MatrixGame(RECTANGULAR, beta=0.1)
    with pytest.raises(ValueError, match="inner_steps=3 is not available on a MatrixGame"):
        po.solve(g, method="mirror_prox", inner_steps=3)
    with pytest.raises(ValueError, match="form='ipo_loss' is not available"):
        po.solve(g, method="egpo", form="ipo_loss")
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        po.solve(g, method="mirror_prox", num_samples=10)
    with pytest.raises(TypeError, match=r"unknown hyper-parameter\(s\) beta"):  # beta is the game's
        po.solve(g, method="mmd", beta=0.2)
    with pytest.raises(ValueError, match="does not apply"):
        po.solve(g, method="online_ipo")
    assert "online_ipo" not in po.methods(g)


def test_exact_results_carry_both_players():
    g = MatrixGame(RECTANGULAR)
    for method in ("nash", "nash_lp"):
        res = po.solve(g, method=method)
        assert res.status == "converged" and res.info["scale"] == g.scale
        assert res.iterates.row.shape == (2, 3) and res.optimum.policy is res.policy
        assert res.value == pytest.approx(float(res.policy.row @ g.A @ res.policy.col))
        assert res.certificates["duality_gap"][-1] <= NASH_GAP


# --------------------------------------------------------------------------- theorems on matrix games
@pytest.mark.parametrize("name", po.theory.registry.MATRIX_GAME_THEOREMS)
@given(_game_matrices(4, 5), st.sampled_from([0.02, 0.2]))
@settings(SETTINGS, max_examples=6)
def test_preference_game_theorems_hold_on_matrix_games(name, A, beta):
    """The rates of the game rules, in normalized units, on rectangular two-player games (both KLs summed)."""
    method = po.theory.registry.get(name).methods[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(MatrixGame(A, beta=beta), method=method, iters=150)
    verdict = po.theory.check(res, name)
    assert verdict.holds, (name, verdict)


def test_theorems_stated_for_one_player_are_refused_on_matrix_games():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        res = po.solve(MatrixGame(RECTANGULAR), method="sppo", iters=20)
    with pytest.raises(ValueError, match="stated for preference games"):
        po.theory.check(res, "sppo.average_duality_gap")


def test_the_pair_oracle_runs_under_jax_jit():
    """One rule, two backends: the padded pair state and MatrixGameOracle under jax.jit give the NumPy iterates."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from polopt.testing.rule_suite import BACKEND

    jax.config.update("jax_enable_x64", True)
    g = MatrixGame(RECTANGULAR, beta=0.1)
    rule = mg_methods._make_rule(po.methods_table()["mirror_prox"], g, {}, 50)  # the KL prox with -inf entries
    G, log_mu = mg_methods._padded(g)
    log_pi0 = np.log(np.array([[0.2, 0.3, 0.5, 1.0], [0.1, 0.2, 0.3, 0.4]]))
    log_pi0[0, 3] = -np.inf  # the row player (3 actions) padded to K = 4

    def run(oracle, lp, steps=6):
        s = rule.init(lp, oracle)
        for _ in range(steps):
            s = rule.update(s, oracle)
        return s.log_pi

    with np.errstate(divide="ignore"):
        want = np.exp(run(po.oracles.MatrixGameOracle(G, log_mu), log_pi0))
    got = np.exp(np.asarray(jax.jit(lambda G_, m_, lp: run(po.oracles.MatrixGameOracle(G_, m_), lp))(
        jnp.asarray(G), jnp.asarray(log_mu), jnp.asarray(log_pi0))))
    np.testing.assert_allclose(got, want, atol=BACKEND)
    assert want[0, 3] == 0.0 and got[0, 3] == 0.0  # the padded action stays at zero probability
