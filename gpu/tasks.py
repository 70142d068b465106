"""Enumerable tasks with exact answers, and the sequence-table policy that runs through the LLM code path.

A task has ``X`` prompts, a vocabulary of ``V`` tokens and responses of exactly ``T`` tokens, so
each prompt has ``K = V^T`` responses, all enumerated (``K <= MAX_SEQUENCES``). Response ``k`` of
prompt ``x`` is the base-``V`` expansion of ``k`` (most significant digit first)::

    sequences[k, t] = (k // V^(T-1-t)) % V                                   [K, T]
    tokens[x * K + k] = [x, sequences[k, 0], ..., sequences[k, T-1]]         [X K, 1 + T]

Token 0 of a row is the prompt (its id is a vocabulary token, so ``X <= V``; there is no BOS, which is
why the decoder of ``gpu/model.py`` carries absolute positions: with RoPE alone a response repeating the
prompt token could not follow the optimum); positions ``1..T`` are the response. With the policy
interface of ``gpu/model.py`` (position ``t``'s logits are the next-token distribution given
``tokens[:, :t+1]``), the per-token log-probs of the response are ``log_softmax(logits[:, :T])``
gathered at ``tokens[:, 1:]`` (:func:`token_logprobs`), shape ``[B, T]``, and the response mask is all
ones (:func:`response_mask`).

Every sequence-level quantity is a finite sum over the ``K`` responses: rewards ``r [X, K]``,
the additive variant ``r_add[x, k] = sum_t w[x, t, y_t]`` (``w [X, T, V]``), preference matrices
``P [X, K, K]`` (Bradley-Terry from ``r``, or with a rock-paper-scissors cycle on the first token:
:func:`cyclic_preferences`), and exact expectations ``E_{y ~ pi(.|x)} f`` (:func:`expectation`).

:class:`SequenceTable` is a policy with one logit per whole sequence per prompt, ``theta [X, K]``,
``pi(y|x) = softmax(theta[x])_y``; it has the same interface as the transformer of
``gpu/model.py`` (fields ``init, apply, vocab, features, head``): ``apply(params, tokens)``
returns, at position ``t``, the logits ``log M(x, y_<=t, a)`` where ``M(x, h) = sum_{y extends h}
pi(y|x)`` is the mass of the prefix ``h``, so ``log_softmax`` gives
``log M(h a) - log M(h) = log pi(a | x, h)`` and the per-token log-probs summed over the response
are exactly ``log pi(y|x)`` (checked in ``tests/test_gpu_losses.py``). It is the fully expressive
model of ``../shared/papers/llm_scale.md`` section 6 (item 4): a gradient step of a lifted loss on
``theta`` is a step of the tabular rule on the bandit ``[X, K]`` (``tests/test_gpu_exactness.py``).

Rows for exact expectations (pass their ``weight`` to the losses of :mod:`gpu.losses`):
:func:`all_rows` (every ``(x, y)`` once, weight ``rho_x pi(y|x)`` or ``rho_x`` times a given
distribution), :func:`all_groups` (every ordered group of ``G`` responses, weight
``rho_x prod_i pi(y_i|x)``), :func:`all_pairs` (every ordered pair with weight
``rho_x nu(y, y')``).

Arrays are float64 when ``jax_enable_x64`` is on (the exactness tests), float32 otherwise.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from polopt.rules.preference_losses import bradley_terry

__all__ = [
    "MAX_SEQUENCES",
    "EnumerableTask",
    "Rows",
    "SequenceTable",
    "additive_optimum",
    "all_groups",
    "all_pairs",
    "all_rows",
    "cyclic_preferences",
    "expectation",
    "make_task",
    "response_mask",
    "sequence_table",
    "table_log_pi",
    "token_logprobs",
]

#: Largest number of responses per prompt (V^T): 8^5 = 32768 keeps every [X, K] table and the
#: all-rows batch of a few prompts within a few MB.
MAX_SEQUENCES = 8**5


class EnumerableTask(NamedTuple):
    """An enumerable task (module docstring). ``rho [X]`` prompt weights; ``r [X, K]`` a reward per
    sequence (the additive part plus a non-additive pairwise-interaction term); ``w [X, T, V]`` the
    per-token rewards of the additive variant ``r_add [X, K]``; ``sequences [K, T]``; ``tokens [X K, 1+T]``."""

    vocab: int
    length: int
    num_prompts: int
    rho: np.ndarray
    r: np.ndarray
    w: np.ndarray
    r_add: np.ndarray
    sequences: np.ndarray
    tokens: np.ndarray

    @property
    def num_sequences(self) -> int:
        return self.vocab**self.length


def _check_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {int(value)}")
    return int(value)


def make_task(vocab: int = 4, length: int = 3, num_prompts: int = 2, *, seed: int = 0) -> EnumerableTask:
    """A random enumerable task: ``w ~ U[0, 1]^{X, T, V}``, ``r = r_add + 0.5 cos(3 y_0 + y_{T-1})``-type interaction.

    ``2 <= vocab``, ``1 <= length``, ``vocab^length <= MAX_SEQUENCES``, ``1 <= num_prompts <= vocab``
    (the prompt id is token 0). Rewards lie in ``[-0.5, T + 0.5]``; the interaction term makes ``r``
    non-additive so that the per-token and per-sequence geometries differ.
    """
    V = _check_int("vocab", vocab, 2, MAX_SEQUENCES)
    T = _check_int("length", length, 1, 64)
    if V**T > MAX_SEQUENCES:
        raise ValueError(f"vocab^length must be <= {MAX_SEQUENCES} (all sequences are enumerated), got {V}^{T}")
    X = _check_int("num_prompts", num_prompts, 1, V)
    rng = np.random.default_rng(seed)
    K = V**T
    digits = V ** np.arange(T - 1, -1, -1)
    seqs = (np.arange(K)[:, None] // digits[None, :]) % V
    w = rng.uniform(0.0, 1.0, size=(X, T, V))
    r_add = w[:, np.arange(T)[None, :], seqs].sum(axis=-1)  # [X, K]
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(X, 1))
    r = r_add + 0.5 * np.cos(3.0 * seqs[None, :, 0] + seqs[None, :, -1] + phase)
    tokens = np.concatenate([np.repeat(np.arange(X), K)[:, None], np.tile(seqs, (X, 1))], axis=1)
    rho = rng.dirichlet(np.ones(X)) if X > 1 else np.ones(1)
    return EnumerableTask(V, T, X, rho, r, w, r_add, seqs, tokens.astype(np.int32))


def cyclic_preferences(task: EnumerableTask, strength: float = 1.0) -> np.ndarray:
    """``P [X, K, K]``: Bradley-Terry on ``r`` blended with a rock-paper-scissors cycle on the first token.

    ``P = 1/2 + (sigma(r_y - r_y') - 1/2)/2 + strength C[c(y), c(y')] / 4`` with ``c(y) = y_0 mod 3``
    and ``C`` the antisymmetric RPS matrix (``C[0, 1] = C[1, 2] = C[2, 0] = 1``); ``0 <= strength <= 1``
    keeps ``P`` in ``[0, 1]`` and ``P + P^T = 1``. Non-transitive for ``strength > 0`` (and ``V >= 3``).
    """
    if not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength!r}")
    C = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])
    c = task.sequences[:, 0] % 3
    bt = np.asarray(bradley_terry(task.r))
    return 0.5 + 0.5 * (bt - 0.5) + 0.25 * float(strength) * C[c[:, None], c[None, :]][None]


def additive_optimum(task: EnumerableTask, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """The KL-regularized optimum of the additive reward against the uniform reference, in closed form.

    ``pi*(y|x) = prod_t softmax(w[x, t] / beta)_{y_t}`` (it factorizes because ``r_add`` is a sum of
    per-token terms and the reference is uniform), and ``J*(x) = beta sum_t log((1/V) sum_a
    exp(w[x, t, a] / beta))`` (``../shared/papers/llm_scale.md`` section 6, item 2; DPO, arXiv
    2305.18290, Eq. 4). Returns ``(log pi* [X, K], J* [X])``.
    """
    z = task.w / beta
    lse = np.logaddexp.reduce(z, axis=-1)  # [X, T]
    log_tok = z - lse[..., None]  # [X, T, V]
    T = task.length
    log_pi = log_tok[:, np.arange(T)[None, :], task.sequences].sum(axis=-1)
    J = beta * np.sum(lse - np.log(task.vocab), axis=-1)
    return log_pi, J


def expectation(log_pi, f):
    """``E_{y ~ pi(.|x)} f(x, y)`` exactly, ``[X, K], [X, K] -> [X]`` (NumPy or jax.numpy)."""
    xp = jnp if isinstance(log_pi, jax.Array) or isinstance(f, jax.Array) else np
    return xp.sum(xp.exp(log_pi) * f, axis=-1)


# --------------------------------------------------------------------------- the sequence-table policy
class SequenceTable(NamedTuple):
    """One logit per whole sequence per prompt, with the policy interface of ``gpu/model.py``.

    ``init(key=None, logits=None) -> {"logits": theta [X, K]}`` (zeros: the uniform policy, unless
    ``logits`` is given); ``apply(params, tokens) -> [B, 1 + T, V]`` next-token logits from the prefix
    masses (module docstring; the last position, after the whole response, predicts nothing and is 0);
    ``vocab`` V; ``features`` / ``head`` None (no chunked projection: the logits come from a table).
    """

    init: Any
    apply: Any
    vocab: int
    features: Any = None
    head: Any = None


def _prefix_logmass(theta, V: int, T: int):
    """``[log M(x, h) for |h| = d]`` for d = 0..T, each ``[X, V^d]`` (``log pi(y|x)`` at d = T)."""
    X = theta.shape[0]
    lp = jax.nn.log_softmax(theta, axis=-1).reshape((X,) + (V,) * T)
    out = [lp.reshape(X, -1)]
    for _ in range(T):
        lp = jax.nn.logsumexp(lp, axis=-1)
        out.append(lp.reshape(X, -1))
    return out[::-1]


def _table_apply(params, tokens, V: int, T: int):
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[1] != T + 1:
        raise ValueError(f"tokens must have shape [B, {T + 1}] (prompt id then {T} response tokens), "
                         f"got {tuple(tokens.shape)}")
    return _table_logits(params["logits"], tokens, V, T)


@partial(jax.jit, static_argnums=(2, 3))
def _table_logits(theta, tokens, V: int, T: int):
    masses = _prefix_logmass(theta, V, T)
    x = tokens[:, 0]
    prefix = jnp.zeros_like(x)  # index of y_<t in base V
    cols = []
    for t in range(T):
        # logits of the next token a after the prefix: log M(x, y_<t a), an [B, V] gather
        child = masses[t + 1][x[:, None], prefix[:, None] * V + jnp.arange(V)[None, :]]
        cols.append(child)
        prefix = prefix * V + tokens[:, t + 1]
    cols.append(jnp.zeros_like(cols[0]))
    return jnp.stack(cols, axis=1)


def sequence_table(task: EnumerableTask) -> SequenceTable:
    """The :class:`SequenceTable` policy of ``task`` (``theta [X, V^T]``)."""
    V, T, X = task.vocab, task.length, task.num_prompts
    K = task.num_sequences

    def init(key=None, logits=None):
        if logits is None:
            return {"logits": jnp.zeros((X, K))}
        logits = jnp.asarray(logits)
        if logits.shape != (X, K):
            raise ValueError(f"logits must have shape [{X}, {K}] (prompts, sequences), got {tuple(logits.shape)}")
        return {"logits": logits}

    return SequenceTable(init, lambda params, tokens: _table_apply(params, tokens, V, T), V)


def table_log_pi(params):
    """``log pi [X, K]`` of a sequence table's params (the tabular state it corresponds to)."""
    return jax.nn.log_softmax(params["logits"], axis=-1)


