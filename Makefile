# Hearth's set-up, run, test and package commands. Everything lives in .venv; nothing is
# installed system-wide. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch. For NVIDIA GPUs see "CUDA" in the README.
TORCH  ?= torch==2.13.0
# llama.cpp is compiled by pip; CMAKE_ARGS selects the build (e.g. -DGGML_CUDA=on).
export CMAKE_ARGS ?=

.PHONY: run test lint format bench install install-dev package release-check clean

run: $(VENV)/.installed
	$(BIN)/hearth-app

test: $(VENV)/.installed-dev
	$(BIN)/ruff check engine app trainer tests bench
	$(BIN)/mypy
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check engine app trainer tests bench
	$(BIN)/ruff format --check engine app trainer tests bench
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format engine app trainer tests bench
	$(BIN)/ruff check --fix engine app trainer tests bench

# Benchmarks print figures (bench/README.md says what each measures). bench.retrieval and
# bench.verify install the Debian documentation packages they read with apt on first use;
# bench.ocr names the ones it needs (apt-get install libtasn1-doc bzip2-doc).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.retrieval
	$(BIN)/python -m bench.generate
	$(BIN)/python -m bench.verify
	$(BIN)/python -m bench.serve
	$(BIN)/python -m bench.links
	$(BIN)/python -m bench.ocr
	$(BIN)/python -m bench.train

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip wheel setuptools

# torch first and pinned, so that nothing below pulls the multi-GB CUDA build by accident.
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e ".[app,train]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -e ".[app,train,dev]"
	touch $@

# A self-contained bundle (PyInstaller) and, on Debian/Ubuntu, a .deb: see packaging/README.md.
package: $(VENV)/.installed
	$(BIN)/pip install "pyinstaller>=6.10"
	$(BIN)/python packaging/build.py all

# The release check: installs the .deb on this machine and uses it from outside the checkout.
release-check: package
	packaging/smoke_test.sh

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
