"""The documentation site (``polopt docs --out DIR``): it builds offline, every link resolves, every public name
of the contract has a page, the notebooks appear with their stored outputs, and the Markdown subset renders as
written."""

from __future__ import annotations

import html
import inspect
import re

import pytest

import polopt as po
from polopt import _docs
from polopt import _notebooks as nbrun
from polopt.cli import main

ROOT = _docs.checkout_root()

#: The public contract of the design document: each name must have its page.
CONTRACT = ["polopt.Bandit", "polopt.ContextualBandit", "polopt.TabularMDP", "polopt.LinearMixtureMDP",
            "polopt.PreferenceGame", "polopt.MatrixGame", "polopt.solve", "polopt.rule", "polopt.methods",
            "polopt.SolveResult", "polopt.theory.theorems", "polopt.theory.check", "polopt.exact.nash",
            "polopt.exact.regularized_nash", "polopt.exact.exploitability", "polopt.exact.evaluate",
            "polopt.compare", "polopt.load", "polopt.theory.fit_rate", "polopt.plotting.plot_certificate"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    assert main(["docs", "--out", str(out)]) == 0  # the CLI builds it and checks its links
    return out


def test_every_link_resolves(site):
    assert _docs.broken_links(site) == []
    pages = list(site.rglob("*.html"))
    assert len(pages) > len(CONTRACT)
    assert not any(re.search(r'(?:href|src)="/', p.read_text(encoding="utf-8")) for p in pages)  # relative only


def test_every_public_name_has_its_page(site):
    _, pages, _ = _docs.catalog()
    names = CONTRACT + [f"polopt.{n}" for n in po.__all__]
    for name in names:
        assert name in pages, name
        page = site / pages[name]
        assert page.is_file(), name
        obj = eval(name.replace("polopt", "po", 1))  # noqa: S307 - the names above, resolved as a user writes them
        text = page.read_text(encoding="utf-8")
        title = obj.__name__ if inspect.ismodule(obj) else name  # these names are canonical: the page is theirs
        assert f"<h1><code>{title}</code></h1>" in text, name
        shown = html.unescape(re.sub(r"<[^>]+>", "", text))  # the page as read, links removed
        assert (inspect.getdoc(obj) or "(no docstring)").split("\n")[0] in shown, name


def test_an_alias_shares_the_canonical_page():
    _, pages, _ = _docs.catalog()
    assert pages["polopt.problems.TabularMDP"] == pages["polopt.TabularMDP"] == "api/polopt.TabularMDP.html"
    assert pages["polopt.theory"] == "api/polopt.theory.html"


def test_class_page_lists_methods_and_properties(site):
    text = (site / "api/polopt.TabularMDP.html").read_text(encoding="utf-8")
    assert "classmethod <code>from_gymnasium(cls, env, gamma: float = 0.99) -&gt; TabularMDP</code>" in text
    assert "property <code>P_sa</code>" in text


def test_index_is_the_readme_with_links_to_notebooks_and_api(site):
    text = (site / "index.html").read_text(encoding="utf-8")
    headings = re.findall(r"^#{1,6} (.*)$", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.M)
    assert len(re.findall(r"<h[1-6] id=", text)) >= len([h for h in headings if h]) - 5  # '#' lines in code aside
    assert '<a href="notebooks/quickstart.html"><code>examples/quickstart.ipynb</code></a>' in text
    assert '<a href="api/polopt.solve.html"><code>po.solve(problem)</code></a>' in text


def test_notebook_pages_carry_the_stored_outputs(site):
    for path in sorted((ROOT / "examples").glob("*.ipynb")):
        nb = nbrun.load(path)
        text = (site / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
        figures = sum(kind == "figure" for cell in nbrun.cell_outputs(nb) for kind, _ in cell)
        assert text.count('src="data:image/png;base64,') == figures, path.name
        for cell in nbrun.cell_outputs(nb):
            for kind, out in cell:
                if kind == "stdout" and out.strip():
                    assert html.escape(out.strip().splitlines()[0], quote=False) in text, path.name


def test_build_is_deterministic(site, tmp_path):
    again = _docs.build(tmp_path)
    for rel in again.pages:
        assert (tmp_path / rel).read_bytes() == (site / rel).read_bytes(), rel


def test_broken_links_finds_a_missing_file_and_a_missing_fragment(tmp_path):
    (tmp_path / "a.html").write_text('<p id="here"><a href="b.html">b</a><a href="a.html#here">ok</a>'
                                     '<a href="a.html#nowhere">x</a><a href="../outside.html">y</a>'
                                     '<a href="https://arxiv.org">z</a><img src="data:image/png;base64,AA"></p>')
    assert _docs.broken_links(tmp_path) == ["a.html: b.html", "a.html: a.html#nowhere", "a.html: ../outside.html"]


def test_markdown_subset():
    text = ("# Title `x`\n\npara *a* **b** `c < d` and [link](examples/quickstart.ipynb)\nwraps.\n\n"
            "<!-- methods:x -->\n- one\n  continued\n- two\n\n1. first\n\n| h | i |\n|---|---|\n| `p` | q \\| r |\n\n"
            "```python\nif a < b:\n    pass\n```\n<script>alert(1)</script>\n\n## Title `x`")

    def link(kind, target):
        return {"examples/quickstart.ipynb": "notebooks/quickstart.html"}.get(target) if kind == "href" else None

    got = _docs.markdown(text, link)
    assert got.split("\n") == [
        '<h1 id="title-x">Title <code>x</code></h1>',
        '<p>para *a* <strong>b</strong> <code>c &lt; d</code> and <a href="notebooks/quickstart.html">link</a> '
        "wraps.</p>",
        "<ul><li>one continued</li><li>two</li></ul>",
        "<ol><li>first</li></ol>",
        "<table><thead><tr><th>h</th><th>i</th></tr></thead><tbody><tr><td><code>p</code></td><td>q | r</td></tr>"
        "</tbody></table>",
        "<pre><code>if a &lt; b:", "    pass</code></pre>",
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        '<h2 id="title-x-2">Title <code>x</code></h2>',
    ]


def test_a_relative_link_outside_the_site_is_left_as_text():
    link = _docs._linker({"polopt.solve": "api/polopt.solve.html"}, {}, "../")
    assert _docs.inline("[data](bench/results/mdp.json) `po.solve` `mdp.solve`", link) == (
        'data <a href="../api/polopt.solve.html"><code>po.solve</code></a> <code>mdp.solve</code>')


def test_a_module_whose_dependency_is_missing_is_left_out(monkeypatch):
    monkeypatch.setattr(_docs, "MODULES", ("polopt", "zz_not_installed_dependency"))
    assert _docs.documented_modules() == ("polopt",)
    monkeypatch.setattr(_docs, "MODULES", ("polopt", "polopt.no_such_module"))
    with pytest.raises(ModuleNotFoundError):  # a missing polopt module is a bug, not an optional dependency
        _docs.documented_modules()
