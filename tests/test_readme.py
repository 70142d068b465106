"""The README's Python snippets run as written (a newcomer's first contact with the API)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_two_setup_commands():
    text = README.read_text()
    assert "pip install -e '.[test]' && polopt validate --quick" in text
    assert "pip install -e '.[test]' && ruff check . && pytest" in text


def test_readme_ci_command_matches():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && ruff check . && pytest" in ci


def test_readme_snippets_run():
    blocks = _python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)
        for name, fn in list(namespace.items()):
            if name.startswith("test_") and callable(fn):
                fn()  # the "write your own rate test" snippet must pass too


def test_readme_method_lists_match_the_table():
    """Each ``<!-- methods:FAMILY -->`` list in README names exactly that family's rows and aliases."""
    import polopt as po

    text = README.read_text()
    blocks = re.findall(r"<!-- methods:(\w+) -->(.*?)<!-- /methods -->", text, flags=re.S)
    assert blocks, "README has no method list"
    table = po.methods_table()
    for family, block in blocks:
        listed = set(re.findall(r"`([a-z_0-9]+)`", block))
        want = {n for m in table.values() if m.family == family for n in (m.name, *m.aliases)}
        hp = {"inner_steps", "form", "schedule", "magnet_eta", "tau", "delta", "eps", "lo", "hi", "lam", "kappa"}
        assert listed - hp == want, (family, sorted(want ^ (listed - hp)))  # hp: named beside the methods
    assert {f for f, _ in blocks} == {m.family for m in table.values()}  # every family has its README list
