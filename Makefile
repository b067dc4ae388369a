# The README's two commands are `make run` and `make test`; everything they need
# (virtualenv, packages, the Kafka broker's jars, PostgreSQL and Kafka themselves)
# is installed and started from here.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)

.PHONY: install lock run test test-unit bench chaos lint format infra-up infra-down infra-status clean

# Every package at the version requirements.lock pins (the same CI installs), then the
# project itself, editable, without letting pip resolve anything again.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

# Regenerates requirements.lock from pyproject.toml (main and dev dependencies) with uv,
# keeping the pins that still fit; `make lock UPGRADE=1` takes the newest that fit.
# tests/unit/test_lock.py fails while the lock is stale.
LOCK_FLAGS := --extra dev --universal --python-version 3.11 --custom-compile-command "make lock"
lock:
	@test -x $(BIN)/uv || $(MAKE) install
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(if $(UPGRADE),--upgrade) -q -o requirements.lock
	$(MAKE) install

# `make run DEMO=200` seeds a synthetic site of 200 participants into an empty store.
run: install
	$(BIN)/lead run $(if $(DEMO),--demo $(DEMO))

# Starts its own Kafka and PostgreSQL (in .lead/test, on ports of their own), runs
# every test layer against them, and stops them again.
test: install
	$(BIN)/pytest --durations=12

bench: install
	$(BIN)/lead bench

# Minutes of commands through the API while processes, Kafka and PostgreSQL are killed;
# checks nothing is lost or applied twice and writes the figures to bench/faults.json.
# Then three local Kafka brokers: one killed, then two (tests/cluster).
chaos: install
	$(BIN)/pytest tests/chaos tests/cluster -m "chaos or cluster" -q -s

test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

infra-up: install
	$(BIN)/lead infra up

infra-down: install
	$(BIN)/lead infra down

infra-status: install
	$(BIN)/lead infra status

clean:
	-$(BIN)/lead infra down
	rm -rf .lead $(VENV)
