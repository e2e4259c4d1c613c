# The README's two commands. Both create .venv and install on a fresh machine.
#   make demo   install, then run the main job on the embedded simulator and write the report
#   make test   install with test extras, check lint and formatting, then run the test suite
# and the developer's quick loop:
#   make test-fast   the same without the tests marked slow (every end-to-end fit): under 2 minutes
# torch is installed first with an overridable pin (a bare `torch` requirement pulls GBs of CUDA wheels):
#   make test TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
BIN := $(VENV)/bin

.PHONY: demo test test-fast install lint format clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

DEMO_STAMP := $(shell date +%Y-%m-%d_%H-%M-%S)
DEMO_DIR ?= outputs/multiruns/demo-$(DEMO_STAMP)

demo: install
	$(BIN)/behave-train -m experiment=demo hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/behave-report $(DEMO_DIR)
	@echo
	@echo "Report:      $(DEMO_DIR)/report.html  (open it in a browser; report.md is the same in Markdown)"
	@echo "TensorBoard: $(BIN)/tensorboard --logdir $(DEMO_DIR)"

# Lint first: CI runs `make test`, so code that does not pass ruff never lands.
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: lint
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check behave tests benchmarks
	$(BIN)/ruff format --check behave tests benchmarks

format: install
	$(BIN)/ruff format behave tests benchmarks
	$(BIN)/ruff check --fix behave tests benchmarks

clean-cache:
	rm -rf data/cache
