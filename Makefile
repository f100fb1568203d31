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

test: lint
	$(PY) -m pytest -q tests

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean-demo:
	rm -rf work_dirs/demo
