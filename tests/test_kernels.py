"""The numba kernels behind solve_mdp: pruned backups are exact, span evaluation agrees with a solve."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from polopt.exact import _kernels
from polopt.exact._ops import q_from_v
from polopt.exact.evaluation import solve_discounted
from polopt.problems.random import garnet_mdp, random_mdp
from polopt.testing.tolerances import EXACT_F64, IDENTITY_F64

SETTINGS = settings(derandomize=True, max_examples=20, deadline=None)


def _slack(v):
    return 2e-9 * float(np.max(np.abs(v))) + 1e-12


@SETTINGS
@given(seed=st.integers(0, 10_000), sparse=st.booleans(), rounds=st.integers(1, 4), scale=st.floats(1e-6, 3.0))
def test_pruned_backup_with_carried_bounds_is_exact(seed, sparse, rounds, scale):
    """Backups pruned by r + gamma max v and by U + gamma max(v - v_old) equal the full max."""
    rng = np.random.default_rng(seed)
    mdp = garnet_mdp(40, 6, 4, gamma=0.9, seed=seed) if sparse else random_mdp(30, 5, gamma=0.9, seed=seed)
    S, A = mdp.num_states, mdp.num_actions
    U = np.full((S, A), np.inf)
    v_old = None
    v = rng.normal(size=S)
    hint = rng.integers(0, A, size=S)
    for _ in range(rounds):
        shift = 0.0 if v_old is None else float(np.max(v - v_old)) + _slack(v - v_old)
        if sparse:
            P = sp.csr_matrix(mdp.P_sa)
            Tv, sigma, _ = _kernels.backup_csr(P.indptr, P.indices, P.data, mdp.r, mdp.gamma, v, hint,
                                               _slack(v), U, shift)
        else:
            Tv, sigma, _ = _kernels.backup_dense(np.ascontiguousarray(mdp.P_sa), mdp.r, mdp.gamma, v, hint,
                                                 _slack(v), U, shift)
        q = q_from_v(mdp.P_sa, mdp.r, mdp.gamma, v)
        np.testing.assert_allclose(Tv, q.max(axis=1), atol=IDENTITY_F64)
        np.testing.assert_allclose(q[np.arange(S), sigma], q.max(axis=1), atol=IDENTITY_F64)
        assert np.all(U >= q - IDENTITY_F64)  # U stays an upper bound on q_v
        v_old, v = v, v + scale * rng.normal(size=S)  # the next round's v moves by ~scale
        hint = sigma


@SETTINGS
@given(seed=st.integers(0, 10_000))
def test_span_evaluate_csr_matches_direct_solve(seed):
    mdp = garnet_mdp(50, 4, 5, gamma=0.9, seed=seed)
    P = sp.csr_matrix(mdp.P_sa)
    sigma = np.random.default_rng(seed).integers(0, 4, size=50)
    rows = np.arange(50) * 4 + sigma
    v_exact = solve_discounted(mdp.P_sa[rows], mdp.r[np.arange(50), sigma], 0.9)
    w, ok = _kernels.span_evaluate_csr(P.indptr, P.indices, P.data, mdp.r, 0.9, sigma, np.zeros(50), 1e-12, 10_000)
    assert ok
    # span < thr gives ||w_corrected - v|| <= gamma/(1-gamma) thr/2 ~ 5e-12
    np.testing.assert_allclose(w, v_exact, atol=EXACT_F64)


def test_serial_and_parallel_backups_agree(monkeypatch):
    """backup_csr picks the serial kernel below PARALLEL_MIN_NNZ; both give identical results."""
    mdp = garnet_mdp(200, 4, 3, gamma=0.9, seed=1)
    P = mdp.P_sparse
    r = np.ascontiguousarray(mdp.r)
    v = np.random.default_rng(1).normal(size=200)
    hint = np.zeros(200, dtype=np.int64)
    args = (P.indptr, P.indices, P.data, r, 0.9, v, hint, _slack(v))
    serial = _kernels.backup_csr_serial(*args, np.full(r.shape, np.inf), 0.0)
    parallel = _kernels.backup_csr_parallel(*args, np.full(r.shape, np.inf), 0.0)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
    assert P.nnz < _kernels.PARALLEL_MIN_NNZ
    called = []
    monkeypatch.setattr(_kernels, "_backup_serial", lambda *a: called.append("serial") or serial)
    monkeypatch.setattr(_kernels, "_backup_parallel", lambda *a: called.append("parallel") or parallel)
    _kernels.backup_csr(*args, np.full(r.shape, np.inf), 0.0)
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_NNZ", 1)
    _kernels.backup_csr(*args, np.full(r.shape, np.inf), 0.0)
    assert called == ["serial", "parallel"]


@pytest.mark.parametrize("A", [1, 2, 3, 8, 32, 33, 100])
def test_row_max_and_greedy_equal_numpy_reductions_with_ties_and_infinities(A):
    from polopt.exact._ops import greedy, row_max

    rng = np.random.default_rng(A)
    q = rng.integers(-2, 3, size=(257, A)).astype(np.float64)  # small integers: many exact ties
    q[::7, 0] = -np.inf
    q[::11, -1] = np.inf
    np.testing.assert_array_equal(row_max(q), q.max(axis=-1))
    np.testing.assert_array_equal(greedy(q), np.argmax(q, axis=-1))  # lowest index on ties
    q[3, 0] = np.nan
    assert np.isnan(row_max(q)[3]) and greedy(q)[3] == np.argmax(q, axis=-1)[3]


def _ragged_kernel(S, A, seed):
    """A CSR ``(S*A, S)`` kernel whose rows store 1 to 6 entries."""
    rng = np.random.default_rng(seed)
    P = np.zeros((S * A, S))
    for row in range(S * A):
        succ = rng.choice(S, size=rng.integers(1, 7), replace=False)
        P[row, succ] = rng.dirichlet(np.ones(len(succ)))
    return sp.csr_matrix(P)


def test_ell_view_is_a_view_of_uniform_rows_and_none_otherwise():
    P = garnet_mdp(30, 4, 5, gamma=0.9, seed=3).P_sparse
    idx, val = _kernels.ell_view(P.indptr, P.indices, P.data)
    assert idx.shape == val.shape == (120, 5)
    assert np.shares_memory(idx, P.indices) and np.shares_memory(val, P.data)
    np.testing.assert_array_equal((val[:, :, None] * (idx[:, :, None] == np.arange(30))).sum(axis=1), P.toarray())
    R = _ragged_kernel(10, 3, 0)
    assert _kernels.ell_view(R.indptr, R.indices, R.data) is None
    empty = sp.csr_matrix((4, 4))
    assert _kernels.ell_view(empty.indptr, empty.indices, empty.data) is None


@SETTINGS
@given(seed=st.integers(0, 10_000), rounds=st.integers(1, 4))
def test_backups_on_the_ell_view_equal_those_on_csr(seed, rounds):
    """Same ``Tv``, greedy policy, rows read and bounds ``U`` from either layout, round after round."""
    mdp = garnet_mdp(40, 6, 4, gamma=0.9, seed=seed)
    P = mdp.P_sparse
    K = _kernels.ell_view(P.indptr, P.indices, P.data)
    r = np.ascontiguousarray(mdp.r)
    rng = np.random.default_rng(seed)
    v_old, v = None, rng.normal(size=40)
    hint = np.zeros(40, dtype=np.int64)
    U_csr, U_ell = np.full(r.shape, np.inf), np.full(r.shape, np.inf)
    for _ in range(rounds):
        shift = np.inf if v_old is None else float(np.max(v - v_old)) + _slack(v - v_old)
        a = _kernels.backup_csr(P.indptr, P.indices, P.data, r, 0.9, v, hint, _slack(v), U_csr, shift)
        b = _kernels.backup_sparse(K, r, 0.9, v, hint, _slack(v), U_ell, shift)
        np.testing.assert_allclose(a[0], b[0], rtol=0, atol=IDENTITY_F64)
        np.testing.assert_array_equal(a[1], b[1])
        assert a[2] == b[2]
        np.testing.assert_allclose(U_csr, U_ell, rtol=0, atol=IDENTITY_F64)
        v_old, v, hint = v, v + 0.1 * rng.normal(size=40), a[1]


@pytest.mark.parametrize("layout", ["uniform", "padded", "csr"])
def test_evaluations_match_a_direct_solve_in_every_layout(layout):
    """span_evaluate_csr and partial_evaluate_csr sweep P_sigma as fixed-width rows (uniform rows, or
    rows padded at most ELL_MAX_PADDING-fold) or as CSR; each agrees with a direct solve."""
    S, A, gamma = 40, 3, 0.9
    rng = np.random.default_rng(7)
    r = rng.normal(size=(S, A))
    sigma = rng.integers(0, A, size=S)
    if layout == "uniform":
        P = garnet_mdp(S, A, 4, gamma=gamma, seed=7).P_sparse
    else:
        P = _ragged_kernel(S, A, 7)
        if layout == "csr":  # one long row of P_sigma: padding every row to it would cost more than 2x
            dense = P.toarray()
            dense[5 * A + sigma[5]] = 1.0 / S
            P = sp.csr_matrix(dense)
    longest, total = _kernels._sigma_width(P.indptr, A, sigma)
    assert (longest * S <= _kernels.ELL_MAX_PADDING * total) == (layout != "csr")
    rows = np.arange(S) * A + sigma
    v_exact = solve_discounted(P[rows].toarray(), r[np.arange(S), sigma], gamma)
    w, ok = _kernels.span_evaluate_csr(P.indptr, P.indices, P.data, r, gamma, sigma, np.zeros(S), 1e-12, 10_000)
    assert ok
    np.testing.assert_allclose(w, v_exact, atol=EXACT_F64)
    v0 = rng.normal(size=S)
    x = _kernels.partial_evaluate_csr(P.indptr, P.indices, P.data, r, gamma, sigma, v0, 3)
    y = v0
    for _ in range(3):
        y = r[np.arange(S), sigma] + gamma * (P[rows] @ y)
    np.testing.assert_allclose(x, y, rtol=0, atol=IDENTITY_F64)


def test_flush_negligible_zeroes_only_entries_below_the_fraction_and_copies():
    from polopt.exact._kernels import NEGLIGIBLE_FRACTION, flush_negligible

    v = np.array([-3.0, 3.0 * NEGLIGIBLE_FRACTION * 0.5, 5e-324, 0.0, 3.0 * NEGLIGIBLE_FRACTION * 2, -1e-310])
    before = v.copy()
    w = flush_negligible(v)
    np.testing.assert_array_equal(w, [-3.0, 0.0, 0.0, 0.0, 3.0 * NEGLIGIBLE_FRACTION * 2, 0.0])
    np.testing.assert_array_equal(v, before)  # the input is not modified
    clean = np.array([1.0, -2.0, 0.0])
    assert flush_negligible(clean) is clean
    assert flush_negligible(np.array([np.inf, 1e-320])) is not None  # non-finite scale: left alone


def test_gauss_seidel_floor_sets_decayed_values_to_zero():
    """A sweep along a chain whose values fall by 1/2 per state: with a floor, nothing subnormal."""
    S = 2000
    P = np.zeros((S, S))
    P[np.arange(S - 1), np.arange(1, S)] = 1.0  # s -> s + 1
    P[S - 1, S - 1] = 1.0
    P = sp.csr_matrix(P)
    r = np.zeros((S, 1))
    r[S - 1, 0] = 1.0
    v = np.zeros(S)
    v[S - 1] = 2.0
    plain = _kernels.gauss_seidel_csr(P.indptr, P.indices, P.data, r, 0.5, v.copy(), False, 1)
    assert np.any((plain != 0) & (np.abs(plain) < np.finfo(float).tiny))  # the sweep made subnormals
    floored = _kernels.gauss_seidel_csr(P.indptr, P.indices, P.data, r, 0.5, v.copy(), False, 1, 1e-200)
    small = np.abs(plain) < 1e-200
    np.testing.assert_array_equal(floored[~small], plain[~small])
    assert np.all(floored[small] == 0.0)


def test_solve_mdp_bracket_holds_where_values_decay_into_subnormals():
    """RiverSwim n = 10^5: the rewarding end's value decays by ~0.99 per state into the subnormal
    range; the flushed iterates still give a bracket around the exact value of the returned policy."""
    from polopt.exact import evaluate_deterministic, solve_mdp
    from polopt.problems import catalogue

    mdp = catalogue.river_swim(10**5, 0.99, sparse=True)
    res = solve_mdp(mdp, tol=1e-8)
    assert res.status == "converged"
    v_pi = evaluate_deterministic(mdp, res.policy)
    assert np.all(res.v_lower <= v_pi + EXACT_F64) and np.all(v_pi <= res.v_upper + EXACT_F64)
    assert float(np.max(res.v_upper - res.v_lower)) < 1e-8


@pytest.mark.parametrize("ragged", [False, True])
def test_myopic_gather_is_argmax_of_r_with_the_rows_gather_sigma_into_copies(ragged):
    """The fused pass returns np.argmax's policy (lowest index on ties, -inf entries skipped) and
    the same fixed-width P_sigma and r_sigma as a separate gather of that policy."""
    S, A = 50, 6
    P = _ragged_kernel(S, A, 3) if ragged else garnet_mdp(S, A, 4, gamma=0.9, seed=3).P_sparse
    r = np.random.default_rng(3).normal(size=(S, A))
    r[3] = 1.0  # a state where every action ties
    r[4, :2] = -np.inf  # infeasible pairs
    K = _kernels.ell_view(P.indptr, P.indices, P.data) or (P.indptr, P.indices, P.data)
    fused, separate = _kernels.gather_buffers(K, S), _kernels.gather_buffers(K, S)
    sigma = _kernels.myopic_gather_into(P.indptr, P.indices, P.data, r, *fused)
    np.testing.assert_array_equal(sigma, np.argmax(r, axis=1))
    _kernels.gather_sigma_into(P.indptr, P.indices, P.data, r, sigma, *separate)
    for a, b in zip(fused, separate, strict=True):
        np.testing.assert_array_equal(a, b)


def test_span_evaluation_gives_up_early_on_a_slowly_mixing_chain():
    """RiverSwim's chain contracts the span by ~gamma per sweep: after GIVE_UP_AFTER + 1 sweeps the
    rate shows 60 sweeps cannot reach the threshold, and the evaluation stops there (the caller then
    solves directly) instead of spending the whole budget."""
    from polopt.problems import catalogue

    mdp = catalogue.river_swim(2000, 0.99, sparse=True)
    P, r = mdp.P_sparse, np.ascontiguousarray(mdp.r)
    sigma = np.ones(2000, dtype=np.int64)
    v0 = np.zeros(2000)
    w, ok = _kernels.span_evaluate_csr(P.indptr, P.indices, P.data, r, 0.99, sigma, v0.copy(), 1e-10, 60)
    assert not ok
    k = _kernels.GIVE_UP_AFTER + 1
    np.testing.assert_allclose(w, _kernels.partial_evaluate_csr(P.indptr, P.indices, P.data, r, 0.99, sigma, v0, k),
                               rtol=0, atol=IDENTITY_F64)


@pytest.mark.parametrize(("rate", "left", "hopeless"), [(0.5, 40, False), (0.5, 30, True), (0.99, 59, True),
                                                        (1.0, 100, True)])
def test_hopeless_extrapolates_the_geometric_rate(rate, left, hopeless):
    """Spans 1, rate, rate^2 with threshold 1e-10 need log(1e-10 / rate^2) / log(rate) more sweeps
    (rate 0.5: ~31.2)."""
    spans = np.array([1.0, rate, rate**2])
    assert _kernels._hopeless(spans, 1e-10, left) == hopeless
