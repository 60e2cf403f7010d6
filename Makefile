# syncjobs: `make demo` runs a real job on the local stack; `make test` runs the whole suite.
# Both set everything up themselves (virtualenvs included) on a fresh clone. Whatever runs the local stack
# needs the tools venv too: its IAM check takes each function's policy from the SAM translator.

PYTHON ?= python3.11
VENV := .venv
TOOLS := .venv-tools
SAM := .venv-sam
PY := $(VENV)/bin/python
TOOLS_PY := $(TOOLS)/bin/python
# SAM CLI sends usage data to AWS unless told not to; builds and checks here stay offline from AWS.
SAM_CLI := SAM_CLI_TELEMETRY=0 $(SAM)/bin/sam
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-large unit integration e2e lint typecheck check-template validate bench build clean openapi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# aws-sam-translator pins pydantic differently from the runtime set: it gets its own environment.
$(TOOLS)/.installed: infra/tools/requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS_PY) -m pip install --quiet -r infra/tools/requirements.txt
	touch $@

# SAM CLI pins aws-sam-translator, cfn-lint and boto3 apart from both sets above: a third environment.
$(SAM)/.installed: infra/tools/sam-requirements.txt
	$(PYTHON) -m venv $(SAM)
	$(SAM)/bin/python -m pip install --quiet -r infra/tools/sam-requirements.txt
	touch $@

venv: $(VENV)/.installed $(TOOLS)/.installed $(SAM)/.installed

demo: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m syncjobs_local demo

# Two pytest workers (one local stack each): this machine and CI have two cores.
test: $(VENV)/.installed $(TOOLS)/.installed $(SAM)/.installed lint typecheck
	$(PY) -m pytest -q -n 2 -m "not large" tests

# The 10,000-user engine scenario: 4 to 8 minutes here (scim2-server's memory store slows as it fills).
test-large: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m pytest -q -m large tests

unit: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit

integration: $(VENV)/.installed $(TOOLS)/.installed $(SAM)/.installed
	$(PY) -m pytest -q tests/integration

e2e: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) -m pytest -q tests/e2e

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

check-template: $(TOOLS)/.installed
	$(TOOLS_PY) infra/tools/check_template.py template.yaml

# SAM CLI's own check (offline: cfn-lint needs a region, no credentials); tests/integration/test_sam_cli.py runs it.
validate: $(SAM)/.installed
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(SAM_CLI) validate --lint

openapi: $(VENV)/.installed
	$(PY) infra/tools/openapi.py

bench: $(VENV)/.installed $(TOOLS)/.installed
	POWERTOOLS_LOG_LEVEL=WARNING $(PY) -m tests.bench $(BENCH_ARGS)

# No Docker and no AWS needed: pip fetches the layer's arm64 (manylinux aarch64) wheels from PyPI.
build: $(SAM)/.installed
	$(SAM_CLI) build

clean:
	rm -rf $(VENV) $(TOOLS) $(SAM) .pytest_cache .mypy_cache .ruff_cache .aws-sam
