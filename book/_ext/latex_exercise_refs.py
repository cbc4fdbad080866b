"""Sphinx extension: references to another page's exercise in the PDF.

sphinx-exercise labels an exercise ``exercise:<label>`` in LaTeX and fixes only the references
made on the exercise's own page; a ``{numref}`` from another page (the landing page's course
path) becomes ``\\ref{<page>:<label>}``, a label that does not exist: "Exercise ??" in the PDF.
For the LaTeX builder this post-transform rewrites such a reference to ``\\hyperref`` the
exercise's own label, with Sphinx's number for it (the number its title shows in the PDF).
"""

from __future__ import annotations

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform


def _label(node) -> str | None:
    """The target label of a number reference (same page: refid; another page: refuri)."""
    return node.get("refid") or (node.get("refuri", "").split("#", 1) + [None])[1]


class ExerciseRefsForLatex(SphinxPostTransform):
    default_priority = 900  # after Sphinx resolved the references (and sphinx-exercise's own, 22)
    builders = ("latex",)

    def run(self, **kwargs):
        registry = getattr(self.env, "sphinx_exercise_registry", {})
        for ref in list(self.document.findall(addnodes.number_reference)):
            label = _label(ref)
            if label not in registry:
                continue
            docname = registry[label]["docname"]
            number = self.env.toc_fignumbers.get(docname, {}).get("exercise", {}).get(label)
            if number is None:
                continue
            title = ref.get("title", "Exercise %s").replace("{number}", "%s")
            text = title % ".".join(map(str, number))
            ref.replace_self(nodes.raw("", rf"\hyperref[exercise:{label}]{{{text}}}",
                                       format="latex"))


def setup(app):
    app.add_post_transform(ExerciseRefsForLatex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
