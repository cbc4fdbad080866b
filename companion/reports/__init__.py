"""Reports: one module per chapter, ``report(P, records) -> companion.pipeline.Report``.

A report is a pure function of the chapter's resolved parameters, its study records
(``{study: {key: record}}``, :func:`companion.pipeline.run` or
:func:`companion.pipeline.load_records`) and its declared targets
(``companion/chapters/<name>.py``): it computes the numbers behind the chapter's tables and
figures and judges every target with :mod:`companion.verdicts`. Rewording a reason here never
touches a record: the experiments modules, whose code hash the records carry, never import a
report.
"""
