"""Sphinx extension: every chapter as a Jupyter notebook, for download, papermill and Colab.

The chapters are MyST text notebooks (``notebooks/<name>.md``), which Colab and a plain Jupyter
cannot open. At the end of an HTML build this extension converts each chapter with jupytext into
``_build/html/_notebooks/<name>.ipynb`` (the ``.ipynb`` entry of the page's download menu; the
Pages workflow also publishes these files on the ``colab`` branch, which the page's Colab link
opens). The notebook is the chapter cell for cell, its parameters cell still tagged
``parameters`` (so ``papermill <name>.ipynb out.ipynb -p scale paper -p device cuda`` works), with
two cells added:

- **first, a setup cell** that does nothing where ``companion`` is importable (a checkout of the
  book) and otherwise (Colab, a fresh Jupyter) installs the companion package at the commit the
  book was built from: ``pip install -e git+<repository>@<commit>#egg=hu-book-companion``. pip
  clones the whole book, so the chapter finds its committed paper-scale results in the clone's
  ``results/``; data are fetched on first use by the loaders (pooch, sha256-checked) into the user
  cache (``HU_CACHE_DIR``), or read from ``HU_DATA_DIR`` where the user has set it.
- **right after the parameters cell** (so after papermill's injected parameters): ``device`` left
  at ``None`` becomes ``"auto"``, i.e. CUDA when the machine (Colab) has a GPU, else the CPU (O: a
  downloaded notebook runs wherever its reader is; the ``smoke`` presets and the benchmark chapter
  otherwise pin the CPU).

A chapter without a ``parameters`` tag gets no notebook (papermill would inject its values at the
top, where the chapter's own parameters cell overwrites them); the build says so, and
``tests/test_teaching.py`` and ``.ci/run`` (every chapter page's notebook exists) fail on it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import jupytext
import nbformat
from sphinx.util import logging

CHAPTER_PREFIX = "notebooks/"
OUTPUT_DIR = "_notebooks"  # under the HTML output: _build/html/_notebooks/<chapter>.ipynb
PACKAGE = "hu-book-companion"  # the distribution name in pyproject.toml
CLONE_DIR = "hu-book"  # where the setup cell lets pip clone the book (relative to the kernel's cwd)

logger = logging.getLogger(__name__)

SETUP_CELL = '''\
# Setup, for Colab or a fresh Jupyter: installs the book's companion package at the commit this
# notebook was built from, unless `companion` is already importable (a checkout of the book).
# pip clones the whole book into ./{clone}/ (the chapter reads its committed paper-scale results
# there). Data are downloaded on first use by the loaders (pooch, sha256-checked) into the user
# cache ($HU_CACHE_DIR to move it); set HU_DATA_DIR to a folder laid out like the book's data to
# use your own copies. On Colab choose Runtime > Change runtime type > GPU before running.
import importlib.util
import os
import subprocess
import sys

BOOK_SOURCE = "{source}"
if importlib.util.find_spec("companion") is None:
    clone = os.path.abspath("{clone}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--src", clone,
                    "-e", BOOK_SOURCE], check=True)
    sys.path.insert(0, os.path.join(clone, "{package}"))  # this kernel, without a restart
    importlib.invalidate_caches()
'''

DEVICE_CELL = '''\
# A downloaded or Colab notebook uses the GPU when there is one: device None -> "auto" (CUDA when
# present, else CPU). Set `device` in the parameters cell above to choose it yourself.
if device is None:
    device = "auto"
'''


def book_source(repository_url: str, commit: str) -> str:
    """The pip requirement of the companion package at ``commit`` of ``repository_url``.

    ``repository_url`` is an https URL (the published repository) or a local ``file://`` URL
    (the tests); the result is a pip VCS URL, ``git+<url>@<commit>#egg=hu-book-companion``.
    """
    return f"git+{repository_url.rstrip('/')}@{commit}#egg={PACKAGE}"


def chapter_notebook(source: Path, book_requirement: str) -> nbformat.NotebookNode:
    """The chapter ``source`` (MyST ``.md``) as an nbformat-4 notebook with the setup and device cells.

    Raises ValueError when the chapter has no cell tagged ``parameters``, or no ``device`` in it.
    """
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)  # a plain notebook, not paired with a text file
    position = next((i for i, cell in enumerate(notebook.cells)
                     if "parameters" in cell.metadata.get("tags", [])), None)
    if position is None:
        raise ValueError(f"{source}: no cell tagged 'parameters' (papermill would inject its "
                         "values before the chapter's own parameters cell)")
    if "device" not in notebook.cells[position].source:
        raise ValueError(f"{source}: the parameters cell defines no `device`")
    setup = nbformat.v4.new_code_cell(
        SETUP_CELL.format(source=book_requirement, clone=CLONE_DIR, package=PACKAGE),
        metadata={"tags": ["setup"]})
    device = nbformat.v4.new_code_cell(DEVICE_CELL, metadata={"tags": ["device"]})
    notebook.cells.insert(position + 1, device)
    notebook.cells.insert(0, setup)
    for number, cell in enumerate(notebook.cells):  # stable ids: a rebuild gives the same file
        cell.id = f"cell-{number}"
    nbformat.validate(notebook)
    return notebook


def head_commit(root: Path) -> str | None:
    """The checked-out commit of the git repository at ``root``; None outside a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def _repository(app) -> tuple[str, str]:
    """(repository URL, branch) from _config.yml's ``repository`` section (Jupyter Book's mapping)."""
    options = app.config.html_theme_options
    return options.get("repository_url", "").rstrip("/"), options.get("repository_branch", "main")


def _write_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    url, branch = _repository(app)
    commit = head_commit(Path(app.srcdir))
    if commit is None:
        logger.info(f"[chapter_notebooks] not a git checkout: the setup cells install the "
                    f"companion from branch {branch!r}, not from a commit")
    requirement = book_source(url, commit or branch)
    target = Path(app.outdir) / OUTPUT_DIR
    target.mkdir(parents=True, exist_ok=True)
    chapters = sorted(doc for doc in app.env.found_docs if doc.startswith(CHAPTER_PREFIX))
    written = 0
    for docname in chapters:
        source = Path(app.env.doc2path(docname))
        try:
            notebook = chapter_notebook(source, requirement)
        except ValueError as error:
            logger.info(f"[chapter_notebooks] no notebook: {error}")
            continue
        nbformat.write(notebook, target / f"{Path(docname).name}.ipynb")
        written += 1
    logger.info(f"[chapter_notebooks] {written} of {len(chapters)} chapters as notebooks in {target} "
                f"(setup cell: {requirement})")


def setup(app):
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
