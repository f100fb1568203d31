# Two entry points (see README): `make demo` and `make test`.
# Both set the environment up first (idempotent; the mmcv build is cached in
# ~/.cache/mmc2am, so only the first setup on a machine is slow).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmc2am-setup

.PHONY: setup demo test lint bench clean-demo

$(STAMP): tools/setup_env.sh requirements.txt setup.py
	VENV=$(abspath $(VENV)) bash tools/setup_env.sh
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(PY) tools/run_pipeline.py --work-dir work_dirs/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The suite on every core, at most 4 workers (pytest-xdist; each worker imports
# torch and the OpenMMLab stack, and tests/conftest.py gives each its share of
# the cores); one process where there is a single core. --dist loadfile keeps a
# test file's module-scoped fixtures (trainings) in one worker; the files go
# out in the order tests/conftest.py gives them (slowest first), not xdist's
# most-tests-first.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); if [ $$n -gt 4 ]; then n=4; fi; if [ $$n -lt 2 ]; then n=0; fi; echo $$n)

test: lint
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder tests

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean-demo:
	rm -rf work_dirs/demo
