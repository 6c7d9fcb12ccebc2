#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): run on a machine with one CUDA GPU, from the repository
# root, in the environment sciPT is installed in. Writes benchmarks/results/gpu_<device>.json;
# then `python benchmarks/report.py` puts the figures into benchmarks/RESULTS.md.
#
#   bash benchmarks/gpu_check.sh              # all parts
#   bash benchmarks/gpu_check.sh --dry-run    # the CPU rehearsal (tiny shapes, temporary folder)
#   bash benchmarks/gpu_check.sh --parts dna bert
set -euo pipefail
cd "$(dirname "$0")/.."
# the interpreter: $PYTHON if set, else the repository's .venv, else python on PATH
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
# CPU threads for the host side (data, optimizer bookkeeping); the GPU does the work
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() or '--dry-run' in sys.argv else 2)" "$@" || {
    echo "gpu_check.sh: torch sees no CUDA GPU here (add --dry-run for the CPU rehearsal)" >&2
    exit 2
}
exec "$PYTHON" benchmarks/gpu_check.py "$@"
