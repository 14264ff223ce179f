# The README's two commands: `make study` (every figure, default preset) and `make test`.
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: study test

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh

study: $(VENV)/.installed
	snakemake $(SNAKEMAKE_ARGS)

test: $(VENV)/.installed
	python -m pytest $(PYTEST_ARGS)
