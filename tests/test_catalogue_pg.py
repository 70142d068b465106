"""The softmax-PG hard chain: its stated optimum holds, and exact softmax PG slows down sharply with n."""

import numpy as np
import pytest

import polopt as po
from polopt.problems import catalogue as cat
from polopt.rules import pg
from polopt.testing.tolerances import EXACT_F64

#: Relative sub-optimality softmax PG must reach; quitting everywhere leaves exactly 0.1 v*(0).
TARGET_FRACTION = 0.05


def iterations_to_target(n: int, budget: int) -> int:
    mdp = cat.softmax_pg_hard_chain(n)
    v_star = cat.softmax_pg_hard_chain_value(n)
    rule, oracle = pg.softmax_pg(eta=1.0), pg.MDPOracle(mdp.dense_P(), mdp.r, mdp.gamma, mdp.rho)
    s = pg.policy_init(np.full((n + 1, 3), 1 / 3))
    for t in range(budget):
        if mdp.rho @ (v_star - oracle.evaluate(np.exp(s.log_pi)).v) < TARGET_FRACTION * v_star[0]:
            return t
        s = rule.update(s, oracle)
    return budget


@pytest.mark.parametrize("n", [1, 3, 6])
def test_hard_chain_optimum(n):
    mdp = cat.get("softmax_pg_hard_chain", n=n)
    star = po.exact.policy_iteration(mdp)
    np.testing.assert_allclose(star.v, cat.softmax_pg_hard_chain_value(n), atol=EXACT_F64)
    assert np.all(star.policy[:n] == 0)  # advance everywhere on the chain


def test_softmax_pg_plateau_grows_with_length():
    t1, t2 = iterations_to_target(1, 3000), iterations_to_target(2, 3000)
    t3 = iterations_to_target(3, 3000)
    assert t1 < t2 < t3
    assert t2 >= 10 * t1 and t3 >= 5 * t2  # measured 23, 340, > 3000 (the last run hits its budget)


def test_hard_chain_bad_arguments():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        cat.softmax_pg_hard_chain(0)
    with pytest.raises(ValueError, match="gamma must lie in"):
        cat.softmax_pg_hard_chain(3, gamma=1.0)
