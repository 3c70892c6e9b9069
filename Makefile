# The two commands of the README: `make run` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: setup run test lint unit bench chaos images asyncapi openapi docs schemas infra-up infra-down

setup:  ## the development environment (.venv) and the Kafka broker's classpath
	bash deploy/local/setup-python.sh
	bash deploy/local/kafka.sh setup

run: setup  ## start the system locally (Ctrl-C stops what it started)
	bash deploy/local/run.sh

test: setup  ## everything: lint, types, import rules, contracts, the images, the whole suite on real Kafka + PostgreSQL
	bash deploy/local/setup-browser.sh
	bash deploy/local/setup-promtool.sh
	$(MAKE) --no-print-directory lint
	bash deploy/images/build.sh
	bash deploy/local/with-infra.sh $(PY) -m pytest -q $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/mypy -p contracts -p servicekit -p outreach_ops -p plusvibe -p copywriter -p leads -p audits -p writeback -p unibox -p outreach_local -p dashboard
	.venv/bin/mypy examples/lead_subscriber
	.venv/bin/lint-imports
	$(PY) -m outreach_ops.schema_compat --check

unit: setup  ## fast tests that need no broker or database
	$(PY) -m pytest -q -m "not kafka and not postgres and not e2e"

asyncapi:
	$(PY) -m outreach_ops.asyncapi -o docs/asyncapi.json

openapi:
	env -u DATABASE_URL $(PY) -m outreach_local.openapi -o docs/openapi

docs: asyncapi openapi  ## regenerate the committed API documents (a test checks they are current)

schemas:  ## refresh JSON Schema snapshots after an additive contract change (refuses breaking ones)
	$(PY) -m outreach_ops.schema_compat --write

chaos: setup  ## full size: the pipeline under kills (10,000 leads, 60 s PlusVibe outage) and 1 % poison among 10,000
	CHAOS_LEADS=$${CHAOS_LEADS:-10000} CHAOS_OUTAGE_S=$${CHAOS_OUTAGE_S:-60} CHAOS_START_RATE=$${CHAOS_START_RATE:-40} \
	CHAOS_DRAIN_S=$${CHAOS_DRAIN_S:-180} CHAOS_REPORT=$${CHAOS_REPORT:-.local/chaos-report.json} \
	POISON_VALID=$${POISON_VALID:-10000} \
	bash deploy/local/with-infra.sh $(PY) -m pytest -q -s tests/chaos tests/poison

images: setup  ## every container image with podman (one Dockerfile: deploy/images), their sizes
	bash deploy/images/build.sh

bench: setup  ## benchmarks: print figures beside their ceilings (docs/PERFORMANCE.md); BENCH_ARGS="--only read"
	bash deploy/local/with-infra.sh $(PY) tests/bench/run_all.py $(BENCH_ARGS)

infra-up:
	bash deploy/local/kafka.sh start
	bash deploy/local/postgres.sh start

infra-down:
	bash deploy/local/kafka.sh stop
	bash deploy/local/postgres.sh stop