def token_logprobs(policy, params, tokens):
    """Per-token log-probs of the response ``[B, T]`` = ``log_softmax(apply)[:, :T]`` gathered at
    ``tokens[:, 1:]``, in the dtype of the logits (the unchunked reference of ``gpu/logprobs.py``,
    which computes in float32; the exactness tests need float64)."""
    logits = policy.apply(params, tokens)[:, :-1]
    lp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(lp, jnp.asarray(tokens)[:, 1:, None], axis=-1)[..., 0]


def response_mask(tokens):
    """All-ones response mask ``[B, T]`` (every response token is generated; fixed length)."""
    tokens = jnp.asarray(tokens)
    return jnp.ones((tokens.shape[0], tokens.shape[1] - 1))


# --------------------------------------------------------------------------- rows for exact expectations
class Rows(NamedTuple):
    """A batch of rows: ``tokens [B, 1 + T]``, ``prompt [B]``, ``seq [B]`` (index in ``[0, K)``),
    ``weight [B]`` (what the row stands for in the exact expectation)."""

    tokens: np.ndarray
    prompt: np.ndarray
    seq: np.ndarray
    weight: np.ndarray


def _rows(task: EnumerableTask, prompt, seq, weight) -> Rows:
    K = task.num_sequences
    return Rows(task.tokens[prompt * K + seq], prompt, seq, np.asarray(weight, dtype=np.float64))


