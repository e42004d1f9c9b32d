# One place for every check; each target runs the real command, so `make -n TARGET` shows it.
# Run from the checkout root, in a virtual environment where ann is installed
# (`pip install -e ".[test]"`; CONTRIBUTING.md). The linters: `make lint-deps`.
#
#   make lint        ruff, mypy (strict on ann/) and the C core with -Wall -Wextra -Werror
#   make format      ruff --fix and ruff format over the Python tree (CI checks it is formatted)
#   make test        the pytest suite against the installed package
#   make c-test      the C tests: the kernels (every kernel this CPU runs), the network's
#                    out-of-memory paths (tests/c/test_net.c, built with -DANN_TEST_ALLOC),
#                    the passes on the thread pool against their serial loops (test_passes.c)
#   make sanitize    ASan + UBSan + valgrind (tools/sanitize.sh)
#   make cross       the C tests for Windows (wine) and aarch64 (qemu)
#   make bench       ann against PyTorch (tools/bench.py; PyTorch optional)
#   make docs-check  docs/ and README.md against the code (their tests)
#   make ci          everything CI runs, in a fresh virtual environment (.ci/run)

PYTHON ?= python3
# `pytest`, not `python -m pytest`: -m puts the checkout on sys.path, so the suite would import
# the source folder (no built core: the slow pure-Python backend) instead of the installed ann.
PYTEST ?= pytest
# gcc unless CC is given (make's own default, cc, may be another compiler).
ifeq ($(origin CC),default)
CC = gcc
endif
# Pinned: the versions this configuration was last checked with (also in .ci/run).
RUFF_VERSION = 0.17.6
MYPY_VERSION = 2.4.1
PY_SOURCES = ann tests tools
BUILD = build/make

.PHONY: lint lint-deps ruff mypy c-warnings format test c-test sanitize cross bench \
        docs-check ci

lint: ruff mypy c-warnings

lint-deps:
	$(PYTHON) -m pip install -q "ruff==$(RUFF_VERSION)" "mypy==$(MYPY_VERSION)"

ruff:
	$(PYTHON) -m ruff check $(PY_SOURCES)
	$(PYTHON) -m ruff format --check $(PY_SOURCES)

mypy:
	$(PYTHON) -m mypy

# The same warnings as the cross builds (tools/cross_*.sh), natively and without linking.
c-warnings:
	$(CC) -std=c11 -Wall -Wextra -Werror -fsyntax-only -Icsrc csrc/*.c
	for f in tests/c/*.c; do $(CC) -std=c11 -Wall -Wextra -Werror -fsyntax-only -Icsrc $$f || exit 1; done

format:
	$(PYTHON) -m ruff check --fix $(PY_SOURCES)
	$(PYTHON) -m ruff format $(PY_SOURCES)

test:
	$(PYTEST)

c-test:
	mkdir -p $(BUILD)
	$(CC) -std=c11 -O2 -pthread -Icsrc tests/c/test_gemm.c csrc/*.c -lm -o $(BUILD)/test_gemm
	$(BUILD)/test_gemm
	$(CC) -std=c11 -O2 -pthread -Icsrc -DANN_TEST_ALLOC tests/c/test_net.c csrc/*.c -lm -o $(BUILD)/test_net
	$(BUILD)/test_net
	$(CC) -std=c11 -O2 -pthread -Icsrc tests/c/test_passes.c csrc/*.c -lm -o $(BUILD)/test_passes
	for k in portable avx2 avx512 neon; do ANN_KERNEL=$$k $(BUILD)/test_passes || exit 1; done
	$(CC) -std=c11 -O2 -pthread -Icsrc tests/c/test_csv.c csrc/*.c -lm -o $(BUILD)/test_csv
	$(BUILD)/test_csv

sanitize:
	bash tools/sanitize.sh

cross:
	bash tools/cross_windows.sh
	bash tools/cross_arm64.sh

bench:
	$(PYTHON) tools/bench.py

docs-check:
	$(PYTEST) -q tests/test_docs.py tests/test_docs_numbers.py tests/test_readme.py

ci:
	bash .ci/run
