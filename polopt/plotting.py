"""Figures from :class:`~polopt.result.SolveResult` objects and compare frames, ready for a paper.

Every function draws on a given ``ax`` (or a new figure) and returns the axes, so figures compose;
nothing calls ``plt.show`` and no global matplotlib state is changed: the house style
(:data:`STYLE`: readable fonts, fonts embedded as text in PDF / SVG, the colour-blind-safe
Okabe-Ito palette :data:`PALETTE`) is applied inside each call with ``matplotlib.rc_context``
(``with po.plotting.style(): ...`` applies it to your own figures). :func:`save_figure` writes
vector PDF / SVG (and PNG) with reproducible bytes.

Log axes and exact zeros: a certificate that reaches exactly 0 (an exact solver's suboptimality
at its last sweep, a closed-form equilibrium's gap) cannot sit on a log axis. It is not clamped to
a fake floor: those iterates are drawn as triangles on the bottom edge of the axes, in the
curve's colour, and the legend says "= 0 exactly (marker on the axis bottom)"; negative values
(round-off of a difference) are crosses on the bottom edge with their own legend note.

Bounds: ``plot_certificate(res, name, theorem=...)`` overlays each named theorem's bound,
labelled in the legend with its name and confidence (``bound: nash_mp.kl [measured]``).

matplotlib is imported on the first plot, not with polopt.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from . import theory as _theory
from .result import recorded_iterates

#: The Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design"), ordered
#: for line plots on white: blue, vermillion, bluish green, reddish purple, orange, sky blue,
#: black, yellow (yellow last: low contrast on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
#: Line styles of overlaid bounds (each bound of one axes gets the next).
BOUND_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))
#: The house style (matplotlib rcParams): 10 pt text for a figure printed at its size (5 x 3.5 in.
#: fills a column), fonts kept as text in vector output (Type 42 in PDF, text in SVG), the palette.
STYLE = {
    "font.size": 10.0,
    "axes.labelsize": 10.0,
    "axes.titlesize": 10.0,
    "legend.fontsize": 8.5,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "lines.linewidth": 1.6,
    "lines.markersize": 5.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.framealpha": 0.85,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.dpi": 200,
}
#: Formats :func:`save_figure` writes (vector: pdf, svg).
FORMATS = ("pdf", "svg", "png")
#: Legend notes for values that a log axis cannot show.
ZERO_NOTE = "= 0 exactly (marker on the axis bottom)"
NEGATIVE_NOTE = "< 0, round-off (marker on the axis bottom)"
#: Kept for code that clamps by hand (validation/nlhf_common.py); polopt's own plots mark zeros instead.
LOG_FLOOR = 1e-16
#: Default size of a new figure in inches (one column of a two-column paper, readable at 10 pt).
FIGSIZE = (5.0, 3.5)

# axes -> the legend notes its zero / negative markers need (weak: a closed figure frees its entry)
_NOTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rc() -> dict:
    from cycler import cycler

    return {**STYLE, "axes.prop_cycle": cycler(color=list(PALETTE))}


def style():
    """Context manager applying :data:`STYLE` and :data:`PALETTE` (``with po.plotting.style(): ...``)."""
    import matplotlib

    return matplotlib.rc_context(_rc())


def _styled(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    return ax


def log_curve(ax, x, y, label: str | None = None, **kw):
    """Draw ``y`` against ``x`` on a log y axis; exact zeros and negatives as markers on the bottom edge.

    Positive values are a line (NaN leaves a gap); ``y == 0`` are triangles and ``y < 0`` crosses
    on the bottom edge of the axes, in the line's colour, noted once in the legend by
    :func:`legend`. Returns the line.
    """
    from matplotlib.transforms import blended_transform_factory

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    pos = y > 0
    (line,) = ax.plot(x, np.where(pos, y, np.nan), label=label, **kw)
    if pos.any():
        ax.set_yscale("log")
    bottom = blended_transform_factory(ax.transData, ax.transAxes)  # x in data, y = 0 is the axes' bottom
    for mask, marker, note in ((y == 0, "v", ZERO_NOTE), (y < 0, "x", NEGATIVE_NOTE)):
        if mask.any():
            ax.plot(x[mask], np.zeros(int(mask.sum())), ls="none", marker=marker, color=line.get_color(),
                    transform=bottom, clip_on=False, zorder=3)
            _NOTES.setdefault(ax, set()).add((marker, note))
    return line


def legend(ax, **kw):
    """The legend of ``ax`` with the notes its zero / negative markers need."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    for marker, note in sorted(_NOTES.get(ax, ())):
        handles.append(Line2D([], [], ls="none", marker=marker, color="0.35"))
        labels.append(note)
    if handles:
        ax.legend(handles, labels, **kw)
    return ax


def _theorem_names(theorem) -> list[str]:
    if theorem is None:
        return []
    return [theorem] if isinstance(theorem, str) else list(theorem)


