"""A chapter that raises must fail the book build and leave a readable per-chapter report.

Builds a tiny book in a temporary folder with this repository's ``_config.yml`` (so the test
checks our execution settings: force execution, ``allow_errors: false``, ``-W``).
"""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BROKEN = """\
---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

# A broken chapter

```{code-cell} ipython3
raise RuntimeError("deliberate failure in the broken chapter")
```
"""


def test_broken_chapter_fails_the_build_with_a_report(tmp_path):
    book = tmp_path / "book"
    (book / "book").mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    shutil.copytree(REPO / "book" / "_ext", book / "book" / "_ext")
    shutil.copy(REPO / "book" / "references.bib", book / "book" / "references.bib")
    (book / "intro.md").write_text("# Intro\n\nA tiny book.\n")
    (book / "broken.md").write_text(BROKEN)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: broken\n")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jupyter_book), "build", str(book), "-W", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert "broken" in log and "Executing notebook failed" in log
    reports = list((book / "_build" / "html" / "reports").glob("*.log"))
    assert len(reports) == 1, log[-3000:]
    text = reports[0].read_text()
    assert "RuntimeError" in text and "deliberate failure in the broken chapter" in text
