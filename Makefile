# Everything installs into the project from its own files: Python packages into .venv (Node 24 among them, from
# PyPI), and the pinned CDK CLI from package-lock.json into node_modules. Nothing is taken from the machine but
# Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CDK := node_modules/.bin/cdk
TOOLS := .tools
# jsii and the CDK CLI find `node` on PATH: the one in .venv.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1
# Bytecode is cached (in __pycache__, ignored by git) even where the machine asks Python not to write it: without
# it every test process compiled the project again and pytest rewrote every test module's asserts in each worker.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install chromium demo test check synth diff deploy deploy-local bench mutation clean

$(STAMP): requirements.txt requirements-dev.txt requirements-checkov.txt lambdas/rollout_guard/requirements.txt pyproject.toml package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[cdk,local,report]'
	command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory chromium
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	test -x $(TOOLS)/checkov/bin/python || $(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

install: $(STAMP)

# Debian's Chromium, which the replay report's browser test drives through Playwright (the machine's package
# manager: root, or sudo).
chromium:
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

demo: $(STAMP)
	$(BIN)/rollout-guard drill

test: $(STAMP)
	$(BIN)/python -m pytest

# The inner loop: the unit tests not marked slow, the static checks (ruff, mypy, the import contracts). CI runs
# everything (make test).
check: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" tests/unit tests/test_static_checks.py

synth: $(STAMP)
	$(CDK) synth --quiet

diff: $(STAMP)
	$(CDK) diff

# Real AWS: needs credentials and a bootstrapped account (see README).
deploy: $(STAMP)
	$(CDK) deploy

# A rehearsal on a moto server: real cdk bootstrap and deploy, nothing leaves this machine.
deploy-local: synth
	$(BIN)/python -m rollout_guard_local.rehearsal

# Not part of make test: figures side by side with a bare handler, printed as one table (see BENCHMARKS.md).
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/fleet_sim.py
	$(BIN)/python bench/replay.py

# Not part of make test: mutmut over the pure modules; prints each score, exits 1 under the 95% floor, 2 when the
# unit tests did not run (see BENCHMARKS.md).
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation.run

clean:
	rm -rf $(VENV) $(TOOLS) node_modules cdk.out .pytest_cache .hypothesis .mypy_cache .mutation
