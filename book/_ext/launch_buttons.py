"""Sphinx extension: launch and download buttons of the chapters.

- **Only on chapters.** sphinx-book-theme adds its "Launch interactive content" menu to every page
  with a kernel, so the scorecard (a page that runs one cell to gather the verdicts) would get one
  too. Only the chapters under ``notebooks/`` are meant to be opened and rerun; this hook, run
  after the theme's (priority 501), removes the menu from every other page.
- **Colab.** On a chapter the launch menu gains "Colab", which opens the chapter's generated
  notebook (``chapter_notebooks.py``) from the ``hu_colab_branch`` branch of the repository, where
  the Pages workflow publishes the notebooks of the last deployed build (Colab opens notebooks
  from GitHub, not from a website).
- **Download.** On a chapter the download menu's ``.ipynb`` is the same generated notebook, from
  ``_notebooks/`` of this site (it replaces myst-nb's plain conversion in ``_sources/``, which
  lacks the setup and device cells).
"""

from pathlib import PurePosixPath

from chapter_notebooks import CHAPTER_PREFIX, OUTPUT_DIR

COLAB = "https://colab.research.google.com/github"


def colab_url(repository_url: str, branch: str, pagename: str) -> str:
    """The Colab address of chapter ``pagename`` (``notebooks/<name>``) on ``branch`` of a GitHub
    repository (``https://github.com/<org>/<repo>``)."""
    org_repo = repository_url.rstrip("/").removeprefix("https://github.com/")
    return f"{COLAB}/{org_repo}/blob/{branch}/{PurePosixPath(pagename).name}.ipynb"


def _group(context, label):
    return next((b for b in context.get("header_buttons", []) if b.get("label") == label), None)


def _chapter_buttons(app, pagename, templatename, context, doctree):
    if "header_buttons" not in context:
        return
    if not pagename.startswith(CHAPTER_PREFIX):
        context["header_buttons"] = [b for b in context["header_buttons"]
                                     if b.get("label") != "launch-buttons"]
        return
    name = PurePosixPath(pagename).name
    download = _group(context, "download-buttons")
    if download is not None:
        notebook = {
            "type": "link", "url": context["pathto"](f"{OUTPUT_DIR}/{name}.ipynb", 1),
            "text": ".ipynb", "icon": "fas fa-code", "label": "download-notebook-button",
            "tooltip": "Download the chapter as a Jupyter notebook (papermill-ready)"}
        download["buttons"] = [notebook] + [b for b in download["buttons"]
                                            if b.get("label") != notebook["label"]]
    launch = _group(context, "launch-buttons")
    repository = app.config.html_theme_options.get("repository_url", "")
    if launch is not None and repository.startswith("https://github.com/"):
        launch["buttons"].append({
            "type": "link", "text": "Colab", "icon": "_static/images/logo_colab.png",
            "tooltip": "Open in Colab (free GPU: Runtime > Change runtime type)",
            "url": colab_url(repository, app.config.hu_colab_branch, pagename)})


def setup(app):
    app.add_config_value("hu_colab_branch", "colab", "html")
    app.connect("html-page-context", _chapter_buttons, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
