# Parlor: `make run` starts the offline stack, `make test` installs and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
REQS := requirements.txt requirements-dev.txt media_worker/requirements.txt

INFRA_VENV := infra/.venv
INFRA_PY := $(INFRA_VENV)/bin/python
INFRA_STAMP := $(INFRA_VENV)/.installed-stamp

.PHONY: install native run test test-fallback lint typecheck unit bench clean infra-install synth lint-infra test-infra coturn asyncapi-schema cdn-keys web

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==26.2.1  # chalice 1.34 takes pip < 26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# The batch fan-out's compiled half (media_worker/fanout.c, via cffi; needs a C compiler): the
# builder does nothing while media_worker/_batch*.so is newer than its sources.
native: $(STAMP)
	$(PY) media_worker/_batch_build.py

install: $(STAMP) native

# The local TURN relay is Debian's coturn (`turnserver`): installed here when missing (as root,
# as on CI), otherwise the command to run is printed and the stack runs without a relay.
coturn:
	@command -v turnserver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q coturn; \
	  else \
	    echo "The TURN relay needs coturn; install it with:  sudo apt-get install -y coturn" >&2; \
	  fi; }

# The web client has no build step; hls.js comes from npm, pinned by web/package-lock.json,
# copied into web/vendor/ (ignored by git), as the CDK deployment ships it.
web/vendor/hls.min.js: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "The web client vendors hls.js from npm: install Node.js (npm), e.g. sudo apt-get install -y npm" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund && mkdir -p vendor && cp node_modules/hls.js/dist/hls.min.js vendor/

web: web/vendor/hls.min.js

run: install coturn web
	$(PY) -m local $(if $(SEED),--seed,) $(if $(FRESH),--fresh,)

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/hadolint media_worker/Dockerfile

typecheck: install
	$(PY) -m mypy chalicelib media_worker local parlor_contract

test: install coturn web lint typecheck
	$(PY) -m pytest -q -n 2 --ignore=tests/browser

# The worker's real-audio tests again on the batch path's pure-Python fallback (what a worker
# runs where the compiled fan-out cannot load): `make test` runs them on the compiled one.
test-fallback: install
	PARLOR_MEDIA_BATCH=python $(PY) -m pytest -q -n 2 tests/media_worker

# The web client in a real browser (tests/browser): Debian's chromium (Playwright cannot
# download its own browsers here) and an emoji font for the screenshots, installed when missing
# as root, as on CI; otherwise the command to run is printed. `web` vendors hls.js.
.PHONY: chromium test-browser
chromium:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji; \
	  else \
	    echo "The browser tests need Debian's chromium; install it with:  sudo apt-get install -y chromium fonts-noto-color-emoji" >&2; \
	    exit 1; \
	  fi; }

test-browser: install chromium $(if $(wildcard web/package.json),web)
	$(PY) -m pytest -q -rs tests/browser

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
	$(INFRA_PY) -m pip install --quiet pip==26.2.1  # chalice 1.34 takes pip < 26.3
	$(INFRA_PY) -m pip install --quiet -r infra/requirements.txt
	touch $(INFRA_STAMP)

infra-install: $(INFRA_STAMP)

# CloudFront checks the API's signed HLS access with the public half of an RSA 2048 key pair:
# `make cdn-keys` writes both into .cdn-keys/ (ignored by git; the private key 0600), once.
CDN_KEYS := .cdn-keys
cdn-keys:
	@test ! -e $(CDN_KEYS)/cdn-private.pem || { echo "$(CDN_KEYS)/cdn-private.pem exists; not replacing it" \
	  "(the deployed stack checks signatures with its public half). Move it away first to make a new pair." >&2; exit 1; }
	@mkdir -p $(CDN_KEYS) && chmod 700 $(CDN_KEYS)
	@(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $(CDN_KEYS)/cdn-private.pem)
	@openssl pkey -in $(CDN_KEYS)/cdn-private.pem -pubout -out $(CDN_KEYS)/cdn-public.pem
	@echo "Wrote $(CDN_KEYS)/cdn-private.pem (0600) and $(CDN_KEYS)/cdn-public.pem."
	@echo "- cdk deploy (in infra/) reads the public key from ../$(CDN_KEYS)/cdn-public.pem (infra/cdk.json: cdnPublicKeyFile)."
	@echo "- Put the private key into the secret of the SecretArn output, beside Stripe's, under PARLOR_CDN_PRIVATE_KEY;"
	@echo "  put-secret-value replaces the whole value: README (Deploying to AWS) has the command that sets all three."

# Synthesis needs a CloudFront public key: the one `make cdn-keys` wrote, else a throwaway one
# (its private half is never written) in infra/cdk.out, named so: never deploy that template.
CDN_PUBLIC_KEY = $(or $(wildcard $(CURDIR)/$(CDN_KEYS)/cdn-public.pem),$(CURDIR)/infra/cdk.out/THROWAWAY-cdn-public.pem)

# Made with the infra venv's cryptography (CI's clean machine need not have openssl).
THROWAWAY_KEY_PY := import sys; from cryptography.hazmat.primitives import serialization as s; \
  from cryptography.hazmat.primitives.asymmetric import rsa; \
  key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(); \
  open(sys.argv[1], "wb").write(key.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
$(CURDIR)/infra/cdk.out/THROWAWAY-cdn-public.pem: | $(INFRA_STAMP)
	@mkdir -p $(@D)
	$(INFRA_PY) -c '$(THROWAWAY_KEY_PY)' $@

synth: infra-install web $(CDN_PUBLIC_KEY)
	cd infra && CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='{"cdnPublicKeyFile": "$(CDN_PUBLIC_KEY)"}' ../$(INFRA_PY) app.py

lint-infra: synth
	$(INFRA_VENV)/bin/cfn-lint infra/cdk.out/*.template.json

test-infra: infra-install web
	$(INFRA_PY) -m pytest -q --noconftest tests/infra

clean:
	rm -f media_worker/_batch*.so
	rm -rf $(VENV) $(INFRA_VENV) .local-run .mypy_cache .ruff_cache infra/cdk.out chalice.out infra/chalice.out web/node_modules web/vendor
