"""Foundation of every layer: run statuses, the not-converged warning and the library's slacks.

Nothing here imports another polopt module, so ``exact``, ``rules``, ``theory`` and ``solve``
can all depend on it without importing each other (the argument checks live beside it in
:mod:`polopt._validation`). :mod:`polopt.result` and :mod:`polopt.testing.tolerances`
re-export these names.
"""

from __future__ import annotations

import sys

CONVERGED = "converged"
MAX_ITER = "max_iter"
NONFINITE = "nonfinite"
#: The run was stopped by its ``callback`` (the caller asked: no NotConvergedWarning).
STOPPED = "stopped"
#: A learner played every episode of its budget: ``iters`` is the experiment's length, not a limit on
#: the way to convergence (regret learners have nothing to converge), so no NotConvergedWarning.
COMPLETED = "completed"
STATUSES = (CONVERGED, MAX_ITER, NONFINITE, STOPPED, COMPLETED)


class NotConvergedWarning(RuntimeWarning):
    """Issued whenever a solver returns without meeting its stopping rule (or with a non-finite output)."""


#: Two exact float64 solvers of the same well-conditioned problem (VI/PI/LP on MDPs with
#: gamma <= 0.99): values agree to this (condition number <= (1+gamma)/(1-gamma) = 199).
EXACT_F64 = 1e-8
#: Closed forms evaluated two ways in float64 (a few dozen flops each).
IDENTITY_F64 = 1e-12
#: NumPy float64 vs JAX x64 running the same rule (different op ordering, fused kernels).
BACKEND = 1e-10
#: Relative slack when a certificate is compared to a theorem's bound at every iterate.
RATE_SLACK = 1e-9
#: Absolute slack for bounds that are exactly 0 at convergence (round-off of a sweep).
ABS_SLACK = 1e-10
#: Stopping accuracy of iterative solvers whose output is compared at EXACT_F64.
SOLVER_TOL = 1e-10


def array_namespace(*arrays):
    """``jax.numpy`` if any argument is a JAX array (or tracer), else ``numpy``.

    JAX is only consulted when it is already imported, so NumPy-only code never pays its import.
    """
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(a, jax.Array) for a in arrays):
        return jax.numpy
    import numpy

    return numpy
