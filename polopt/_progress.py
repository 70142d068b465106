"""Progress for long work: the tqdm bar and the callback of :func:`polopt.solve.run_rule`.

``solve(..., progress=None, callback=None)`` sets :data:`RUN_OPTIONS` (a context variable) for the
duration of one call, and the driver reads it, so no family runner passes the options along.

* ``progress``: None (automatic) shows a tqdm bar (``tqdm.auto``: a widget in notebooks) once a run
  has lasted :data:`PROGRESS_DELAY_S` seconds, when stderr is a terminal or in a notebook, never
  under pytest; True shows it at once everywhere; False never.
* ``callback(t, state)``: called at every recorded iterate ``t`` (iterate 0 included; every
  ``record``-th with ``record=k``, and the last) with the rule's state (``np.exp(state.log_pi)`` is
  the policy); a truthy return value stops the run there with status ``"stopped"``.

tqdm is imported only when a bar is shown.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

#: A run's progress bar appears once the run has lasted this many seconds (shorter runs print nothing).
PROGRESS_DELAY_S = 2.0


class RunOptions(NamedTuple):
    """What one ``solve`` call hands to the driver: ``progress``, ``callback`` and the bar's ``label``."""

    progress: bool | None = None
    callback: Callable[[int, Any], Any] | None = None
    label: str = ""


NO_OPTIONS = RunOptions()  # an immutable NamedTuple: safe as the shared default
RUN_OPTIONS: contextvars.ContextVar[RunOptions] = contextvars.ContextVar("polopt_run_options", default=NO_OPTIONS)


@contextlib.contextmanager
def run_options(options: RunOptions):
    """Set :data:`RUN_OPTIONS` for the body of a ``with`` (restored on the way out, nested calls included)."""
    token = RUN_OPTIONS.set(options)
    try:
        yield options
    finally:
        RUN_OPTIONS.reset(token)


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_enabled(progress: bool | None) -> bool:
    """``progress`` if given; else on in a notebook or when stderr is a terminal, off under pytest."""
    if progress is not None:
        return bool(progress)
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    stream = sys.stderr
    return _in_notebook() or bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def progress_bar(progress: bool | None, iters: int, label: str):
    """A tqdm bar over ``iters`` updates, or None when :func:`progress_enabled` says no."""
    if not progress_enabled(progress):
        return None
    from tqdm.auto import tqdm

    # asked for explicitly: shown at once and kept; automatic: only for runs longer than PROGRESS_DELAY_S
    return tqdm(total=iters, desc=label or "run", unit="it", delay=0.0 if progress else PROGRESS_DELAY_S,
                dynamic_ncols=True, leave=bool(progress))
