# The README's two commands are `make run` and `make test`; everything they need
# (virtualenv, packages, the Kafka broker's jars, PostgreSQL and Kafka themselves)
# is installed and started from here.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run test test-unit bench chaos lint format infra-up infra-down infra-status clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

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
