# Guichet: short verbs, the same ones CI calls. `make run` and `make test` do all the set-up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
PYTHON310 := $(or $(wildcard $(HOME)/.pyenv/versions/3.10.13/bin/python3.10),$(shell command -v python3.10 2>/dev/null))
RASA_DATA := data/nlu data/stories data/rules

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONPATH := $(CURDIR)

.PHONY: help install test-deps run test train validate eval bench lint typecheck clean

help:
	@echo "make run        install if needed, train if the data changed, start everything on localhost"
	@echo "make test       install, validate the data, train if needed, run pytest and the test stories"
	@echo "make install    create .venv (Python 3.10) and install the pinned dependencies"
	@echo "make train      train the model when config.yml, domain.yml or data/ changed"
	@echo "make eval       evaluate the NLU on the held-out split (report under bench/reports/)"
	@echo "make bench      run the benchmarks (report under bench/reports/)"
	@echo "make lint       ruff;  make typecheck  mypy"

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: install it with 'pyenv install 3.10.13'." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(PY) -m bot.speedups.regex_cache  # spaCy's French tokenizer regex, compiled once for every later start
	@touch $(STAMP)

# Browser tests: Debian's chromium (never a browser download by a test tool) and axe-core from npm.
test-deps: install tests/e2e/node_modules/.installed
	@test -x /usr/bin/chromium || { echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

tests/e2e/node_modules/.installed: tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --silent --no-audit --no-fund
	@touch $@

train: install
	$(PY) -m bot train

validate: install
	$(PY) -m rasa data validate --fail-on-warnings --config config.yml --domain domain.yml --data $(RASA_DATA)

run: install train
	$(PY) -m bot run

test: install test-deps validate train
	$(PY) -m pytest
	RASA_SPEEDUPS=on $(PY) -m bot.runtime.stories --model models/guichet.tar.gz --stories tests \
		--fail-on-prediction-errors --out var/test-results/stories
	RASA_SPEEDUPS=off $(PY) -m bot.runtime.stories --model models/guichet.tar.gz --stories tests \
		--fail-on-prediction-errors --out var/test-results/stories-speedups-off

eval: install train
	$(PY) -m bench.nlu_eval

bench: install train
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check bot actions connectors tests bench
	$(VENV)/bin/ruff format --check bot actions connectors tests bench

typecheck: install
	$(VENV)/bin/mypy bot actions connectors

clean:
	rm -rf var/test-results .pytest_cache .mypy_cache .ruff_cache
