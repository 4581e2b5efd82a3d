#!/usr/bin/env bash
# Generation speed: titles per second of t5p_generate against transformers' generate() (KV cache on, its
# default) for the small and base presets with random weights, 256-id sources, 32 generated ids (random
# weights rarely produce the end id, so every title runs all 32 steps; the mean length is printed),
# greedy and beam 3, one title at a time, both at the same thread count in this one script; prints both
# and the ratio. Both run the hf-mt5 flavour (the same arithmetic). Run via ./build.sh bench.
#   T5P_BENCH_THREADS (default: all cores), T5P_BENCH_PEER_TITLES (default 1: a base title takes about a
#   minute in Debian's torch), T5P_BENCH_TITLES (t5p, default 3).
# OMP_WAIT_POLICY defaults to passive for both sides: on this shared 2-core VM, threads that spin at the
# end of each of the ~100 parallel products of a decoding step take the CPU from the thread they wait for
# (a base title went from ~5 s to ~25 s with libgomp's default spinning at load average 4).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-O2 -march=native"}
mkdir -p build
$CC $CFLAGS -std=c11 -Wall -Wextra -fopenmp -I. -I/usr/include/stb -o build/bench_generate bench/bench_generate.c -lutf8proc -lm
PY=/usr/bin/python3
TH=${T5P_BENCH_THREADS:-$(nproc)}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
NT=${T5P_BENCH_TITLES:-3}
NP=${T5P_BENCH_PEER_TITLES:-1}
peer=1
if ! $PY -c "import torch, transformers" 2>/dev/null; then
    echo "bench_generate: torch/transformers not importable by $PY; PyTorch side skipped"
    peer=0
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, float32, $TH threads, OMP_WAIT_POLICY=$OMP_WAIT_POLICY;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both, 2 threads most)"
if [ $peer = 1 ]; then  # the peer's matrix products are only as fast as the BLAS torch was built with
    echo "pytorch: $($PY -c "import re, torch, transformers; print(torch.__version__, re.search(r'BLAS_INFO=[^,]*', torch.__config__.show()).group(0), 'transformers', transformers.__version__)")" \
         "(Debian's torch uses the system libblas: reference BLAS unless OpenBLAS/BLIS is installed, so its" \
         "matrix products run at about 1-2 GFLOP/s here and the ratio says as much about that as about t5p)"
fi
ms() { awk '{for(i=1;i<=NF;i++) if($i=="ms/title") print $(i-1)}'; }
for cfg in small base; do
    for beam in 1 3; do
        c=$(OMP_NUM_THREADS=$TH build/bench_generate $cfg 256 32 $beam "$NT")
        echo "$c"
        if [ $peer = 1 ]; then
            p=$(OMP_NUM_THREADS=$TH $PY bench/bench_generate.py $cfg 256 32 $beam "$NP" "$TH" 2>/dev/null)
            echo "$p"
            awk -v a="$(echo "$c" | ms)" -v b="$(echo "$p" | ms)" -v cfg=$cfg -v beam=$beam -v th="$TH" \
                'BEGIN { printf "ratio   %-5s beam=%d threads=%s: t5p is %.1fx faster than transformers generate() (%.0f vs %.0f ms/title)\n", cfg, beam, th, b / a, a, b }'
        fi
    done
done
# throughput with several titles decoded together (t5p only): one pass over the weights per step serves all
OMP_NUM_THREADS=$TH build/bench_generate small 256 32 3 8 8
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
