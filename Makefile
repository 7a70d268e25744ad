# Everyday actions. `make demo` and `make test` work on a fresh machine: they create the
# virtualenv they need, from the lock file (exact versions, checked by hash).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= out/delegation.duckdb
REPORTS ?= out/reports
MONTH ?= 2026-03
LOCK := requirements.lock
SAMPLES := data/samples
# Every sample export; the ground truth and the generator's record are not exports.
SAMPLE_EXPORTS := $(filter-out $(SAMPLES)/ground_truth.csv $(SAMPLES)/samples.json,$(wildcard $(SAMPLES)/*))

.PHONY: demo test bench lint format samples clean lock

# Runtime and dev dependencies, and the build backend, come from the lock; the package itself
# is installed without resolving anything.
$(BIN)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Re-resolves pyproject.toml's ranges (with the dev extra and the build backend) into exact
# versions with their hashes, for every platform and Python 3.11+.
lock: $(BIN)/.installed
	echo 'setuptools>=77' | $(BIN)/uv pip compile pyproject.toml - --extra dev --universal \
		--python-version 3.11 --generate-hashes --upgrade --quiet \
		--custom-compile-command 'make lock' -o $(LOCK)

demo: $(BIN)/.installed
	test -f $(SAMPLES)/samples.json || $(BIN)/delegation-reports samples $(SAMPLES)
	mkdir -p $(dir $(DB))
	$(BIN)/delegation-reports ingest $(SAMPLE_EXPORTS) --db $(DB)
	$(BIN)/delegation-reports status --db $(DB)
	$(BIN)/delegation-reports report monthly --month $(MONTH) --all --workers 2 --db $(DB) --out $(REPORTS)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/analysis.py
	$(BIN)/python benchmarks/directory.py
	$(BIN)/python benchmarks/reports.py
	$(BIN)/python benchmarks/verify.py
	$(BIN)/python benchmarks/evidence.py --events 100000

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(BIN)/.installed
	$(BIN)/ruff format src tests benchmarks

samples: $(BIN)/.installed
	$(BIN)/delegation-reports samples $(SAMPLES)

clean:
	rm -rf out .pytest_cache
