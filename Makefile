# moodtune: `make run` (fresh machine -> app on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run test test-deploy lint format bench clean

# Two steps, so that `make run` installs only what running needs (a faster first run) and
# test, lint and benchmark tools come with `make test`. torch is not a dependency of the app
# (runtime is ONNX); training scripts install it themselves.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/moodtune init
	$(BIN)/moodtune library add demo/music
	$(BIN)/moodtune serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# Deployment checks against real tools (Debian's prometheus and promtool); CI runs them after
# `make test`, which stays fast without them.
test-deploy: install-dev
	$(BIN)/python -m pytest -q -m deploy tests/deploy

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python bench/recommend_latency.py
	$(BIN)/python bench/big_images.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/db_outage.py     # needs the postgresql package
	$(BIN)/python bench/analysis_throughput.py
	$(BIN)/python bench/audio_quality.py   # needs ../shared/data
	$(BIN)/python bench/taste_eval.py      # needs ../shared/data
	$(BIN)/python bench/mood_fidelity.py   # needs ../shared/data
	$(BIN)/python bench/non_music.py       # needs ../shared/data and espeak-ng

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
