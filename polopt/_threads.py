"""Run small dense kernels with a bounded number of BLAS / OpenMP threads.

Why: the exact solvers call many small BLAS kernels (matrix-vector products, triangular
solves, LUs of a few hundred to a few thousand rows). On the 2-core machines polopt is
developed and tested on, a second BLAS thread makes them slower, not faster: each call
pays a thread wake-up and a barrier, and when another process occupies a core the BLAS
threads wait for each other. Measured on 2 cores (``python -m bench.bench_threads``;
bench/results/threads*.json): ``po.exact.nash`` at K = 1000 took 0.34 s with one BLAS
thread and 0.74 s with two on an idle machine, 0.38 s against 1.16 s with one spinning
process beside it, and 1.8 s against 11.9 s with two spinning processes on a machine already
loaded by others (load average 8); the exact policy-gradient oracle at S = 300, A = 50 took
26 ms against 84 ms there.

Usage (context manager or decorator, re-entrant, nestable)::

    from polopt._threads import blas_threads, single_threaded

    with single_threaded():          # = blas_threads(1)
        x = np.linalg.solve(M, b)

    @single_threaded()
    def kernel(...): ...

    with blas_threads(4, user_api="blas"):   # at most 4 BLAS threads, OpenMP untouched
        ...

Cost: ``threadpoolctl.threadpool_limits`` rescans every loaded shared library on each entry
(0.9 ms measured on an idle machine, 5 ms on a loaded one: more than a K = 100 kernel).
This module keeps one :class:`threadpoolctl.ThreadpoolController` and rebuilds it only when modules were imported
since it was built (a new extension module may bring its own BLAS or OpenMP runtime), then
sets and restores the libraries' thread counts directly: 5-8 us per entry idle (15 us loaded),
~4 us when the limit already holds (nested entries, or a process started with
``OMP_NUM_THREADS=1``: two ``get_num_threads`` calls, one per loaded OpenBLAS).

Semantics: ``blas_threads(n)`` lowers each library's thread count to ``min(current, n)``
on entry and restores exactly what it lowered on exit; it never raises a count. The counts
are process-wide (OpenBLAS with pthreads keeps one pool per process), so Python threads that
overlap a ``with`` block see the limit too. Set the environment variable
``POLOPT_BLAS_THREADS`` to an integer (read once, on first use) to replace the ``n`` of
:func:`single_threaded` — e.g. ``POLOPT_BLAS_THREADS=16`` on a many-core machine where large
dense solves do scale — or to ``0`` to turn the limit off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

__all__ = ["ThreadLimit", "blas_threads", "controller", "default_threads", "single_threaded"]

#: User APIs threadpoolctl knows; ``None`` means all of them.
_USER_APIS = ("blas", "openmp")

_lock = threading.Lock()
_controller = None
_modules_at_build = -1


def _parse_env() -> int | None:
    """``POLOPT_BLAS_THREADS``: None when unset; a bad value is an error naming the variable."""
    text = os.environ.get("POLOPT_BLAS_THREADS")
    if text is None or text.strip() == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"POLOPT_BLAS_THREADS must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise ValueError(f"POLOPT_BLAS_THREADS must be an integer >= 0, got {text!r}")
    return value


#: ``POLOPT_BLAS_THREADS`` as parsed on first use (a bad value is reported then, not at import).
_ENV_THREADS: int | None = None
_env_read = False


def default_threads() -> int | None:
    """Thread count :func:`single_threaded` applies: 1, or ``POLOPT_BLAS_THREADS`` (None = no limit).

    Raises:
        ValueError: ``POLOPT_BLAS_THREADS`` is set to something other than an integer >= 0.
    """
    global _ENV_THREADS, _env_read
    if not _env_read:
        _ENV_THREADS = _parse_env()
        _env_read = True
    if _ENV_THREADS is None:
        return 1
    return None if _ENV_THREADS == 0 else _ENV_THREADS


#: ``n`` of :func:`single_threaded`: resolved by :func:`default_threads` on each entry.
_DEFAULT = object()


def controller():
    """The cached :class:`threadpoolctl.ThreadpoolController` (rebuilt after new imports).

    ``len(sys.modules)`` is the cheap proxy for "a shared library may have been loaded":
    building a controller costs ~1 ms (it walks every loaded library), checking the proxy
    costs nothing.
    """
    global _controller, _modules_at_build
    n_mod = len(sys.modules)
    if _controller is None or n_mod != _modules_at_build:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
        _modules_at_build = n_mod
    return _controller


def _check_n(n) -> int | None:
    if n is None or n is _DEFAULT:
        return n
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1 (or None for no limit), got {n!r}")
    return n


class ThreadLimit(contextlib.ContextDecorator):
    """What :func:`blas_threads` returns: a re-entrant context manager and decorator."""

    def __init__(self, n: int | None = 1, *, user_api: str | None = None):
        self.n = _check_n(n)
        if user_api is not None and user_api not in _USER_APIS:
            raise ValueError(f"user_api must be one of {_USER_APIS} or None, got {user_api!r}")
        self.user_api = user_api
        self._saved: list[list] = []  # one list of (library, old count) per active entry

    def _libraries(self):
        libs = controller().lib_controllers
        if self.user_api is None:
            return libs
        return [lib for lib in libs if lib.user_api == self.user_api]

    def __enter__(self):
        changed = []
        n = default_threads() if self.n is _DEFAULT else self.n
        if n is not None:
            with _lock:
                for lib in self._libraries():
                    old = lib.get_num_threads()
                    # None: the library cannot report its count (some OpenMP runtimes); leave it
                    if old is not None and old > n:
                        lib.set_num_threads(n)
                        changed.append((lib, old))
        self._saved.append(changed)
        return self

    def __exit__(self, *exc):
        changed = self._saved.pop()
        if changed:
            with _lock:
                for lib, old in reversed(changed):
                    lib.set_num_threads(old)
        return False

    def _recreate_cm(self):
        # a fresh instance per decorated call: the same function may run in several threads
        return type(self)(self.n, user_api=self.user_api)

    def __repr__(self) -> str:
        if self.n is _DEFAULT:
            return "single_threaded()"
        return f"blas_threads({self.n!r}, user_api={self.user_api!r})"


def blas_threads(n: int | None = 1, *, user_api: str | None = None) -> ThreadLimit:
    """Context manager / decorator: at most ``n`` threads in BLAS and OpenMP pools inside it.

    Args:
        n: thread limit, an int >= 1; None leaves every library as it is (a no-op, so callers
            can pass a user's choice through).
        user_api: "blas", "openmp" or None (both), as in threadpoolctl.

    Raises:
        ValueError: ``n`` is not an int >= 1 or None, or ``user_api`` is unknown (named).

    Re-entrant and nestable: each entry restores on exit only the counts it lowered, so an
    inner ``blas_threads(1)`` inside an outer one is ~1 us. See the module docstring for cost
    and semantics.
    """
    return ThreadLimit(n, user_api=user_api)


def single_threaded(fn=None):
    """One BLAS / OpenMP thread for small dense kernels: what ``po.solve`` runs update rules under.

    ``blas_threads(default_threads())``: one thread unless ``POLOPT_BLAS_THREADS`` says otherwise
    (read on the first entry, so a bad value is a ValueError there, not at import). Use it around
    your own loop over a rule (``po.rule``) with a NumPy oracle: NPG with the exact oracle at
    S = 100, A = 10 ran 0.25 ms per iteration with one thread, 5 ms with OpenBLAS's default two
    threads beside two busy processes (``bench/bench_pg.py``).

    Use as ``with single_threaded():``, ``@single_threaded()`` or ``@single_threaded``.
    """
    cm = ThreadLimit(_DEFAULT)
    if fn is None:
        return cm
    if not callable(fn):
        raise TypeError(f"single_threaded takes a function to decorate or nothing, got {type(fn).__name__}")
    return cm(fn)
