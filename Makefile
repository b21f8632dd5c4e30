# QMS Emergency Change Portal
#   make run    set up and run the portal with demo data (web, Celery worker and beat)
#   make test   set up and run the whole test suite (PostgreSQL and Redis)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/qms
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint check-deploy bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q ".[dev]"
	@rm -rf build *.egg-info
	@touch $@

install: $(VENV)/.installed

run: install
	@export DEBUG=$${DEBUG:-1}; \
	$(BIN)/python manage.py migrate --no-input -v 0 && \
	$(BIN)/python manage.py seed_demo && \
	echo "" && \
	echo "  QMS Emergency Portal: http://$(HOST):$(PORT)/" && \
	echo "  Sign in as oncall, commander, lead, architect, qms, security, legal, executive, cm, safety," && \
	echo "  engmanager, quality, program, release, certlead or auditor (admin for the Django admin)," && \
	echo "  password: $${DEMO_PASSWORD:-qms-demo}" && \
	echo "" && \
	trap 'kill 0' EXIT INT TERM; \
	$(BIN)/celery -A qms worker --loglevel=INFO --concurrency=2 & \
	$(BIN)/celery -A qms beat --loglevel=INFO & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-deploy: install
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-$$(openssl rand -hex 32)} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-qms.example.com} \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .ruff_cache test-artifacts
