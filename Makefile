# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run analyze test bench bench-api clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("dwell needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

run: install
	$(BIN)/dwell serve --load-if-empty examples/sample_camera_events.csv

analyze: install
	$(BIN)/dwell analyze examples/sample_camera_events.csv

test: install
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

bench-api: install
	$(BIN)/python benchmarks/bench_api.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
