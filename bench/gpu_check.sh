#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU (made for the H200 device machine, from the repository
# root): builds the CUDA backend, runs every GPU test (tests/test_cuda.c), the kernel microbenchmarks
# (bench/bench_kernels.cu), training tokens/s and MFU of t5p-small and t5p-base at source 512 / target 128 in
# fp32 and bf16 (bench/bench_train_gpu.c), the same in PyTorch (transformers, eager and torch.compile) when
# python3 has torch with CUDA and transformers, greedy decoding against transformers' generate (beams 1 and
# 3); ends with a short table. Budget under 8 minutes: a section is skipped when too little time is left.
# With $OUT set, the log goes to $OUT/gpu_check.log too.
#   bash bench/gpu_check.sh          the run
#   bash bench/gpu_check.sh --pack   on a machine that has the Debian packages: copies stb_ds.h, utf8proc.h
#                                    and libutf8proc.a into build/gpu-deps, to carry where the image lacks them
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --pack ]; then
    mkdir -p build/gpu-deps
    cp /usr/include/stb/stb_ds.h /usr/include/utf8proc.h /usr/lib/x86_64-linux-gnu/libutf8proc.a build/gpu-deps/
    ls -la build/gpu-deps
    exit 0
fi
if ! nvidia-smi -L >/dev/null 2>&1 && [ -z "${GPU_CHECK_FORCE:-}" ]; then  # (./build.sh bench on a CPU machine)
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi); skipped (GPU_CHECK_FORCE=1 builds and runs anyway)"
    exit 0
fi
if [ -n "${OUT:-}" ] && [ -z "${GPU_CHECK_LOGGED:-}" ]; then
    GPU_CHECK_LOGGED=1 bash "$0" "$@" 2>&1 | tee "$OUT/gpu_check.log"
    exit "${PIPESTATUS[0]}"
fi

BUDGET=${GPU_CHECK_BUDGET:-470}  # seconds
start=$SECONDS
left() { echo $((BUDGET - (SECONDS - start))); }
# run_for SECONDS CMD...: at most SECONDS and never past the budget; prints a note when it was cut
run_for() {
    local want=$1; shift
    local l; l=$(left)
    [ "$want" -gt "$((l - 5))" ] && want=$((l - 5))
    if [ "$want" -lt 10 ]; then echo "SKIPPED (budget): $*"; return 124; fi
    timeout "$want" "$@"
    local rc=$?
    [ $rc = 124 ] && echo "TIMED OUT after ${want}s: $*"
    return $rc
}
section() { echo; echo "=== $* ($((SECONDS - start)) s)"; }

section "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | head -2
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
"$NVCC" --version | tail -2
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$NVCC")")")}
echo "cpu: $(nproc) cores; python3: $(command -v python3)"

section "build"
INC="-I. -I/usr/include/stb" UTF=-lutf8proc
if [ ! -f /usr/include/stb/stb_ds.h ] || [ ! -f /usr/include/utf8proc.h ]; then
    if [ -f build/gpu-deps/stb_ds.h ]; then
        INC="-I. -Ibuild/gpu-deps" UTF=build/gpu-deps/libutf8proc.a
        echo "using build/gpu-deps for stb_ds.h and utf8proc"
    else
        echo "MISSING: stb_ds.h / utf8proc.h (run 'bash bench/gpu_check.sh --pack' where they exist and carry build/gpu-deps)"
        exit 1
    fi
fi
mkdir -p build/gpu
NVFLAGS="-O3 --fmad=false -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80"
NVWARN="-Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror"
CFL="-O2 -march=native -std=c11 -Wall -Wextra -fopenmp $INC -DT5P_CUDA"
LIBS="-L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcublas -lcudart -lstdc++ $UTF -lm"
t0=$SECONDS
printf '#define T5P_IMPLEMENTATION\n#include "t5p.h"\n' >build/gpu/t5p_impl.c  # (T5P_CUDA: in CFL)
cc $CFL -c build/gpu/t5p_impl.c -o build/gpu/t5p_impl.o &
"$NVCC" $NVFLAGS $NVWARN -I. -c t5p_cuda.cu -o build/gpu/t5p_cuda.o &
p1=$!
"$NVCC" -O3 --fmad=false -gencode arch=compute_90,code=sm_90 -I. -c bench/bench_kernels.cu \
    -o build/gpu/bench_kernels.o &
