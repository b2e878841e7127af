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

.PHONY: install chromium demo test test-fast dev lint format lock

install: $(STAMP)

# constraints.txt pins every transitive package, so an install next month resolves the same stack.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

demo: install
	$(BIN)/crm-kpi demo --crm $(CRM)

# The browser tests drive Debian's Chromium (playwright downloads no browser of its own here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The whole suite (what CI runs), and the tier without full pipeline runs or a browser.
test: install chromium
	$(BIN)/pytest

# Parsed once first: workers that each found the manifest stale would parse at once.
test-fast: install
	$(BIN)/python -c "from pipelines.dbt_assets import parse_manifest; parse_manifest('hubspot'); parse_manifest('salesforce')"
	$(BIN)/pytest -m "not pipeline and not browser" -n auto

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
	/tmp/crm-kpi-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/crm-kpi-lock/bin/pip freeze --exclude-editable > constraints.txt
