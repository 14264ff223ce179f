# The README's two commands: `make study` (every figure, default preset) and `make test`.
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: study test

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

test: $(VENV)/.installed $(MOTO_VENV)/.installed
	python -m pytest $(PYTEST_ARGS)
