# The single entry points; CI calls the same targets (.ci/run -> make test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run stop test test-ops test-tls chromium test-unit lint bench profile audit fuzz chaos infra-up infra-down schemas clean compose-check test-docker

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Bring up Kafka + Postgres + topics + seed + all services, run the demo, leave everything running.
run: $(STAMP)
	INFRA_NAME=dev bash deploy/local/infra.sh up
	source .run/dev/env && $(BIN)/python -m shared.setup --seed
	INFRA_NAME=dev bash deploy/local/services.sh start
	source .run/dev/env && $(BIN)/python deploy/local/demo.py
	source .run/dev/env && $(BIN)/python deploy/local/demo_http.py
	@source .run/dev/env && echo "The platform is running (logs in .run/dev/logs). Stop it with: make stop" && \
	  echo "  ECTicket over HTTP: $$GATEWAY_URL/api/Ticket/<Operation>  (docs/http.md)" && \
	  echo "  operations dashboard: http://127.0.0.1:$$OPS_WEB_PORT/  (docs/ops-dashboard.md)" && \
	  echo "  metrics: http://127.0.0.1:$$METRICS_PORT_BASE/metrics and the next ports, one per service"

stop:
	-INFRA_NAME=dev bash deploy/local/services.sh stop
	INFRA_NAME=dev bash deploy/local/infra.sh down

# Its own Kafka and Postgres on other ports (fsync off: tests only), torn down afterwards whatever happens.
test: $(STAMP) chromium
	@export INFRA_NAME=test KAFKA_PORT=$${TEST_KAFKA_PORT:-29092} PG_PORT=$${TEST_PG_PORT:-25432} PG_FAST=1; \
	bash deploy/local/infra.sh up || exit 1; \
	source .run/test/env; \
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	bash deploy/local/infra.sh down; \
	if [ -z "$(PYTEST_ARGS)" ]; then env -u KAFKA_PORT -u PG_PORT $(MAKE) --no-print-directory test-ops || status=1; fi; \
	if [ -z "$(PYTEST_ARGS)" ]; then env -u KAFKA_PORT -u PG_PORT $(MAKE) --no-print-directory test-tls || status=1; fi; \
	exit $$status

# The ops dashboard's browser test drives Debian's headless Chromium; installed once (needs root and the Debian
# mirror), else the test says why it skips.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq chromium >/dev/null 2>&1; } || \
	  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } || \
	  echo "chromium could not be installed: the ops dashboard's browser test will skip"

# The ops app's own tests, which publish synthetic histories onto the event topics: on an instance of their own,
# without the platform acting on them (tests/integration/test_ops_app.py says why). `make test` runs them after the
# rest of the suite (when it runs the whole suite, without PYTEST_ARGS).
test-ops: $(STAMP) chromium
	$(call tests_on_own_instance,test-ops,ECTICKET_OPS_TESTS=1,tests/integration/test_ops_app.py tests/integration/test_ops_browser.py)

# The broker's TLS listener (tests/integration/test_kafka_tls.py), which the suite's plaintext instance skips: on a
# TLS and SCRAM instance of its own. `make test` runs it after the rest (when it runs the whole suite).
test-tls: $(STAMP)
	$(call tests_on_own_instance,test-tls,KAFKA_TLS=1 KAFKA_AUTH=scram,tests/integration/test_kafka_tls.py)

# Tests on an instance of their own, up for them and down after: $(1) its name, $(2) what it is started with,
# $(3) the test files.
define tests_on_own_instance
	@export INFRA_NAME=$(1) PG_FAST=1 $(2); \
	bash deploy/local/infra.sh up >/dev/null || exit 1; \
	source .run/$(1)/env; \
	$(BIN)/pytest $(3) $(PYTEST_ARGS); status=$$?; \
	bash deploy/local/infra.sh down; \
	exit $$status
endef

test-unit: $(STAMP)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

# Docker (docs/docker.md): builds the images (stand-ins for apache/kafka and postgres where no registry answers),
# runs docker-compose.yml on ports of its own, drives the demo through it and tears it down.
compose-check: $(STAMP)
	bash deploy/docker/compose-check.sh