p2=$!
wait $p1 || { echo "BUILD FAILED: t5p_cuda.cu"; exit 1; }
wait $p2 || echo "BUILD FAILED: bench/bench_kernels.cu"
wait
cc $CFL -o build/gpu/test_cuda tests/test_cuda.c build/gpu/t5p_cuda.o $LIBS || echo "BUILD FAILED: test_cuda"
cc $CFL -o build/gpu/bench_train_gpu bench/bench_train_gpu.c build/gpu/t5p_cuda.o $LIBS || echo "BUILD FAILED: bench_train_gpu"
"$NVCC" -Xcompiler -fopenmp -o build/gpu/bench_kernels build/gpu/bench_kernels.o build/gpu/t5p_impl.o \
    -L"$CUDA_HOME/lib64" -lcublas $UTF -lm ||
    echo "BUILD FAILED: bench_kernels"
echo "built in $((SECONDS - t0)) s"

section "GPU tests (tests/test_cuda.c)"
(cd build/gpu && run_for 150 ./test_cuda) | tee build/gpu/test.log
TP=$(grep -c '^PASS' build/gpu/test.log); TF=$(grep -c '^FAIL' build/gpu/test.log); TS=$(grep -c '^SKIP' build/gpu/test.log)
echo "RESULT tests $TP passed, $TF failed, $TS skipped" | tee -a build/gpu/test.log

section "kernel microbenchmarks (bench/bench_kernels.cu)"
run_for 100 build/gpu/bench_kernels | tee build/gpu/kernels.log

section "training throughput: t5p"
: >build/gpu/train.log
for spec in "small 64" "base 32"; do
    read -r preset B <<<"$spec"
    for prec in bf16 fp32; do
        run_for 60 build/gpu/bench_train_gpu train "$preset" "$B" 512 129 6 "$prec" | tee -a build/gpu/train.log
    done
done
run_for 40 build/gpu/bench_train_gpu gen base 32 512 32 fp32 | tee -a build/gpu/train.log
run_for 40 build/gpu/bench_train_gpu gen base 32 512 32 bf16 | tee -a build/gpu/train.log

section "PyTorch (transformers MT5, the same shapes)"
PY=${PYTHON:-python3}
if PYTHONUNBUFFERED=1 $PY -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null; then
    export PYTHONUNBUFFERED=1
    for spec in "small 64" "base 32"; do
        read -r preset B <<<"$spec"
        for prec in bf16 fp32; do
            run_for 70 $PY bench/bench_model_gpu.py train "$preset" "$B" 512 129 6 "$prec" eager 2>&1 | grep -v Warning |
                tee -a build/gpu/train.log
        done
    done
    run_for 60 $PY bench/bench_model_gpu.py gen base 32 512 32 1 fp32 2>&1 | grep -v Warning | tee -a build/gpu/train.log
    run_for 60 $PY bench/bench_model_gpu.py gen base 32 512 32 3 fp32 2>&1 | grep -v Warning | tee -a build/gpu/train.log
    for preset in small base; do  # compilation takes minutes: last, as time allows
        B=$([ $preset = small ] && echo 64 || echo 32)
        if [ "$(left)" -gt 120 ]; then
            run_for 150 $PY bench/bench_model_gpu.py train $preset "$B" 512 129 6 bf16 compile 2>&1 | grep -v Warning |
                tail -4 | tee -a build/gpu/train.log
        else
            echo "SKIPPED (budget): torch.compile $preset"
        fi
    done
else
    echo "SKIPPED: python3 has no torch with CUDA or no transformers"
fi

section "summary ($((SECONDS - start)) s; H200 dense peaks assumed for MFU: bf16 989, fp32 67 TFLOP/s)"
grep -h '^RESULT tests' build/gpu/test.log 2>/dev/null
grep -h '^RESULT copy_bandwidth' build/gpu/kernels.log 2>/dev/null
echo "kernel                          ms       GB/s  %copy  block  err vs C"
grep -h '^RESULT kernel' build/gpu/kernels.log 2>/dev/null |
    awk '{n=""; for(i=3;i<=NF;i++){ if($(i+1)=="ms"){break}; n=n" "$i }; printf "%-28s %8s %9s %6s %5s %9s\n", n, $(i), $(i+2), $(i+4), $(i+6), $(i+8)}'
echo "training (B*(S+T-1) tokens)      tokens/s    ms/step   MFU"
grep -h '^RESULT train' build/gpu/train.log 2>/dev/null | awk '{printf "%-16s %-6s %-5s %11s %10s %5s%%\n", $3, $4, $5, $6, $8, $10}'
echo "greedy/beam decoding (base, B 32, S 512, 32 tokens)   titles/s"
grep -h '^RESULT gen' build/gpu/train.log 2>/dev/null | awk '{printf "%-10s %-5s %-5s beams %s %10s\n", $3, $4, $5, $7, $8}'
[ "${TF:-1}" = 0 ] && [ "${TP:-0}" -gt 0 ]
