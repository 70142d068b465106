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


def test_solve_without_a_method_runs_the_default(capsys):
    assert main(["solve", "river_swim", "--param", "n=30"]) == 0
    out = capsys.readouterr().out
    assert "method  : solve_mdp" in out and "status: converged" in out


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


def test_bench_busy_table_and_single_file(tmp_path, capsys):
    out = tmp_path / "all.json"
    assert main(["bench", "--quick", "--suite", "games", "--busy", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["busy"] == 1 and data["suites"]["games"]["busy"] == 1
    assert {row["name"] for row in data["summary"]} >= {"games: nash K=200"}
    printed = capsys.readouterr().out
    assert "benchmark" in printed and "ratio" in printed and "games: nash K=200" in printed
    assert "scipy_highs_lp" in printed and "busy processes: 1" in printed
    assert not list(tmp_path.glob("games.json"))  # one file asked for, one file written


def test_bench_rejects_negative_busy(tmp_path, capsys):
    assert main(["bench", "--suite", "games", "--busy", "-1", "--out", str(tmp_path)]) == 2
    assert "--busy must be an integer >= 0" in capsys.readouterr().err


def test_busy_processes_spin_and_are_always_stopped():
    from bench._common import busy

    with busy(2) as procs:
        assert len(procs) == 2 and all(p.is_alive() for p in procs)
    assert not any(p.is_alive() for p in procs)
    with pytest.raises(KeyboardInterrupt):
        with busy(1) as procs:
            raise KeyboardInterrupt
    assert not procs[0].is_alive()
    with pytest.raises(ValueError, match="busy must be an int >= 0"):
        with busy(-1):
            pass


def test_bench_summary_table_format():
    from bench._common import format_table, summary_row

    rows = [summary_row("a", 0.002, "x", 0.01), summary_row("bb", 2.0, None, None)]
    assert rows[0]["ratio"] == pytest.approx(5.0) and rows[1]["ratio"] is None
    text = format_table(rows).splitlines()
    assert text[0].split() == ["benchmark", "polopt", "anchor", "anchor", "time", "ratio"]
    assert text[2].split() == ["a", "2.00", "ms", "x", "10.00", "ms", "5.00x"]
    assert text[3].split() == ["bb", "2.000", "s", "-", "-", "-"]


@pytest.mark.parametrize("suite", ["games", "mdp", "nlhf", "pg", "estimators"])
def test_every_suite_takes_busy(suite):
    import importlib

    mod = importlib.import_module(f"bench.bench_{suite}")
    with pytest.raises(SystemExit):
        mod.main(["--busy", "-2"])  # parsed (and rejected) by the suite's own parser
    assert callable(mod.summary)


def test_bench_rejects_unknown_suite(tmp_path):
    with pytest.raises(SystemExit, match="unknown bench suite"):
        main(["bench", "--suite", "nope", "--out", str(tmp_path)])


def test_bench_suites_are_discovered():
    from polopt.cli import bench_suites

    assert {"mdp", "games"} <= set(bench_suites())


# --------------------------------------------------------------------------- the command as people expect it
def test_version_in_process_and_as_python_m_polopt(capsys):
    import subprocess
    import sys

    import polopt as po

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"polopt {po.__version__}"
    out = subprocess.run([sys.executable, "-m", "polopt", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"polopt {po.__version__}"


def test_catalogue_lists_every_instance_with_defaults_wrapped(capsys, monkeypatch):
    from polopt.problems import catalogue

    monkeypatch.setenv("COLUMNS", "72")
    assert main(["catalogue"]) == 0
    out = capsys.readouterr().out
    for name in catalogue.names():
        assert f"\n{name}(" in f"\n{out}"
    assert "river_swim(n=6, gamma=0.95, sparse=False)" in out and "Strehl & Littman" in out
    assert max(len(line) for line in out.splitlines() if line.startswith("    ")) <= 72


def test_theorems_are_wrapped_to_the_terminal(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "64")
    assert main(["theorems", "--method", "mirror_prox"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "nash_mp.kl [recalled]" in lines and max(len(line) for line in lines) <= 64


def test_solve_json_matches_the_library(capsys):
    import polopt as po
    from polopt.problems import catalogue

    assert main(["solve", "perturbed_rps", "--method", "regularized_nash", "--param", "beta=0.1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    res = po.solve(catalogue.perturbed_rps(beta=0.1), method="regularized_nash")
    assert record["method"] == "regularized_nash" and record["status"] == "converged"
    assert record["policy"] == res.policy.tolist() and record["value"] == res.value
    assert set(record["certificates"]) == set(res.certificates)
    assert record["certificates"]["duality_gap"] == float(res.certificates["duality_gap"][-1])


def test_solve_save_writes_a_loadable_result(tmp_path, capsys):
    import polopt as po

    path = tmp_path / "run.npz"
    assert main(["solve", "forest", "--method", "value_iteration", "--save", str(path)]) == 0
    assert f"saved   : {path}" in capsys.readouterr().out
    back = po.load(path)
    assert back.method == "value_iteration" and back.problem.num_states == 3


def test_warnings_are_one_clear_line(capsys):
    assert main(["solve", "puterman_two_state", "--method", "npg", "--iters", "3", "--hparam", "eta=0.01"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["polopt: warning: npg stopped with status 'max_iter' after 3 iterations; increase iters or "
                   "check the hyper-parameters (NotConvergedWarning)"]


def test_help_states_the_default_gamma(capsys):
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    assert "gamma=0.9" in " ".join(capsys.readouterr().out.split())


def test_validate_writes_vector_figures(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["validate", "--quick", "--out", str(out), "--only", "duality_gap_factor", "--format", "pdf"]) == 0
    assert (out / "duality_gap_factor.pdf").read_bytes().startswith(b"%PDF")
    assert not (out / "duality_gap_factor.png").exists()
    assert "[duality_gap_factor](duality_gap_factor.pdf)" in (out / "report.md").read_text()
