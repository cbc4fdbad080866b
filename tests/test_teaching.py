"""Teaching material (issue 29): the generated chapter notebooks (papermill, Colab's setup cell),
Binder's pip setup and the course path on the landing page.

The chapter runs use the cheapest chapter, ``datasets`` at ``scale=smoke`` (Samson only, one VCA
run). What cannot run here: Colab itself, a GitHub clone (the test installs from this checkout's
git repository at HEAD instead, so it tests the committed code), the pooch downloads (the tests
read the staged data) and repo2docker (the test resolves Binder's requirements with pip instead).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "book" / "_ext"))

import chapter_notebooks  # noqa: E402  (a Sphinx extension module of book/_ext)
from docutils import nodes  # noqa: E402
from latex_html_outputs import HtmlToDocutils  # noqa: E402
from launch_buttons import colab_url  # noqa: E402

CHAPTERS = sorted((REPO / "notebooks").glob("*.md"))
CHEAPEST = REPO / "notebooks" / "datasets.md"


def _write(notebook, path: Path) -> Path:
    nbformat.write(notebook, path)
    return path


def _record(results: Path) -> dict:
    """The result record the datasets chapter writes at smoke scale (under ``results``)."""
    return json.loads((results / "datasets" / "smoke" / "baselines.json").read_text())


def _errors(executed: Path) -> list:
    notebook = json.loads(executed.read_text())
    return [o for c in notebook["cells"] if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o["output_type"] == "error"]


# -- 1. the generated notebooks ---------------------------------------------------------------------

@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_converts_with_setup_first_and_device_after_parameters(source):
    notebook = chapter_notebooks.chapter_notebook(
        source, chapter_notebooks.book_source("https://github.com/o/r", "abc123"))
    cells = notebook.cells
    tags = [c.metadata.get("tags", []) for c in cells]
    assert tags[0] == ["setup"]
    assert "git+https://github.com/o/r@abc123#egg=hu-book-companion" in cells[0].source
    position = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert tags[position + 1] == ["device"]
    assert sum("parameters" in t for t in tags) == 1
    assert "jupytext" not in notebook.metadata  # a plain notebook, not paired with the .md
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    # nothing of the chapter is lost: its cells in order, after the two added ones
    original = chapter_notebooks.jupytext.read(source).cells
    kept = [c for i, c in enumerate(cells) if i not in (0, position + 1)]
    assert [c.source for c in kept] == [c.source for c in original]


def test_a_chapter_without_parameters_tag_is_refused(tmp_path):
    text = CHEAPEST.read_text().replace(":tags: [parameters, hide-input]", ":tags: [hide-input]")
    broken = tmp_path / "broken.md"
    broken.write_text(text)
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        chapter_notebooks.chapter_notebook(broken, "git+file:///x@y#egg=hu-book-companion")


def test_setup_cell_does_nothing_where_companion_is_importable(monkeypatch, tmp_path):
    """A checkout (or an installed companion): the setup cell neither runs pip nor clones."""
    cell = chapter_notebooks.chapter_notebook(CHEAPEST, "git+file:///nowhere@0#egg=x").cells[0]

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"the setup cell ran {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.chdir(tmp_path)
    exec(cell.source, {})  # noqa: S102  (the generated cell, as a kernel would run it)
    assert not (tmp_path / chapter_notebooks.CLONE_DIR).exists()


# -- 2. Colab: the setup cell in a fresh virtual environment ----------------------------------------

def _fresh_venv(path: Path) -> Path:
    """A new venv that sees this environment's packages (torch, papermill, ...) but not companion.

    A ``.pth`` line adds this environment's site-packages to the venv's path; the editable install
    of the companion there is a ``.pth`` hook of its own, which such a line does not run.
    """
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    purelib = Path(subprocess.run([str(path / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path / "bin" / "python"


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="needs git and a git checkout (the setup cell clones the book)")
def test_generated_notebook_in_a_fresh_venv_setup_cell_then_papermill_at_smoke(tmp_path):
    """Colab's path, and the README's `papermill chapter.ipynb out.ipynb -p scale paper -p device
    cuda` at smoke scale: in a fresh venv without companion, papermill runs the generated notebook
    with parameters; its setup cell installs the book from git at HEAD, then the chapter runs."""
    commit = chapter_notebooks.head_commit(REPO)
    requirement = chapter_notebooks.book_source(REPO.as_uri(), commit)  # the local repository
    notebook = chapter_notebooks.chapter_notebook(CHEAPEST, requirement)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import companion, sys\nprint(sys.executable)\nprint(companion.__file__)"))
    path = _write(notebook, tmp_path / "datasets.ipynb")
    python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "HU_RESULTS_DIR", "VIRTUAL_ENV")}
    check = subprocess.run([str(python), "-c", "import companion"], cwd=tmp_path, env=env,
                           capture_output=True)
    assert check.returncode != 0, "companion must not be importable before the setup cell"
    out = tmp_path / "out.ipynb"
    run = subprocess.run([str(python), "-m", "papermill", str(path), str(out),
                          "-p", "scale", "smoke", "-p", "vca_runs", "2", "--no-progress-bar"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not _errors(out)
    tags = [c["metadata"].get("tags", []) for c in json.loads(out.read_text())["cells"]]
    injected = tags.index(["injected-parameters"])  # papermill's cell, after the chapter's own
    assert "parameters" in tags[injected - 1] and tags[injected + 1] == ["device"]
    clone = tmp_path / chapter_notebooks.CLONE_DIR / chapter_notebooks.PACKAGE
    printed = json.loads(out.read_text())["cells"][-1]["outputs"][0]["text"]
    kernel_python, package = "".join(printed).split()
    assert Path(kernel_python).parent == python.parent  # the fresh venv's kernel
    assert Path(package).is_relative_to(clone)  # the package pip cloned at the commit
    record = _record(clone / "results")  # results/ of the clone, where the committed ones are
    assert record["provenance"]["git_commit"] == commit
    params = record["provenance"]["params"]
    assert params["scale"] == "smoke" and params["vca_runs"] == 2  # the injected values were used
    assert params["device"] == "auto"  # the device cell: None -> "auto"


# -- 3. Binder ---------------------------------------------------------------------------------------

BINDER = REPO / "binder"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _pin(requirements: list[str], name: str) -> str:
    pins = [r.split("==", 1)[1] for r in requirements if re.match(rf"{name}\s*==", r)]
    assert len(pins) == 1, f"one {name}== pin expected in {requirements}"
    return pins[0]


def test_binder_setup_agrees_with_pyproject_and_environment_yml():
    project = _pyproject()["project"]
    binder = _requirement_lines(BINDER / "requirements.txt")
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    env_pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    # torch: the package's pin, as the CPU wheel (local version +cpu) in both Binder and conda
    torch = _pin(project["dependencies"], "torch")
    assert _pin(binder, "torch") == _pin(env_pip, "torch") == f"{torch}+cpu"
    index = "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert index in binder and index in env_pip
    # the package itself with the book extra, and JupyterLab, in both
    editable = [r for r in binder if r.startswith("-e ")]
    assert editable == ["-e .[book]"]
    extras = set(re.search(r"\[(.*)\]", next(r for r in env_pip if r.startswith("-e "))).group(1)
                 .split(","))
    assert "book" in extras and set(extras) <= set(project["optional-dependencies"])
    assert [r for r in binder if r.startswith("jupyterlab")] == \
        [d for d in conda if d.startswith("jupyterlab")]
    # the Python version: runtime.txt = environment.yml's, within requires-python
    runtime = (BINDER / "runtime.txt").read_text().strip()
    version = runtime.removeprefix("python-")
    assert f"python={version}" in conda
    minimum = project["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))
    # postBuild: executable, and it makes JupyterLab open the .md chapters as notebooks
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "Jupytext Notebook" in post_build.read_text()
    jupytext = next(r for r in project["optional-dependencies"]["book"] if r.startswith("jupytext"))
    assert f'"{jupytext}"' in post_build.read_text()  # the server's jupytext: the book's pin


def _pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not os.environ.get("CI") and not _pypi_reachable(),
                    reason="needs PyPI (always run under CI=true)")
def test_binder_requirements_resolve_with_pip(tmp_path):
    """repo2docker's pip path, `pip install -r binder/requirements.txt` in the repository, resolved
    with `pip install --dry-run` (nothing installed). The PyTorch CPU index is not reachable from
    CI: its torch==X+cpu line is resolved as torch==X from PyPI (the same release; the pin's
    agreement with the CPU index is checked above)."""
    lines = []
    for line in _requirement_lines(BINDER / "requirements.txt"):
        if line.startswith("--extra-index-url"):
            continue
        lines.append(re.sub(r"^(torch==[^+\s]+)\+cpu$", r"\1", line))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    report = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                          "--quiet", "--report", str(report), "-r", str(requirements)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    torch = _pin(_pyproject()["project"]["dependencies"], "torch")
    assert resolved["torch"].split("+")[0] == torch  # a local wheel index may offer torch+cpu
    assert resolved["hu-book-companion"] == _pyproject()["project"]["version"]
    for name in ("jupyter-book", "jupytext", "papermill", "jupyterlab", "ipykernel"):
        assert name in resolved, f"{name} missing from Binder's environment"


# -- 4. the PDF: HTML outputs as LaTeX-ready docutils nodes ----------------------------------------

def test_html_table_becomes_a_captioned_table_with_widths_from_its_content():
    reason = "a long explanation of the verdict, " * 4
    html = ("<style>td {}</style><table><caption>Table X: ours</caption>"
            "<thead><tr><th>quantity</th><th>ours</th><th>reason</th></tr></thead><tbody>"
            f"<tr><td>SAD</td><td>0.05</td><td>{reason}</td></tr>"
            f"<tr><td>RMSE<br><small>Table 3</small></td><td>0.11</td><td>{reason}</td></tr>"
            "</tbody></table>")
    [table] = HtmlToDocutils()(html)
    assert table.next_node(nodes.title).astext() == "Table X: ours"
    assert "colwidths-given" in table["classes"] and "longtable" not in table["classes"]
    widths = [c["colwidth"] for c in table.findall(nodes.colspec)]
    assert widths[2] > widths[0] > 0 and widths[2] > widths[1] > 0  # the prose column is widest
    assert sum(widths) == pytest.approx(950, abs=3)  # the text width, in tenths of a character
    rows = list(table.findall(nodes.row))
    assert [e.astext() for e in rows[0].findall(nodes.entry)] == ["quantity", "ours", "reason"]
    assert [p.astext() for p in rows[2].findall(nodes.paragraph)][:2] == ["RMSE", "Table 3"]


def test_a_wide_html_table_is_set_smaller_and_a_tall_one_breaks_across_pages():
    header = "".join(f"<th>column_number_{j}</th>" for j in range(6))  # needs 6 x (15 + 3) > 105
    wide = HtmlToDocutils()(f"<table><tr>{header}</tr><tr>{'<td>1</td>' * 6}</tr></table>")
    assert isinstance(wide[0], nodes.raw) and r"\footnotesize" in wide[0].astext()
    assert isinstance(wide[1], nodes.table) and wide[2].astext() == r"\endgroup"
    tall = HtmlToDocutils()("<table>" + "<tr><td>a</td><td>b</td></tr>" * 60 + "</table>")
    assert "longtable" in tall[0]["classes"]


def test_html_figure_keeps_its_caption_and_its_png():
    png = b"\x89PNG\r\n\x1a\n not really an image"
    saved = []

    def save(data: bytes) -> str:
        saved.append(data)
        return "fig.png"

    source = "data:image/png;base64," + base64.b64encode(png).decode()
    html = (f'<figure><img src="{source}" alt="maps" width="380">'
            "<figcaption><b>Figure 2.</b> Samson: abundance maps.</figcaption></figure>")
    image, caption = HtmlToDocutils(save)(html)
    assert saved == [png] and image["uri"] == "fig.png" and image["width"] == "50%"
    assert caption.astext() == "Figure 2. Samson: abundance maps."
    assert isinstance(caption[0], nodes.strong)


def test_html_provenance_box_becomes_a_titled_box_with_a_list():
    html = ('<div class="admonition note"><p class="admonition-title">Provenance</p><ul>'
            "<li><b>Scale:</b> smoke</li><li><b>Data:</b><br><code>samson/end3.mat</code></li>"
            "</ul></div>")
    [box] = HtmlToDocutils()(html)
    assert isinstance(box, nodes.admonition) and box.next_node(nodes.title).astext() == "Provenance"
    items = list(box.findall(nodes.list_item))
    assert [i.astext() for i in items] == ["Scale: smoke", "Data:\n\nsamson/end3.mat"]
    assert items[1].next_node(nodes.literal).astext() == "samson/end3.mat"


# -- 5. the course path ----------------------------------------------------------------------------

def test_course_path_covers_every_chapter_and_exercise():
    intro = (REPO / "book" / "intro.md").read_text()
    course = intro.split("## Course path", 1)[1].split("\n## ", 1)[0]
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    chapters = [c["file"] for part in toc["parts"] for c in part["chapters"]
                if c["file"].startswith("notebooks/")]
    for chapter in chapters:
        assert f"../{chapter}.md" in course, f"{chapter} is not on the course path"
    for source in CHAPTERS:
        for label in re.findall(r"^:label: (ex-[\w-]+)$", source.read_text(), flags=re.M):
            row = next((line for line in course.splitlines() if f"{{numref}}`{label}`" in line), None)
            assert row is not None, f"exercise {label} ({source.name}) is not on the course path"
            assert re.search(r"\d+ min", row), f"exercise {label} has no expected time"


def test_colab_url_opens_the_published_notebook():
    assert colab_url("https://github.com/hu-book/hu-book/", "colab", "notebooks/datasets") == (
        "https://colab.research.google.com/github/hu-book/hu-book/blob/colab/datasets.ipynb")
