# posehybrid: the two commands are `make train stage=joint` and `make test`.
# Every target sets up .venv first (once; re-done only when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# GPU/cluster users override this (e.g. TORCH_SPEC="torch==2.13.0 --index-url ..."); the default
# resolves to the local CPU wheel here and never pulls CUDA wheels.
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed
# Every dependency at an exact version (`make lock` rewrites it); torch stays TORCH_SPEC's.
LOCK   ?= requirements.lock

stage  ?= joint
ARGS   ?=

export WANDB_MODE ?= offline
export WANDB_SILENT ?= true
export HYDRA_FULL_ERROR ?= 0

.PHONY: install lock train test lint audit format bench eval predict score export sweep compare pooled ablation data clean help

help:
	@echo "make train stage=joint|spatial|part_detector [ARGS='data=... model=...']"
	@echo "make test | lint | audit | format | bench | eval ckpt=PATH | predict ckpt=PATH input=PATH"
	@echo "make score pred=FILE ARGS='data=lsp data.root=...' | export ckpt=PATH | sweep | compare | pooled | ablation"

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	@# Pin torch to what was just installed so no dependency can replace it with a CUDA build.
	$(PY) -c "import torch; print('torch==' + torch.__version__)" > $(VENV)/constraints.txt
	@# The locked versions first, then the project itself without re-resolving anything.
	$(PY) -m pip install --quiet -c $(VENV)/constraints.txt -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e '.[dev,onnx]'
	@touch $(STAMP)

# Re-resolve pyproject.toml's ranges from nothing in a scratch venv and write the lock (torch
# written as the plain version, so a CUDA TORCH_SPEC still satisfies it).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet $(TORCH_SPEC)
	.lock-venv/bin/python -c "import torch; print('torch==' + torch.__version__)" > .lock-venv/constraints.txt
	.lock-venv/bin/python -m pip install --quiet -c .lock-venv/constraints.txt -e '.[dev,onnx]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]*)\+.*/\1/' > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK) && rm -rf .lock-venv

train: $(STAMP)
	$(PY) -m posehybrid.train stage=$(stage) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/check_notebooks.py

# Known vulnerabilities in the installed dependency set (PyPI advisory data; needs the PyPI JSON
# API or api.osv.dev: AUDIT_SERVICE=osv). --strict: a dependency that cannot be looked up fails
# the audit instead of passing silently. Not part of lint: offline machines cannot run it.
AUDIT_SERVICE ?= pypi
audit: $(STAMP)
	$(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off -s $(AUDIT_SERVICE)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

data: $(STAMP)
	$(PY) -m posehybrid.data $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run $(ARGS)

eval: $(STAMP)
	$(PY) -m posehybrid.eval ckpt=$(ckpt) $(ARGS)

predict: $(STAMP)
	$(PY) -m posehybrid.predict ckpt=$(ckpt) input=$(input) $(ARGS)

score: $(STAMP)
	$(PY) -m posehybrid.score pred=$(pred) $(ARGS)

export: $(STAMP)
	$(PY) -m posehybrid.export ckpt=$(ckpt) $(ARGS)

sweep: $(STAMP)
	$(PY) -m posehybrid.train -m experiment=sweep_spatial $(ARGS)

compare: $(STAMP)
	$(PY) -m posehybrid.compare $(ARGS)

pooled: $(STAMP)
	$(PY) -m posehybrid.pooled $(ARGS)

ablation: $(STAMP)
	$(PY) -m posehybrid.train stage=joint ablation.control=true ablation.detector_alone=true ablation.one_stage=true $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
