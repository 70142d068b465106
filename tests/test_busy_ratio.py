"""bench.busy_ratio pairs the timings of an idle and a busy run by their path in the JSON."""

import json

import pytest

from bench import busy_ratio


def test_pairs_timings_by_path_and_reports_the_worst(tmp_path):
    idle = {"instances": {"x": {"solvers": {"polopt.a": {"time_s": 1.0, "error": 3.0},
                                            "quantecon.b": {"time_s": 2.0}}}},
            "list": [{"one_thread_s": 0.5}], "busy": 0}
    busy = {"instances": {"x": {"solvers": {"polopt.a": {"time_s": 1.2, "error": 9.0},
                                            "quantecon.b": {"time_s": 8.0}}}},
            "list": [{"one_thread_s": 1.0}], "busy": 2, "only_busy_s": 4.0}
    res = busy_ratio.compare(idle, busy, 1.5)
    # error is not a timing; only_busy_s has no idle partner; busy is not a timing
    assert res["ratios"] == pytest.approx({"instances/x/solvers/polopt.a/time_s": 1.2,
                                           "instances/x/solvers/quantecon.b/time_s": 4.0,
                                           "list/0/one_thread_s": 2.0})
    assert res["worst"] == {"name": "instances/x/solvers/quantecon.b/time_s", "ratio": 4.0}
    assert set(res["above_limit"]) == {"instances/x/solvers/quantecon.b/time_s", "list/0/one_thread_s"}
    only = busy_ratio.compare(idle, busy, 1.5, match=r"polopt")
    assert list(only["ratios"]) == ["instances/x/solvers/polopt.a/time_s"] and not only["above_limit"]

    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "r.json"
    a.write_text(json.dumps(idle))
    b.write_text(json.dumps(busy))
    report = busy_ratio.main([str(a), str(b), "--out", str(out), "--match", "polopt|one_thread"])
    assert json.loads(out.read_text()) == report
    assert len(report["pairs"]["a.json vs b.json"]["ratios"]) == 2


def test_files_must_come_in_pairs(tmp_path):
    with pytest.raises(SystemExit):
        busy_ratio.main([str(tmp_path / "a.json")])
