"""numba kernels for the exact solvers: pruned Bellman backups and Gauss-Seidel sweeps.

Pruned backup (action elimination, MacQueen 1967; Puterman 1994 §6.7.2): since
``sum_s' P(s'|s, a) v(s') <= max v`` for every row on the simplex,
``q(s, a) <= r(s, a) + gamma max v``; and from one backup to the next
``q_v(s, a) <= q_{v_old}(s, a) + gamma max(v - v_old)``. Once some action reaches ``best``,
every action whose bound is below ``best`` cannot attain the maximum and its row of ``P`` is
never read. The result ``(T v)(s) = max_a q(s, a)`` is exact (not an approximation): only
provably dominated rows are skipped. ``slack`` covers rows summing to ``1 +- 1e-9``
(the validation tolerance) and round-off.

Gauss-Seidel sweep with the self-loop solved exactly (Puterman §6.3.3): for each state in
turn, ``v(s) <- max_a (r(s, a) + gamma sum_{s' != s} P(s'|s, a) v(s')) / (1 - gamma P(s|s, a))``
using the newest values. Its fixed point is ``v*``; on chains it moves information across
the whole chain in one sweep in the direction of the sweep.
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit, prange, types
from numba.extending import overload


def _q_row(K, row, v):
    """``P[row] @ v`` of a kernel ``K``: a dense ``(S*A, S)`` array, a CSR triple ``(indptr, indices,
    data)`` or a fixed-row-length (ELLPACK) pair ``(indices [rows, k], data [rows, k])``."""
    raise NotImplementedError("only callable from numba")


@overload(_q_row, jit_options={"fastmath": True})
def _q_row_impl(K, row, v):
    # one pruned backup for every storage: numba specializes it on the type of K
    if isinstance(K, types.Array):
        def dense(K, row, v):
            acc = 0.0
            for j in range(K.shape[1]):
                acc += K[row, j] * v[j]
            return acc
        return dense

    if len(K) == 2:
        def ell(K, row, v):
            indices, data = K
            acc = 0.0
            for j in range(indices.shape[1]):
                acc += data[row, j] * v[indices[row, j]]
            return acc
        return ell

    def csr(K, row, v):
        indptr, indices, data = K
        # int64 loop bounds and a while loop: numba's range over int32 bounds compiles to a slower loop
        k = np.int64(indptr[row])
        end = np.int64(indptr[row + 1])
        acc = 0.0
        while k < end:
            acc += data[k] * v[np.int64(indices[k])]
            k += 1
        return acc
    return csr


def _copy_row(K, row, s, G):
    """Row ``row`` of a CSR or ELLPACK kernel ``K`` into row ``s`` of a fixed-width ``P_sigma``
    ``G = (idx [S, w], val [S, w], r_sigma [S])``, padded with zero weights on ``s``."""
    raise NotImplementedError("only callable from numba")


@overload(_copy_row)
def _copy_row_impl(K, row, s, G):
    if isinstance(K, types.Array):  # dense kernels keep no gathered P_sigma
        def dense(K, row, s, G):
            return None
        return dense

    if len(K) == 2:
        def ell(K, row, s, G):
            indices, data = K
            idx, val, _ = G
            for j in range(indices.shape[1]):
                idx[s, j] = indices[row, j]
                val[s, j] = data[row, j]
        return ell

    def csr(K, row, s, G):
        indptr, indices, data = K
        idx, val, _ = G
        k0 = np.int64(indptr[row])
        n = np.int64(indptr[row + 1]) - k0
        for j in range(idx.shape[1]):
            if j < n:
                idx[s, j] = indices[k0 + j]
                val[s, j] = data[k0 + j]
            else:
                idx[s, j] = s
                val[s, j] = 0.0
    return csr


@njit(cache=True)
def _backup_states(K, r, gamma, v, hint, ub, U, shift, Tv, sigma, lo, hi, G):
    """The pruned backup of states ``lo..hi-1`` (writes their ``Tv``, ``sigma`` and ``U`` rows);
    returns the number of rows of ``P`` read.

    ``hint[s]`` is read first (ties keep it); an action whose bound ``min(r + gamma ub, U + gamma
    shift)`` is below the best so far is skipped and its ``U`` lowered to that bound. One call per
    range of states, not per state: a numba call per state (passing a dozen array arguments) cost
    as much as the backup of a two-action state (RiverSwim n = 10^4: 0.27 ms against 0.12 ms).

    ``G = (idx [S, w], val [S, w], r_sigma [S])``, the fixed-width ``P_sigma`` of the policy
    ``hint`` (ignored when ``idx`` has no rows), is turned into that of the greedy policy: the rows
    of the states whose action changes are copied while they are in cache, so that evaluating the
    greedy policy needs no gather from rows scattered over the kernel.
    """
    A = r.shape[1]
    # without bounds carried over (shift = inf) one pass per state reads every row in order; with
    # them, all bounds first, and the actions they do not rule out against q(s, a0) listed without
    # a branch: a data-dependent branch per pair mispredicts about as often as it prunes
    # (state-action sparse 3000 x 50: pruned backups 0.68-0.73 -> 0.56-0.59 ms)
    carried = shift != np.inf
    gather = G[0].shape[0] > 0
    Ks = (G[0], G[1])
    g_ub = gamma * ub
    g_shift = gamma * shift
    cand = np.empty(A, dtype=np.int64)
    n = 0
    for s in range(lo, hi):
        a0 = hint[s]
        base = s * A
        # the hint's row from the gathered P_sigma (contiguous) rather than from the scattered kernel
        # (state-action sparse 3000 x 50: 3000 cache misses, ~0.1 ms of a 0.4 ms pruned backup)
        best = r[s, a0] + gamma * (_q_row(Ks, s, v) if gather and carried else _q_row(K, base + a0, v))
        m = A
        if carried:
            m = 0
            for a in range(A):
                bound = min(r[s, a] + g_ub, U[s, a] + g_shift)
                U[s, a] = bound
                cand[m] = a
                m += bound >= best
        U[s, a0] = best
        arg = a0
        n += 1
        for i in range(m):
            a = cand[i] if carried else i
            # the best so far rules out more than q(s, a0) did
            bound = U[s, a] if carried else r[s, a] + g_ub
            if a == a0 or bound < best:
                if not carried and a != a0:
                    U[s, a] = bound
                continue
            q = r[s, a] + gamma * _q_row(K, base + a, v)
            U[s, a] = q
            n += 1
            if q > best:
                best = q
                arg = a
        Tv[s] = best
        sigma[s] = arg
        if gather and arg != a0:
            _copy_row(K, base + arg, s, G)
            G[2][s] = r[s, arg]
    return n


@njit(cache=True)
def _backup_serial(K, r, gamma, v, hint, slack, U, shift, G):
    S = r.shape[0]
    Tv = np.empty(S)
    sigma = np.empty(S, dtype=np.int64)
    reads = _backup_states(K, r, gamma, v, hint, np.max(v) + slack, U, shift, Tv, sigma, 0, S, G)
    return Tv, sigma, reads


#: States per task of :func:`_backup_parallel`.
_PARALLEL_BLOCK = 1024


@njit(cache=True, parallel=True)
def _backup_parallel(K, r, gamma, v, hint, slack, U, shift, G):
    # blocks of states split over numba's threads; each state writes only its own Tv, sigma and U
    # row, so the result does not depend on the number of threads
    S = r.shape[0]
    ub = np.max(v) + slack
    Tv = np.empty(S)
    sigma = np.empty(S, dtype=np.int64)
    blocks = (S + _PARALLEL_BLOCK - 1) // _PARALLEL_BLOCK
    reads = np.zeros(blocks, dtype=np.int64)
    for b in prange(blocks):
        lo = b * _PARALLEL_BLOCK
        reads[b] = _backup_states(K, r, gamma, v, hint, ub, U, shift, Tv, sigma, lo, min(lo + _PARALLEL_BLOCK, S), G)
    return Tv, sigma, reads.sum()


def backup_dense(P2, r, gamma, v, hint, slack, U, shift):
    """Pruned exact backup on a dense ``(S*A, S)`` kernel: returns ``(Tv [S], sigma [S], reads)``.

    ``hint[s]`` is evaluated first (ties keep it); ``reads`` counts the rows of ``P`` read.
    ``U`` [S, A] holds upper bounds on ``q_{v_old}(s, a)`` from the previous backup (``+inf``
    when there is none) and ``shift >= max(v - v_old)`` (plus slack): since
    ``q_v = q_{v_old} + gamma P (v - v_old)``, ``U + gamma shift`` bounds ``q_v`` and prunes
    rows once ``v`` moves little between rounds. ``U`` is overwritten with bounds on ``q_v``
    (exact values for the rows read).
    """
    return _backup_serial(P2, r, gamma, v, hint, slack, U, shift, NO_GATHER)


#: Backups on sparse kernels with at least this many stored entries split the states over numba's
#: threads; smaller ones run serially. Measured on the 2-core development machine (shared with
#: other work, load ~2.7): median / worst ms of 20-30 calls of :func:`backup_csr` on Garnet
#: kernels (A = 4, 5 successors), "1 thread -> 2 threads":
#:
#:     nnz    machine as is                  beside 2 busy spinning processes
#:     4e4    0.058 / 0.35 -> 0.037 / 0.11   0.068 / 0.10 -> 0.038 / 0.05
#:     2e5    0.46 / 8.7   -> 0.18 / 52      0.32 / 4.5   -> 0.20 / 4.3
#:     5e5    1.35 / 5.6   -> 0.61 / 48      1.18 / 5.4   -> 32 / 40
#:     1e6    2.8 / 3.0    -> 5.7 / 52       6.8 / 7.3    -> 1.5 / 7.5
#:     2e6    11.7 / 21    -> 13.6 / 48      6.3 / 15     -> 32 / 40
#:     4e6    12.2 / 14    -> 40 / 44        26.7 / 40    -> 24 / 56
#:
#: A parallel region gains at most a factor (threads) but, whenever another process holds a
#: core, waits a scheduler time slice (4-50 ms measured) for its slowest thread; solve_mdp on
#: river_swim(500, 0.99, sparse=True) (nnz ~ 2.5e3, hundreds of backups) took 7.0 ms median
#: with one thread and 36 ms median / 190 ms worst with two (15 / 180 ms beside 2 spinners).
#: Parallel pays only when one serial backup is long against that wait: from ~1e7 entries
#: (~30-70 ms serial at 3-7 ns per entry), hence 2**23 ~ 8.4e6.
PARALLEL_MIN_NNZ = 2**23


def backup_csr_serial(indptr, indices, data, r, gamma, v, hint, slack, U, shift):
    """:func:`backup_csr` on one thread."""
    return _backup_serial((indptr, indices, data), r, gamma, v, hint, slack, U, shift, NO_GATHER)


def backup_csr_parallel(indptr, indices, data, r, gamma, v, hint, slack, U, shift):
    """:func:`backup_csr` with blocks of states split over numba's threads (same result)."""
    return _backup_parallel((indptr, indices, data), r, gamma, v, hint, slack, U, shift, NO_GATHER)


