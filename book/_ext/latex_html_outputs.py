"""Sphinx extension: the HTML cell outputs in the PDF, as figures, tables, lists and boxes.

The website shows the book's figures, tables and boxes from their ``text/html`` form. In the
LaTeX build myst-nb would instead take a figure's ``image/png`` (without the caption that only
the HTML carries), a table's ``text/markdown`` (rendered as CommonMark, which has no tables: each
becomes one run-on paragraph of pipes) and, for outputs that exist only as HTML (each chapter's
provenance box, the landing page's overview, the scorecard), ``text/plain``, a Python repr (the
scorecard's is one 260,000-character line, longer than TeX can read).

For the LaTeX builder this extension makes myst-nb take ``text/html`` first and, when a document
is read (so that Sphinx collects its images), turns each HTML output into docutils nodes with
BeautifulSoup (a Jupyter Book dependency):

- ``<img>`` with an embedded PNG: an image, written beside myst-nb's images, its HTML ``width``
  as a share of the text width; ``<figcaption>`` a paragraph under it, as on the website
  ("Figure 3. ...": the chapter's own numbering, not a LaTeX float's);
- ``<table>``: a table, its ``<caption>`` the table's numbered caption, its columns as wide as
  their content needs (``_layout``), set in a smaller font when they need more than the text
  width, a
  ``longtable`` (which breaks across pages) when its rows take more than about 40 lines;
- ``<ul>``/``<ol>``: lists; an admonition ``<div>``: a titled box; ``<details>``: its summary and
  content; headings: rubrics; ``<b>``/``<i>``/``<code>``/``<a href>``: strong, emphasis, literal,
  link; ``<style>``/``<script>``: dropped; ``<br>``: a new paragraph.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag
from docutils import nodes
from sphinx.transforms import SphinxTransform

DROP = {"style", "script", "head", "title", "meta", "link"}
BLOCKS = {"p", "div", "ul", "ol", "li", "table", "details", "summary", "pre", "blockquote",
          "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure", "figcaption",
          "dl", "img"}
SPACE = re.compile(r"\s+")
PAGE_PX = 760  # the website's text column: an <img width="380"> takes half the text width
LONG_TABLE_LINES = 40  # a table taller than this many lines: a longtable, which breaks across pages
NARROW = 8  # a column needs its longest word, or its longest body text up to this many characters
PADDING = 3  # the column separation (2 x 6 pt) and some slack, in characters
# the font size of a table whose columns need up to this many characters in all (at 10 pt the
# text width holds about 95): a wider table is set smaller rather than cut at the margin
FONT_SIZES = ((None, 95), ("small", 105), ("footnotesize", 120), ("scriptsize", 140), ("tiny", 165))


def _inline(element) -> list[nodes.Node]:
    """Inline docutils nodes for an HTML element or string."""
    if isinstance(element, NavigableString):
        text = SPACE.sub(" ", str(element))
        return [nodes.Text(text)] if text else []
    if not isinstance(element, Tag) or element.name in DROP:
        return []
    children = [node for child in element.children for node in _inline(child)]
    if element.name in ("b", "strong", "th"):
        return [nodes.strong("", "", *children)]
    if element.name in ("i", "em"):
        return [nodes.emphasis("", "", *children)]
    if element.name in ("code", "tt", "kbd"):
        return [nodes.literal(element.get_text(), element.get_text())]
    if element.name == "a" and element.get("href", "").startswith(("http://", "https://")):
        return [nodes.reference("", "", *children, refuri=element["href"])]
    return children


def _paragraph(inline: list[nodes.Node]) -> list[nodes.Node]:
    if not "".join(node.astext() for node in inline).strip():
        return []
    if isinstance(inline[0], nodes.Text):  # no blank left of the collapsed spaces at either end
        inline[0] = nodes.Text(inline[0].lstrip())
    if isinstance(inline[-1], nodes.Text):
        inline[-1] = nodes.Text(inline[-1].rstrip())
    return [nodes.paragraph("", "", *inline)]


def _layout(cells: list[list[Tag]], columns: int) -> tuple[str | None, list[int]]:
    """The font size and the column widths (in tenths of a character) of a table.

    Each column needs its longest word, or its longest body text up to NARROW characters; the
    smallest font size whose text width holds what all columns need is chosen; the width left
    then goes to the columns in proportion to how much text they hold (fewer lines in all).
    """
    need, text = [PADDING] * columns, [0] * columns
    for row in cells:
        if len(row) != columns:  # a row with spanning cells
            continue
        for j, cell in enumerate(row):
            words = SPACE.sub(" ", cell.get_text(" ")).strip()
            longest = max((len(w) for w in words.split()), default=0)
            body = 0 if cell.name == "th" else len(words)
            need[j] = max(need[j], PADDING + max(longest, min(body, NARROW)))
            text[j] += body
    size, fits = next(((size, fits) for size, fits in FONT_SIZES if sum(need) <= fits),
                      (FONT_SIZES[-1][0], sum(need)))
    spare, total = max(fits - sum(need), 0), sum(text)
    return size, [round(10 * (n + (spare * t / total if total else 0)))
                  for n, t in zip(need, text, strict=True)]


def _lines(cells: list[list[Tag]], widths: list[int]) -> int:
    """About how many lines the table's rows take with these column widths (tenths of a character)."""
    def height(row):
        if len(row) != len(widths):
            return 1
        return max(-(-len(cell.get_text(" ").strip()) // max(width // 10 - PADDING, 1))
                   for cell, width in zip(row, widths, strict=True))
    return sum(max(height(row), 1) for row in cells)


class HtmlToDocutils:
    """Converts an HTML fragment to docutils block nodes; ``save_image(png) -> uri`` writes an
    embedded PNG where Sphinx finds it (None: images are dropped)."""

    def __init__(self, save_image: Callable[[bytes], str] | None = None):
        self.save_image = save_image

    def __call__(self, html: str) -> list[nodes.Node]:
        return self.blocks(BeautifulSoup(html, "html.parser"))

    def blocks(self, element: Tag) -> list[nodes.Node]:
        """The children of ``element``: runs of inline content as paragraphs, blocks as nodes."""
        out: list[nodes.Node] = []
        pending: list[nodes.Node] = []
        for child in element.children:
            if isinstance(child, Tag) and (child.name == "br" or child.name in BLOCKS):
                out += _paragraph(pending)
                pending = []
                if child.name != "br":
                    out += self.block(child)
            else:
                pending += _inline(child)
        return out + _paragraph(pending)

    def block(self, element: Tag) -> list[nodes.Node]:
        name, classes = element.name, element.get("class", [])
        if name in DROP or name == "hr":
            return []
        if name == "img":
            return self.image(element)
        if name == "table":
            return self.table(element)
        if name in ("ul", "ol"):
            kind = (nodes.bullet_list(bullet="-") if name == "ul" else
                    nodes.enumerated_list(enumtype="arabic", prefix="", suffix="."))
            for item in element.find_all("li", recursive=False):
                kind += nodes.list_item("", *self.blocks(item))
            return [kind] if len(kind) else []
        if name == "pre":
            return [nodes.literal_block(element.get_text(), element.get_text())]
        if re.fullmatch(r"h[1-6]", name):
            return [nodes.rubric("", "", *_inline(element))]
        if name == "summary":
            return _paragraph([nodes.strong("", "", *_inline(element))])
        if "admonition" in classes:
            title = element.find(class_="admonition-title")
            box = nodes.admonition(classes=[c for c in classes if c != "admonition"])
            if title is not None:
                box += nodes.title("", "", *_inline(title))
                title.extract()
            box += self.blocks(element)
            return [box]
        return self.blocks(element)  # p, div, li, figure, figcaption, details, ...

    def image(self, element: Tag) -> list[nodes.Node]:
        source = element.get("src", "")
        if self.save_image is None or not source.startswith("data:image/png;base64,"):
            return []
        uri = self.save_image(base64.b64decode(source.split(",", 1)[1]))
        width = element.get("width", "")
        share = f"{min(100, round(100 * int(width) / PAGE_PX))}%" if width.isdigit() else "100%"
        return [nodes.image(uri=uri, width=share, alt=element.get("alt", ""))]

    def table(self, element: Tag) -> list[nodes.Node]:
        rows = [row for row in element.find_all("tr") if row.find_parent("table") is element]
        cells = [row.find_all(("td", "th"), recursive=False) for row in rows]
        columns = max((sum(int(c.get("colspan", 1)) for c in row) for row in cells), default=0)
        if not columns:
            return []
        size, widths = _layout(cells, columns)
        header = [row for row in cells if row and all(c.name == "th" for c in row)]
        body = [row for row in cells if row and row not in header]
        group = nodes.tgroup(cols=columns)
        group += [nodes.colspec(colwidth=width) for width in widths]
        for kind, selected in ((nodes.thead, header), (nodes.tbody, body)):
            if selected:
                group += kind("", *(self.row(row) for row in selected))
        table = nodes.table(classes=["colwidths-given"]  # Sphinx: wrapping columns of these widths
                            + (["longtable"] if _lines(cells, widths) > LONG_TABLE_LINES else []))
        caption = element.find("caption")
        if caption is not None and caption.find_parent("table") is element:
            table += nodes.title("", "", *_inline(caption))
        table += group
        if size is None:
            return [table]
        return [nodes.raw("", rf"\begingroup\{size}\setlength{{\tabcolsep}}{{3pt}}", format="latex"),
                table, nodes.raw("", r"\endgroup", format="latex")]

    def row(self, cells: list[Tag]) -> nodes.row:
        line = nodes.row()
        for cell in cells:
            entry = nodes.entry("", *(self.blocks(cell) or [nodes.paragraph()]))
            if int(cell.get("colspan", 1)) > 1:
                entry["morecols"] = int(cell["colspan"]) - 1
            line += entry
        return line


class HtmlOutputsForLatex(SphinxTransform):
    """For the LaTeX builder, replace the raw HTML outputs of notebook cells by docutils nodes."""

    default_priority = 500

    def apply(self, **kwargs):
        if self.app.builder.name != "latex":
            return
        folder = Path(self.app.outdir).parent / "jupyter_execute" / "html_figures"
        here = Path(self.env.doc2path(self.env.docname)).parent

        def save(png: bytes) -> str:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{hashlib.sha256(png).hexdigest()}.png"
            if not path.exists():
                path.write_bytes(png)
            return os.path.relpath(path, here)

        convert = HtmlToDocutils(save)
        for raw in list(self.document.findall(nodes.raw)):
            if raw.get("format") == "html" and "text_html" in raw.get("classes", []):
                raw.replace_self(convert(raw.astext()) or [nodes.comment()])


def _prefer_html_in_latex(app, config):
    overrides = list(config.nb_mime_priority_overrides or [])
    config.nb_mime_priority_overrides = overrides + [("latex", "text/html", 5)]


def setup(app):
    app.connect("config-inited", _prefer_html_in_latex)
    app.add_transform(HtmlOutputsForLatex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
