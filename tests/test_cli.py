"""The ``polopt`` command line."""

from __future__ import annotations

import json

import pytest

from polopt.cli import main


def test_methods_lists_names(capsys):
    assert main(["methods", "--problem", "puterman_two_state"]) == 0
    out = capsys.readouterr().out
    assert "policy_iteration" in out and "value_iteration" in out


def test_solve_prints_policy_and_certificates(capsys):
    assert main(["solve", "puterman_two_state", "--method", "policy_iteration", "--param", "gamma=0.95"]) == 0
    out = capsys.readouterr().out
    assert "status: converged" in out and "suboptimality" in out


def test_solve_unknown_method_is_a_clear_error(capsys):
    assert main(["solve", "puterman_two_state", "--method", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nope'" in err and "policy_iteration" in err


def test_unknown_instance(capsys):
    assert main(["solve", "no_such_mdp", "--method", "policy_iteration"]) == 2
    assert "available" in capsys.readouterr().err


def test_theorems_lists_sources(capsys):
    assert main(["theorems"]) == 0
    out = capsys.readouterr().out
    assert "vi.contraction" in out and "Puterman" in out


def test_validate_one_experiment_writes_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["validate", "--quick", "--out", str(out), "--only", "duality_gap_factor"]) == 0
    report = (out / "report.md").read_text()
    assert "| claim | source | confidence | measured | verdict | figure |" in report
    assert "holds" in report and (out / "duality_gap_factor.png").stat().st_size > 1000
    data = json.loads((out / "duality_gap_factor.json").read_text())
    assert data["holds"] is True and data["confidence"] == "derived"


def test_validate_unknown_experiment(tmp_path, capsys):
    assert main(["validate", "--out", str(tmp_path), "--only", "nope"]) == 2


def test_bad_param_syntax():
    with pytest.raises(SystemExit):
        main(["solve", "forest", "--method", "policy_iteration", "--param", "gamma"])


def test_bench_quick_games_writes_json(tmp_path, capsys):
    out = tmp_path / "new" / "dir"
    assert main(["bench", "--quick", "--suite", "games", "--out", str(out)]) == 0
    data = json.loads((out / "games.json").read_text())
    assert [row["K"] for row in data["rows"]] == [5, 10, 100, 200]
    for row in data["rows"]:
        assert row["polopt_nash_auto"]["duality_gap"] <= 1e-9  # certified, like the library default


def test_bench_rejects_unknown_suite(tmp_path):
    with pytest.raises(SystemExit, match="unknown bench suite"):
        main(["bench", "--suite", "nope", "--out", str(tmp_path)])


def test_bench_suites_are_discovered():
    from polopt.cli import bench_suites

    assert {"mdp", "games"} <= set(bench_suites())
