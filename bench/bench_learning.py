"""Episodes per second of the learning rules: UCRL-VTR+ on ``linear_mixture_hard(d=5, H=6)``, UCRL2 on RiverSwim.

Usage::

    python -m bench.bench_learning [--quick] [--out FILE.json] [--busy N]

Two ways are timed for each rule, for one seed and for a batch of 20 seeds (one generator per seed, every
array with a leading seed axis):

* ``rule``: the rule's own loop, ``state = rule.update(state, env)`` (planning, sampling, regression);
* ``runner``: :func:`polopt._methods.learning.run_episodes`, which adds the exact evaluation of every
  committed policy and the proof events (E1-E3) per episode.

UCRL2's unit is a step (an update); its episodes are doubling epochs inside the run. Rates are per seed:
``episodes_per_s`` = seeds x episodes / wall time. No anchor implements these learners with exact regret.
"""

from __future__ import annotations

from bench import best_time
from bench._common import rows_main, summary_row

SEEDS = 20


#: Each figure is the best of at least 3 runs and of 1 s of runs (single runs moved by 2x on a shared machine).
REPEAT, MIN_TOTAL_S = 3, 1.0


def _rule_loop(rule, make_env, n: int) -> None:
    env = make_env()
    state = rule.init(env)
    for _ in range(n):
        state = rule.update(state, env)


def _time(fn) -> float:
    return best_time(fn, REPEAT, min_total_s=MIN_TOTAL_S)[0]


def run(quick: bool) -> list[dict]:
    from polopt._methods import learning as lr
    from polopt.problems import catalogue
    from polopt.problems.linear_mixture import normalization
    from polopt.rules import learning as rl

    hard = catalogue.linear_mixture_hard(d=5, H=6)
    river = catalogue.river_swim(6, gamma=1.0)
    B = normalization(hard)[0]  # max_h ||theta_h||: the tightest valid bound
    K, T = (50, 500) if quick else (300, 5000)
    cases = [
        ("ucrl_vtr_plus", hard, rl.ucrl_vtr_plus(B=B), K, "episode", lr.mixture_env),
        ("ucrl_vtr", hard, rl.ucrl_vtr(B=B), K, "episode", lr.mixture_env),
        ("ucrl2", river, rl.ucrl2(), T, "step", lr.average_env),
    ]
    rows = []
    for name, problem, rule, n, unit, make_env in cases:
        for seeds in ([0], list(range(SEEDS))):
            nb = len(seeds)
            row = {"rule": name, "problem": repr(problem), "unit": unit, "n": n, "seeds": nb}
            row["rule_s"] = _time(lambda r=rule, e=make_env, p=problem, s=seeds, n=n: _rule_loop(r, lambda: e(p, s), n))
            row["runner_s"] = _time(lambda p=problem, r=rule, s=seeds, n=n: lr.run_episodes(p, r, n, s))
            row["rule_per_s"] = nb * n / row["rule_s"]
            row["runner_per_s"] = nb * n / row["runner_s"]
            rows.append(row)
            print(f"{name:14s} seeds={nb:2d}: {row['rule_per_s']:9.0f} {unit}s/s (rule), "
                  f"{row['runner_per_s']:9.0f} {unit}s/s (runner, exact regret + events)")
    return rows


def summary(report: dict) -> list[dict]:
    """Rows of the ``polopt bench`` table: seconds per seed-episode (seed-step for UCRL2) through the runner."""
    return [summary_row(f"{r['rule']} seeds={r['seeds']} per {r['unit']}", r["runner_s"] / (r["seeds"] * r["n"]),
                        None, None) for r in report["rows"]]


def main(argv=None) -> dict:
    return rows_main(argv, __doc__, "learning_episodes_per_second", "50 episodes / 500 steps instead of 300 / 5000",
                     run)

if __name__ == "__main__":
    main()
