"""Sphinx extension: read (and so execute) the scorecard page after every chapter.

Sphinx reads documents in alphabetical order, so ``book/scorecard`` would run before
``notebooks/*`` and gather stale results. Moving it to the end of the reading order lets it see
the results the chapters have just written.
"""

SCORECARD = "book/scorecard"


def _scorecard_last(app, env, docnames):
    if SCORECARD in docnames:
        docnames.remove(SCORECARD)
        docnames.append(SCORECARD)


def setup(app):
    app.connect("env-before-read-docs", _scorecard_last)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
