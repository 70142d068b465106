"""The common rule suite (polopt.testing.rule_suite) over every rule row of the method table."""

import pytest

import polopt as po
from polopt.methods import rule_rows
from polopt.testing import rule_suite

ROWS = [m for m in rule_rows() if m.family in rule_suite.FAMILIES]
IDS = [m.name for m in ROWS]
CASES = rule_suite.cases(ROWS)
CASE_IDS = [rule_suite.case_id(c) for c in CASES]


def test_every_rule_family_has_suite_instances():
    assert rule_suite.families_covered(rule_rows()) == []
    assert not hasattr(rule_suite, "NUMPY_ONLY")  # no family is exempt from NumPy = JAX
    assert {row.family for row, _ in CASES} == set(rule_suite.FAMILIES)


def test_the_table_and_po_rule_agree():
    for row in ROWS:
        rule = po.rule(row.name, **rule_suite._PROBE.get(row.name, {}))
        assert rule.name == row.name and rule.oracle_calls == row.oracle_calls and rule.averages == row.averages
        for alias in row.aliases:
            assert po.rule(alias, **rule_suite._PROBE.get(row.name, {})).name == row.name
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        po.rule("nope")


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_fixed_point(row):
    rule_suite.check_fixed_point(row)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_numpy_and_jax_agree(case):
    rule_suite.check_backends(*case)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_finite_at_extreme_values(case):
    rule_suite.check_extremes(*case)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_rejects_bad_hyper_parameters(row):
    rule_suite.check_rejects_bad_hparams(row)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_oracle_calls_as_declared(row):
    rule_suite.check_oracle_calls(row)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_stops_at_tol_during_the_run(row):
    rule_suite.check_stops_at_tol(row)


REGULARIZED_ROWS = rule_suite.regularized_rows(ROWS)


def test_the_regularized_pg_rows_are_the_documented_ones():
    assert {r.name for r in REGULARIZED_ROWS} == {"npg", "softmax_pg", "ppo", "policy_mirror_descent", "mdpo"}


@pytest.mark.parametrize("row", REGULARIZED_ROWS, ids=[r.name for r in REGULARIZED_ROWS])
def test_regularized_fixed_point(row):
    rule_suite.check_regularized_fixed_point(row)


@pytest.mark.parametrize("row", REGULARIZED_ROWS, ids=[r.name for r in REGULARIZED_ROWS])
def test_regularized_numpy_and_jax_agree(row):
    rule_suite.check_regularized_backends(row)


@pytest.mark.parametrize("row", REGULARIZED_ROWS, ids=[r.name for r in REGULARIZED_ROWS])
def test_regularized_finite_at_extreme_values(row):
    rule_suite.check_regularized_extremes(row)
