"""The documentation site, built offline with the standard library: ``polopt docs --out DIR``.

The site has three parts, every page a static HTML file with relative links only:

* ``index.html``: README.md rendered (a small Markdown subset: headings, paragraphs, lists, pipe
  tables, fenced code, inline code, bold, links), with code spans naming a public object or an
  example notebook linked to its page;
* ``api/``: one page per public module of :data:`MODULES` (its docstring and a table of its names)
  and one page per public object (signature, docstring, and for a class its public methods,
  properties and fields), pydoc-style: docstrings are shown as written, in ``<pre>``, with the
  qualified names they mention (``po.solve``, ``polopt.exact.nash``) linked;
* ``notebooks/``: each ``examples/*.ipynb`` with its stored outputs (``polopt notebooks
  --execute`` refreshes them): Markdown cells rendered, code cells, text outputs, PNG figures
  inlined as ``data:`` URIs, pandas frames as their HTML.

An object reachable under several modules (``po.TabularMDP`` is also ``polopt.problems.TabularMDP``)
has one page, under the first module of :data:`MODULES` that lists it. :func:`broken_links` checks
that every relative link and ``#fragment`` of a built site resolves. Output is deterministic: the
same checkout gives byte-identical pages.
"""

from __future__ import annotations

import html
import importlib
import inspect
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

from . import _notebooks

#: The documented modules, the package first (its names are the public contract of README / DESIGN).
MODULES = ("polopt", "polopt.problems", "polopt.theory", "polopt.exact", "polopt.certificates", "polopt.plotting",
           "polopt.problems.catalogue", "polopt.oracles", "polopt.testing.strategies")


def documented_modules() -> tuple[str, ...]:
    """The modules of :data:`MODULES` that import here (``polopt.testing.strategies`` needs hypothesis, from the
    ``test`` extra); a module missing a third-party dependency is left out of the site."""
    out = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] == "polopt":
                raise
            continue
        out.append(name)
    return tuple(out)

CSS = """body{font-family:system-ui,sans-serif;margin:0;display:flex;line-height:1.45;color:#222}
nav{width:15em;padding:1em;background:#f4f4f4;min-height:100vh;font-size:90%}nav ul{padding-left:1.1em}
main{max-width:60em;padding:1em 2em;overflow-x:auto}pre{background:#f7f7f7;padding:.6em;overflow-x:auto}
pre.out{background:#fff;border-left:3px solid #0072B2}pre.err{background:#fff4f4;border-left:3px solid #D55E00}
code{background:#f2f2f2;padding:0 .2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}
img{max-width:100%}h1 code,h2 code{background:none}.sig{font-weight:bold}.cell{margin:1em 0}"""


class Site(NamedTuple):
    """What :func:`build` wrote: ``pages`` (paths relative to the site root) and ``objects`` (qualified name ->
    its page), one entry per public name of every documented module, aliases included."""

    pages: tuple[str, ...]
    objects: dict[str, str]


def checkout_root() -> Path:
    """The source checkout holding README.md and examples/ (beside the ``polopt`` package)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "README.md").is_file():
        raise ValueError(f"polopt docs: README.md not found beside the polopt package in {root}: the site is built "
                         "from a source checkout")
    return root


# --------------------------------------------------------------------------- public names

def public_names(module) -> list[str]:
    """``module.__all__``, else the functions and classes defined in it and its UPPER_CASE constants."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        defined_here = getattr(obj, "__module__", None) == module.__name__
        if ((inspect.isfunction(obj) or inspect.isclass(obj)) and defined_here) or (name.isupper() and
                                                                                     not inspect.ismodule(obj)):
            out.append(name)
    return sorted(out)


def _page_of_module(name: str) -> str:
    return f"api/{name}.html"


