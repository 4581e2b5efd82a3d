#!/usr/bin/env bash
# The CUDA backend's own code, run on the CPU: t5p_cuda.cu compiled by g++ against tests/cuda_emu.h (the CUDA
# runtime, cuBLAS and kernel launches emulated, a block's threads as fibers meeting at every barrier and warp
# shuffle), then tests/test_cuda.c against it. It checks every kernel's indexing and reductions and the
# model, optimizer and decoding code where no GPU exists; speed, real parallel execution and cuBLAS itself
# still need a device (tests/test_cuda.c there, bench/gpu_check.sh). Lines read "PASS cuda-emu ...".
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/tests
CXX=${CXX:-g++}
CC=${CC:-cc}
out=build/tests/test_cuda_emu
if [ ! -e "$out" ] || [ t5p_cuda.cu -nt "$out" ] || [ t5p.h -nt "$out" ] || [ tests/cuda_emu.h -nt "$out" ] ||
   [ tests/test_cuda.c -nt "$out" ] || [ tests/test.h -nt "$out" ]; then
    $CXX -O2 -std=c++17 -Wall -Wextra -Werror -Wno-unknown-pragmas -x c++ -DT5P_CUDA_EMULATE -Itests -I. \
        -c t5p_cuda.cu -o build/tests/t5p_cuda_emu.o
    $CC -O2 -std=c11 -Wall -Wextra -Werror -fopenmp -I. -I/usr/include/stb -DT5P_CUDA -o "$out" tests/test_cuda.c \
        build/tests/t5p_cuda_emu.o -lstdc++ -lutf8proc -lm
fi
cd build/tests && OMP_NUM_THREADS=1 ./test_cuda_emu | sed -u 's/^\(PASS\|FAIL\|SKIP\) cuda/\1 cuda-emu/'
