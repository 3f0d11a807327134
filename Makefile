# `make run` and `make test` set themselves up: a virtual environment in .venv (and .venv-sam for the
# SAM CLI), rebuilt when a requirements file or a pyproject.toml changes. The layer's package (layers/shared)
# and this repository's packages (local, bench, scheduled_sends_cli: the `scheduled-sends` command) are
# installed in it editable: imported from here.
VENV := .venv
SAM_VENV := .venv-sam
# checkov pins a boto3 older than ours: its own venv (requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
# sam build needs the Lambda runtime's python (3.13) on PATH.
PY313_DIR := $(shell dirname "$$(pyenv which python3.13 2>/dev/null || PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13)" 2>/dev/null)
# The venv runs the Lambda runtime's python when it is here (ruff's target-version keeps 3.11 syntax).
PYTHON ?= $(if $(PY313_DIR),$(PY313_DIR)/python3.13,python3)
export SAM_CLI_TELEMETRY := 0
comma := ,
export PATH := $(abspath $(SAM_VENV)/bin):$(PY313_DIR):$(PATH)

.PHONY: run test test-fast test-py311 types bench lint build validate deploy clean cost migrate token-issue token-list token-revoke \
	editable editable-py311 docs docs-gen browser

DEV_REQUIREMENTS := requirements-dev.txt layers/shared/requirements.txt pyproject.toml layers/shared/pyproject.toml

