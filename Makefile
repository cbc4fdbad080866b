# hu-book: `make book` builds the executed book into _build/html; `make test` runs the tests;
# `make pdf` (after `make book`) the PDF from the same executed outputs, into _build/html/hu-book.pdf.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HU_SCALE ?= book
# Staged data next to the checkout, when present; otherwise the loaders download into the cache.
HU_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export HU_SCALE HU_DATA_DIR

.PHONY: venv test book pdf clean

venv: $(BIN)/jupyter-book

$(BIN)/jupyter-book:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[book,dev]"
	touch $@

test: venv
	$(BIN)/python -m pytest -q

book: venv
	rm -rf _build
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-book build . -W --keep-going
	@echo "HTML: $(abspath _build/html/index.html)"

# LaTeX from Debian (README): latexmk texlive-latex-recommended texlive-latex-extra
# texlive-fonts-recommended texlive-xetex fonts-freefont-otf tex-gyre. HU_BOOK_REUSE_OUTPUTS=1:
# every page is read from the last build's cache, nothing is executed again (parallel_chapters.py);
# --all: a fresh Sphinx environment, not the HTML build's doctrees (their outputs chose HTML forms).
pdf: venv
	@test -d _build/.jupyter_cache || { echo "make pdf: no executed outputs in _build; run make book first"; exit 2; }
	rm -rf _build/latex
	HU_BOOK_REUSE_OUTPUTS=1 PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-book build . --all --builder pdflatex
	cp _build/latex/hu-book.pdf _build/html/hu-book.pdf
	@echo "PDF: $(abspath _build/html/hu-book.pdf)"

clean:
	rm -rf _build .pytest_cache
