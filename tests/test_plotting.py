"""``po.plotting``: paper figures (palette, fonts, vector output, bounds in the legend, exact zeros marked)."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import polopt as po  # noqa: E402
from polopt import plotting  # noqa: E402
from polopt.problems import catalogue  # noqa: E402
from polopt.result import LazyCertificates  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _vi():
    return po.solve(catalogue.puterman_two_state(0.95), method="value_iteration")


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_bound_labelled_palette_and_fonts():
    ax = plotting.plot_certificate(_vi(), "value_error", theorem="vi.contraction")
    assert _legend(ax) == ["value_iteration", "bound: vi.contraction [paper]"]
    curve, bound = ax.get_lines()
    assert curve.get_color() == plotting.PALETTE[0] and bound.get_linestyle() == "--"
    assert ax.get_yscale() == "log"
    assert ax.xaxis.label.get_size() == plotting.STYLE["axes.labelsize"]
    assert ax.get_legend().get_texts()[0].get_fontsize() == plotting.STYLE["legend.fontsize"]
    # the style is applied inside the call only: the global rcParams are untouched
    assert matplotlib.rcParams["font.size"] == matplotlib.rcParamsDefault["font.size"]
    second = plotting.plot_certificate(po.solve(catalogue.puterman_two_state(0.9), method="value_iteration"),
                                       "value_error", ax=ax, label="gamma 0.9")
    assert second.get_lines()[-1].get_color() == plotting.PALETTE[1]


def test_several_bounds_each_labelled_with_its_own_style():
    from polopt.problems.random import random_intransitive

    res = po.solve(random_intransitive(6, seed=0, beta=0.1), method="mirror_prox", iters=40, tol=1e-6)
    names = [t.name for t in po.theory.theorems("mirror_prox") if t.certificate == "kl_to_optimum" and t.bound]
    ax = plotting.plot_certificate(res, "kl_to_optimum", theorem=names)
    labels = _legend(ax)
    assert [lab for lab in labels if lab.startswith("bound: ")] == [
        f"bound: {n} [{po.theory.get(n).confidence}]" for n in names]
    styles = [ln.get_linestyle() for ln in ax.get_lines() if str(ln.get_label()).startswith("bound: ")]
    assert len(set(styles)) == len(styles)


def test_exact_zeros_are_marked_not_floored():
    res = _vi()
    y = np.array(res.certificates["value_error"])
    y[-3:] = 0.0
    y[-5] = -1e-17  # a round-off negative
    ax = plotting.plot_certificate(res._replace(certificates=LazyCertificates({"value_error": y})), "value_error")
    line = ax.get_lines()[0]
    drawn = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(drawn[-3:]).all() and np.isnan(drawn[-5])  # no 1e-16 floor on the curve
    assert np.nanmin(drawn) > 1e-3  # the axis does not stretch down to a floor
    markers = {ln.get_marker(): ln for ln in ax.get_lines()[1:]}
    assert list(markers["v"].get_xdata()) == list(range(len(y) - 3, len(y)))
    assert list(markers["x"].get_xdata()) == [len(y) - 5]
    assert all(np.asarray(m.get_ydata()).tolist() == [0.0] * len(m.get_xdata()) for m in markers.values())
    assert markers["v"].get_color() == line.get_color() and not markers["v"].get_clip_on()
    assert plotting.ZERO_NOTE in _legend(ax) and plotting.NEGATIVE_NOTE in _legend(ax)


def test_record_k_uses_the_recorded_iterates_on_the_x_axis():
    from polopt.problems.random import random_mdp

    res = po.solve(random_mdp(4, 3, gamma=0.9, seed=0), method="npg", eta=1.0, iters=30, record=4, tol=1e-3)
    ax = plotting.plot_certificate(res, "suboptimality")
    assert list(ax.get_lines()[0].get_xdata()) == list(res.info["recorded"])


def test_vector_output_is_reproducible(tmp_path):
    res = _vi()
    ax = plotting.plot_certificate(res, "value_error", theorem="vi.contraction")
    pdf, svg = plotting.save_figure(ax.figure, tmp_path / "fig", ("pdf", "svg"))
    assert pdf.read_bytes().startswith(b"%PDF") and b"<svg" in svg.read_bytes()
    assert b"value error" in svg.read_bytes()  # svg.fonttype = none: text stays text
    # the same figure drawn again gives the same bytes (no creation date, fixed SVG ids)
    ax = plotting.plot_certificate(res, "value_error", theorem="vi.contraction")
    again = [plotting.save_figure(ax.figure, tmp_path / name)[0] for name in ("again.pdf", "b.svg")]
    assert again == [tmp_path / "again.pdf", tmp_path / "b.svg"]
    assert again[0].read_bytes() == pdf.read_bytes() and again[1].read_bytes() == svg.read_bytes()
    with pytest.raises(ValueError, match="formats must be among"):
        plotting.save_figure(ax.figure, tmp_path / "fig", "jpeg")


def test_plot_compare_median_and_band():
    bandit = po.Bandit([1.0, 0.5, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", po.NotConvergedWarning)
        frame = po.compare(bandit, methods=[("grpo", {"mode": "sampled"}), "rloo"], seeds=[0, 1, 2], iters=15,
                           certificates="suboptimality")
    ax = plotting.plot_compare(frame, "suboptimality")
    labels = _legend(ax)
    assert labels[:2] == ["grpo, median of 3 seeds", "rloo, median of 3 seeds"]
    sub = frame[(frame.method == "grpo") & (frame.certificate == "suboptimality")]
    median = sub.groupby("iterate")["value"].median().to_numpy()
    np.testing.assert_array_equal(np.asarray(ax.get_lines()[0].get_ydata(), dtype=float), median)
    assert len(ax.collections) == 2  # one min-max band per method
    with pytest.raises(ValueError, match="no certificate 'nope'"):
        plotting.plot_compare(frame, "nope")


def test_plot_curves_marks_zeros():
    ax = plotting.plot_curves({"a": np.array([1.0, 0.1, 0.0]), "b": (np.array([1, 2]), np.array([0.5, 0.25]))},
                              logx=True)
    assert ax.get_xscale() == "log" and plotting.ZERO_NOTE in _legend(ax)