def all_rows(task: EnumerableTask, pi=None) -> Rows:
    """Every ``(x, y)`` once: weight ``rho_x pi(y|x)`` (``pi [X, K]``), or ``rho_x`` when ``pi`` is None."""
    X, K = task.num_prompts, task.num_sequences
    prompt = np.repeat(np.arange(X), K)
    seq = np.tile(np.arange(K), X)
    w = np.repeat(task.rho, K) if pi is None else (task.rho[:, None] * np.asarray(pi)).ravel()
    return _rows(task, prompt, seq, w)


def all_groups(task: EnumerableTask, pi, group_size: int) -> Rows:
    """Every ordered group of ``G`` responses per prompt, rows consecutive (group ``j`` = rows ``jG..jG+G-1``).

    Row weight: ``rho_x prod_i pi(y_i|x) / G``, so that a loss that averages over the ``G`` members and
    sums over groups is the exact expectation of one group's loss. ``X K^G`` groups.
    """
    G = _check_int("group_size", group_size, 1, 8)
    X, K = task.num_prompts, task.num_sequences
    if K**G > 1 << 16:
        raise ValueError(f"K^G = {K}^{G} groups per prompt is too many to enumerate (at most {1 << 16})")
    pi = np.asarray(pi)
    idx = np.stack(np.unravel_index(np.arange(K**G), (K,) * G), axis=-1)  # [K^G, G]
    prompt = np.repeat(np.arange(X), K**G * G)
    seq = np.tile(idx.ravel(), X)
    gw = task.rho[:, None] * np.prod(pi[:, idx], axis=-1)  # [X, K^G]
    return _rows(task, prompt, seq, np.repeat(gw.ravel(), G) / G)


def all_pairs(task: EnumerableTask, nu) -> Rows:
    """Every ordered pair ``(y, y')`` per prompt as two consecutive rows (``y`` first), ``nu [X, K, K]``.

    Both rows carry the pair weight ``rho_x nu[x, y, y']`` (the pair losses read it from the first row).
    """
    X, K = task.num_prompts, task.num_sequences
    a, b = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
    pairs = np.stack([a.ravel(), b.ravel()], axis=-1)  # [K^2, 2]
    prompt = np.repeat(np.arange(X), 2 * K * K)
    seq = np.tile(pairs.ravel(), X)
    pw = (task.rho[:, None, None] * np.asarray(nu)).reshape(X, -1)
    return _rows(task, prompt, seq, np.repeat(pw.ravel(), 2))