def catalog() -> tuple[dict[str, list[tuple[str, Any]]], dict[str, str], dict[int, str]]:
    """``(members, pages, canonical)``: each module's ``(name, object)`` pairs, qualified name -> page, and
    ``id(object)`` -> the canonical qualified name of objects that get their own page."""
    members, pages, canonical = {}, {}, {}
    modules = documented_modules()
    for modname in modules:
        mod = importlib.import_module(modname)
        pages[modname] = _page_of_module(modname)
        members[modname] = [(n, getattr(mod, n)) for n in public_names(mod)]
    for modname in modules:
        for name, obj in members[modname]:
            qual = f"{modname}.{name}"
            if inspect.ismodule(obj):
                if obj.__name__ in pages:
                    pages[qual] = pages[obj.__name__]
                continue
            key = id(obj) if (inspect.isclass(obj) or callable(obj)) else None
            if key is not None and key in canonical:
                pages[qual] = pages[canonical[key]]
                continue
            pages[qual] = f"api/{qual}.html"
            if key is not None:
                canonical[key] = qual
    return members, pages, canonical


# --------------------------------------------------------------------------- markdown

_INLINE = re.compile(r"(`+)(.+?)\1|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|\\([\\`*_{}\[\]()#+\-.!|])")


def slug(text: str) -> str:
    """A heading's anchor: lower case, words joined by ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"<[^>]+>", "", text).lower()).strip("-") or "section"


def inline(text: str, link=None) -> str:
    """Inline Markdown to HTML; ``link(kind, target)`` maps a code span's text (kind ``code``) or a link target
    (kind ``href``) to a relative URL, or None (a code span stays plain; a link becomes its text)."""
    link = link or (lambda kind, target: None)
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()], quote=False))
        pos = m.end()
        if m.group(1):
            code = m.group(2).strip() if m.group(2).strip() else m.group(2)
            url = link("code", code)
            span = f"<code>{html.escape(code, quote=False)}</code>"
            out.append(f'<a href="{html.escape(url)}">{span}</a>' if url else span)
        elif m.group(3):
            out.append(f"<strong>{inline(m.group(3), link)}</strong>")
        elif m.group(4):
            url = link("href", m.group(5))
            label = inline(m.group(4), link)
            out.append(f'<a href="{html.escape(url)}">{label}</a>' if url else label)
        else:
            out.append(html.escape(m.group(6), quote=False))
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


def _table(rows: list[str], link) -> str:
    def cells(line: str) -> list[str]:
        return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]

    head = "".join(f"<th>{inline(c, link)}</th>" for c in cells(rows[0]))
    body = "".join("<tr>" + "".join(f"<td>{inline(c, link)}</td>" for c in cells(r)) + "</tr>" for r in rows[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown(text: str, link=None) -> str:
    """A Markdown subset to HTML (HTML comments dropped, raw HTML escaped); headings get :func:`slug` ids."""
    lines = re.sub(r"<!--.*?-->", "", text, flags=re.S).splitlines()
    out, i, seen = [], 0, {}
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(lines[i + 1:j]), quote=False)}</code></pre>")
            i = j + 1
        elif m := re.match(r"(#{1,6})\s+(.*)", line):
            level, title = len(m.group(1)), inline(m.group(2).strip(), link)
            anchor = slug(title)
            seen[anchor] = seen.get(anchor, 0) + 1
            anchor += "" if seen[anchor] == 1 else f"-{seen[anchor]}"
            out.append(f'<h{level} id="{anchor}">{title}</h{level}>')
            i += 1
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and re.match(r"\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            out.append(_table(lines[i:j], link))
            i = j
        elif re.match(r"\s*(?:[-*]|\d+\.)\s+", line):
            ordered = bool(re.match(r"\s*\d+\.", line))
            items, j = [], i
            while j < len(lines) and lines[j].strip():
                if re.match(r"\s*(?:[-*]|\d+\.)\s+", lines[j]) and len(lines[j]) - len(lines[j].lstrip()) < 2:
                    items.append(re.sub(r"\s*(?:[-*]|\d+\.)\s+", "", lines[j], count=1))
                else:
                    items[-1] += " " + lines[j].strip()
                j += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{inline(it, link)}</li>" for it in items) + f"</{tag}>")
            i = j
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not re.match(r"(#{1,6}\s|```|\s*\|)", lines[j]) and not (
                    j > i and re.match(r"\s*(?:[-*]|\d+\.)\s+", lines[j])):
                j += 1
            out.append(f"<p>{inline(' '.join(s.strip() for s in lines[i:j]), link)}</p>")
            i = j
    return "\n".join(out)


# --------------------------------------------------------------------------- pages

def _page(title: str, body: str, depth: int, nav: str) -> str:
    up = "../" * depth
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<link rel="stylesheet" href="{up}style.css"></head>\n<body><nav>{nav.replace("@ROOT@", up)}</nav>'
            f"\n<main>\n{body}\n</main></body></html>\n")


def _nav(notebooks: list[Path]) -> str:
    mods = "".join(f'<li><a href="@ROOT@{_page_of_module(m)}">{m}</a></li>' for m in documented_modules())
    nbs = "".join(f'<li><a href="@ROOT@notebooks/{p.stem}.html">{p.stem}</a></li>' for p in notebooks)
    return (f'<p><a href="@ROOT@index.html"><strong>polopt</strong></a></p><p><a href="@ROOT@api/index.html">API</a>'
            f"</p><ul>{mods}</ul><p>Notebooks</p><ul>{nbs}</ul>")


_QUALIFIED = re.compile(r"\b(?:po|polopt)(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _resolve(name: str, pages: dict[str, str]) -> str | None:
    """The page of a qualified name (``po.`` = ``polopt.``): its own, else that of the longest prefix naming an
    object (``po.TabularMDP.from_gymnasium`` -> the class page); never a module page for a name inside it that
    has no page (``polopt.problems.interop.f`` stays unlinked rather than pointing at ``polopt.problems``)."""
    parts = ("polopt" + name[2:] if name.startswith("po.") else name).split(".")
    full = ".".join(parts)
    if full in pages:
        return pages[full]
    for k in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:k])
        if prefix in pages and prefix not in MODULES:
            return pages[prefix]
    return None


def _link_names(escaped: str, pages: dict[str, str], up: str) -> str:
    def sub(m):
        page = _resolve(m.group(0), pages)
        return f'<a href="{up}{page}">{m.group(0)}</a>' if page else m.group(0)

    return _QUALIFIED.sub(sub, escaped)


def _doc(obj, pages, up) -> str:
    text = inspect.getdoc(obj) or "(no docstring)"
    return f'<pre class="doc">{_link_names(html.escape(text, quote=False), pages, up)}</pre>'


class _Raw(str):
    """An annotation kept as the source text (``from __future__ import annotations``), shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _signature(name: str, obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    params = [p.replace(annotation=_Raw(p.annotation)) if isinstance(p.annotation, str) else p
              for p in sig.parameters.values()]
    ret = sig.return_annotation
    return f"{name}{sig.replace(parameters=params, return_annotation=_Raw(ret) if isinstance(ret, str) else ret)}"


def _class_members(cls) -> list[tuple[str, Any]]:
    seen, out = set(), []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("polopt"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            out.append((name, attr))
    return sorted(out)


def _object_body(qual: str, obj, pages, up) -> str:
    short = qual.rsplit(".", 1)[1]
    parts = [f"<h1><code>{html.escape(qual)}</code></h1>"]
    module = getattr(obj, "__module__", None)
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
        parts.append(f'<pre class="sig">{html.escape(_signature(short, obj))}</pre>')
        if module:
            parts.append(f"<p>defined in <code>{html.escape(module)}</code></p>")
        parts.append(_doc(obj, pages, up))
    elif callable(obj):
        parts.append(f'<pre class="sig">{html.escape(_signature(short, obj))}</pre>')
        parts.append(_doc(obj, pages, up))
    else:
        parts.append(f'<pre class="sig">{html.escape(short)} = {html.escape(_short_repr(obj))}</pre>')
    if inspect.isclass(obj):
        fields = getattr(obj, "_fields", None)
        if fields:
            parts.append("<h2>Fields</h2><p>" + ", ".join(f"<code>{html.escape(f)}</code>" for f in fields) + "</p>")
        for name, attr in _class_members(obj):
            if fields and name in fields:
                continue
            target = attr.__func__ if isinstance(attr, (classmethod, staticmethod)) else attr
            kind = "property" if isinstance(attr, property) else ("classmethod" if isinstance(attr, classmethod)
                                                                 else "staticmethod" if isinstance(attr, staticmethod)
                                                                 else "method" if inspect.isfunction(attr) else None)
            if kind is None:
                continue
            sig = name if kind == "property" else _signature(name, target)
            parts.append(f'<h3 id="{slug(name)}">{kind} <code>{html.escape(sig)}</code></h3>')
            parts.append(_doc(attr.fget if kind == "property" else target, pages, up))
    return "\n".join(parts)


def _short_repr(obj, limit: int = 400) -> str:
    text = _notebooks._mask(repr(obj))
    return text if len(text) <= limit else text[:limit] + " ..."


def _first_line(obj) -> str:
    if not (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj)):
        return _short_repr(obj, 80)
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")[:200]


def _module_body(modname: str, members, pages) -> str:
    mod = importlib.import_module(modname)
    rows = "".join(f'<tr><td><a href="../{pages[f"{modname}.{n}"]}"><code>{html.escape(n)}</code></a></td>'
                   f"<td>{html.escape(_first_line(obj))}</td></tr>" for n, obj in members if f"{modname}.{n}" in pages)
    return (f"<h1><code>{modname}</code></h1>{_doc(mod, pages, '../')}<h2>Names</h2>"
            f"<table><tbody>{rows}</tbody></table>")


def _notebook_body(nb: dict, link) -> str:
    parts = []
    for cell in nb["cells"]:
        src = _notebooks.source(cell)
        if cell["cell_type"] == "markdown":
            parts.append(f'<div class="cell">{markdown(src, link)}</div>')
            continue
        if cell["cell_type"] != "code":
            continue
        parts.append(f'<div class="cell"><pre><code>{html.escape(src, quote=False)}</code></pre>')
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                cls = "err" if o["name"] == "stderr" else "out"
                parts.append(f'<pre class="{cls}">{html.escape("".join(o["text"]), quote=False)}</pre>')
                continue
            data = o.get("data", {})
            if "image/png" in data:
                png = "".join(data["image/png"]).strip()
                parts.append(f'<img alt="figure" src="data:image/png;base64,{png}">')
            elif "text/html" in data:
                parts.append(f'<div class="out">{"".join(data["text/html"])}</div>')
            elif "text/plain" in data:
                parts.append(f'<pre class="out">{html.escape("".join(data["text/plain"]), quote=False)}</pre>')
        parts.append("</div>")
    return "\n".join(parts)


def _linker(pages: dict[str, str], notebooks: dict[str, str], up: str):
    """The link rule of rendered Markdown: code spans naming a public object or an example notebook, Markdown
    links to a notebook, README.md, or an absolute URL; other relative links (repository files that are not
    part of the site) are left as text."""
    def link(kind: str, target: str):
        if kind == "code":
            if target in notebooks:
                return up + notebooks[target]
            m = _QUALIFIED.match(target)  # po.solve, po.solve(problem), polopt.exact.nash(game)
            page = _resolve(m.group(0), pages) if m else None
            return up + page if page else None
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            return target
        path, _, frag = target.partition("#")
        name = path.split("/")[-1]
        if name == "README.md":
            return up + "index.html" + (f"#{frag}" if frag else "")
        for key, page in notebooks.items():
            if key.split("/")[-1] == name:
                return up + page
        return None

    return link


def build(out: str | Path, root: str | Path | None = None) -> Site:
    """Write the site into ``out`` (created; files of a previous build are overwritten) from the checkout at
    ``root`` (default :func:`checkout_root`): README.md, the public API, examples/*.ipynb with their stored
    outputs. Returns the :class:`Site`."""
    root = Path(root) if root is not None else checkout_root()
    out = Path(out)
    notebooks = sorted((root / "examples").glob("*.ipynb"))
    members, pages, canonical = catalog()
    nb_pages = {f"examples/{p.name}": f"notebooks/{p.stem}.html" for p in notebooks}
    nav = _nav(notebooks)
    written: dict[str, str] = {"style.css": CSS + "\n"}

    readme = (root / "README.md").read_text(encoding="utf-8")
    written["index.html"] = _page("polopt", markdown(readme, _linker(pages, nb_pages, "")), 0, nav)

    api_rows = "".join(f'<li><a href="{_page_of_module(m).removeprefix("api/")}"><code>{m}</code></a>: '
                       f"{html.escape(_first_line(importlib.import_module(m)))}</li>" for m in members)
    written["api/index.html"] = _page("polopt API", f"<h1>API</h1><ul>{api_rows}</ul>", 1, nav)
    for modname in members:
        written[_page_of_module(modname)] = _page(modname, _module_body(modname, members[modname], pages), 1, nav)
        for name, obj in members[modname]:
            qual = f"{modname}.{name}"
            page = pages.get(qual)
            if page is None or page in written or inspect.ismodule(obj):
                continue
            written[page] = _page(qual, _object_body(qual, obj, pages, "../"), 1, nav)

    rows = []
    for path in notebooks:
        nb = _notebooks.load(path)
        title = next((re.sub(r"^#+\s*", "", _notebooks.source(c).splitlines()[0]) for c in nb["cells"]
                      if c["cell_type"] == "markdown" and _notebooks.source(c).strip()), path.stem)
        body = _notebook_body(nb, _linker(pages, nb_pages, "../"))
        written[nb_pages[f"examples/{path.name}"]] = _page(title, body, 1, nav)
        rows.append(f'<li><a href="{path.stem}.html">{html.escape(title)}</a> (<code>examples/{path.name}</code>)</li>')
    written["notebooks/index.html"] = _page("notebooks", f"<h1>Notebooks</h1><ul>{''.join(rows)}</ul>", 1, nav)

    for rel, text in sorted(written.items()):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return Site(tuple(sorted(written)), {q: p for q, p in pages.items()})


# --------------------------------------------------------------------------- link check

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value is not None:
                self.links.append(value)
            elif key == "id" and value is not None:
                self.ids.add(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def broken_links(out: str | Path) -> list[str]:
    """Every relative ``href`` / ``src`` of the site at ``out`` whose file (inside ``out``) or ``#fragment`` does
    not exist, as ``page: link``; absolute URLs and ``data:`` URIs are not followed (the build is offline)."""
    out = Path(out).resolve()
    parsed = {p: _parse(p) for p in sorted(out.rglob("*.html"))}
    bad = []
    for page, links in parsed.items():
        for link in links.links:
            if re.match(r"[a-z][a-z0-9+.-]*:", link):
                continue
            path, _, frag = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            inside = target == out or out in target.parents
            ok = inside and target.is_file() and (not frag or (target in parsed and frag in parsed[target].ids))
            if not ok:
                bad.append(f"{page.relative_to(out)}: {link}")
    return bad


def summary(site: Site, out: Path) -> str:
    """One line for the CLI: what was written where."""
    nbs = sum(p.startswith("notebooks/") and p != "notebooks/index.html" for p in site.pages)
    api = sum(p.startswith("api/") for p in site.pages)
    return json.dumps({"out": str(out), "pages": len(site.pages), "api_pages": api, "notebooks": nbs})