@_styled
def plot_certificate(res, name: str, theorem: str | Sequence[str] | None = None, ax=None, label: str | None = None):
    """Plot certificate ``name`` of ``res`` against the iterate on a log y axis.

    Args:
        res: a SolveResult.
        name: key of ``res.certificates`` (e.g. ``"value_error"``, ``"duality_gap"``).
        theorem: a registered theorem name (or several); each bound is overlaid in black with its
            own line style, labelled ``bound: NAME [confidence]`` in the legend.
        ax: matplotlib axes to draw on (a new figure if None).
        label: curve label (default: method name).

    The x axis is the iterate index (``info["recorded"]`` for runs with ``record=k``); exact zeros
    are marked on the axis bottom (see the module docstring).

    Returns:
        The matplotlib axes.
    """
    if name not in res.certificates:
        raise ValueError(f"result has no certificate {name!r}; it has {sorted(res.certificates)}")
    ax = _axes(ax)
    y = np.asarray(res.certificates[name], dtype=np.float64)
    t = recorded_iterates(res, y.shape[0])
    log_curve(ax, t, y, label=label or res.method)
    drawn = sum(1 for ln in ax.get_lines() if str(ln.get_label()).startswith("bound: "))
    for i, thm_name in enumerate(_theorem_names(theorem)):
        thm = _theory.get(thm_name)
        if thm.bound is None:
            raise ValueError(f"theorem {thm_name!r} is a check, not a bound; it cannot be overlaid")
        b = np.asarray(thm.bound(res, t), dtype=np.float64)
        log_curve(ax, t, np.broadcast_to(b, t.shape), label=f"bound: {thm.name} [{thm.confidence}]", color="k",
                  ls=BOUND_STYLES[(drawn + i) % len(BOUND_STYLES)], lw=1.2)
    ax.set_xlabel("iteration t")
    ax.set_ylabel(name.replace("_", " "))
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    return ax


@_styled
def plot_curves(curves: dict, ax=None, xlabel: str = "iteration t", ylabel: str = "", logx: bool = False):
    """Plot several named 1-D series (``{label: y}`` or ``{label: (x, y)}``) on a log y axis (zeros marked)."""
    ax = _axes(ax)
    for lab, val in curves.items():
        x, y = val if isinstance(val, tuple) else (np.arange(len(val)), val)
        log_curve(ax, x, y, label=lab)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    return ax


@_styled
def plot_compare(frame, certificate: str, ax=None, logx: bool = False, band: bool = True):
    """Plot one certificate of a :func:`polopt.compare` frame: one curve per (method, hparams).

    With several seeds the curve is the median over seeds at each iterate and the shaded band
    spans the minimum to the maximum (the legend says how many seeds). A method that appears
    with several hyper-parameter settings is labelled ``method (hparams)``.

    Returns the axes. Raises ValueError when the frame has no rows for ``certificate``.
    """
    rows = frame[frame["certificate"] == certificate]
    if rows.empty:
        raise ValueError(f"the frame has no certificate {certificate!r}; it has {sorted(set(frame['certificate']))}")
    ax = _axes(ax)
    settings = rows.groupby("method", sort=False)["hparams"].nunique()
    for (method, hp), group in rows.groupby(["method", "hparams"], sort=False):
        per_seed = group.pivot_table(index="iterate", columns="seed", values="value", aggfunc="first", dropna=False) \
            if "seed" in group and group["seed"].notna().any() else group.set_index("iterate")[["value"]]
        t = per_seed.index.to_numpy(dtype=np.float64)
        values = per_seed.to_numpy(dtype=np.float64)
        n = values.shape[1]
        label = method if settings[method] == 1 else f"{method} ({hp})"
        label += f", median of {n} seeds" if n > 1 else ""
        line = log_curve(ax, t, np.median(values, axis=1), label=label)
        if band and n > 1:
            lo, hi = values.min(axis=1), values.max(axis=1)
            ok = (lo > 0) & (hi > 0)
            ax.fill_between(t, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan), color=line.get_color(), alpha=0.2,
                            lw=0)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel(certificate.replace("_", " "))
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    return ax


def save_figure(fig, path, formats: str | Iterable[str] | None = None) -> list[Path]:
    """Write ``fig`` to ``path`` in each format (default: the suffix of ``path``; e.g. ``("pdf", "svg")``).

    Vector formats keep text as text (:data:`STYLE`); the files carry no creation date, so the
    same figure gives the same bytes. Returns the paths written (``path`` with each suffix).

    Raises:
        ValueError: a format not in :data:`FORMATS`.
    """
    path = Path(path)
    if formats is None:
        formats = [path.suffix.lstrip(".") or "pdf"]
    elif isinstance(formats, str):
        formats = [formats]
    formats = list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"formats must be among {FORMATS}, got {bad[0]!r}")
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}
    out = []
    with style():
        for fmt in formats:
            target = path.with_suffix(f".{fmt}")
            with contextlib.ExitStack() as stack:
                if fmt == "svg":
                    import matplotlib

                    # a fixed id salt: the same figure gives the same SVG bytes
                    stack.enter_context(matplotlib.rc_context({"svg.hashsalt": "polopt"}))
                fig.savefig(target, format=fmt, metadata=metadata[fmt])
            out.append(target)
    return out
