# Tridium — one toolchain, one entry point.
#   make run    bring the whole platform up (embedded Postgres + Redis + Ray Serve)
#   make test   install what is missing and run the whole suite
#   make lint   ruff (lint + format check) and mypy
#   make bench  run the benchmarks in bench/
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run down status test lint format openapi ts-types console bench lock clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==25.3
	@# The CPU build of torch that lies on this machine, first, so nothing resolves a CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# The pinned TypeScript generator and compiler (clients/ts/package-lock.json); `npm ci` reinstalls them
# from the lock (offline once the npm cache has the tarballs).
TS_STAMP := clients/ts/node_modules/.installed
$(TS_STAMP): clients/ts/package.json clients/ts/package-lock.json
	@bash scripts/system-deps.sh
	cd clients/ts && npm ci --no-audit --no-fund --prefer-offline --silent
	@touch $(TS_STAMP)

install: $(STAMP) $(TS_STAMP)

# OS packages the platform needs, installed only when missing.
system-deps:
	@bash scripts/system-deps.sh

run: install system-deps
	$(BIN)/tridium up

down: install
	$(BIN)/tridium down

status: install
	$(BIN)/tridium status

test: install system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: install
	$(BIN)/python -m serve.openapi
	cd clients/ts && npm run --silent generate
	cd clients/ts && npm run --silent console:build

# TypeScript types of the API from docs/openapi.json (tests/unit/test_ts_types.py checks drift).
ts-types: install
	cd clients/ts && npm run --silent generate

# The operator console (clients/ts/console → serve/console/js; tests/unit/test_console_build.py
# checks the committed build). Type-checked against the generated API types.
console: install
	cd clients/ts && npm run --silent console:build

bench: install system-deps
	@bash scripts/system-deps.sh bench
	$(BIN)/python -m bench.gateway
	$(BIN)/python -m bench.agents
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.kpi
	$(BIN)/python -m bench.inbox
	$(BIN)/python -m bench.rag_eval
	$(BIN)/python -m bench.answers
	$(BIN)/python -m bench.rag_latency
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.embed_device
	$(BIN)/python -m bench.pii_mask

# Re-pin the whole dependency tree from the current virtualenv.
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^tridium' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache clients/ts/node_modules
