#!/usr/bin/env bash
# Optimizer step time: t5p (C) vs PyTorch/transformers on the same T5 PEGASUS parameter shapes.
#   bash bench/optim.sh [small|base] [steps]      (run by ./build.sh bench; threads: $OMP_NUM_THREADS or 2)
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=${1:-small} steps=${2:-5} threads=${OMP_NUM_THREADS:-2}
mkdir -p build
cc -O2 -march=native -std=c11 -Wall -Wextra -fopenmp -I. -I/usr/include/stb -o build/bench_optim bench/bench_optim.c -lutf8proc -lm
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
c_out=$(OMP_NUM_THREADS=$threads ./build/bench_optim "$cfg" "$steps")
echo "$c_out"
if /usr/bin/python3 -c "import torch, transformers" 2>/dev/null; then
    py_out=$(OMP_NUM_THREADS=$threads /usr/bin/python3 bench/optim_peer.py "$cfg" "$steps" "$threads")
    echo "$py_out"
    for name in "adafactor (hf)" adam adamw; do
        c=$(echo "$c_out" | grep -F "  $name " | awk '{print $(NF-4)}')
        p=$(echo "$py_out" | grep -F "  $name " | awk '{print $(NF-1)}')
        awk -v n="$name" -v c="$c" -v p="$p" 'BEGIN { printf "  %-24s t5p %.1f ms, PyTorch %.1f ms: %.1fx faster\n", n, c, p, p / c }'
    done
else
    echo "(PyTorch/transformers not installed: peer skipped)"
fi
