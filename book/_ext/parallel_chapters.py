"""Sphinx extension: execute the chapters side by side, one per core, before Sphinx reads them.

myst-nb executes a notebook when Sphinx reads it, so one chapter after the other. With
``execute_notebooks: cache`` this extension first runs every chapter that Sphinx is about to read
(``notebooks/*``) in a pool of worker processes and stores the executed notebooks in the build's
jupyter-cache; myst-nb then finds each one there instead of executing it again. The cache is
emptied at the start of every build, so each build executes every chapter it reads, as
``execute_notebooks: force`` would: the cache only carries outputs from the pool to the reader.

- **Threads.** Each kernel gets ``OMP_NUM_THREADS=1`` (and the BLAS equivalents): chapters are
  parallel with each other, not inside, so that two of them never contend for the same core.
- **Order.** Chapters start longest first (``hu_chapters_longest_first`` in ``_config.yml``), so that
  the longest one does not start last.
- **Failures.** A chapter that fails in the pool is not cached; myst-nb executes it again when
  Sphinx reads it and reports the error as it always does (the build fails with its traceback).
- **Last pages.** Pages outside ``notebooks/`` (the landing page, the scorecard) are executed by
  myst-nb as usual, after the chapters, so the scorecard sees the results they have just written.
- **Reusing a build's outputs.** With ``HU_BOOK_REUSE_OUTPUTS=1`` (``make pdf`` after ``make book``)
  nothing is executed: the cache is kept and every page is read from it, so another builder (LaTeX)
  shows the same outputs as the website. A chapter missing from the cache is then an error.
"""

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import create_nb_reader
from sphinx.util import logging

CHAPTER_PREFIX = "notebooks/"
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
REUSE = "HU_BOOK_REUSE_OUTPUTS"

logger = logging.getLogger(__name__)


def _execute(notebook, cwd, timeout, allow_errors):
    """Execute one notebook in this worker process: (notebook, seconds, traceback or None)."""
    for name in ONE_THREAD:
        os.environ[name] = "1"  # inherited by the kernel that this worker starts
    result = single_nb_execution(
        notebook, cwd=cwd, timeout=timeout, allow_errors=allow_errors, meta_override=True
    )
    return notebook, result.time, (result.exc_string if result.err is not None else None)


def _read_notebook(env, docname):
    """The chapter as myst-nb reads it (same cells and metadata, hence the same cache key)."""
    path = Path(env.doc2path(docname))
    text = path.read_text(encoding="utf-8")
    reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config, text)
    return path, reader.read(text)


def _chapters_in_order(app, docnames):
    chapters = sorted(name for name in docnames if name.startswith(CHAPTER_PREFIX))
    first = [name for name in app.config.hu_chapters_longest_first if name in chapters]
    return first + [name for name in chapters if name not in first]


def _require_cached(env, cache, chapters):
    """Reuse mode: every chapter must be in the cache, or the build would execute it again."""
    missing = []
    for docname in chapters:
        try:
            cache.match_cache_notebook(_read_notebook(env, docname)[1])
        except KeyError:
            missing.append(docname)
    if missing:
        raise RuntimeError(f"{REUSE}=1 but no executed output of {', '.join(missing)} in "
                           f"{cache.path}: run `make book` first (same checkout, same _build)")
    logger.info(f"[parallel_chapters] {REUSE}=1: the outputs of the last build, nothing executed")


def _execute_chapters(app, env, docnames):
    nb_config = env.mystnb_config
    if nb_config.execution_mode != "cache":
        return
    cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
    chapters = _chapters_in_order(app, docnames)
    if os.environ.get(REUSE) == "1":
        _require_cached(env, cache, chapters)
        return
    cache.clear_cache()  # every build executes what it reads, as 'force' does
    if not chapters:
        return
    workers = min(len(chapters), app.config.hu_chapter_workers or os.cpu_count() or 1)
    logger.info(f"[parallel_chapters] executing {len(chapters)} chapters, {workers} at a time")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {}
        for docname in chapters:
            path, notebook = _read_notebook(env, docname)
            future = pool.submit(
                _execute, notebook, str(path.parent), nb_config.execution_timeout,
                nb_config.execution_allow_errors,
            )
            futures[future] = (docname, path)
        for future in as_completed(futures):
            docname, path = futures[future]
            notebook, seconds, traceback = future.result()
            if traceback is not None:
                logger.info(f"[parallel_chapters] {docname} failed after {seconds:.0f} s; "
                            "Sphinx executes it again to report the error")
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True,
            )
            logger.info(f"[parallel_chapters] {docname} executed in {seconds:.0f} s")
    logger.info(f"[parallel_chapters] all chapters in {time.perf_counter() - start:.0f} s")


def setup(app):
    app.add_config_value("hu_chapters_longest_first", [], "env")
    app.add_config_value("hu_chapter_workers", 0, "env")  # 0: one per core
    app.connect("env-before-read-docs", _execute_chapters)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
