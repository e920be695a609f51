# Everything installs into .venv from the project's own files: Python packages, and (for the stacks) Node from
# PyPI plus the pinned CDK CLI from package-lock.json.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): requirements.txt requirements-dev.txt lambdas/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rollout-guard drill

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .hypothesis
