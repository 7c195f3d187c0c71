# flexemp: the targets read like the README. `make demo` and `make test` are all a
# fresh machine needs (Python 3.11 and make; uv is installed on first use).

SHELL := /bin/bash
WORK ?= $(CURDIR)/.work
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
AIRFLOW_PORT ?= 8080

# Compile bytecode at install: Airflow is large, and without .pyc files every
# process recompiles it (several seconds per `flexemp` or pytest start).
export UV_COMPILE_BYTECODE := 1
export FLEXEMP_WORK_DIR := $(WORK)

.PHONY: help setup demo test bench lint airflow clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup:  ## install uv if missing, then the locked environment (.venv)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --user uv || pip install uv
	$(UV) sync --frozen
	@# The PDF reports need a CJK font (else Chinese renders as boxes) and HarfBuzz's subsetter
	@# (else weasyprint subsets the large CJK font in Python, ~1 min per report): install the
	@# Debian packages once, when missing and apt is usable as root.
	@missing=""; \
	[ -n "$$(fc-list :lang=zh 2>/dev/null)" ] || missing="fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing for the PDF reports:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing && fc-cache -f >/dev/null; \
		else \
			echo "warning: PDF reports need: $$missing (as root: apt-get install $$missing)" >&2; \
		fi; \
	fi

demo: setup  ## generate sample deliveries into .work/demo and run the pipeline on them
	$(UV) run flexemp demo

test: setup  ## run the test suite (real DuckDB, real Airflow dag.test runs)
	$(UV) run pytest

BENCH_ARGS ?=
bench: setup  ## the benchmark: bare-DuckDB floor vs the pipeline (BENCH_ARGS="--workers N --months M")
	$(UV) run python bench/run_benchmark.py $(BENCH_ARGS)

lint: setup  ## ruff on Python, sqlfluff (dialect duckdb) on the dbt models
	$(UV) run ruff check .
	$(UV) run sqlfluff lint dbt/models dbt/macros

# A real scheduler, UI and API on http://localhost:$(AIRFLOW_PORT), with
# AIRFLOW_HOME in the work folder and the repo's dags/ folder. The first start
# migrates the metadata DB and creates the pool flexemp_warehouse (1 slot); the
# admin password is printed and kept in $(WORK)/airflow/simple_auth_manager_passwords.json.generated.
# The DAGs read FLEXEMP_LANDING / FLEXEMP_WAREHOUSE (default: the demo's files).
airflow: setup  ## run `airflow standalone` on this project's DAGs
	export AIRFLOW_HOME=$(WORK)/airflow \
		AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
		AIRFLOW__CORE__LOAD_EXAMPLES=False \
		AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS=False \
		AIRFLOW__API__PORT=$(AIRFLOW_PORT) && \
	$(UV) run python -m pipelines.orchestration && \
	$(UV) run airflow standalone

clean:  ## remove the work folder (demo data, warehouse, Airflow home) and caches
	rm -rf $(WORK) .pytest_cache .ruff_cache dbt/target dbt/logs
