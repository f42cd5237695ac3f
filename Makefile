# The front door: `make run` and `make test` work on a fresh machine with only
# python3.11 installed. Node is needed only for `make css` (the built CSS is committed).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall only when the lock (or the project metadata) changes.
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

# Local development runs in DEBUG on the SQLite default with email on the console;
# SITE_URL (gateway return links) follows HOST and PORT unless it is set.
DEV_ENV := DEBUG=1 SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

.PHONY: help install run serve worker migrate seed test chromium gettext messages lint fmt css check security bandit audit clean

help:
	@echo "make run    install, migrate, load demo data and serve on http://$(HOST):$(PORT)"
	@echo "make test   install and run the whole test suite (honours DATABASE_URL)"
	@echo "make worker run the background task worker (only with TASKS_BACKEND=django_tasks_db.DatabaseBackend)"
	@echo "make lint   ruff check + ruff format --check"
	@echo "make fmt    ruff --fix + ruff format"
	@echo "make css    rebuild static/css/app.css with Tailwind (needs Node)"
	@echo "make check  makemigrations --check and Django's system checks"
	@echo "make security  bandit (static analysis) and pip-audit (known vulnerabilities)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --no-deps -e .
	@touch $@

install: $(STAMP)

# createcachetable: the default cache (allauth's rate limits) is a database table.
migrate: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py createcachetable

seed: migrate
	$(DEV_ENV) $(BIN)/python manage.py seed_demo

run: seed serve

serve: install
	$(DEV_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Billing emails are sent by a background task. With DEBUG (make run) the immediate task
# backend sends each one in the request, right after the commit, to the console, so no
# worker is needed. To try production's database queue, start both with
# TASKS_BACKEND=django_tasks_db.DatabaseBackend: `make run` and `make worker`.
worker: migrate
	$(DEV_ENV) $(BIN)/python manage.py db_worker

test: install chromium gettext
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (Playwright's own browser download does not
# work offline). Installed with apt when missing; needs root or sudo.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The translation check extracts messages with GNU gettext's xgettext (makemessages).
# Installed with apt when missing; running the portal needs none (the .mo are committed).
gettext:
	@command -v xgettext >/dev/null 2>&1 || { \
	  echo "Installing Debian's gettext for the translation check"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gettext >/dev/null; }

# Update locale/ and <app>/locale/ from the templates and code, and compile them.
messages: install gettext
	DEBUG=1 $(BIN)/python manage.py translations --write

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: install
	$(DEV_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(DEV_ENV) $(BIN)/python manage.py check

# Security checks (CI runs them). bandit scans the shipped code with the settings in
# pyproject.toml [tool.bandit]; findings are fixed or carry a reasoned `# nosec`.
# pip-audit checks requirements.lock against PyPI's or OSV's advisories; where neither
# service answers, .ci/pip_audit.py says so loudly instead of passing silently.
security: bandit audit

bandit: install
	$(BIN)/bandit -c pyproject.toml -r portal subscriptions wallets manage.py -q
	@echo "bandit: no issues in portal, subscriptions, wallets, manage.py"

audit: install
	$(BIN)/python .ci/pip_audit.py

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# crispy-tailwind's templates are read from the venv, so install Python packages first.
css: install node_modules/.package-lock.json
	npx tailwindcss -c tailwind.config.js -i static/src/app.css -o static/css/app.css --minify

clean:
	rm -rf $(VENV) node_modules var/staticfiles .pytest_cache
