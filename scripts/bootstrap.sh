#!/usr/bin/env bash
# Create .venv with the study installed. A CPU machine gets torch's CPU build (small);
# a machine with an NVIDIA GPU gets the CUDA build from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
VENV=.venv
PIP="$VENV/bin/python -m pip"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "bootstrap: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') already installed"
elif has_gpu; then
    echo "bootstrap: GPU found, installing the CUDA build of torch $TORCH_VERSION from PyPI"
    # An empty find-links keeps a locally cached CPU wheel from shadowing the CUDA build.
    PIP_FIND_LINKS="" $PIP install "torch==$TORCH_VERSION"
else
    scratch=$(mktemp -d)
    if $PIP download -q --no-index --no-deps -d "$scratch" "torch==$TORCH_VERSION" >/dev/null 2>&1; then
        echo "bootstrap: no GPU, installing the local CPU wheel of torch $TORCH_VERSION"
        $PIP install "torch==$TORCH_VERSION"
    elif curl -sfI --max-time 10 "$CPU_INDEX/" >/dev/null 2>&1; then
        echo "bootstrap: no GPU, installing torch $TORCH_VERSION from the CPU index $CPU_INDEX"
        $PIP install "torch==$TORCH_VERSION" --index-url "$CPU_INDEX" --extra-index-url https://pypi.org/simple
    else
        echo "bootstrap: no GPU and no CPU wheel source reachable; falling back to PyPI's (CUDA) build" >&2
        $PIP install "torch==$TORCH_VERSION"
    fi
    rm -rf "$scratch"
fi

$PIP install -q -e ".[test]"
touch "$VENV/.installed"
echo "bootstrap: ready ($("$VENV/bin/python" -c 'import torch, transformers, snakemake; print("torch", torch.__version__, "| transformers", transformers.__version__, "| snakemake", snakemake.__version__)'))"