$(VENV)/.installed: $(DEV_REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# A venv copied from another checkout imports that checkout's code (its editable installs point there): each
# run of the tests first checks they point at this tree, and installs them again here when they do not.
EDITABLE_HERE = -c 'import pathlib, sys, local, scheduled_sends, scheduled_sends_cli; here = pathlib.Path.cwd().resolve(); \
	sys.exit(any(not pathlib.Path(m.__file__).resolve().is_relative_to(here) for m in (local, scheduled_sends, scheduled_sends_cli)))'
editable: $(VENV)/.installed
	@$(PY) $(EDITABLE_HERE) 2>/dev/null || $(PY) -m pip install --quiet --no-deps -e layers/shared -e .

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

# PARAMS="AuthMode=TOKEN SlotReclaim=notify": any template parameters, each as sam deploy's --parameter-overrides.
run: $(VENV)/.installed  ## serve the whole API on http://127.0.0.1:3000/v3 (Ctrl-C stops); PORT=, AUTH_MODE=TOKEN, PARAMS="Name=Value ..."
	$(PY) -m local $(if $(AUTH_MODE),--parameter AuthMode=$(AUTH_MODE)) $(foreach p,$(PARAMS),--parameter $(p))

# Team tokens (AuthMode=TOKEN), thin wrappers of `scheduled-sends tokens ...` (the command-line tool,
# scheduled_sends_cli): against a deployed stack with STACK=<name> [REGION=...], else the local server (the one
# `make run` is running, whatever its port; LOCAL_URL=... names another).
TOKEN_TARGET = $(if $(STACK),--stack $(STACK) $(if $(REGION),--region $(REGION)),--local $(LOCAL_URL))
CLI = $(PY) -m scheduled_sends_cli

token-issue: $(VENV)/.installed  ## TEAM=<name> [SUBUSERS=a,b] [DESCRIPTION=...] [STACK=<name>]: prints the token once
	@test -n "$(TEAM)" || { echo "usage: make token-issue TEAM=<name> [SUBUSERS=a,b] [STACK=<stack>]"; exit 2; }
	$(CLI) $(TOKEN_TARGET) tokens issue --team "$(TEAM)" $(foreach s,$(subst $(comma), ,$(SUBUSERS)),--subuser "$(s)") $(if $(DESCRIPTION),--description "$(DESCRIPTION)")

token-list: $(VENV)/.installed  ## [STACK=<name>] [ALL=1]: tokens and their teams, never their secrets
	$(CLI) $(TOKEN_TARGET) tokens list $(if $(ALL),--all)

token-revoke: $(VENV)/.installed  ## TOKEN_ID=<id> [STACK=<name>]: refused from the next request on
	@test -n "$(TOKEN_ID)" || { echo "usage: make token-revoke TOKEN_ID=<id> [STACK=<stack>]"; exit 2; }
	$(CLI) $(TOKEN_TARGET) tokens revoke "$(TOKEN_ID)"

# The local console's browser test drives Debian's Chromium through Selenium (Playwright's own browser download
# cannot reach its host here); installed when missing, with sudo unless make runs as root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; }

# pytest runs in three workers (pytest-xdist); tests that share one server or file are kept on one worker by their
# xdist_group marks (--dist loadgroup). Three on this 2-core machine because many tests wait on a local server or a
# subprocess: measured on a fresh clone, make test took 5m18s with one worker per core and 5m00s with three.
PYTEST_PARALLEL := -n 3 --dist loadgroup
# Run in one process after the parallel run (its last test reads counts its schemathesis-generated tests left).
PYTEST_SERIAL := tests/fuzz/test_schemathesis_token_mode.py

# The template is held to AWS's rules by tests/infrastructure/test_aws_rules.py (cfn-lint's serverless rules, checkov).
test: editable $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed browser  ## every test: lint, architecture contracts, types, unit, integration, contract, local, fuzz, infrastructure, AWS's rules, docs (mkdocs build --strict)
	$(PY) -m ruff check .
	$(PY) $(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_PARALLEL) --ignore=$(PYTEST_SERIAL)
	$(PY) -m pytest $(PYTEST_SERIAL)

# The inner loop: the same checks and every test but those marked slow (sam build, sam validate, the end-to-end runs).
test-fast: editable browser  ## lint, contracts, types and every test not marked slow
	$(PY) -m ruff check .
	$(PY) $(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow" --ignore=$(PYTEST_SERIAL)
	$(PY) -m pytest -m "not slow" $(PYTEST_SERIAL)

types: editable  ## the type checks alone (pyproject.toml [tool.mypy])
	$(PY) -m mypy

# The code must also run on Python 3.11 (the machine default): the unit, integration and contract suites again.
PY311 ?= $(shell PYENV_VERSION=3.11.7 pyenv which python3.11 2>/dev/null || command -v python3.11)
$(VENV)-py311/.installed: $(DEV_REQUIREMENTS)
	test -x $(VENV)-py311/bin/python || $(PY311) -m venv $(VENV)-py311
	$(VENV)-py311/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-py311/bin/python -m pip install --quiet -r requirements-dev.txt
	touch $@

editable-py311: $(VENV)-py311/.installed
	@$(VENV)-py311/bin/python $(EDITABLE_HERE) 2>/dev/null || \
		$(VENV)-py311/bin/python -m pip install --quiet --no-deps -e layers/shared -e .

test-py311: editable-py311
	$(VENV)-py311/bin/python -m pytest $(PYTEST_PARALLEL) tests/unit tests/integration tests/contract

docs: $(VENV)/.installed  ## serve the documentation site on http://127.0.0.1:8000 (live reload; Ctrl-C stops)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

# Regenerates docs/generated/ from template.yaml, schemas/, openapi/ and the committed bench results; a test fails
# when they are stale. BENCH=bench-results.json first publishes a new `make bench` result as the latest figures.
docs-gen: $(VENV)/.installed
	$(PY) -m docs_gen $(if $(BENCH),--results $(BENCH))

bench: $(VENV)/.installed  ## performance: writes bench-results.json and prints a table (not part of make test)
	$(PY) -m bench

cost: $(VENV)/.installed  ## monthly AWS cost at three sizes from bench-results.json / cost/measured.json and cost/prices.json
	$(PY) -m cost --write-docs

# After deploying a new release: bring data written by earlier releases up to it (docs/operations/upgrades.md).
migrate: $(VENV)/.installed  ## STACK=<name> [REGION=...]: one-off data migrations; idempotent
	@test -n "$(STACK)" || { echo "usage: make migrate STACK=<stack> [REGION=<region>]"; exit 2; }
	$(PY) -m migrations --stack $(STACK) $(if $(REGION),--region $(REGION))

lint: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m ruff check .
	$(PY) $(VENV)/bin/lint-imports
	$(PY) -m ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download
	$(SAM) validate --lint

build: $(SAM_VENV)/.installed
	$(SAM) build

validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint

deploy: build
	$(SAM) deploy

clean:
	rm -rf $(VENV) $(VENV)-py311 $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache
