"""Boundary checks shared by every constructor and by ``solve``.

Every message names the argument, what was expected, what was found and the first
offending index, e.g. ``"P[3, 1, :] sums to 0.98, expected 1 (tolerance 1e-09)"``.
User input is never checked with ``assert`` and the caller's arrays are never mutated:
:func:`as_float_array` always returns a fresh read-only float64 copy.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

#: Rows of a stochastic matrix may deviate from 1 by this much (float64 round-off of
#: user-built matrices with a few hundred entries stays far below it).
STOCHASTIC_ATOL = 1e-9
#: Probabilities may be this negative (round-off) before they are called negative.
NEGATIVE_ATOL = 1e-12


def _index(flat_index: int, shape: tuple[int, ...]) -> str:
    return ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape))


def as_float_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return a read-only float64 copy of ``value``; TypeError/ValueError naming ``name``."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}: {exc}") from None
    check_real(name, raw)
    try:
        arr = np.array(raw, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}: {exc}") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape}")
    check_finite(name, arr)
    arr.setflags(write=False)
    return arr


def check_real(name: str, arr) -> None:
    """TypeError ``"{name} must be real, got complex128"`` for a complex dtype (dense or sparse),
    or an object array holding a complex number: casting would silently drop the imaginary part."""
    dtype = getattr(arr, "dtype", None)
    if dtype is None:
        return
    if dtype.kind == "c":
        raise TypeError(f"{name} must be real, got {dtype}")
    if dtype.kind == "O" and isinstance(arr, np.ndarray):
        flat = arr.ravel()
        for i, x in enumerate(flat):
            if isinstance(x, (complex, np.complexfloating)):
                raise TypeError(
                    f"{name} must be real, got a complex entry {name}[{_index(i, arr.shape)}] = {x}"
                )


def check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{name}[{_index(i, arr.shape)}] is {arr.ravel()[i]}, expected a finite number"
        )


def split_neg_inf(value):
    """``(value with -inf -> 0, bool mask of the -inf entries)``, or ``(value, None)`` without any:
    ``-inf`` marks an infeasible action (QuantEcon's convention); other non-finite entries are
    left for :func:`as_float_array` to report by index."""
    try:
        raw = np.asarray(value) if not isinstance(value, (str, bytes)) and value is not None else None
    except (TypeError, ValueError):
        raw = None
    if raw is not None and raw.dtype.kind not in "fiu":  # complex, object, ...: as_float_array says why
        raw = None
    if raw is None or not np.isneginf(raw).any():
        return value, None
    neg = np.isneginf(raw)
    return np.where(neg, 0.0, raw), neg



def check_nonnegative(name: str, arr: np.ndarray, atol: float = NEGATIVE_ATOL) -> None:
    bad = arr < -atol
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"{name}[{_index(i, arr.shape)}] is {arr.ravel()[i]:.6g}, expected a probability >= 0"
        )


def check_stochastic(name: str, arr: np.ndarray, atol: float = STOCHASTIC_ATOL) -> None:
    """Last axis of ``arr`` must be a probability distribution."""
    check_nonnegative(name, arr)
    sums = arr.sum(axis=-1)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        idx = _index(i, sums.shape)
        where = f"{name}[{idx}, :]" if idx else f"{name}"
        raise ValueError(
            f"{where} sums to {sums.ravel()[i]:.12g}, expected 1 (tolerance {atol:g})"
        )


def as_distribution(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    """Read-only float64 copy of a distribution over the last axis, with shape ``shape``."""
    arr = as_float_array(name, value)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    check_stochastic(name, arr)
    return arr


def as_scalar(name: str, value, *, low=None, high=None, low_open=False, high_open=False,
              allow_inf: bool = False) -> float:
    """A real scalar in the interval given by ``low``/``high`` (closed unless ``*_open``).

    ``allow_inf`` admits ``+inf`` (e.g. a step size whose limit the rule defines); nan never passes.
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        else:
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    x = float(value)
    if not (np.isfinite(x) or (allow_inf and x == np.inf)):
        raise ValueError(f"{name} must be finite, got {x}")
    lo_bad = low is not None and (x <= low if low_open else x < low)
    hi_bad = high is not None and (x >= high if high_open else x > high)
    if lo_bad or hi_bad:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        lo_s = "-inf" if low is None else f"{low:g}"
        hi_s = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in {lb}{lo_s}, {hi_s}{hb}, got {x:g}")
    return x


def as_positive_int(name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def freeze(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


# ------------------------------------------------------------------ memory
#: Dense arrays up to this size are not checked against the available memory (every machine
#: polopt runs on has it, and reading /proc/meminfo on each small solve would cost more than it).
ALWAYS_FITS_BYTES = 2**26


class DenseMemoryError(MemoryError):
    """A dense float64 array would not fit in the machine's available memory."""


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: ``MemAvailable`` of ``/proc/meminfo``
    (Linux), else free physical pages from ``os.sysconf``; None when neither is known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def fits_dense(shape, *, copies: int = 1) -> bool:
    """Whether ``copies`` dense float64 arrays of ``shape`` fit in the available memory (the test of
    :func:`check_dense_size`, as a predicate: ``po.methods`` leaves out methods that could not run)."""
    needed = 8 * copies * int(np.prod(tuple(int(n) for n in shape), dtype=object))
    if needed <= ALWAYS_FITS_BYTES:
        return True
    limit = available_memory()
    return limit is None or needed <= limit


def check_dense_size(name: str, shape, what: str, *, copies: int = 1, limit_bytes: int | None = None) -> None:
    """Raise :class:`DenseMemoryError` (a MemoryError) before allocating ``copies`` dense float64
    arrays of ``shape`` when their ``8 * prod(shape) * copies`` bytes exceed ``limit_bytes``
    (default: :func:`available_memory`). ``what`` says what to do instead (e.g. the sparse form).
    Checking first replaces numpy's bare MemoryError — or the machine swapping — by a message
    naming the argument, the shape, the GiB needed and the GiB available."""
    shape = tuple(int(n) for n in shape)
    needed = 8 * copies * int(np.prod(shape, dtype=object))
    if limit_bytes is None and needed <= ALWAYS_FITS_BYTES:
        return
    limit = available_memory() if limit_bytes is None else int(limit_bytes)
    if limit is None or needed <= limit:
        return
    gib = 2.0**30
    times = f"{copies} x " if copies > 1 else ""
    raise DenseMemoryError(
        f"{name}: a dense float64 array of shape {shape} needs {times}{needed / copies / gib:.3g} GiB = "
        f"{needed / gib:.3g} GiB, but {limit / gib:.3g} GiB are available; {what}"
    )
