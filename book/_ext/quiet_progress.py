"""Sphinx extension: no progress bars in the built book.

The chapters' studies show tqdm progress bars, useful in a terminal run (``python -m companion
run``) but noise on a web page. The kernels that execute the chapters during a book build inherit
this process's environment, so setting tqdm's own switch ``TQDM_DISABLE=1`` here silences every
bar of the build and of nothing else.
"""

import os


def setup(app):
    os.environ["TQDM_DISABLE"] = "1"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
