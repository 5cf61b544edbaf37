# Parlor: `make run` starts the offline stack, `make test` installs and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
REQS := requirements.txt requirements-dev.txt media_worker/requirements.txt

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m local $(if $(SEED),--seed,)

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/hadolint media_worker/Dockerfile

typecheck: install
	$(PY) -m mypy chalicelib media_worker local

test: install lint typecheck
	$(PY) -m pytest -q -n 2

bench: install
	$(PY) -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) .local-run .mypy_cache .ruff_cache
