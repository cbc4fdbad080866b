"""Sphinx extension: the HTML cell outputs in the PDF, as tables, lists and boxes.

The website shows the book's tables and boxes from their ``text/html`` form. In the LaTeX build
myst-nb would instead take a table's ``text/markdown`` form, which it renders as CommonMark (no
tables: each table becomes one run-on paragraph of pipes), and, for outputs that exist only as
HTML (each chapter's provenance box, the landing page's overview, the scorecard), the
``text/plain`` form, a Python repr (the scorecard's is one 260,000-character line, longer than
TeX can read). For the LaTeX builder this extension makes myst-nb take ``text/html`` after
images and LaTeX but before Markdown and plain text, and turns each HTML output into docutils
nodes with BeautifulSoup (a Jupyter Book dependency): ``<table>`` becomes a table (its
``<caption>`` the table's numbered caption; a long one a ``longtable`` that breaks across
pages), ``<ul>``/``<ol>`` a list,
an admonition ``<div>`` a titled box, ``<details>`` its summary and content, headings rubrics,
``<b>``/``<code>``/``<a href>`` strong text, literals and links; ``<style>`` and ``<script>``
are dropped, ``<br>`` starts a new paragraph. So the PDF shows the same content as the website,
in the PDF's own typography.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

DROP = {"style", "script", "head", "title", "meta", "link"}
BLOCKS = {"p", "div", "ul", "ol", "li", "table", "details", "summary", "pre", "blockquote",
          "section", "article", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure", "dl"}
SPACE = re.compile(r"\s+")
LONG_TABLE_ROWS = 20  # more body rows than this: a longtable, which can break across pages
WIDEST = 30  # a column's width share: its longest cell text in characters, at most this
PADDING = 2  # the column separation, in characters
# the font size of a table whose columns need this many characters in all (at 10 pt the text
# width holds about 95): a wider table is set smaller rather than cut at the margin
FONT_SIZES = ((None, 95), ("small", 105), ("footnotesize", 120), ("scriptsize", 140), ("tiny", 1e9))


def _inline(element) -> list[nodes.Node]:
    """Inline docutils nodes for an HTML element or string (text, strong, emphasis, literal, link)."""
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


def _blocks(element: Tag) -> list[nodes.Node]:
    """Block docutils nodes for the children of ``element``: runs of inline content become
    paragraphs, block elements their own nodes."""
    out: list[nodes.Node] = []
    pending: list[nodes.Node] = []
    for child in element.children:
        if isinstance(child, Tag) and child.name == "br":
            out += _paragraph(pending)
            pending = []
        elif isinstance(child, Tag) and child.name in BLOCKS:
            out += _paragraph(pending)
            pending = []
            out += _block(child)
        else:
            pending += _inline(child)
    return out + _paragraph(pending)


def _list(element: Tag, node: nodes.Element) -> list[nodes.Node]:
    for item in element.find_all("li", recursive=False):
        node += nodes.list_item("", *_blocks(item))
    return [node] if len(node) else []


def _table(element: Tag) -> list[nodes.Node]:
    rows = [row for row in element.find_all("tr") if row.find_parent("table") is element]
    cells = [[cell for cell in row.find_all(("td", "th"), recursive=False)] for row in rows]
    columns = max((sum(int(c.get("colspan", 1)) for c in row) for row in cells), default=0)
    if not columns:
        return []
    header = [row for row in cells if row and all(c.name == "th" for c in row)]
    widths = [0] * columns  # in characters: a column's longest word, or its longest body text
    for row in cells:
        if len(row) == columns:  # rows without spanning cells
            for j, cell in enumerate(row):
                text = SPACE.sub(" ", cell.get_text(" ")).strip()
                longest = max((len(word) for word in text.split()), default=0)
                widths[j] = max(widths[j], longest, 0 if cell.name == "th" else min(len(text), WIDEST))
    widths = [width + PADDING for width in widths]
    group = nodes.tgroup(cols=columns)
    group += [nodes.colspec(colwidth=width) for width in widths]

    def body(kind, selected):
        section = kind()
        for row in selected:
            line = nodes.row()
            for cell in row:
                entry = nodes.entry("", *(_blocks(cell) or [nodes.paragraph()]))
                if int(cell.get("colspan", 1)) > 1:
                    entry["morecols"] = int(cell["colspan"]) - 1
                line += entry
            section += line
        return section

    rows = [row for row in cells if row not in header and row]
    if header:
        group += body(nodes.thead, header)
    group += body(nodes.tbody, rows)
    table = nodes.table(classes=["colwidths-given"]  # Sphinx: wrapping columns of these widths
                        + (["longtable"] if len(rows) > LONG_TABLE_ROWS else []))
    caption = element.find("caption")
    if caption is not None and caption.find_parent("table") is element:
        table += nodes.title("", "", *_inline(caption))
    table += group
    size = next((size for size, fits in FONT_SIZES if sum(widths) <= fits), FONT_SIZES[-1][0])
    if size is None:
        return [table]
    return [nodes.raw("", rf"\begingroup\{size}\setlength{{\tabcolsep}}{{3pt}}", format="latex"),
            table, nodes.raw("", r"\endgroup", format="latex")]


def _block(element: Tag) -> list[nodes.Node]:
    name, classes = element.name, element.get("class", [])
    if name in DROP or name == "hr":
        return []
    if name == "table":
        return _table(element)
    if name == "ul":
        return _list(element, nodes.bullet_list(bullet="-"))
    if name == "ol":
        return _list(element, nodes.enumerated_list(enumtype="arabic", prefix="", suffix="."))
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
        box += _blocks(element)
        return [box]
    return _blocks(element)


def html_to_nodes(html: str) -> list[nodes.Node]:
    """Docutils block nodes showing the content of the HTML fragment ``html``."""
    return _blocks(BeautifulSoup(html, "html.parser"))


class HtmlOutputsForLatex(SphinxPostTransform):
    """Replace the raw HTML outputs of notebook cells by docutils nodes, for the LaTeX builder."""

    default_priority = 400
    builders = ("latex",)

    def run(self, **kwargs):
        for raw in list(self.document.findall(nodes.raw)):
            if raw.get("format") == "html" and "text_html" in raw.get("classes", []):
                raw.replace_self(html_to_nodes(raw.astext()) or [nodes.comment()])


def _prefer_html_to_plain_text_in_latex(app, config):
    overrides = list(config.nb_mime_priority_overrides or [])
    config.nb_mime_priority_overrides = overrides + [("latex", "text/html", 45)]


def setup(app):
    app.connect("config-inited", _prefer_html_to_plain_text_in_latex)
    app.add_post_transform(HtmlOutputsForLatex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
