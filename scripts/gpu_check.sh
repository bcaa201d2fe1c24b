#!/usr/bin/env bash
# The GPU run, prepared: on a bare CUDA machine, from a checkout, install the project, run the CUDA
# tests, then time the headline benchmarks on the GPU and print one table. Sized for under 8 minutes
# on one data-centre GPU (the budget of a lent machine):
#
#     bash scripts/gpu_check.sh                            # everything
#     GPU_CHECK_SKIP_INSTALL=1 bash scripts/gpu_check.sh   # reuse the current environment
#
# Logs go to $GPU_CHECK_LOGS (default: a new temporary folder); GPU_CHECK_MIN_SECONDS is the
# benchmark's shortest timing (default 1); GPU_CHECK_TESTS the test paths (default: tests/).
#
# On a machine without CUDA it still runs (the CUDA tests skip, the table says "CPU only"), which is
# how its CPU parts are tested.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${GPU_CHECK_SKIP_INSTALL:-}" ]; then
    venv="$(mktemp -d)/venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet torch==2.13.0  # PyPI's Linux wheel carries CUDA
    python -m pip install --quiet ".[test]"
fi

python="${PYTHON:-python}"  # the interpreter to use (default: the environment's python)
"$python" - <<'EOF'
import torch
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
EOF

logs="${GPU_CHECK_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"

# every test with a CUDA parametrisation (they skip without CUDA), at most 4 minutes
tests_status=0
timeout 240 "$python" -m pytest -q -k cuda -p no:cacheprovider ${GPU_CHECK_TESTS:-tests/} > "$logs/tests.log" 2>&1 \
    || tests_status=$?
tests_summary="$(tail -n 1 "$logs/tests.log")"

# the headline numbers (WRN-40-2 search step fp32/bf16, projected paper search, policy eval at 224x224)
timeout 240 "$python" scripts/benchmark.py --sections summary --min_seconds "${GPU_CHECK_MIN_SECONDS:-1}" \
    > "$logs/benchmark.log" 2>&1
summary_table="$(sed -n '/^## summary/,$p' "$logs/benchmark.log" | tail -n +3)"

echo
echo "$(sed -n 3p "$logs/benchmark.log") Logs: $logs"
echo
echo "| what | measured |"
echo "|---|---:|"
echo "| CUDA tests (pytest -k cuda) | ${tests_summary} (exit ${tests_status}) |"
echo "$summary_table" | tail -n +3
exit "$tests_status"
