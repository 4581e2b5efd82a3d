#!/usr/bin/env bash
# t5p build script.
#   ./build.sh          build everything into build/ (CLI at build/t5p; with nvcc also build/t5p-cuda)
#   ./build.sh test     build and run every test; ends with "N passed, N failed[, N skipped]"
#   ./build.sh demo     the end-to-end demo on Debian's manpages-zh (--quick: a smoke run of under a minute)
#   ./build.sh bench    run the benchmarks side by side with the Python peers (when installed)
#   ./build.sh deps     install the Debian packages t5p needs (root)
#   ./build.sh clean
set -euo pipefail
cd "$(dirname "$0")"
export T5P_ROOT="$PWD"
CC=${CC:-cc}
CFLAGS=${CFLAGS:-"-O2 -march=native"}
WARN="-std=c11 -Wall -Wextra -Werror=implicit-function-declaration"
INC="-I. -I/usr/include/stb"
LIBS="-lutf8proc -lm"
OMP="-fopenmp"
DEB_PKGS="libstb-dev libutf8proc-dev python3-jieba"
# CUDA backend (t5p_cuda.cu): built when nvcc exists; sm_90 code plus compute_80 PTX for other GPUs
NVCC=${NVCC:-$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)}
CUDA_HOME=${CUDA_HOME:-${NVCC:+$(dirname "$(dirname "$(readlink -f "$NVCC")")")}}
NVCCFLAGS=${NVCCFLAGS:-"-O3 --fmad=false -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80"}
NVCCWARN="-Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror"
CUDA_LIBS="-L${CUDA_HOME:-}/lib64 -Wl,-rpath,${CUDA_HOME:-}/lib64 -lcublas -lcudart -lstdc++"

missing_deps() {
    local m=""
    [ -f /usr/include/stb/stb_ds.h ] || m="$m libstb-dev"
    [ -f /usr/include/utf8proc.h ] || m="$m libutf8proc-dev"
    [ -f /usr/lib/python3/dist-packages/jieba/dict.txt ] || m="$m python3-jieba"
    echo "$m"
}

deps() {
    local m; m=$(missing_deps)
    [ -z "$m" ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "build.sh: installing Debian packages:$m" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq $m >/dev/null
    else
        echo "build.sh: missing Debian packages:$m" >&2
        echo "build.sh: run: sudo apt-get install -y$m" >&2
        exit 1
    fi
}

# True when examples/t5p.c or an examples/*.inc it includes is newer than $1.
examples_newer() { [ -n "$(find examples -newer "$1" \( -name '*.inc' -o -name 't5p.c' \) 2>/dev/null)" ]; }

build() {
    deps
    mkdir -p build
    local changed=0
    for src in examples/*.c; do
        local name; name=$(basename "$src" .c)
        local out=build/$name
        if [ ! -e "$out" ] || [ "$src" -nt "$out" ] || [ t5p.h -nt "$out" ] || { [ "$name" = t5p ] && examples_newer "$out"; }; then
            echo "cc $src -> $out"
            $CC $CFLAGS $WARN $OMP $INC -o "$out" "$src" $LIBS
        fi
    done
    build_cuda
}

# build/t5p_cuda.o and the CUDA-enabled CLI build/t5p-cuda (build/t5p stays the CPU build)
build_cuda() {
    if [ -z "$NVCC" ]; then
        echo "build.sh: nvcc not found: CPU build only (no build/t5p-cuda; tests/test_cuda skips)"
        return 0
    fi
    if [ ! -e build/t5p_cuda.o ] || [ t5p_cuda.cu -nt build/t5p_cuda.o ] || [ t5p.h -nt build/t5p_cuda.o ]; then
        echo "nvcc t5p_cuda.cu -> build/t5p_cuda.o"
        "$NVCC" $NVCCFLAGS $NVCCWARN -I. -c t5p_cuda.cu -o build/t5p_cuda.o
    fi
    if [ ! -e build/t5p-cuda ] || examples_newer build/t5p-cuda || [ build/t5p_cuda.o -nt build/t5p-cuda ]; then
        echo "cc examples/t5p.c + build/t5p_cuda.o -> build/t5p-cuda"
        $CC $CFLAGS $WARN $OMP $INC -DT5P_CUDA -o build/t5p-cuda examples/t5p.c build/t5p_cuda.o $LIBS $CUDA_LIBS
    fi
}

run_tests() {
    build
    mkdir -p build/tests
    local pass=0 fail=0 skip=0 log
    for src in tests/test_*.c; do
        local name; name=$(basename "$src" .c)
        local out=build/tests/$name cuda=""
        [ "$name" = test_cuda ] && [ -n "$NVCC" ] && cuda="-DT5P_CUDA build/t5p_cuda.o $CUDA_LIBS"
        if [ ! -e "$out" ] || [ "$src" -nt "$out" ] || [ t5p.h -nt "$out" ] || [ tests/test.h -nt "$out" ] || [ tests/golden.h -nt "$out" ] ||
           { [ -n "$cuda" ] && [ build/t5p_cuda.o -nt "$out" ]; } ||
           { grep -q '"examples/' "$src" && examples_newer "$out"; }; then
            $CC $CFLAGS $WARN $OMP $INC -o "$out" "$src" $LIBS $cuda
        fi
        echo "== $name"
        log=$(mktemp)
        set +e
        (cd build/tests && "./$name") 2>&1 | tee "$log"
        local rc=${PIPESTATUS[0]}
        set -e
        local p f s
        p=$(grep -c '^PASS ' "$log" || true); f=$(grep -c '^FAIL ' "$log" || true); s=$(grep -c '^SKIP ' "$log" || true)
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then echo "FAIL $name: exited with status $rc"; f=1; fi
        pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
        rm -f "$log"
    done
    for sh in tests/test_*.sh; do
        [ -e "$sh" ] || continue
        echo "== $(basename "$sh")"
        log=$(mktemp)
        set +e
        bash "$sh" 2>&1 | tee "$log"
        local rc=${PIPESTATUS[0]}
        set -e
        local p f s
        p=$(grep -c '^PASS ' "$log" || true); f=$(grep -c '^FAIL ' "$log" || true); s=$(grep -c '^SKIP ' "$log" || true)
        if [ "$rc" != 0 ] && [ "$f" = 0 ]; then echo "FAIL $sh: exited with status $rc"; f=1; fi
        pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
        rm -f "$log"
    done
    local line="$pass passed, $fail failed"
    [ "$skip" -gt 0 ] && line="$line, $skip skipped"
    echo "$line"
    [ "$fail" = 0 ]
}

case "${1:-build}" in
    build) build ;;
    test) run_tests ;;
    deps) deps ;;
    demo) shift; build; bash examples/demo.sh "$@" ;;
    bench) build; for b in bench/*.sh; do [ -e "$b" ] && bash "$b"; done ;;
    clean) rm -rf build ;;
    -h|--help|help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) echo "build.sh: unknown command '$1' (try --help)" >&2; exit 2 ;;
esac
