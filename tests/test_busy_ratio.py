"""bench.busy_ratio pairs the timings of an idle and a busy run by their path in the JSON."""

import json

import pytest

from bench import busy_ratio


def test_pairs_timings_by_path_and_reports_the_worst(tmp_path):
    idle = {"instances": {"x": {"solvers": {"polopt.a": {"time_s": 1.0, "error": 3.0},
                                            "quantecon.b": {"time_s": 2.0}}}},
            "list": [{"one_thread_s": 0.5}], "busy": 0,
            "rows": [{"seconds": 2.0, "iters_per_second": 5.0, "estimates_per_s": 3.0}]}
    busy = {"instances": {"x": {"solvers": {"polopt.a": {"time_s": 1.2, "error": 9.0},
                                            "quantecon.b": {"time_s": 8.0}}}},
            "list": [{"one_thread_s": 1.0}], "busy": 2, "only_busy_s": 4.0,
            "rows": [{"seconds": 2.2, "iters_per_second": 1.0, "estimates_per_s": 1.0}]}
    res = busy_ratio.compare(idle, busy, 1.5)
    # error, busy and a rate are not timings; only_busy_s has no idle partner
    assert res["ratios"] == pytest.approx({"instances/x/solvers/polopt.a/time_s": 1.2,
                                           "instances/x/solvers/quantecon.b/time_s": 4.0,
                                           "list/0/one_thread_s": 2.0, "rows/0/seconds": 1.1})
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


def test_best_times_interleaves_and_repeats_the_fast_ones():
    import time

    from bench import best_times

    order = []

    def make(name, seconds):
        def fn():
            order.append(name)
            time.sleep(seconds)
            return name
        return fn

    res = best_times({"fast": make("fast", 0.0), "slow": make("slow", 0.03)}, repeat=3, slow_s=0.02,
                     min_total_s=0.0)
    assert res["fast"][1] == "fast" and res["slow"][1] == "slow"
    assert order.count("slow") == 1 and order.count("fast") == 3  # the slow one once
    assert order[:2] == ["fast", "slow"]  # round robin, in the given order
    assert res["slow"][0] >= 0.03 > res["fast"][0]
