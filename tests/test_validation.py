"""``polopt validate --quick`` end to end: every registered claim holds and the report is complete."""

from __future__ import annotations

import io
import json

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
        assert payload["confidence"] in ("paper", "derived", "recalled")
        assert r.experiment.claim.replace("|", "\\|") in report
    assert f"{len(records)} of {len(records)} claims hold." in report


def test_every_experiment_is_sourced():
    for e in validation.experiments():
        assert e.claim and e.source and e.confidence in ("paper", "derived", "recalled")


def test_a_failing_claim_is_reported_not_hidden(tmp_path):
    """A claim that does not hold shows up as FAILS in the report (findings are never dropped)."""
    exp = validation.experiments()[0]
    bad = exp._replace(run=lambda quick: exp.run(quick)._replace(holds=False))
    rec = validation.Record(bad, bad.run(True), 0.0, None)
    assert rec.verdict == "FAILS (finding)"
    assert "FAILS (finding)" in validation.render_report([rec], quick=True)
