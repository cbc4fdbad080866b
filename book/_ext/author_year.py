"""Sphinx extension: bibliography labels in author-year form, matching the citations.

The book cites author-year (``bibtex_reference_style: author_year``), but pybtex's default
labels are alpha keys such as ``[KGR+22]``. This registers the pybtex formatting style
``author_year`` (select it with ``bibtex_default_style``): the plain style's entries, sorted by
author, year and title, each labelled "Książek et al. 2022", "Mehrdad & Janani 2024" or
"Zhou 2021", with "a", "b" ... when two entries would share a label.
"""

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person) -> str:
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year_label(entry) -> str:
    """"Surname year", "Surname & Surname year" or "Surname et al. year" (editors when there
    are no authors; the entry's key when neither)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in people]
    who = (names[0] if len(names) == 1 else " & ".join(names) if len(names) == 2
           else f"{names[0]} et al." if names else entry.key)
    return f"{who} {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Labels from :func:`author_year_label`, made unique by a letter suffix."""

    def format_labels(self, sorted_entries):
        labels = [author_year_label(entry) for entry in sorted_entries]
        repeated, seen = Counter(labels), Counter()
        for label in labels:
            if repeated[label] > 1:
                seen[label] += 1
                label += "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            yield label


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
