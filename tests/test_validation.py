"""``polopt validate --quick`` end to end: every registered claim holds and the report is complete."""

from __future__ import annotations

import io
import json

import polopt as po
import validation


def test_quick_validation_all_claims_hold(tmp_path):
    records = validation.run_all(tmp_path, quick=True, stream=io.StringIO())
    assert {r.experiment.name for r in records} == {e.name for e in validation.experiments()}
    failing = [(r.experiment.name, r.error or r.outcome.measured) for r in records if r.verdict != "holds"]
    assert not failing, failing
    report = (tmp_path / "report.md").read_text()
    for r in records:
        assert (tmp_path / f"{r.experiment.name}.png").stat().st_size > 1000
        payload = json.loads((tmp_path / f"{r.experiment.name}.json").read_text())
        assert payload["confidence"] in po.theory.CONFIDENCE
        assert r.experiment.claim.replace("|", "\\|") in report
    assert f"{len(records)} of {len(records)} claims hold." in report


def test_every_experiment_is_sourced():
    for e in validation.experiments():
        assert e.claim and e.source and e.confidence in po.theory.CONFIDENCE


def test_a_failing_claim_is_reported_not_hidden(tmp_path):
    """A claim that does not hold shows up as FAILS in the report (findings are never dropped)."""
    exp = validation.experiments()[0]
    bad = exp._replace(run=lambda quick: exp.run(quick)._replace(holds=False))
    rec = validation.Record(bad, bad.run(True), 0.0, None)
    assert rec.verdict == "FAILS (finding)"
    assert "FAILS (finding)" in validation.render_report([rec], quick=True)


def test_experiments_built_from_a_theorem_read_claim_source_and_confidence_from_it():
    """Confidence lives on the Theorem: an experiment of one theorem copies it, and its claim is the statement."""
    built = [e for e in validation.experiments() if e.theorem is not None]
    names = {e.name for e in built}
    assert {"nlhf_egpo_rate", "nlhf_mmd_rate", "nlhf_nash_md_rate", "nlhf_nash_mp_rate", "nlhf_nash_md_bias",
            "nlhf_nash_mp_exploitability", "nlhf_nash_mp_log_span"} <= names
    for e in built:
        thm = po.theory.get(e.theorem)
        assert e.confidence == thm.confidence
        assert thm.statement in e.claim and thm.source in e.source


def test_from_theorem_accepts_a_theorem_object_and_a_setting():
    thm = po.theory.get("vi.contraction")
    exp = validation.Experiment.from_theorem(thm, lambda quick: None, name="x", setting="gamma = 0.9")
    assert exp.claim.startswith("vi.contraction: ") and exp.claim.endswith("Checked: gamma = 0.9")
    assert exp.confidence == thm.confidence and exp.theorem == "vi.contraction"


def test_discovery_lists_name_every_module():
    """Experiments and theorem modules are listed explicitly; none on disk is left out."""
    from pathlib import Path

    import polopt.theory

    vdir = Path(validation.__file__).parent
    on_disk = sorted(f.stem for f in vdir.glob("*.py")
                     if not f.stem.startswith("_") and "EXPERIMENT =" in f.read_text())
    assert list(validation.MODULES) == on_disk
    tdir = Path(polopt.theory.__file__).parent
    theory_files = sorted(f.stem for f in tdir.glob("*.py") if not f.stem.startswith("_") and f.stem != "registry")
    assert sorted(polopt.theory.MODULES) == theory_files
