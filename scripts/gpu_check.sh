#!/usr/bin/env bash
# The GPU run, prepared: on a bare CUDA machine, from a checkout, install the project, run the CUDA
# tests, then time the headline benchmarks on the GPU and print one table. Sized for under 8 minutes
# on one data-centre GPU (the budget of a lent machine):
#
#     bash scripts/gpu_check.sh                            # everything
#     GPU_CHECK_SKIP_INSTALL=1 bash scripts/gpu_check.sh   # reuse the current environment
#
#     GPU_CHECK_WHEELS=.whl bash scripts/gpu_check.sh      # offline, with the machine's own torch
#
# GPU_CHECK_WHEELS names a folder of wheels of what the machine's Python lacks (e.g. datasets, dill and
# multiprocess next to a preinstalled torch and transformers): they are installed into a temporary
# folder without resolving dependencies, and the checkout is used in place.
#
# Logs go to $GPU_CHECK_LOGS (default: a new temporary folder); GPU_CHECK_MIN_SECONDS is the
# benchmark's shortest timing (default 1); GPU_CHECK_TESTS the test paths (default: tests/);
# GPU_CHECK_BENCHMARK_ARGS adds flags to the benchmark (e.g. --summary_batch_size); GPU_CHECK_SEARCH_SAMPLES and
# GPU_CHECK_SEARCH_EPOCHS size the end-to-end search (default: the paper's 4,000 images x 20 epochs) and
# GPU_CHECK_SEARCH_ARGS adds flags to it.
#
# On a machine without CUDA it still runs (the CUDA tests skip, the table says "CPU only"), which is
# how its CPU parts are tested.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${GPU_CHECK_WHEELS:-}" ]; then
    site="$(mktemp -d)"
    "${PYTHON:-python}" -m pip install --quiet --no-index --no-deps --no-compile --target "$site" "$GPU_CHECK_WHEELS"/*.whl
    export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
elif [ -z "${GPU_CHECK_SKIP_INSTALL:-}" ]; then
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
    ${GPU_CHECK_BENCHMARK_ARGS:-} > "$logs/benchmark.log" 2>&1
summary_table="$(sed -n '/^## summary/,$p' "$logs/benchmark.log" | tail -n +3)"

# the paper's CIFAR-10 search budget end to end (data, search, operation check, calibration, saving) on the
# embedded MNIST-5k, with the paper's WRN-40-2 critic in bf16, at most 4 minutes
samples="${GPU_CHECK_SEARCH_SAMPLES:-4000}" epochs="${GPU_CHECK_SEARCH_EPOCHS:-20}"
search_status=0 start=$SECONDS
timeout 240 "$python" scripts/search.py --max_train_samples "$samples" --num_train_epochs "$epochs" --max_steps -1 \
    --critic_depth 40 --critic_widen_factor 2 --mixed_precision bf16 --dataloader_num_workers 4 \
    --output_dir "$logs/paper-search" ${GPU_CHECK_SEARCH_ARGS:-} > "$logs/search.log" 2>&1 || search_status=$?
search_row="$("$python" - "$logs/paper-search/config.json" "$((SECONDS - start))" "$search_status" <<'EOF'
import json, sys
path, seconds, status = sys.argv[1:]
try:
    info = json.load(open(path))["search_info"]
except OSError:
    print(f"failed (exit {status}, see search.log)")
else:
    stages = "".join(f", {name.replace('_', ' ')} {info[name]['seconds']:.0f} s"
                     for name in ("operation_check", "calibration") if name in info)
    print(f"{seconds} s in all: search loop {info['search_seconds']:.0f} s{stages}")
EOF
)"

echo
echo "$(sed -n 3p "$logs/benchmark.log") Logs: $logs"
echo
echo "| what | measured |"
echo "|---|---:|"
echo "| CUDA tests (pytest -k cuda) | ${tests_summary} (exit ${tests_status}) |"
echo "$summary_table" | tail -n +3
echo "| end-to-end search, embedded MNIST, ${samples} images x ${epochs} epochs, WRN-40-2, bf16${GPU_CHECK_SEARCH_ARGS:+, $GPU_CHECK_SEARCH_ARGS} | ${search_row} |"
[ "$tests_status" -eq 0 ] || exit "$tests_status"
exit "$search_status"
