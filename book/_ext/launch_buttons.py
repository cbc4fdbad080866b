"""Sphinx extension: launch buttons (Binder) only on the chapters.

sphinx-book-theme adds its "Launch interactive content" menu to every page with a kernel, so
the scorecard (a page that runs one cell to gather the verdicts) would get one too. Only the
chapters under ``notebooks/`` are meant to be opened and rerun; this hook, run after the theme's
(priority 501), removes the menu from every other page.
"""

CHAPTERS = "notebooks/"


def _chapters_only(app, pagename, templatename, context, doctree):
    if not pagename.startswith(CHAPTERS) and "header_buttons" in context:
        context["header_buttons"] = [b for b in context["header_buttons"]
                                     if b.get("label") != "launch-buttons"]


def setup(app):
    app.connect("html-page-context", _chapters_only, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