#: ``G`` of a backup that keeps no gathered ``P_sigma``.
NO_GATHER = (np.empty((0, 0), dtype=np.int32), np.empty((0, 0)), np.empty(0))


def gather_buffers(K, S: int):
    """Empty ``G = (idx [S, w], val [S, w], r_sigma [S])`` for :func:`backup_sparse` on a CSR triple
    or ELLPACK pair ``K`` of ``S`` states, ``w`` its longest row; None when that pads the mean row
    more than :data:`ELL_MAX_PADDING`-fold."""
    if len(K) == 2:
        width = K[0].shape[1]
    else:
        lengths = np.diff(K[0])
        width = int(lengths.max()) if lengths.size else 0
        if width > ELL_MAX_PADDING * max(float(lengths.mean()), 1.0):
            return None
    return np.empty((S, width), dtype=K[-2].dtype), np.empty((S, width)), np.empty(S)


def backup_sparse(K, r, gamma, v, hint, slack, U, shift, G=None):
    """Pruned exact backup on a CSR triple or an ELLPACK pair ``K`` (:func:`ell_view`); same
    contract as :func:`backup_dense`. Runs on numba's threads when ``K`` stores at least
    :data:`PARALLEL_MIN_NNZ` entries, else on one (same result either way; see the measurements
    there). ``G`` (:func:`gather_buffers`, holding ``P_sigma`` of ``hint``, see
    :func:`gather_sigma_into`) is updated to the greedy policy's."""
    kernel = _backup_parallel if K[-1].size >= PARALLEL_MIN_NNZ else _backup_serial
    return kernel(K, r, gamma, v, hint, slack, U, shift, NO_GATHER if G is None else G)


def backup_csr(indptr, indices, data, r, gamma, v, hint, slack, U, shift):
    """:func:`backup_sparse` on a CSR ``(S*A, S)`` kernel ``(indptr, indices, data)``."""
    return backup_sparse((indptr, indices, data), r, gamma, v, hint, slack, U, shift)


@njit(cache=True)
def _uniform_rows(indptr, k):
    # no early exit: the loop vectorizes (150k row pointers: 0.03 ms against 0.1 ms)
    bad = 0
    for i in range(indptr.shape[0]):
        bad += np.int64(indptr[i]) != i * k
    return bad == 0


def ell_view(indptr, indices, data):
    """The CSR kernel as ``(indices [rows, k], data [rows, k])`` views (no copy) when every row
    stores the same number ``k >= 1`` of entries (Garnet and QuantEcon's random instances), else None.

    A fixed row length lets numba run the inner product as a counted loop without the row
    pointers: a full backup of the state-action sparse 3000 x 50 bench instance (5 entries per
    row) took 0.83-0.89 ms against 1.35-1.44 ms on the CSR arrays, the pruned ones 5-10% less.
    """
    rows = indptr.shape[0] - 1
    nnz = int(indptr[-1]) if rows >= 0 else 0
    if rows <= 0 or nnz == 0 or nnz % rows or not _uniform_verdict(indptr, nnz // rows):
        return None
    k = nnz // rows
    return indices[:nnz].reshape(rows, k), data[:nnz].reshape(rows, k)


#: id(indptr) -> (weak reference to it, k, verdict) for read-only row pointers (those of a
#: TabularMDP's kernel): a problem solved again is not scanned again.
_VERDICTS: dict = {}


def _uniform_verdict(indptr, k: int) -> bool:
    if indptr.flags.writeable:  # may change under us: scan every time
        return bool(_uniform_rows(indptr, k))
    key = id(indptr)
    hit = _VERDICTS.get(key)
    if hit is not None and hit[0]() is indptr and hit[1] == k:
        return hit[2]
    verdict = bool(_uniform_rows(indptr, k))
    _VERDICTS[key] = (weakref.ref(indptr, lambda _, key=key: _VERDICTS.pop(key, None)), k, verdict)
    return verdict


@njit(cache=True)
def gauss_seidel_csr(indptr, indices, data, r, gamma, v, forward, sweeps, floor=0.0):
    """``sweeps`` in-place Gauss-Seidel sweeps (alternating direction, starting ``forward``); new
    values of magnitude below ``floor`` are set to 0 (a sweep carries a value along a whole chain,
    where it may decay into slow subnormal numbers: see ``NEGLIGIBLE_FRACTION`` in ``_ops``)."""
    S, A = r.shape
    for k in range(sweeps):
        fwd = forward if k % 2 == 0 else not forward
        for i in range(S):
            s = i if fwd else S - 1 - i
            best = -np.inf
            for a in range(A):
                row = s * A + a
                acc = 0.0
                diag = 0.0
                for kk in range(indptr[row], indptr[row + 1]):
                    j = indices[kk]
                    if j == s:
                        diag += data[kk]
                    else:
                        acc += data[kk] * v[j]
                q = (r[s, a] + gamma * acc) / (1.0 - gamma * diag)
                if q > best:
                    best = q
            v[s] = best if abs(best) >= floor else 0.0
    return v


@njit(cache=True)
def gather_sigma_csr(indptr, indices, data, r, sigma):
    """The rows ``s*A + sigma[s]`` of a CSR ``(S*A, S)`` kernel as a compact CSR ``P_sigma``
    ``(ptr, idx, val)`` and ``r_sigma [S]``: they lie scattered over the whole kernel, and sweeping
    them in place would cost a cache miss per row per sweep."""
    S, A = r.shape
    ptr = np.empty(S + 1, dtype=np.int64)
    ptr[0] = 0
    for s in range(S):
        row = s * A + sigma[s]
        ptr[s + 1] = ptr[s] + indptr[row + 1] - indptr[row]
    idx = np.empty(ptr[S], dtype=indices.dtype)
    val = np.empty(ptr[S])
    rs = np.empty(S)
    for s in range(S):
        row = s * A + sigma[s]
        k0 = indptr[row]
        for k in range(ptr[s + 1] - ptr[s]):
            idx[ptr[s] + k] = indices[k0 + k]
            val[ptr[s] + k] = data[k0 + k]
        rs[s] = r[s, sigma[s]]
    return ptr, idx, val, rs


@njit(cache=True)
def gather_sigma_ell(indptr, indices, data, r, sigma, width):
    """:func:`gather_sigma_csr` as a fixed-width (ELLPACK) ``P_sigma``: ``(idx [S, width], val [S,
    width])`` and ``r_sigma``, each row padded with zero weights on its own state."""
    S = r.shape[0]
    G = (np.empty((S, width), dtype=indices.dtype), np.empty((S, width)), np.empty(S))
    gather_sigma_into(indptr, indices, data, r, sigma, *G)
    return G


@njit(cache=True)
def _sigma_width(indptr, A, sigma):
    """``(longest, total)`` stored entries of the rows ``s*A + sigma[s]``."""
    longest = 0
    total = 0
    for s in range(sigma.shape[0]):
        row = s * A + sigma[s]
        n = indptr[row + 1] - indptr[row]
        longest = max(longest, n)
        total += n
    return longest, total


#: ``P_sigma`` is swept in the padded fixed-width layout when padding adds at most this factor
#: to its stored entries: a sweep of a fixed-width row costs about half a CSR row's (state-action
#: sparse 3000 x 50 instance, 5 entries per row: an evaluation of 25 sweeps 0.36 ms against
#: 0.76 ms; RiverSwim's rows hold 1-3 entries).
ELL_MAX_PADDING = 2.0


@njit(cache=True)
def _span_sweeps(Ks, rs, gamma, v, thr, max_sweeps):
    S = rs.shape[0]
    c = gamma / (1.0 - gamma)
    w = np.empty(S)
    spans = np.full(3, np.inf)  # the last three spans
    for k in range(max_sweeps):
        lo = np.inf
        hi = -np.inf
        for s in range(S):
            x = rs[s] + gamma * _q_row(Ks, s, v)
            d = x - v[s]
            lo = min(lo, d)
            hi = max(hi, d)
            w[s] = x
        span = hi - lo
        if span < thr:
            return w + c * 0.5 * (lo + hi), True
        spans[0], spans[1], spans[2] = spans[1], spans[2], span
        if k >= GIVE_UP_AFTER and _hopeless(spans, thr, max_sweeps - k - 1):
            return w, False
        v, w = w, v
    return v, False


#: Sweeps after which :func:`span_evaluate_csr` stops early when the span's contraction rate
#: cannot reach the threshold within the budget (a slowly mixing chain: the caller then solves
#: directly). RiverSwim 10^4, gamma = 0.99: each round spent 60 sweeps (1.1 ms) before its solve.
GIVE_UP_AFTER = 4


@njit(cache=True)
def _hopeless(spans, thr, left):
    """Whether spans contracting at the rate of the last two sweeps (geometric mean) stay above
    ``thr`` for ``left`` more sweeps."""
    if not (spans[0] > 0.0 and spans[2] > 0.0) or spans[2] >= spans[0]:
        return spans[2] >= spans[0]
    rate = np.sqrt(spans[2] / spans[0])
    return np.log(thr / spans[2]) / np.log(rate) > left


@njit(cache=True)
def _partial_sweeps(Ks, rs, gamma, v, sweeps):
    S = rs.shape[0]
    x = v.copy()
    w = np.empty(S)
    for _ in range(sweeps):
        for s in range(S):
            w[s] = rs[s] + gamma * _q_row(Ks, s, x)
        x, w = w, x
    return x


@njit(cache=True)
def _use_ell(indptr, A, sigma):
    longest, total = _sigma_width(indptr, A, sigma)
    return longest, longest * sigma.shape[0] <= ELL_MAX_PADDING * total


@njit(cache=True)
def span_evaluate_csr(indptr, indices, data, r, gamma, sigma, v, thr, max_sweeps):
    """Evaluate the deterministic policy ``sigma`` on a CSR ``(S*A, S)`` kernel.

    Sweeps ``w <- r_sigma + gamma P_sigma w`` on the gathered rows (:func:`gather_sigma_ell` when
    padding costs at most :data:`ELL_MAX_PADDING`, else :func:`gather_sigma_csr`) stop when
    ``sp(w - v) < thr`` and return the midrange-corrected ``w + gamma/(1-gamma) (lo + hi)/2``
    with ``True``, or the last sweep and ``False`` after ``max_sweeps``, or as soon as the span's
    contraction rate shows the budget cannot reach ``thr`` (:data:`GIVE_UP_AFTER`).
    """
    width, ell = _use_ell(indptr, r.shape[1], sigma)
    if ell:
        idx, val, rs = gather_sigma_ell(indptr, indices, data, r, sigma, width)
        return _span_sweeps((idx, val), rs, gamma, v, thr, max_sweeps)
    ptr, idx, val, rs = gather_sigma_csr(indptr, indices, data, r, sigma)
    return _span_sweeps((ptr, idx, val), rs, gamma, v, thr, max_sweeps)


@njit(cache=True)
def partial_evaluate_csr(indptr, indices, data, r, gamma, sigma, v, sweeps):
    """``sweeps`` partial evaluations ``v <- r_sigma + gamma P_sigma v`` of ``sigma`` (MPI's inner
    loop, Puterman 1994 §6.5) on the gathered rows (laid out as in :func:`span_evaluate_csr`);
    returns a new array, ``v`` is not modified."""
    width, ell = _use_ell(indptr, r.shape[1], sigma)
    if ell:
        idx, val, rs = gather_sigma_ell(indptr, indices, data, r, sigma, width)
        return _partial_sweeps((idx, val), rs, gamma, v, sweeps)
    ptr, idx, val, rs = gather_sigma_csr(indptr, indices, data, r, sigma)
    return _partial_sweeps((ptr, idx, val), rs, gamma, v, sweeps)


@njit(cache=True)
def gather_sigma_into(indptr, indices, data, r, sigma, idx, val, rs):
    """:func:`gather_sigma_ell` into given buffers ``idx``, ``val`` [S, w] (``w`` at least the
    longest row of ``sigma``) and ``rs`` [S]."""
    S, A = r.shape
    K = (indptr, indices, data)
    G = (idx, val, rs)
    for s in range(S):
        a = sigma[s]
        _copy_row(K, s * A + a, s, G)
        rs[s] = r[s, a]


@njit(cache=True)
def myopic_gather_into(indptr, indices, data, r, idx, val, rs):
    """The myopic policy ``sigma[s] = argmax_a r[s, a]`` (lowest index on ties) with its rows
    gathered as :func:`gather_sigma_into` does, in one pass over ``r`` (each row's reward is in
    cache when its row of ``P`` is copied)."""
    S, A = r.shape
    sigma = np.empty(S, dtype=np.int64)
    K = (indptr, indices, data)
    G = (idx, val, rs)
    for s in range(S):
        a0 = 0
        top = r[s, 0]
        for a in range(1, A):
            x = r[s, a]
            if x > top:
                top = x
                a0 = a
        sigma[s] = a0
        _copy_row(K, s * A + a0, s, G)
        rs[s] = top
    return sigma


@njit(cache=True)
def span_evaluate_gathered(idx, val, rs, gamma, v, thr, max_sweeps):
    """:func:`span_evaluate_csr` on a gathered fixed-width ``P_sigma`` (:func:`backup_sparse`)."""
    return _span_sweeps((idx, val), rs, gamma, v, thr, max_sweeps)


@njit(cache=True)
def partial_evaluate_gathered(idx, val, rs, gamma, v, sweeps):
    """:func:`partial_evaluate_csr` on a gathered fixed-width ``P_sigma``."""
    return _partial_sweeps((idx, val), rs, gamma, v, sweeps)


# ------------------------------------------------------------------ per-round reductions
#: Entries of a value vector below this fraction of its largest magnitude are set to 0 between
#: the rounds of the iterative solvers. They change no ``q = r + gamma P v`` by more than
#: ``2**-600 max|v|`` (far below float64 round-off of the large entries), and left alone they
#: decay into subnormal numbers, which x86 cores process ~100x slower: RiverSwim 10^6
#: (gamma = 0.99), where values fall by 0.99 per state away from the rewarding end, had 925k
#: subnormal entries and an evaluation took 4.4 s instead of 0.3 s.
NEGLIGIBLE_FRACTION = 2.0**-600


@njit(cache=True)
def max_abs(x):
    """``max |x|`` (0 for an empty ``x``; NaN propagates)."""
    m = 0.0
    for i in range(x.shape[0]):
        a = abs(x[i])
        if a != a:
            return a
        m = max(m, a)
    return m


@njit(cache=True)
def flush_negligible(v):
    """``v`` with the entries of magnitude below :data:`NEGLIGIBLE_FRACTION` ``max|v|`` set to 0
    (a new array when any is; ``v`` itself otherwise). Certificates computed from the returned
    vector stay exact: they hold for any ``v``."""
    top = max_abs(v)
    if not np.isfinite(top):
        return v
    floor = top * NEGLIGIBLE_FRACTION
    n = 0
    for i in range(v.shape[0]):
        n += (abs(v[i]) < floor) & (v[i] != 0.0)
    if n == 0:
        return v
    out = v.copy()
    for i in range(v.shape[0]):
        if abs(out[i]) < floor:
            out[i] = 0.0
    return out


@njit(cache=True)
def shift_bound(v, v_old, atol):
    """``max(v - v_old) + 2 atol max|v - v_old| + 1e-12``: bounds ``P (v - v_old)`` for rows that sum
    to ``1 +- atol``, with round-off (the carried-bound shift of the pruned backups)."""
    hi = -np.inf
    m = 0.0
    for i in range(v.shape[0]):
        d = v[i] - v_old[i]
        if d != d:
            return d  # NaN: no bound, the backup reads every row
        hi = max(hi, d)
        m = max(m, abs(d))
    return hi + 2.0 * atol * m + 1e-12


@njit(cache=True)
def residual(Tv, v, new, sigma):
    """``(d = Tv - v, min d, max d, #{s: new[s] != sigma[s]})`` of one backup."""
    d = np.empty(v.shape[0])
    lo = np.inf
    hi = -np.inf
    changed = 0
    nan = False
    for i in range(v.shape[0]):
        x = Tv[i] - v[i]
        d[i] = x
        nan |= x != x
        lo = min(lo, x)
        hi = max(hi, x)
        changed += new[i] != sigma[i]
    if nan:  # as numpy's min / max: a NaN residual makes the span NaN
        lo = hi = np.nan
    return d, lo, hi, changed
