"""Empirical rates of certificates: ``po.theory.fit_rate(res, "kl_to_optimum")``.

Two models of a certificate ``c_t`` on the iterates ``t`` of a window, both fitted by ordinary
least squares on ``log c_t``:

* ``"sublinear"``: ``c_t ~ C t^p``, the slope ``p`` of ``log c`` against ``log t`` (``p = -1`` for an
  ``O(1/t)`` rate); :attr:`RateFit.rate` is ``p``;
* ``"linear"`` (log-linear, geometric): ``c_t ~ C q^t``, the slope ``log q`` of ``log c`` against
  ``t``; :attr:`RateFit.rate` is the factor ``q`` per iteration (``q = 1/(1 + eta beta)`` for
  Nash-MP's bound).

``model=None`` fits both on the same points and keeps the one with the smaller residual sum of
squares (the same response and the same number of parameters, so the comparison is fair).

The confidence interval is the least-squares one: the slope's standard error
``sqrt(RSS / (n - 2) / S_xx)`` times the Student t quantile with ``n - 2`` degrees of freedom, mapped
through ``exp`` for the linear factor. For a deterministic run the residuals are not noise: the
interval measures how far the sequence is from the model on the window (0 for an exact power or
geometric sequence), not a sampling uncertainty; for sampled runs fit each seed or the median.

Each registered theorem that bounds the same certificate for the result's method is fitted the
same way on the same iterates (its bound evaluated there; the bound's own best model), and
reported beside the measured rate in :attr:`RateFit.theorems`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .registry import get, theorems

#: Points below ``FIT_FLOOR * max`` (of the window) are left out: a certificate computed from sums of
#: O(max) terms carries an absolute round-off of about 2.2e-16 * max, so above this floor its log is
#: exact to ~1e-5 (negligible for a slope) while below it the round-off plateau would bend the fit.
FIT_FLOOR = 1e-10
#: The models :func:`fit_rate` knows.
MODELS = ("sublinear", "linear")
#: How the interval is computed (said in every fit).
INTERVAL = "least-squares standard error of the slope, Student t quantile with n - 2 degrees of freedom"


class TheoremRate(NamedTuple):
    """A registered theorem's bound fitted like the certificate: ``model``, ``rate`` (as in
    :class:`RateFit`), its ``confidence``; ``note`` says why it could not be fitted (then ``rate`` is NaN)."""

    theorem: str
    confidence: str
    model: str
    rate: float
    note: str = ""


class RateFit(NamedTuple):
    """Outcome of :func:`fit_rate`.

    Attributes:
        certificate: the certificate fitted.
        model: ``"sublinear"`` (``c ~ C t^rate``) or ``"linear"`` (``c ~ C rate^t``).
        rate: the exponent ``p`` (sublinear) or the factor ``q`` per iteration (linear).
        slope: the least-squares slope of ``log c`` (``p``, or ``log q``).
        stderr: the slope's standard error.
        ci: ``(low, high)`` confidence interval of ``rate`` at ``level``.
        level: the confidence level.
        log_constant: the intercept ``log C``.
        r_squared: the coefficient of determination of the fit.
        iterates: the iterate indices used (int [n]).
        chosen: True when the model was chosen by the fit, False when given.
        theorems: the registered bounds on this certificate for the method, fitted alike.
        interval: how ``ci`` was computed.
    """

    certificate: str
    model: str
    rate: float
    slope: float
    stderr: float
    ci: tuple[float, float]
    level: float
    log_constant: float
    r_squared: float
    iterates: np.ndarray
    chosen: bool
    theorems: tuple[TheoremRate, ...] = ()
    interval: str = INTERVAL

    def summary(self) -> str:
        """One line per rate: the measured one, then each theorem's."""

        def fmt(model, rate):
            return f"t^{rate:.4g}" if model == "sublinear" else f"{rate:.6g}^t"

        lo, hi = self.ci
        lines = [f"{self.certificate}: {self.model} rate {fmt(self.model, self.rate)} "
                 f"({self.level:.0%} CI {lo:.6g} .. {hi:.6g}; {len(self.iterates)} iterates, "
                 f"{'chosen' if self.chosen else 'given'} model)"]
        for th in self.theorems:
            what = th.note if th.note else f"{th.model} rate {fmt(th.model, th.rate)}"
            lines.append(f"  theorem {th.theorem} [{th.confidence}]: {what}")
        return "\n".join(lines)


class _Line(NamedTuple):
    slope: float
    intercept: float
    stderr: float
    rss: float
    r_squared: float
    n: int


def _ols(x: np.ndarray, y: np.ndarray) -> _Line:
    n = x.shape[0]
    xm, ym = x.mean(), y.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    rss = float(np.sum((y - intercept - slope * x) ** 2))
    tss = float(np.sum((y - ym) ** 2))
    stderr = float(np.sqrt(rss / (n - 2) / sxx))
    return _Line(slope, intercept, stderr, rss, 1.0 if tss == 0 else 1.0 - rss / tss, n)


