# Quick start: `make demo` runs the whole pipeline on the embedded demo CRM; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_PORT ?= 8765
# The CRM of `make demo` and `make dev`: hubspot or salesforce. One CRM per data directory, so
# Salesforce's demo keeps its data apart unless CRM_KPI_DATA_DIR says otherwise.
CRM ?= hubspot
ifeq ($(CRM),salesforce)
CRM_KPI_DATA_DIR ?= data/salesforce
export CRM_KPI_DATA_DIR
endif

# The warehouse of `make demo`: duckdb, postgres (CRM_KPI_POSTGRES_URL) or spark (started here).
WAREHOUSE ?= duckdb
# `make spark-up`'s local cluster: pyspark in a venv of its own, its metastore and files here.
SPARK_VENV := .venv-spark
SPARK_DIR ?= .spark
SPARK_THRIFT_PORT ?= 10000
# The Spark distribution the local cluster runs (dbt-spark talks to any Spark 3.x/4.x server).
PYSPARK := pyspark==4.3.0

.PHONY: install chromium redis demo test test-fast dev lint format lock spark-up spark-down test-spark

install: $(STAMP)

# constraints.txt pins every transitive package, so an install next month resolves the same stack.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,service]'
	@touch $@

demo: install $(if $(filter spark,$(WAREHOUSE)),spark-up)
	CRM_KPI_WAREHOUSE=$(WAREHOUSE) \
	  $(if $(filter spark,$(WAREHOUSE)),CRM_KPI_SPARK_THRIFT=127.0.0.1:$(SPARK_THRIFT_PORT)) \
	  $(BIN)/crm-kpi demo --crm $(CRM)

# The browser tests drive Debian's Chromium (playwright downloads no browser of its own here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The Celery executor's test starts a throwaway Redis of Debian's (tests/test_celery_executor.py).
redis:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# The whole suite (what CI runs), and the tier without full pipeline runs or a browser.
test: install chromium redis
	$(BIN)/pytest

# Parsed once first: workers that each found the manifest stale would parse at once.
test-fast: install
	$(BIN)/python -c "from pipelines.dbt_assets import parse_manifest; parse_manifest('hubspot'); parse_manifest('salesforce')"
	$(BIN)/pytest -m "not pipeline and not browser and not spark" -n auto

# Spark: dbt's adapter in the project's venv; a standalone master, one worker and a Thrift
# Server on 127.0.0.1, started from pyspark's own scripts (tests/spark_cluster.py).
$(VENV)/.spark-stamp: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,service,spark]'
	@touch $@

$(SPARK_VENV)/.installed-stamp: constraints.txt
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt '$(PYSPARK)'
	@touch $@

spark-up: $(VENV)/.spark-stamp $(SPARK_VENV)/.installed-stamp
	$(SPARK_VENV)/bin/python tests/spark_cluster.py start $(SPARK_DIR) $(SPARK_THRIFT_PORT)

spark-down:
	@[ ! -x $(SPARK_VENV)/bin/python ] || $(SPARK_VENV)/bin/python tests/spark_cluster.py stop $(SPARK_DIR)

# The Spark tests, on a cluster started for them and stopped afterwards, whatever the outcome.
test-spark: spark-up
	CRM_KPI_SPARK_THRIFT=127.0.0.1:$(SPARK_THRIFT_PORT) $(BIN)/pytest -m spark; \
	  rc=$$?; $(MAKE) --no-print-directory spark-down; exit $$rc

dev: install
	@mkdir -p .dagster_home
	@$(BIN)/crm-kpi demo-crm --crm $(CRM) --port $(DEMO_PORT) & crm=$$!; \
	trap "kill $$crm" EXIT INT TERM; url=http://127.0.0.1:$(DEMO_PORT); \
	CRM_KPI_CRM=$(CRM) HUBSPOT_BASE_URL=$$url HUBSPOT_ACCESS_TOKEN=demo-token \
	SALESFORCE_LOGIN_URL=$$url SALESFORCE_CLIENT_ID=demo-client SALESFORCE_CLIENT_SECRET=demo-secret \
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -w workspace.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# dbt parse and sqlfluff's dbt templater open the profile's warehouse: a scratch one. Each
	@# CRM's models compile only where that CRM is selected: parse and lint them so.
	cd dbt_project && scratch=$$(mktemp -d) && \
	  CRM_KPI_DATA_DIR=$$scratch ../$(BIN)/dbt parse --quiet --target-path $$scratch/target && \
	  CRM_KPI_DATA_DIR=$$scratch ../$(BIN)/sqlfluff lint models && \
	  CRM_KPI_CRM=salesforce CRM_KPI_DATA_DIR=$$scratch \
	    ../$(BIN)/dbt parse --quiet --target-path $$scratch/target-sf && \
	  CRM_KPI_CRM=salesforce CRM_KPI_DATA_DIR=$$scratch \
	    ../$(BIN)/sqlfluff lint models/staging/salesforce models/crm/salesforce

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Refresh constraints.txt after changing pyproject.toml's pins (needs a clean venv).
lock:
	rm -rf /tmp/crm-kpi-lock && $(PYTHON) -m venv /tmp/crm-kpi-lock
	/tmp/crm-kpi-lock/bin/pip install --quiet -e '.[dev,service,spark]' '$(PYSPARK)'
	/tmp/crm-kpi-lock/bin/pip freeze --exclude-editable > constraints.txt
