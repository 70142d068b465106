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
