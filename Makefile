# One entry point per task. Every target bootstraps .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: venv demo test lint format bench bench-automl bench-serving bench-drift clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## demo: train, track, register, promote and load a model on the embedded default store
demo: venv
	$(BIN)/python examples/demo.py

## test: the whole suite, SQLite and the real PostgreSQL (see .ci/run for starting it)
test: venv
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --timeout=600

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

## bench: mlcycle side by side with the tools users would pick instead (see docs/benchmarks.md)
bench: venv
	$(BIN)/python benchmarks/tracking.py

## bench-automl: mlcycle vs FLAML and a default HistGradientBoosting on the public suite, 60 s each (about 35 minutes)
bench-automl: venv
	$(BIN)/python benchmarks/automl.py --json .bench/automl.json

## bench-serving: mlcycle serve vs BentoML and mlflow models serve, same model (about 7 minutes)
bench-serving: venv
	$(BIN)/python benchmarks/serving.py --json .bench/serving.json

## bench-drift: mlcycle.drift vs Evidently's data-drift preset at 1M x 100 (about 12 minutes)
bench-drift: venv
	$(BIN)/python benchmarks/drift.py --json .bench/drift.json

clean:
	rm -rf $(VENV) .bench .pytest_cache .ruff_cache .mypy_cache .hypothesis demo-output
