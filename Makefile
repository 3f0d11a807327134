# `make run` and `make test` set themselves up: a virtual environment in .venv (and .venv-sam for the
# SAM CLI), rebuilt when a requirements file changes.
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
# sam build needs the Lambda runtime's python (3.13) on PATH.
PY313_DIR := $(shell dirname "$$(pyenv which python3.13 2>/dev/null || PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13)" 2>/dev/null)
# The venv runs the Lambda runtime's python when it is here (ruff's target-version keeps 3.11 syntax).
PYTHON ?= $(if $(PY313_DIR),$(PY313_DIR)/python3.13,python3)
export SAM_CLI_TELEMETRY := 0
comma := ,
export PATH := $(abspath $(SAM_VENV)/bin):$(PY313_DIR):$(PATH)

.PHONY: run test test-py311 bench lint build validate deploy clean token-issue token-list token-revoke

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

# PARAMS="AuthMode=TOKEN SlotReclaim=notify": any template parameters, each as sam deploy's --parameter-overrides.
run: $(VENV)/.installed  ## serve the whole API on http://127.0.0.1:3000/v3 (Ctrl-C stops); PORT=, AUTH_MODE=TOKEN, PARAMS="Name=Value ..."
	$(PY) -m local $(if $(AUTH_MODE),--parameter AuthMode=$(AUTH_MODE)) $(foreach p,$(PARAMS),--parameter $(p))

# Team tokens (AuthMode=TOKEN): against a deployed stack with STACK=<name> [REGION=...], else the local server
# (the one `make run` is running, whatever its port; LOCAL_URL=... names another).
TOKEN_TARGET = $(if $(STACK),--stack $(STACK) $(if $(REGION),--region $(REGION)),--local $(LOCAL_URL))

token-issue: $(VENV)/.installed  ## TEAM=<name> [SUBUSERS=a,b] [DESCRIPTION=...] [STACK=<name>]: prints the token once
	@test -n "$(TEAM)" || { echo "usage: make token-issue TEAM=<name> [SUBUSERS=a,b] [STACK=<stack>]"; exit 2; }
	$(PY) -m team_tokens $(TOKEN_TARGET) issue --team "$(TEAM)" $(foreach s,$(subst $(comma), ,$(SUBUSERS)),--subuser "$(s)") $(if $(DESCRIPTION),--description "$(DESCRIPTION)")

token-list: $(VENV)/.installed  ## [STACK=<name>] [ALL=1]: tokens and their teams, never their secrets
	$(PY) -m team_tokens $(TOKEN_TARGET) list $(if $(ALL),--all)

token-revoke: $(VENV)/.installed  ## TOKEN_ID=<id> [STACK=<name>]: refused from the next request on
	@test -n "$(TOKEN_ID)" || { echo "usage: make token-revoke TOKEN_ID=<id> [STACK=<stack>]"; exit 2; }
	$(PY) -m team_tokens $(TOKEN_TARGET) revoke "$(TOKEN_ID)"

test: $(VENV)/.installed $(SAM_VENV)/.installed  ## every test: lint, architecture contracts, unit, integration, contract, local, template
	$(PY) -m ruff check .
	PYTHONPATH=layers/shared:. $(VENV)/bin/lint-imports
	$(PY) -m pytest

# The code must also run on Python 3.11 (the machine default): the unit, integration and contract suites again.
PY311 ?= $(shell PYENV_VERSION=3.11.7 pyenv which python3.11 2>/dev/null || command -v python3.11)
$(VENV)-py311/.installed: requirements-dev.txt layers/shared/requirements.txt
	test -x $(VENV)-py311/bin/python || $(PY311) -m venv $(VENV)-py311
	$(VENV)-py311/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-py311/bin/python -m pip install --quiet -r requirements-dev.txt
	touch $@

test-py311: $(VENV)-py311/.installed
	$(VENV)-py311/bin/python -m pytest tests/unit tests/integration tests/contract

bench: $(VENV)/.installed  ## performance: writes bench-results.json and prints a table (not part of make test)
	$(PY) -m bench

lint: $(VENV)/.installed $(SAM_VENV)/.installed
	$(PY) -m ruff check .
	PYTHONPATH=layers/shared:. $(VENV)/bin/lint-imports
	$(PY) -m ruff format --check .
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

build: $(SAM_VENV)/.installed
	$(SAM) build

validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint

deploy: build
	$(SAM) deploy

clean:
	rm -rf $(VENV) $(VENV)-py311 $(SAM_VENV) .aws-sam .pytest_cache
