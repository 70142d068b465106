"""The bandit oracles of the LLM-style rules: group policy-gradient estimates (exact moments or
samples) and the pair oracle of the preference losses.

A leaf module (NumPy and, on first use, numba; no other polopt layer). A rule of
:mod:`polopt.rules.estimators` asks :class:`BanditOracle` for ``estimate(pi, R, estimator, ...)``:
the mean of ``num_samples`` group estimates of ``group_size`` arms each, either exactly (its
expectation and the exact trace of its covariance, from the ``moments`` function the runner
passes in: :func:`polopt.exact.estimators.group_moments`) or sampled (the fused numba kernel
:func:`sample_gradients`). The rules of :mod:`polopt.rules.preference_losses` ask
:class:`PairOracle` for the pair weights of a dataset or a population, and for on-policy pairs
(exact ``pi x pi`` or ``num_pairs`` sampled).

The group estimators (module docstring of :mod:`polopt.rules.estimators`) are defined here once,
written against the array namespace of their inputs (NumPy float64 or ``jax.numpy``):
:func:`advantages`, :func:`group_gradient`, :func:`gradient_weights`, :func:`greedy_baseline`;
:func:`sample_gradients` is their fused sampler and ``backend="numpy"`` its vectorized reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._base import array_namespace
from .sampling import as_generator, sample_categorical

__all__ = [
    "ESTIMATORS",
    "GROUP_ESTIMATORS",
    "PARALLEL_MIN_GROUPS",
    "STD_EPS",
    "BanditOracle",
    "GradientEstimate",
    "GradientSamples",
    "PairOracle",
    "advantages",
    "alias_draw",
    "alias_tables",
    "check_estimator",
    "gradient_from_advantages",
    "gradient_weights",
    "greedy_baseline",
    "group_gradient",
    "sample_gradients",
    "trace_cov_from_sums",
]

ESTIMATORS = ("reinforce", "remax", "rloo", "grpo", "dr_grpo", "oblr")
#: Estimators whose baseline is built from the other members of the group (need G >= 2).
GROUP_ESTIMATORS = ("rloo", "grpo", "dr_grpo", "oblr")
#: Added to the group standard deviation before dividing (the value of verl's GRPO advantage):
#: a group with equal rewards then gets advantage 0 instead of 0/0.
STD_EPS = 1e-6


def check_estimator(estimator: str, group_size: int | None = None) -> str:
    """``estimator`` must be one of :data:`ESTIMATORS`; group estimators need ``group_size >= 2``."""
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if group_size is not None and estimator in GROUP_ESTIMATORS and group_size < 2:
        raise ValueError(
            f"group_size must be >= 2 for the {estimator} estimator (its baseline uses the other "
            f"members of the group), got {group_size}"
        )
    return estimator


def _take(v, actions):
    """``v[..., a_i]`` for ``actions`` [..., G]; ``v`` [..., K] broadcasts over the leading axes of ``actions``."""
    xp = array_namespace(v)
    lead = tuple(np.broadcast_shapes(v.shape[:-1], actions.shape[:-1]))
    v = xp.broadcast_to(v, lead + v.shape[-1:])
    return xp.take_along_axis(v, xp.broadcast_to(actions, lead + actions.shape[-1:]), axis=-1)


# --------------------------------------------------------------------------- policy-only pieces
def greedy_baseline(pi, r):
    """ReMax baseline ``b = r(argmax_a pi(a))`` (first maximiser on ties), ``[..., K] -> [...]``.

    It depends on the policy only, not on the sample, so REINFORCE with it stays unbiased
    (Li et al., arXiv 2310.10505: the reward of the greedy decode).
    """
    xp = array_namespace(pi, r)
    idx = xp.argmax(pi, axis=-1)[..., None]
    return xp.take_along_axis(r, idx, axis=-1)[..., 0]


def gradient_weights(pi):
    """``w(a) = ||grad log pi(a)||^2 = ||e_a - pi||^2 = (1 - pi(a))^2 + sum_{b != a} pi(b)^2``, ``[..., K]``.

    Summed as non-negative terms (the sum over ``b != a`` from exclusive prefix and suffix sums)
    rather than as ``1 - 2 pi(a) + ||pi||^2``, which cancels catastrophically when ``pi(a)``
    is near 1: there ``w(a) ~ 1e-10`` and the expanded form keeps only ~6 correct digits.
    """
    xp = array_namespace(pi)
    sq = pi * pi
    zero = xp.zeros_like(sq[..., :1])
    before = xp.concatenate([zero, xp.cumsum(sq, axis=-1)[..., :-1]], axis=-1)
    after = xp.flip(xp.concatenate([zero, xp.cumsum(xp.flip(sq, axis=-1), axis=-1)[..., :-1]], axis=-1), axis=-1)
    return (1.0 - pi) ** 2 + before + after


# --------------------------------------------------------------------------- advantages of a group
def advantages(rewards, estimator: str, *, baseline=0.0, weights=None, std_eps: float = STD_EPS, ddof: int = 1):
    """Advantages ``A_i`` of a group of rewards ``[..., G] -> [..., G]`` (table in the module docstring).

    Args:
        rewards: ``R(a_i)`` of the group, ``[..., G]``.
        estimator: one of :data:`ESTIMATORS`.
        baseline: ``b`` for "reinforce" / "remax" (scalar or ``[...]``; for ReMax pass
            :func:`greedy_baseline`, :func:`group_gradient` does it for you).
        weights: ``w(a_i)`` ``[..., G]`` for "oblr" (:func:`gradient_weights` of the sampled arms).
        std_eps: added to the group std for "grpo".
        ddof: degrees of freedom of the group std for "grpo" (1: the unbiased ``torch.std`` used
            by TRL and verl; 0: the population std).

    Leave-one-out forms use ``sum_{j != i} x_j = sum_j x_j - x_i``: O(G), no ``G x G`` mask.
    """
    xp = array_namespace(rewards)
    G = rewards.shape[-1]
    check_estimator(estimator, G)
    if estimator in ("reinforce", "remax"):
        b = xp.asarray(baseline, dtype=rewards.dtype)
        return rewards - (b[..., None] if b.ndim else b)
    total = xp.sum(rewards, axis=-1, keepdims=True)
    if estimator == "rloo":
        return rewards - (total - rewards) / (G - 1)
    mean = total / G
    if estimator == "dr_grpo":
        return rewards - mean
    if estimator == "grpo":
        var = xp.sum((rewards - mean) ** 2, axis=-1, keepdims=True) / (G - ddof)
        return (rewards - mean) / (xp.sqrt(var) + std_eps)
    # oblr: leave-one-out gradient-weighted mean; independent of a_i given the others -> unbiased
    if weights is None:
        raise ValueError("weights (the gradient weights w(a_i) of the sampled arms) are required for oblr")
    wr = xp.sum(weights * rewards, axis=-1, keepdims=True) - weights * rewards
    w = xp.sum(weights, axis=-1, keepdims=True) - weights
    # w = 0 only when pi is one-hot on the other samples; then e_a - pi = 0 and the value is irrelevant
    b = xp.where(w > 0, wr / xp.where(w > 0, w, 1.0), 0.0)
    return rewards - b


def gradient_from_advantages(pi, actions, adv):
    """``g_hat = (1/G) sum_i adv_i (e_{a_i} - pi)``: ``pi`` [..., K], ``actions``/``adv`` [..., G] -> [..., K]."""
    xp = array_namespace(pi, adv)
    K = pi.shape[-1]
    onehot = (actions[..., None] == xp.arange(K)).astype(pi.dtype)  # [..., G, K]
    G = actions.shape[-1]
    return (xp.sum(adv[..., None] * onehot, axis=-2) - xp.sum(adv, axis=-1, keepdims=True) * pi) / G


def group_gradient(pi, r, actions, estimator: str, *, baseline=0.0, loss_coef=None, std_eps: float = STD_EPS,
                   ddof: int = 1):
    """One gradient estimate per group: ``pi`` [..., K], rewards per arm ``r`` [..., K], ``actions`` [..., G].

    .. math:: \\hat g = \\frac1G\\sum_i (A_i + c(a_i))(e_{a_i} - \\pi)

    ``loss_coef`` ``c`` [..., K] (optional) is a per-action in-loss term (e.g.
    ``-beta * kl_loss_coefficient(...)``). ReMax's baseline is computed here from ``pi``.

    Returns ``[..., K]``. Unbiasedness / scaling / bias of each estimator: module docstring.
    """
    check_estimator(estimator, actions.shape[-1])
    R = _take(r, actions)
    if estimator == "remax":
        baseline = greedy_baseline(pi, r)
    weights = _take(gradient_weights(pi), actions) if estimator == "oblr" else None
    adv = advantages(R, estimator, baseline=baseline, weights=weights, std_eps=std_eps, ddof=ddof)
    if loss_coef is not None:
        adv = adv + _take(loss_coef, actions)
    return gradient_from_advantages(pi, actions, adv)


# --------------------------------------------------------------------------- fast sampling (numba)
class GradientSamples(NamedTuple):
    """Output of :func:`sample_gradients`.

    ``grads``: ``[N, K]`` one estimate per group (``reduce="none"``), or their mean (``reduce="mean"``:
    ``[K]`` for a bandit, ``[X, K]`` for a contextual bandit with each group's estimate placed in
    the row of its context); ``contexts``: ``[N]`` context of each group (0 for a bandit);
    ``sq_norms``: ``sum_n ||g_n||^2`` over the N estimates (for :func:`trace_cov_from_sums`).
    """

    grads: np.ndarray
    contexts: np.ndarray
    sq_norms: float


_CODES = {"reinforce": 0, "remax": 0, "rloo": 1, "dr_grpo": 2, "grpo": 3, "oblr": 4}
#: Groups per work chunk of the numba kernel (scratch arrays and partial sums are per chunk).
_CHUNK = 4096
_KERNELS: dict = {}
#: Batches of at least this many groups run on numba's thread pool; smaller ones serially.
PARALLEL_MIN_GROUPS = 1 << 16


def _numba_kernels():
    """Compile on first use only: importing the rules never pays numba's start-up."""
    if _KERNELS:
        return _KERNELS["alias"], _KERNELS["grad"]
    import numba

    @numba.njit(cache=True)
    def alias_tables(pi, prob, alias):
        # Vose's alias method (Walker 1977; Vose 1991): column j keeps j w.p. prob[j], else alias[j]
        X, K = pi.shape
        small = np.empty(K, np.int64)
        large = np.empty(K, np.int64)
        scaled = np.empty(K)
        for x in range(X):
            ns, nl = 0, 0
            for k in range(K):
                scaled[k] = pi[x, k] * K
                alias[x, k] = k
                if scaled[k] < 1.0:
                    small[ns] = k
                    ns += 1
                else:
                    large[nl] = k
                    nl += 1
            while ns > 0 and nl > 0:
                ns -= 1
                s = small[ns]
                g = large[nl - 1]
                prob[x, s] = scaled[s]
                alias[x, s] = g
                scaled[g] = scaled[g] + scaled[s] - 1.0
                if scaled[g] < 1.0:
                    nl -= 1
                    small[ns] = g
                    ns += 1
            # leftovers are 1 up to round-off: they keep their own column
            for i in range(nl):
                prob[x, large[i]] = 1.0
            for i in range(ns):
                prob[x, small[i]] = 1.0

    @numba.njit(cache=True)
    def chunk(c, prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq):
        N, G = u.shape
        K = pi.shape[1]
        # one chunk of groups; its scratch arrays are allocated once
        a = np.empty(G, np.int64)
        R = np.empty(G)
        A = np.empty(G)
        sq_c = 0.0
        for n in range(c * _CHUNK, min(N, (c + 1) * _CHUNK)):
            x = ctx[n]
            for i in range(G):
                y = u[n, i] * K
                j = min(int(y), K - 1)
                a[i] = j if y - j < prob[x, j] else alias[x, j]
                R[i] = rew[x, a[i]]
            tot = 0.0
            for i in range(G):
                tot += R[i]
            if code == 0:
                for i in range(G):
                    A[i] = R[i] - base[x]
            elif code == 1:
                for i in range(G):
                    A[i] = R[i] - (tot - R[i]) / (G - 1)
            elif code == 2 or code == 3:
                mean = tot / G
                for i in range(G):
                    A[i] = R[i] - mean
                if code == 3:
                    ss = 0.0
                    for i in range(G):
                        ss += A[i] * A[i]
                    sd = np.sqrt(ss / (G - ddof)) + std_eps
                    for i in range(G):
                        A[i] = A[i] / sd
            else:
                sw, swr = 0.0, 0.0
                for i in range(G):
                    sw += w[x, a[i]]
                    swr += w[x, a[i]] * R[i]
                for i in range(G):
                    wi = w[x, a[i]]
                    den = sw - wi
                    A[i] = R[i] - ((swr - wi * R[i]) / den if den > 0 else 0.0)
            s = 0.0
            for i in range(G):
                A[i] = (A[i] + coef[x, a[i]]) / G
                s += A[i]
            if dense:
                for k in range(K):
                    out[n, k] = -s * pi[x, k]
                for i in range(G):
                    out[n, a[i]] += A[i]
            else:
                # g = sum_i A_i e_{a_i} - s pi: accumulate in O(G), and ||g||^2 from
                # sum_{i,j: a_i = a_j} A_i A_j - 2 s sum_i A_i pi(a_i) + s^2 ||pi||^2
                api, dup = 0.0, 0.0
                for i in range(G):
                    part[c, x, a[i]] += A[i]
                    api += A[i] * pi[x, a[i]]
                    for j in range(G):
                        if a[j] == a[i]:
                            dup += A[i] * A[j]
                part[c, x, K] += s
                sq_c += dup - 2.0 * s * api + s * s * pp[x]
        sq[c] = sq_c

    # two drivers with distinct names: numba's on-disk cache keys by function, not by the parallel flag
    @numba.njit(cache=True)
    def grad_serial(prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq):
        for c in range((u.shape[0] + _CHUNK - 1) // _CHUNK):
            chunk(c, prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq)

    @numba.njit(cache=True, parallel=True)
    def grad_parallel(prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq):
        for c in numba.prange((u.shape[0] + _CHUNK - 1) // _CHUNK):
            chunk(c, prob, alias, pi, pp, rew, coef, base, w, ctx, u, code, std_eps, ddof, dense, out, part, sq)

    _KERNELS["alias"] = alias_tables
    # the serial driver avoids the thread-pool hand-off that dominates small batches
    _KERNELS["grad"] = grad_serial
    _KERNELS["grad_parallel"] = grad_parallel
    return alias_tables, grad_serial


def alias_tables(pi):
    """Vose alias tables ``(prob [X, K], alias [X, K])`` of the rows of ``pi`` [X, K] (numba)."""
    pi = np.ascontiguousarray(pi, dtype=np.float64)
    prob = np.ones(pi.shape)
    alias = np.empty(pi.shape, dtype=np.int64)
    _numba_kernels()[0](pi, prob, alias)
    return prob, alias


def alias_draw(prob, alias, ctx, u):
    """Arms from uniforms ``u`` [N, G] with the alias tables of rows ``ctx`` [N] (NumPy reference of the kernel)."""
    K = prob.shape[-1]
    y = u * K
    j = np.minimum(y.astype(np.int64), K - 1)
    keep = (y - j) < prob[ctx[:, None], j]
    return np.where(keep, j, alias[ctx[:, None], j])


def _as_rows(name, arr, X, K):
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape == (K,) and X == 1:
        arr = arr[None, :]
    if arr.shape != (X, K):
        raise ValueError(f"{name} must have shape {(X, K) if X > 1 else (K,)}, got {arr.shape}")
    return np.ascontiguousarray(arr)


def sample_gradients(rng, pi, r, estimator: str, group_size: int, num_samples: int, *, contexts=None, baseline=0.0,
                     loss_coef=None, std_eps: float = STD_EPS, ddof: int = 1, reduce: str = "none",
                     backend: str = "numba", uniforms=None) -> GradientSamples:
    """Draw ``num_samples`` groups of ``group_size`` arms; one gradient estimate per group.

    Arms are drawn by Vose's alias method from uniforms of ``rng`` (one uniform per arm), so a
    run is reproducible from the seed whatever the backend and thread count.

    Args:
        rng: ``numpy.random.Generator`` or a seed.
        pi: policy [K], or [X, K] with ``contexts`` (a context ``x ~ contexts`` per group).
        r: rewards per arm, same shape as ``pi`` (already KL-shaped if wanted).
        estimator, group_size: see :data:`ESTIMATORS`; group estimators need ``group_size >= 2``.
        num_samples: number of groups ``N >= 1``.
        contexts: context distribution ``rho`` [X] (required when ``pi`` is [X, K]).
        baseline: "reinforce" constant (scalar or [X]); ReMax's is computed from ``pi``.
        loss_coef: per-action in-loss coefficient (same shape as ``pi``), see :func:`group_gradient`.
        reduce: "none" (the ``[N, K]`` estimates; memory-bound for large ``N K``) or "mean" (their
            mean, accumulated in O(G) per group without forming the dense rows).
        backend: "numba" (fused kernel, parallel over chunks of groups) or "numpy" (vectorized
            reference, memory ``N G K``).
        uniforms: optional ``[N, G]`` uniforms in [0, 1) used instead of drawing them (tests).

    Returns:
        :class:`GradientSamples`. For a contextual bandit the estimate of group ``n`` is the
        estimate of ``grad_{theta_x} J_x`` for ``x = contexts[n]``; the expectation of the
        scattered estimate is ``rho_x grad J_x`` (the gradient of ``sum_x rho_x J_x``).

    Speed: ``bench/bench_estimators.py`` (K = 100, G = 8).
    """
    check_estimator(estimator, int(group_size))
    if backend not in ("numba", "numpy"):
        raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")
    if reduce not in ("none", "mean"):
        raise ValueError(f"reduce must be 'none' or 'mean', got {reduce!r}")
    G, N = int(group_size), int(num_samples)
    if G < 1 or N < 1:
        raise ValueError(f"group_size and num_samples must be >= 1, got {G} and {N}")
    rng = as_generator(rng)
    pi = np.asarray(pi, dtype=np.float64)
    X = 1 if pi.ndim == 1 else pi.shape[0]
    K = pi.shape[-1]
    pi2, r2 = _as_rows("pi", pi, X, K), _as_rows("r", r, X, K)
    if pi.ndim == 2:
        if contexts is None:
            raise ValueError("contexts (the context distribution rho [X]) is required when pi is [X, K]")
        cdf_x = np.cumsum(np.asarray(contexts, dtype=np.float64))
        ctx = np.minimum(np.searchsorted(cdf_x, rng.random(N) * cdf_x[-1], side="right"), X - 1).astype(np.int64)
    else:
        ctx = np.zeros(N, dtype=np.int64)
    u = rng.random((N, G)) if uniforms is None else np.asarray(uniforms, dtype=np.float64)
    if u.shape != (N, G):
        raise ValueError(f"uniforms must have shape {(N, G)}, got {u.shape}")
    coef = np.zeros((X, K)) if loss_coef is None else _as_rows("loss_coef", loss_coef, X, K)
    if estimator == "remax":
        base = greedy_baseline(pi2, r2)
    else:
        base = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (X,)).copy()
    prob, alias = alias_tables(pi2)
    if backend == "numpy":
        actions = alias_draw(prob, alias, ctx, u)
        g = group_gradient(pi2[ctx], r2[ctx], actions, estimator, baseline=base[ctx], loss_coef=coef[ctx],
                           std_eps=std_eps, ddof=ddof)
        sq = float(np.sum(g * g))
        if reduce == "none":
            return GradientSamples(g, ctx, sq)
        mean = np.zeros((X, K))
        np.add.at(mean, ctx, g)
        return GradientSamples(mean[0] / N if pi.ndim == 1 else mean / N, ctx, sq)
    _numba_kernels()
    kern = _KERNELS["grad_parallel"] if N >= PARALLEL_MIN_GROUPS else _KERNELS["grad"]
    w = gradient_weights(pi2)
    n_chunks = (N + _CHUNK - 1) // _CHUNK
    dense = reduce == "none"
    out = np.empty((N, K) if dense else (0, K))
    part = np.zeros((0 if dense else n_chunks, X, K + 1))
    sq = np.zeros(n_chunks)
    pp = np.sum(pi2 * pi2, axis=-1)
    kern(prob, alias, pi2, pp, r2, coef, base, w, ctx, u, _CODES[estimator], float(std_eps), int(ddof), dense, out,
         part, sq)
    if dense:
        return GradientSamples(out, ctx, float(np.sum(out * out)))
    tot = part.sum(axis=0)  # [X, K + 1]: sum of A-weighted one-hots, and of s = sum_i A_i per context
    mean = (tot[:, :K] - tot[:, K:] * pi2) / N
    return GradientSamples(mean[0] if pi.ndim == 1 else mean, ctx, float(sq.sum()))


def trace_cov_from_sums(mean, sq_norms: float, num_samples: int) -> float:
    """Unbiased ``tr Cov`` of one estimate from the mean and ``sum ||g_n||^2`` of ``N >= 2`` i.i.d. estimates."""
    N = int(num_samples)
    if N < 2:
        raise ValueError(f"num_samples must be >= 2 to estimate a variance, got {N}")
    return max((sq_norms - N * float(np.sum(np.asarray(mean) ** 2))) / (N - 1), 0.0)



# --------------------------------------------------------------------------- the oracles
class GradientEstimate(NamedTuple):
    """What :meth:`BanditOracle.estimate` returns.

    ``mean`` [X, K]: the mean of ``num_samples`` group estimates, each context's estimate in its
    row (its expectation is ``rho_x E g_x``); ``grad_sq``: ``||E mean||^2`` (exact) or its
    unbiased estimate (sampled, ``num_samples >= 2``; else None); ``trace_cov``: ``tr Cov(mean)``
    (exact, or estimated as ``grad_sq``).
    """

    mean: np.ndarray
    grad_sq: float | None
    trace_cov: float | None


class BanditOracle(NamedTuple):
    """What an estimator rule may ask about a (contextual) softmax bandit.

    Fields: ``r`` [X, K] rewards, ``log_mu`` [X, K] log reference, ``rho`` [X] context weights,
    ``group_size`` G, ``num_samples`` M (groups per call), ``rng`` (None: the exact oracle),
    ``moments`` (exact oracle: ``(pi [K], R [K], estimator, G, *, baseline, loss_coef, std_eps, ddof)
    -> (mean [K], trace of the covariance of one group estimate)``).
    """

    r: np.ndarray
    log_mu: np.ndarray
    rho: np.ndarray
    group_size: int
    num_samples: int = 1
    rng: np.random.Generator | None = None
    moments: Callable[..., Any] | None = None

    @property
    def sampled(self) -> bool:
        return self.rng is not None

    def cost(self) -> int:
        """Arms drawn per call (also charged by the exact oracle, so that budgets compare)."""
        return int(self.group_size) * int(self.num_samples)

    def estimate(self, pi, R, estimator: str, *, baseline, loss_coef, std_eps: float = STD_EPS,
                 ddof: int = 1) -> GradientEstimate:
        """The mean of ``num_samples`` group estimates at policy ``pi`` [X, K] with rewards ``R`` [X, K]
        (``baseline`` [X], ``loss_coef`` [X, K]): exact moments or samples (:class:`GradientEstimate`).

        The moments and the sampler are NumPy; ``mean`` comes back in the array namespace of ``pi``
        (``jax.numpy`` for a rule run eagerly on JAX arrays), the scalars as floats."""
        xp = array_namespace(pi)
        pi, R, baseline, loss_coef = (np.asarray(a, dtype=np.float64) for a in (pi, R, baseline, loss_coef))
        rho = np.asarray(self.rho, dtype=np.float64)
        G, M = int(self.group_size), int(self.num_samples)
        if not self.sampled:
            means, second = [], 0.0
            for x in range(pi.shape[0]):
                m, tc = self.moments(pi[x], R[x], estimator, G, baseline=float(baseline[x]), loss_coef=loss_coef[x],
                                     std_eps=std_eps, ddof=ddof)
                means.append(rho[x] * m)
                second += rho[x] * (tc + float(m @ m))
            mean = np.stack(means)
            gsq = float(np.sum(mean * mean))
            return GradientEstimate(xp.asarray(mean), gsq, max((second - gsq) / M, 0.0))
        contextual = pi.shape[0] > 1
        out = sample_gradients(self.rng, pi if contextual else pi[0], R if contextual else R[0], estimator, G, M,
                               contexts=rho if contextual else None,
                               baseline=baseline if contextual else baseline[0],
                               loss_coef=loss_coef if contextual else loss_coef[0], std_eps=std_eps, ddof=ddof,
                               reduce="mean")
        g = out.grads if contextual else out.grads[None, :]
        if M < 2:
            return GradientEstimate(xp.asarray(g), None, None)
        tc = trace_cov_from_sums(g, out.sq_norms, M) / M
        return GradientEstimate(xp.asarray(g), max(float(np.sum(g * g)) - tc, 0.0), tc)

    def draw_groups(self, pi) -> tuple[np.ndarray, np.ndarray]:
        """``num_samples`` groups: contexts ``x ~ rho`` [M] (0 for one context) and arms ``a ~ pi[x]`` [M, G]
        (NumPy draws, returned in the array namespace of ``pi``)."""
        xp = array_namespace(pi)
        pi = np.asarray(pi, dtype=np.float64)
        X = pi.shape[0]
        M = int(self.num_samples)
        ctx = sample_categorical(self.rng, np.asarray(self.rho), M) if X > 1 else np.zeros(M, dtype=np.int64)
        return xp.asarray(ctx), xp.asarray(sample_categorical(self.rng, pi[ctx], int(self.group_size)))


class PairOracle(NamedTuple):
    """What a preference-loss rule may ask: pair weights, pair frequencies, rewards, on-policy pairs.

    Arrays carry a leading context axis (X = 1 for one prompt): ``W`` [X, K, K] labelled pair
    weights (``W[x, a, b]`` = mass of "a beat b"; a dataset or a population, context weights
    inside), ``nu`` [X, K, K] unlabelled pair frequencies, ``P`` [X, K, K] the preference model,
    ``r`` [X, K] rewards (None for a preference game), ``log_ref`` [X, K], ``rho`` [X]; ``rng`` and
    ``num_pairs`` (None: exact on-policy pairs).
    """

    P: np.ndarray
    log_ref: np.ndarray
    rho: np.ndarray
    r: np.ndarray | None = None
    W: np.ndarray | None = None
    nu: np.ndarray | None = None
    rng: np.random.Generator | None = None
    num_pairs: int | None = None

    @property
    def sampled(self) -> bool:
        return self.num_pairs is not None

    def on_policy_pairs(self, pi) -> np.ndarray:
        """``rho_x pi x pi`` [X, K, K] exactly, or the ``rho``-weighted frequencies of ``num_pairs``
        pairs ``a, b ~ pi[x]`` per context (NumPy draws, returned in the array namespace of ``pi``)."""
        if self.num_pairs is None:
            return pi[..., :, None] * pi[..., None, :] * self.rho[:, None, None]
        xp = array_namespace(pi)
        pi = np.asarray(pi, dtype=np.float64)
        X, K = pi.shape
        n = int(self.num_pairs)
        a = sample_categorical(self.rng, pi, n)
        b = sample_categorical(self.rng, pi, n)
        nu = np.zeros((X, K, K))
        np.add.at(nu, (np.repeat(np.arange(X), n), a.ravel(), b.ravel()), 1.0 / n)
        return xp.asarray(nu) * self.rho[:, None, None]
