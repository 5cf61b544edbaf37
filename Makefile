# Parlor: `make run` starts the offline stack, `make test` installs and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
REQS := requirements.txt requirements-dev.txt media_worker/requirements.txt

INFRA_VENV := infra/.venv
INFRA_PY := $(INFRA_VENV)/bin/python
INFRA_STAMP := $(INFRA_VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench clean infra-install synth lint-infra test-infra coturn asyncapi-schema

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The local TURN relay is Debian's coturn (`turnserver`): installed here when missing (as root,
# as on CI), otherwise the command to run is printed and the stack runs without a relay.
coturn:
	@command -v turnserver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q coturn; \
	  else \
	    echo "The TURN relay needs coturn; install it with:  sudo apt-get install -y coturn" >&2; \
	  fi; }

run: install coturn
	$(PY) -m local $(if $(SEED),--seed,) $(if $(FRESH),--fresh,)

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/hadolint media_worker/Dockerfile

typecheck: install
	$(PY) -m mypy chalicelib media_worker local parlor_contract

test: install coturn lint typecheck
	$(PY) -m pytest -q -n 2

# The AsyncAPI Initiative's JSON schema of AsyncAPI 2.6, which tests/contract/test_asyncapi.py
# validates /asyncapi.json against offline; refreshed from npm's @asyncapi/specs (needs npm).
ASYNCAPI_SPECS ?= 6.11.1
asyncapi-schema:
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent @asyncapi/specs@$(ASYNCAPI_SPECS) >/dev/null \
	  && tar xzf asyncapi-specs-$(ASYNCAPI_SPECS).tgz \
	  && cp 'package/schemas/2.6.0-without-$$id.json' $(CURDIR)/tests/contract/schemas/asyncapi-2.6.0.json \
	  && rm -rf $$tmp

bench: install
	$(PY) -m bench $(if $(QUICK),--quick,)

# The CDK (~430 MB) lives in its own venv, installed only for synth and the infra test.
$(INFRA_STAMP): infra/requirements.txt requirements.txt
	test -x $(INFRA_PY) || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_PY) -m pip install --quiet --upgrade pip
	$(INFRA_PY) -m pip install --quiet -r infra/requirements.txt
	touch $(INFRA_STAMP)

infra-install: $(INFRA_STAMP)

synth: infra-install
	cd infra && CDK_OUTDIR=cdk.out ../$(INFRA_PY) app.py

lint-infra: synth
	$(INFRA_VENV)/bin/cfn-lint infra/cdk.out/*.template.json

test-infra: infra-install
	$(INFRA_PY) -m pytest -q --noconftest tests/infra

clean:
	rm -rf $(VENV) $(INFRA_VENV) .local-run .mypy_cache .ruff_cache infra/cdk.out chalice.out infra/chalice.out
