# lensfind: two commands on a fresh machine -- `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
SMALL ?=
RUNS ?= runs
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED = 1

SMALL_FLAG := $(if $(SMALL),--small,)

.PHONY: install demo test

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/lensfind demo --out demo-output

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
