# qsession — the two commands a user needs are `make serve` and `make test`.
# Both create or refresh .venv and install the project (native extension built
# in release mode by maturin) before doing their work.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
CONFIG ?=
DASHBOARD ?= 127.0.0.1:8080
IBM_API ?= 127.0.0.1:8081

NATIVE_SOURCES := Cargo.toml $(shell find native -name '*.rs' -o -name Cargo.toml 2>/dev/null)
INSTALLED      := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test

.PHONY: serve test install proto bench bench-mitigation bench-scale lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Editable install: Python edits apply at once; Rust or dependency edits rebuild.
$(INSTALLED): $(PY) pyproject.toml $(NATIVE_SOURCES)
	$(PIP) install -e .
	@touch $@

$(INSTALLED_TEST): $(PY) pyproject.toml $(NATIVE_SOURCES)
	$(PIP) install -e '.[test]'
	@touch $(INSTALLED) $@

install: $(INSTALLED)

# With the embedded defaults the Workloads page is on at http://$(DASHBOARD)/ ("make serve
# DASHBOARD=" turns it off); with CONFIG=file, the file's [dashboard] listen decides.
serve: $(INSTALLED)
	$(VENV)/bin/qsession serve $(if $(CONFIG),--config $(CONFIG),$(if $(DASHBOARD),--dashboard $(DASHBOARD),) $(if $(IBM_API),--ibm-api $(IBM_API),))

test: lint
	bash scripts/install_browser.sh
	cargo test --manifest-path native/Cargo.toml --release --quiet
	bash scripts/buf_check.sh
	$(PY) -m pytest -q

proto: $(INSTALLED_TEST)
	$(PY) scripts/gen_protos.py
	scripts/gen_go.sh

bench: $(INSTALLED_TEST)
	$(PY) bench/run.py

# Error of Estimator values at resilience levels 0, 1, 2 on noisy fake_torino, and each level's cost.
bench-mitigation: $(INSTALLED_TEST)
	$(PY) bench/mitigation.py

# Utility-scale noisy jobs on fake_brisbane (issue 29): QAOA, a mirror circuit, a 127-qubit
# brickwork, each against its reference in the same run.
bench-scale: $(INSTALLED_TEST)
	$(PY) bench/scale.py

# ruff on everything; mypy on the packages pyproject.toml's [tool.mypy] files lists.
lint: $(INSTALLED_TEST)
	$(VENV)/bin/ruff check service tests bench scripts
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) target .pytest_cache
