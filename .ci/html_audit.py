#!/usr/bin/env python3
"""Count what a reader sees in the built book, and check what must never appear.

Usage: ``python .ci/html_audit.py [--check] [--render] [HTML_DIR]`` (default ``_build/html``).

Counts (printed as ``name: value`` lines, per page where it matters), from the HTML alone:

* progress bars: stderr output blocks in chapter pages and tqdm lines in them;
* tables: count, literal ``**`` in cells, exponent formats (``2e+03``), near-zero numbers
  printed as such (``9.68e-15``);
* figures: ``<img>`` count, how many have a caption (inside ``<figure>`` with ``<figcaption>``),
  alt text that is a hash or missing;
* display equations (count; whether they overflow needs MathJax, which is not rendered offline);
* code cells whose input is removed (``remove-input``) or folded (``hide-input``);
* chrome: ``.md`` links left unresolved, search fields, Thebe's repository, launch menus on pages
  other than chapters, bibliography labels and references with a link, exercise numbers;
* scorecard: rows, distinct targets, stale marks.

``--render`` adds what needs a browser (headless Chromium at 1400 px): tables wider than the text
column and images shown below 75 % of their size, per page.

``--check`` exits 1 when a chapter page shows progress-bar output or an ``<img>`` without a
caption (the checks of ``.ci/run``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

TQDM_LINE = re.compile(r"\d+%\|[^|\n]*\||\d+/\d+ \[\d|it/s\]|s/it\]")
STDERR_BLOCK = re.compile(r'<div class="output stderr[^"]*">(.*?)</div>\s*</div>', re.S)
IMG = re.compile(r"<img\b[^>]*>", re.S)
FIGURE = re.compile(r"<figure\b.*?</figure>", re.S)
HASH_ALT = re.compile(r'alt="(?:[^"]*/)?(?:[0-9a-f]{32,}(?:\.png)?)?"')


def chapter_pages(root: Path) -> list[Path]:
    return sorted((root / "notebooks").glob("*.html"))


def strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def progress_output(page: str) -> tuple[int, int]:
    """(stderr blocks, tqdm-looking lines in them)."""
    blocks = STDERR_BLOCK.findall(page)
    lines = sum(len(TQDM_LINE.findall(strip_tags(b))) for b in blocks)
    return len(blocks), lines


def images(page: str) -> tuple[int, int, int]:
    """(images, images with a caption, images whose alt text is a hash or empty)."""
    all_imgs = IMG.findall(page)
    captioned = sum(len(IMG.findall(f)) for f in FIGURE.findall(page) if "<figcaption" in f)
    hashed = sum(bool(HASH_ALT.search(i)) or "alt=" not in i for i in all_imgs)
    return len(all_imgs), captioned, hashed


def table_cells(page: str) -> list[str]:
    return [strip_tags(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", page, re.S)]


def article(page: str) -> str:
    """The page's article (the chapter text and outputs, without the theme's header and sidebars)."""
    found = re.search(r'<article class="bd-article".*?</article>', page, re.S)
    return found.group(0) if found else page


def audit(root: Path) -> dict:
    out: dict = {"pages": {}}
    totals = Counter()
    for path in chapter_pages(root):
        page = article(path.read_text(encoding="utf-8"))
        blocks, tqdm_lines = progress_output(page)
        n_img, captioned, hashed = images(page)
        cells = table_cells(page)
        row = {
            "stderr_blocks": blocks,
            "tqdm_lines": tqdm_lines,
            "tables": page.count("<table"),
            "cells_with_**": sum("**" in c for c in cells),
            "cells_with_exponent": sum(bool(re.search(r"\de[+-]\d", c)) for c in cells),
            "cells_near_zero": sum(bool(re.search(r"\de-(1\d|[2-9]\d)\b", c)) for c in cells),
            "images": n_img,
            "images_captioned": captioned,
            "images_alt_hash": hashed,
            "display_equations": page.count('<div class="math notranslate nohighlight">'),
            "cells_remove_input": page.count("tag_remove-input"),
            "cells_hide_input": page.count("tag_hide-input"),
            "unresolved_md_links": len(re.findall(r'href="[^"#]*\.md(?:#[^"]*)?"', page)),
            "exercises": re.findall(r"Exercise (\d+(?:\.\d+)?)", page)[:1],
        }
        out["pages"][path.stem] = row
        totals.update({k: v for k, v in row.items() if isinstance(v, int)})
    out["chapter_totals"] = dict(totals)
    pages = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
             for p in [*root.glob("*.html"), *root.glob("book/*.html"), *root.glob("notebooks/*.html")]}
    out["search_fields_per_page"] = max(p.count("search-button-field") for p in pages.values())
    out["thebe_repos"] = sorted({m for p in pages.values()
                                 for m in re.findall(r'repo: "([^"]+)"', p)})
    out["launch_menus_outside_chapters"] = sorted(
        name for name, p in pages.items()
        if "dropdown-launch-buttons" in p and not name.startswith("notebooks/"))
    out["unresolved_md_links_all_pages"] = sum(
        len(re.findall(r'href="[^"#:]*\.md(?:#[^"]*)?"', article(p))) for p in pages.values())
    refs = pages.get("book/references.html", "")
    entries = re.findall(r'<div class="citation"[^>]*>(.*?)</div>', refs, re.S)
    labels = re.findall(r'<span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">\]', refs)
    out["references"] = len(entries)
    out["references_with_link"] = sum("<a " in e for e in entries)
    author_year = [bool(re.search(r" \d{4}[a-z]?$", strip_tags(x))) for x in labels]
    out["bibliography_labels_author_year"] = sum(author_year)
    out["bibliography_labels_other"] = len(labels) - out["bibliography_labels_author_year"]
    card = pages.get("book/scorecard.html", "")
    out["scorecard"] = scorecard_counts(card)
    return out


def scorecard_counts(card: str) -> dict:
    """Rows of the scorecard's target tables, distinct targets among them, stale marks."""
    tables = re.findall(r"<table.*?</table>", card, re.S)
    rows = []
    for table in tables:
        header = strip_tags((re.findall(r"<thead>.*?</thead>", table, re.S) or [""])[0])
        if "Verdict" not in header or "Targets" in header:
            continue
        for tr in re.findall(r"<tbody>(.*?)</tbody>", table, re.S)[0].split("</tr>")[:-1]:
            cells = [strip_tags(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            rows.append(cells)
    old_layout = bool(rows) and len(rows[0]) == 9      # Chapter, Scale, Quantity, Source, ...
    keys = [(r[0], r[2], r[3]) if old_layout else tuple(r[:1]) for r in rows]
    return {"rows": len(rows), "distinct_targets": len(set(keys)),
            "stale_marks": card.count("⚠"), "summary_table": "Targets</th>" in card}


RENDER_JS = """
<script>
window.addEventListener('load', () => {
  const article = document.querySelector('article.bd-article') || document.body;
  const style = getComputedStyle(article);
  const column = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const wide = [...article.querySelectorAll('table')].filter(t => {
    const box = t.parentElement;
    return t.scrollWidth > Math.min(column, box.clientWidth) + 2;
  }).map(t => Math.round(t.scrollWidth));
  const small = [...article.querySelectorAll('img')].filter(i => i.naturalWidth > 0 &&
      i.getBoundingClientRect().width < 0.75 * i.naturalWidth)
      .map(i => Math.round(100 * i.getBoundingClientRect().width / i.naturalWidth));
  const tables = article.querySelectorAll('table').length;
  document.body.setAttribute('data-audit', JSON.stringify({column: column, tables: tables,
      wide_tables: wide, small_images: small, height: document.documentElement.scrollHeight}));
});
</script>
"""


def render(root: Path) -> dict:
    """Per page: column width, tables wider than the column, images below 75 % (Chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        return {"error": "no chromium"}
    results = {}
    pages = [*root.glob("book/*.html"), *chapter_pages(root)]
    for path in pages:
        with tempfile.NamedTemporaryFile("w", suffix=".html", dir=path.parent, delete=False) as tmp:
            tmp.write(path.read_text(encoding="utf-8").replace("</body>", RENDER_JS + "</body>"))
        try:
            dom = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                 "--virtual-time-budget=15000", "--dump-dom", f"file://{tmp.name}"],
                capture_output=True, text=True, timeout=120).stdout
        finally:
            Path(tmp.name).unlink()
        found = re.search(r"data-audit=\"([^\"]*)\"", dom)
        key = path.relative_to(root).as_posix()
        results[key] = json.loads(found.group(1).replace("&quot;", '"')) if found else {"error": "no result"}
    return results


def check(report: dict) -> list[str]:
    """Failures: progress-bar output or an uncaptioned image in a chapter page."""
    failures = []
    for name, row in report["pages"].items():
        if row["tqdm_lines"] or row["stderr_blocks"]:
            failures.append(f"notebooks/{name}.html: {row['stderr_blocks']} stderr block(s), "
                            f"{row['tqdm_lines']} progress-bar line(s)")
        if row["images"] != row["images_captioned"]:
            failures.append(f"notebooks/{name}.html: {row['images'] - row['images_captioned']} "
                            f"of {row['images']} image(s) without a caption")
    return failures


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    root = Path(args[0] if args else "_build/html")
    report = audit(root)
    if "--render" in argv:
        report["render"] = render(root)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if "--check" in argv:
        failures = check(report)
        for line in failures:
            print("FAIL", line)
        return 1 if failures else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
