"""Update rules of the policy-optimization literature, as pure functions on arrays.

One module per family. Each rule is ``init(...) -> state`` and ``update(state, ...) -> state``
on a typed NamedTuple state carrying log-probabilities, written once
against the array namespace of its inputs so that NumPy (float64 reference) and ``jax.numpy``
(jit / vmap, and ``gpu/``) run the same code. Rules never import :mod:`polopt.exact`.

Shared pieces live once in :mod:`polopt.rules._core`: :func:`log_normalize`, :func:`softmax`,
:func:`kl_log`, :func:`entropy_log`, :func:`kl_prox` (the KL proximal step with a magnet) and
:func:`project_simplex`.
"""

from ._core import array_namespace, entropy_log, kl_log, kl_prox, log_normalize, project_simplex, softmax

__all__ = ["array_namespace", "entropy_log", "kl_log", "kl_prox", "log_normalize", "project_simplex", "softmax"]
