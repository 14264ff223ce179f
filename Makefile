# The README's two commands: `make study` (every figure, default preset) and `make test`.
# `make check` is the quick gate before a commit: linters and the fast tests (about 3 minutes).
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: study test check lint

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

study: $(VENV)/.installed
	snakemake $(SNAKEMAKE_ARGS)

# The S3 story test talks to a moto server from its own environment: resolving moto
# together with dvc-s3 backtracks for minutes.
MOTO_VENV := .venv-moto
$(MOTO_VENV)/.installed:
	python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/python -m pip install -q "moto[server]>=5,<6"
	touch $@

# Any ruff finding fails `make check`, `make test` and so CI (.ci/run).
lint: $(VENV)/.installed
	ruff check .
	ruff format --check .

# Fast tier: tests marked `slow` (Snakemake end to end, SLURM, artifact stories, the rehearsal;
# tests/conftest.py marks them) are left to `make test`.
check: lint
	snakemake --lint
	snakemake --lint --configfile config/monitors.yaml
	python -m pytest -m "not slow" $(PYTEST_ARGS)

# Every test, on two workers; tests/conftest.py keeps each shared fixture on one of them.
test: lint $(MOTO_VENV)/.installed
	python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)