# A part of the suite on Kafka and PostgreSQL containers (the tests' testcontainers path); `make test` needs no Docker.
test-docker: $(STAMP)
	bash deploy/docker/test-docker.sh $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services tests deploy
	$(BIN)/lint-imports
	$(BIN)/python -m deploy.k8s.generate --check
	$(BIN)/kubernetes-validate --strict --quiet $(filter-out %/kustomization.yaml,$(wildcard deploy/k8s/base/*.yaml))

# Benchmarks claim durability: fsync stays on here.
# Every run starts from an empty instance: tables and logs left by earlier runs (30 GB after a few) made results
# depend on history (expiry 19,900-20,100 tickets/s on such an instance, 21,000-22,100 on an empty one).
# Its ports stay below Linux's ephemeral range (32768-60999), as infra.sh's own do: 35432 was taken by some client's
# outgoing connection between two runs, and PostgreSQL could not start ("Address already in use").
# Before anything is measured the broker is warmed (BENCH_WARMUP_SECONDS, default 60): a fresh JVM compiles.
bench: $(STAMP)
	@export INFRA_NAME=bench KAFKA_PORT=$${BENCH_KAFKA_PORT:-31092} PG_PORT=$${BENCH_PG_PORT:-31432}; \
	bash deploy/local/infra.sh down >/dev/null 2>&1; rm -rf .run/bench; \
	bash deploy/local/infra.sh up || exit 1; \
	source .run/bench/env; \
	$(BIN)/python -m shared.setup --seed && $(BIN)/python deploy/bench/run.py $(BENCH_ARGS); status=$$?; \
	bash deploy/local/services.sh stop; bash deploy/local/infra.sh down; \
	exit $$status

# The auditors' replay of a running platform's event log (make run's; INFRA_NAME=... for another), reconciled with
# the services' databases; exit 0 only when everything checks out (docs/audit.md). AUDIT_ARGS adds options.
audit: $(STAMP)
	@instance=$${INFRA_NAME:-dev}; source .run/$$instance/env && \
	$(BIN)/python -m services.audit verify --trust-local-key --reconcile --json .run/$$instance/audit.json $(AUDIT_ARGS)

# The fuzz campaign (issue 16): 100,000 mutated messages through both ingestion topics of a platform of its own,
# then 100,000 through its HTTP gateway (the twelve paths, the payment webhook, stray requests; the gateway's
# per-merchant rate limit lifted so the inputs reach the validators), then 100,000 admin CLI command lines;
# FUZZ_ARGS='--inputs 20000 --seed 7' for another size or seed, '--transport http' for one transport. make test runs
# 2,000 Kafka, 1,000 HTTP and 300 CLI inputs. A correctly
# signed result of a trade the processor never saw waits for verification (production: minutes) before it is
# rejected, and a WriteOff of an unseen ticket waits for it: both shortened, as in the tests, so every input's
# answer comes within the campaign's minute of waiting.
fuzz: $(STAMP)
	@export INFRA_NAME=fuzz PG_FAST=1; \
	export PAYMENT_VERIFY_GIVE_UP_SECONDS=15 REDEMPTION_TICKET_WAIT_SECONDS=10; \
	export GATEWAY_RATE_PER_SECOND=1000000 GATEWAY_RATE_BURST=1000000; \
	bash deploy/local/infra.sh up >/dev/null || exit 1; \
	source .run/fuzz/env; \
	$(BIN)/python -m shared.setup --seed && bash deploy/local/services.sh start && \
	$(BIN)/python -m deploy.fuzz --cli-inputs 100000 $(FUZZ_ARGS); status=$$?; \
	bash deploy/local/services.sh stop; bash deploy/local/infra.sh down; \
	exit $$status

# The whole-pipeline benchmark with a py-spy flame graph of every service (and its relay) under .profile/, over the
# measured burst, and the per-order CPU budget by kind of work appended with it to docs/benchmarks.md.
profile: $(STAMP)
	$(MAKE) bench BENCH_ARGS='--only pipeline' PROFILE_DIR=$(CURDIR)/.profile

# The chaos run (docs/chaos.md): an instance of its own from empty (fsync on: it crashes PostgreSQL), two instances of
# every service, CHAOS_ORDERS paid orders (default 100000) under the fault schedule of CHAOS_SEED (default 1); the
# JSON result is left in .run/chaos-result.json. Exits non-zero when anything was lost, duplicated or wrong.
chaos: $(STAMP)
	@export INFRA_NAME=chaos ECTICKET_INSTANCES=2; \
	bash deploy/local/services.sh stop >/dev/null 2>&1; bash deploy/local/infra.sh down >/dev/null 2>&1; rm -rf .run/chaos; \
	bash deploy/local/infra.sh up || exit 1; \
	source .run/chaos/env; \
	$(BIN)/python -m shared.setup --seed && bash deploy/local/services.sh start && \
	$(BIN)/python -m deploy.chaos --orders $${CHAOS_ORDERS:-100000} --seed $${CHAOS_SEED:-1} --json .run/chaos-result.json; \
	status=$$?; bash deploy/local/services.sh stop; bash deploy/local/infra.sh down; \
	exit $$status

schemas: $(STAMP)
	$(BIN)/python -m shared.contracts.schemas docs/schemas
	$(BIN)/python -m services.gateway.openapi docs/openapi.json

clean:
	rm -rf .run $(VENV)
