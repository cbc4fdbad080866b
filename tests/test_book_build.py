"""The book build executes every chapter side by side and fails on a chapter that raises.

Builds a tiny book in a temporary folder with this repository's ``_config.yml`` and ``book/_ext``
(so the test checks our execution settings: ``cache`` mode emptied per build by
``parallel_chapters``, ``allow_errors: false``, ``-W``).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADER = """\
---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

"""
BROKEN = HEADER + """\
# A broken chapter

```{code-cell} ipython3
raise RuntimeError("deliberate failure in the broken chapter")
```
"""
THREADS = HEADER + """\
# A chapter NAME

```{code-cell} ipython3
import os
print("NAME threads", os.environ.get("OMP_NUM_THREADS"), "pid", os.getpid())
```
"""


def build_tiny_book(tmp_path: Path, chapters: dict[str, str]) -> tuple[Path, subprocess.CompletedProcess]:
    """A book with ``notebooks/<name>.md`` for each chapter text, built with ``-W``."""
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    (book / "notebooks").mkdir()
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    shutil.copytree(REPO / "book" / "_ext", book / "book" / "_ext")
    shutil.copy(REPO / "book" / "references.bib", book / "book" / "references.bib")
    (book / "intro.md").write_text(THREADS.replace("NAME", "intro"))  # executed by myst-nb
    for name, text in chapters.items():
        (book / "notebooks" / f"{name}.md").write_text(text)
    toc = "".join(f"  - file: notebooks/{name}\n" for name in chapters)
    (book / "_toc.yml").write_text(f"format: jb-book\nroot: intro\nchapters:\n{toc}")
    return book, build(book)


def build(book: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jupyter_book), "build", str(book), "-W", "--keep-going"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_broken_chapter_fails_the_build_with_a_report(tmp_path):
    book, result = build_tiny_book(tmp_path, {"broken": BROKEN})
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert "notebooks/broken failed" in log  # in the pool, then again when Sphinx reads it
    assert "broken" in log and "Executing notebook failed" in log
    reports = list((book / "_build" / "html" / "reports").rglob("*.log"))
    assert len(reports) == 1, log[-3000:]
    text = reports[0].read_text()
    assert "RuntimeError" in text and "deliberate failure in the broken chapter" in text


def test_chapters_run_once_each_in_the_pool_single_threaded_and_a_rebuild_executes_again(tmp_path):
    chapters = {name: THREADS.replace("NAME", name) for name in ("first", "second")}
    book, result = build_tiny_book(tmp_path, chapters)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    for name in chapters:
        assert f"notebooks/{name} executed in" in log
        assert f"notebooks/{name}.md: Using cached notebook" in log  # not executed a second time
        page = (book / "_build" / "html" / "notebooks" / f"{name}.html").read_text()
        assert f"{name} threads 1 pid" in page
    # a rebuild after a text change executes the page again (here the landing page, which
    # myst-nb executes itself): the cache of the last build is not reused
    first_pid = pid_in(book / "_build" / "html" / "intro.html", "intro")
    (book / "intro.md").write_text(THREADS.replace("NAME", "intro") + "\nEdited.\n")
    again = build(book)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert pid_in(book / "_build" / "html" / "intro.html", "intro") != first_pid


def pid_in(page: Path, name: str) -> str:
    return re.search(rf"{name} threads \S+ pid (\d+)", page.read_text()).group(1)


def test_reuse_mode_shows_the_last_builds_outputs_and_refuses_a_chapter_it_lacks(tmp_path):
    chapters = {"first": THREADS.replace("NAME", "first")}
    book, result = build_tiny_book(tmp_path, chapters)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    page = book / "_build" / "html" / "notebooks" / "first.html"
    first_pid = pid_in(page, "first")
    (book / "notebooks" / "first.md").write_text(chapters["first"] + "\nProse edited.\n")
    again = build(book, env={"HU_BOOK_REUSE_OUTPUTS": "1"})
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-3000:]
    assert "executed in" not in log and pid_in(page, "first") == first_pid
    # a changed code cell has no executed output in the cache: refused, not executed again
    (book / "notebooks" / "first.md").write_text(chapters["first"].replace("os.getpid()", "os.getppid()"))
    refused = build(book, env={"HU_BOOK_REUSE_OUTPUTS": "1"})
    log = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "run `make book` first" in log, log[-3000:]