def _points(t: np.ndarray, y: np.ndarray, window) -> np.ndarray:
    lo, hi = (1, np.inf) if window is None else window
    inside = (t >= lo) & (t <= hi) & (t >= 1)  # t >= 1: log t is defined, and both models see the same points
    finite = inside & np.isfinite(y)
    top = float(np.max(y[finite])) if finite.any() else 0.0
    return finite & (y > FIT_FLOOR * top) & (y > 0)


def _fit(t: np.ndarray, y: np.ndarray, model: str | None, window) -> tuple[str, _Line, np.ndarray]:
    keep = _points(t, y, window)
    if keep.sum() < 3:
        raise ValueError(
            f"a rate fit needs at least 3 iterates t >= 1 in the window with a positive, finite value above "
            f"{FIT_FLOOR:g} x the largest; found {int(keep.sum())}"
        )
    tk, logy = t[keep].astype(np.float64), np.log(y[keep])
    fits = {m: _ols(np.log(tk) if m == "sublinear" else tk, logy) for m in (MODELS if model is None else (model,))}
    best = min(fits, key=lambda m: fits[m].rss)
    return best, fits[best], t[keep]


def _rate(model: str, slope: float) -> float:
    return slope if model == "sublinear" else float(np.exp(slope))


def _theorem_rates(res, name: str, t: np.ndarray, window) -> tuple[TheoremRate, ...]:
    out = []
    for thm in theorems(res.method):
        if thm.certificate != name or thm.bound is None:
            continue
        try:
            b = np.broadcast_to(np.asarray(thm.bound(res, t), dtype=np.float64), t.shape)
            model, line, _ = _fit(t, b, None, window)
            out.append(TheoremRate(thm.name, thm.confidence, model, _rate(model, line.slope)))
        except ValueError as exc:  # the theorem does not cover this run (step range, sampled oracle, ...)
            out.append(TheoremRate(thm.name, thm.confidence, "", float("nan"), f"not fitted: {exc}"))
    return tuple(out)


def fit_rate(res, certificate: str = "kl_to_optimum", model: str | None = None, *, window=None,
             level: float = 0.95, theorem: str | None = None) -> RateFit:
    """Fit the empirical rate of ``certificate`` (see the module docstring for the models).

    Args:
        res: a :class:`~polopt.result.SolveResult`, or a 1-D array of certificate values at
            iterates ``0, 1, ...`` (then no theorem is looked up).
        certificate: a key of ``res.certificates``.
        model: ``"sublinear"``, ``"linear"`` or None (chosen by the smaller residual sum of squares).
        window: ``(t_min, t_max)`` iterates to fit, inclusive (default: every iterate ``t >= 1``);
            points at or below :data:`FIT_FLOOR` times the largest, and non-finite ones, are left out.
        level: confidence level of ``ci`` in (0, 1).
        theorem: fit only this registered theorem's bound beside the certificate (default: every
            theorem registered for the method that bounds this certificate).

    Returns:
        A :class:`RateFit`.

    Raises:
        ValueError: unknown model, a level outside (0, 1), a certificate ``res`` does not have,
            fewer than 3 usable points.
    """
    from scipy import stats

    from ..result import SolveResult, recorded_iterates

    if model is not None and model not in MODELS:
        raise ValueError(f"model must be one of {MODELS} or None, got {model!r}")
    if not (isinstance(level, (int, float)) and 0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if window is not None and (len(window) != 2 or not window[0] <= window[1]):
        raise ValueError(f"window must be (t_min, t_max) with t_min <= t_max, got {window!r}")
    if isinstance(res, SolveResult):
        if certificate not in res.certificates:
            raise ValueError(f"result has no certificate {certificate!r}; it has {sorted(res.certificates)}")
        y = np.asarray(res.certificates[certificate], dtype=np.float64)
        t = recorded_iterates(res, y.shape[0])
    else:
        y = np.asarray(res, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"res must be a SolveResult or a 1-D array of certificate values, got shape {y.shape}")
        t = np.arange(y.shape[0])
    chosen_model, line, used = _fit(t, y, model, window)
    half = float(stats.t.ppf(0.5 + level / 2.0, line.n - 2)) * line.stderr
    lo, hi = line.slope - half, line.slope + half
    rate = _rate(chosen_model, line.slope)
    ci = (_rate(chosen_model, lo), _rate(chosen_model, hi))
    thms: tuple[TheoremRate, ...] = ()
    if isinstance(res, SolveResult):
        thms = _theorem_rates(res, certificate, t, window)
        if theorem is not None:
            get(theorem)  # an unknown name is an error, not an empty list
            thms = tuple(th for th in thms if th.theorem == theorem)
            if not thms:
                raise ValueError(f"theorem {theorem!r} does not bound {certificate!r} for method {res.method!r}")
    return RateFit(certificate, chosen_model, rate, line.slope, line.stderr, ci, float(level), line.intercept,
                   line.r_squared, used, model is None, thms)
