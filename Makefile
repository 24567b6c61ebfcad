# Two commands on a fresh clone: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per install flavour, named after pyproject.toml's checksum so an edit reinstalls.
# `make run` installs the hub alone; test/check/format also install the `test` extra (pytest,
# playwright, moto, mypy, ...), which includes the hub.
HASH := $(shell cksum pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: run test check lint format bench install clean scale scale-down i18n screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@rm -f $(VENV)/.installed-run-*
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@ $(RUN_STAMP)

install: $(TEST_STAMP)

run: $(RUN_STAMP)
	HUB_EMBEDDED_WORKER=$${HUB_EMBEDDED_WORKER:-true} $(BIN)/hub serve

# Two pytest workers (pytest-xdist): most tests wait on sockets, processes and databases, so two
# share a 2-core machine well. Measured 2026-12-05: the 2,354 tests took 12 min 25 s with two
# workers while the machine also ran other work (load average 5 to 6). Isolation needs nothing
# more: each worker makes its own scratch Postgres database (tests/databases.py) and tests draw
# random Redis key prefixes and free ports. `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

check: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy rooms hub tests scale

lint: check

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

# The scaled topology on this machine (README, "Scaled mode on one machine"): nginx on :8080 in
# front of 3 `hub serve`, 2 `hub worker`, moto as S3, the machine's Postgres and Redis. Needs
# the test extra (moto's server). `make scale SCALE_ARGS="--port 9000 --web 2"` changes it.
scale: $(TEST_STAMP)
	$(BIN)/python -m scale up $(SCALE_ARGS)

scale-down:
	$(BIN)/python -m scale down

# Extract the translatable strings of templates/ and hub/ and merge them into the catalogues
# (hub/locale/<locale>/LC_MESSAGES/messages.po); translate the new entries, then `make test`
# (tests/test_i18n.py fails on any untranslated one). The hub compiles them as it starts.
i18n: $(TEST_STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -k N_ -F babel.cfg -o hub/locale/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i hub/locale/messages.pot -d hub/locale -l zh_Hans

# docs/screenshots/*.png from a scratch hub with sample content (Playwright + Debian chromium).
screenshots: $(TEST_STAMP)
	$(BIN)/python -m tools.screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
