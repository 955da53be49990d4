# Two commands on a fresh clone: `make demo` and `make test`. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU build of torch that these machines hold on disk; the package metadata leaves torch free for GPU installs.
TORCH_CPU := torch==2.13.0
# llama.cpp compiles from source once (pip caches the built wheel); skip the multimodal part.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# One stamp per set of extras; re-installs when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH_CPU)
	$(BIN)/pip install -q -e '.[$(subst +,$(comma),$*)]'
	touch $@

comma := ,

demo: $(VENV)/.installed-llm
	$(BIN)/expobench run experiments/configs/demo.yaml
	$(BIN)/expobench plot runs/demo

test: $(VENV)/.installed-dev+test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev+test
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev+test
	$(BIN)/python benchmarks/bench_runner.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
