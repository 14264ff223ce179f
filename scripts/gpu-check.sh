#!/usr/bin/env bash
# The GPU pre-flight check (src/grokstudy/gpu_check.py), from the source tree, in at most 8 minutes.
#
#   scripts/gpu-check.sh [--tiny] [--deps-only] [OUT_DIR]      OUT_DIR defaults to benchmarks/
#
# For a machine with one NVIDIA GPU, a recent torch and transformers, numpy, pandas, pyarrow,
# seaborn, safetensors, tqdm and pyyaml, and no internet. It needs no snakemake, dvc or jsonschema.
# The one code path it runs also imports pydantic (grokstudy.config), which such a machine may
# lack: every module below that does not import is installed from the wheels in $GPU_CHECK_WHEELS
# (default: .whl/ in the repository root), fetched beforehand on a machine with internet, e.g.
#   python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl pydantic
# (pydantic with what it needs: pydantic_core, annotated_types, typing_inspection, typing_extensions).
# --tiny: a tiny world and model for 2 steps on the CPU, for CI; it skips the GPU-sharing check.
# --deps-only: install what is missing, say which, and stop.
set -euo pipefail
shopt -s nocaseglob  # wheel names: PyYAML-6.0.2-... or pyyaml-6.0.3-...

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python="${PYTHON:-python3}"
wheels="${GPU_CHECK_WHEELS:-$repo/.whl}"
site="${GPU_CHECK_SITE:-${TMPDIR:-/tmp}/grokstudy-gpu-check-site}"
budget_s="${GPU_CHECK_BUDGET_S:-450}"  # plus at most 30 s of backstop: 8 minutes in all
# module:wheel-name prefix, for every module the check imports beyond the machine's stated packages.
needs="${GPU_CHECK_NEEDS:-pydantic:pydantic pydantic_core:pydantic_core annotated_types:annotated_types typing_inspection:typing_inspection typing_extensions:typing_extensions yaml:PyYAML}"

tiny=()
deps_only=0
out="benchmarks"
for arg in "$@"; do
    case "$arg" in
        --tiny) tiny=(--tiny) ;;
        --deps-only) deps_only=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "gpu-check: unknown option $arg" >&2; exit 2 ;;
        *) out="$arg" ;;
    esac
done
mkdir -p "$out"

missing=()
for need in $needs; do
    module="${need%%:*}"
    "$python" -c "import $module" 2>/dev/null || missing+=("$need")
done
if ((${#missing[@]})); then
    files=()
    for need in "${missing[@]}"; do
        found=("$wheels/${need#*:}"-[0-9]*.whl)
        [[ -e "${found[0]}" ]] || { echo "gpu-check: module ${need%%:*} is missing and no ${need#*:}-*.whl is in $wheels (see the pip download line in $0)" >&2; exit 3; }
        files+=("${found[@]}")
    done
    echo "gpu-check: installing from $wheels into $site: ${files[*]##*/}"
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" "${files[@]}"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
else
    echo "gpu-check: every module it needs imports; no wheel installed"
fi
((deps_only)) && exit 0

export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
log="$out/gpu-check-$(date -u +%Y-%m-%dT%H%M%SZ).log"
# The check keeps to its own budget; the timeout is the backstop (INT first, so files are flushed).
set +e
timeout --signal=INT --kill-after=20 "$((budget_s + 30))" \
    "$python" -m grokstudy.gpu_check --out "$out" --budget-seconds "$budget_s" "${tiny[@]}" 2>&1 | tee "$log"
status="${PIPESTATUS[0]}"
set -e
echo "gpu-check: exit status $status; log in $log"
exit "$status"
