#!/usr/bin/env bash
# Training-step speed of the CPU network (forward + backward, dropout on, float32) against transformers'
# MT5ForConditionalGeneration in PyTorch on the same shapes and thread counts; prints both and the ratio.
# Both run the hf-mt5 flavour (the same arithmetic). Tokens = B*(S+T). Run via ./build.sh bench.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-O2 -march=native"}
mkdir -p build
$CC $CFLAGS -std=c11 -Wall -Wextra -fopenmp -I. -I/usr/include/stb -o build/bench_model bench/bench_model.c -lutf8proc -lm
PY=/usr/bin/python3
peer=1
if ! $PY -c "import torch, transformers" 2>/dev/null; then
    echo "bench_model: torch/transformers not importable by $PY; PyTorch side skipped"
    peer=0
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, float32;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (a busy machine slows 2 threads most)"
if [ $peer = 1 ]; then  # the peer's matrix products are only as fast as the BLAS torch was built with
    echo "pytorch: $($PY -c "import re, torch; print(torch.__version__, re.search(r'BLAS_INFO=[^,]*', torch.__config__.show()).group(0))")" \
         "(Debian's torch uses the system libblas: reference BLAS unless OpenBLAS/BLIS is installed)"
fi
# config B S T  C-steps  torch-steps
runs=("tiny 8 64 32 12 6" "small 2 64 16 5 3")
for spec in "${runs[@]}"; do
    read -r cfg B S T csteps psteps <<<"$spec"
    for th in 1 2; do
        c=$(OMP_NUM_THREADS=$th build/bench_model "$cfg" "$B" "$S" "$T" "$csteps" hf-mt5)
        echo "$c"
        if [ $peer = 1 ]; then
            p=$(OMP_NUM_THREADS=$th $PY bench/bench_model.py "$cfg" "$B" "$S" "$T" "$psteps" "$th" 2>/dev/null)
            echo "$p"
            ct=$(echo "$c" | awk '{for(i=1;i<=NF;i++) if($i=="tokens/s") print $(i-1)}')
            pt=$(echo "$p" | awk '{for(i=1;i<=NF;i++) if($i=="tokens/s") print $(i-1)}')
            awk -v a="$ct" -v b="$pt" -v cfg="$cfg" -v th="$th" \
                'BEGIN { printf "ratio   %-5s threads=%d: t5p / pytorch = %.2fx\n", cfg, th, a / b }'
        fi
    done
done
# a larger batch, t5p only (transformers on this machine's reference BLAS would take minutes a step)
for th in 1 2; do OMP_NUM_THREADS=$th build/bench_model small 8 256 32 3 hf-mt5; done
