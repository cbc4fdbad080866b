# hu-book: `make book` builds the executed book into _build/html; `make test` runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HU_SCALE ?= book
# Staged data next to the checkout, when present; otherwise the loaders download into the cache.
HU_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export HU_SCALE HU_DATA_DIR

.PHONY: venv test book clean

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

clean:
	rm -rf _build .pytest_cache
