#!/usr/bin/env bash
# bench/bench_pseudo.sh - PEGASUS pseudo-summary pairs: `t5p pseudo` on one core and on all cores, side by
# side with the official recipe in Python with pylcs (tests/ref/ref_pseudo.py run), on the same documents:
# the first N THUCNews articles (../shared/data), one a line. Python runs them once; t5p runs them repeated
# R times (the same documents, so the rates compare). Wall-clock medians of 3 runs; prints the ratios.
#   bench/bench_pseudo.sh [N [R]]      (defaults 200 documents, 50 repetitions for t5p)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
R=${2:-50}
T5P=build/t5p
src=../shared/data/corpus_thucnews/cnews.val.txt
[ -x "$T5P" ] || ./build.sh >/dev/null
if [ ! -f "$src" ]; then echo "bench_pseudo: $src not found, skipped"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n "$N" "$src" | cut -f2 >"$tmp/docs.txt"
for _ in $(seq "$R"); do cat "$tmp/docs.txt"; done >"$tmp/docs_rep.txt"
bytes=$(wc -c <"$tmp/docs.txt")
cores=$(nproc)

median3() {  # command...: median wall seconds of 3 runs
    local t=()
    for _ in 1 2 3; do
        local a b
        a=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        b=$(date +%s.%N)
        t+=("$(echo "$b - $a" | bc -l)")
    done
    printf '%s\n' "${t[@]}" | sort -g | sed -n 2p
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "== pseudo-summary pairs: $N THUCNews documents ($(echo "scale=2; $bytes / 1000000" | bc -l) MB), machine: $cores cores, $cpu"
t1=$(median3 "$T5P" pseudo --threads 1 "$tmp/docs_rep.txt")
tn=$(median3 "$T5P" pseudo --threads "$cores" "$tmp/docs_rep.txt")
py=""
if python3 -c "import pylcs" 2>/dev/null; then
    py=$(median3 python3 tests/ref/ref_pseudo.py run "$tmp/docs.txt")
fi
row() {  # label, seconds, documents, bytes
    printf '%-34s %10.1f docs/s %9.3f MB/s\n' "$1" "$(echo "$3 / $2" | bc -l)" "$(echo "$4 / $2 / 1000000" | bc -l)"
}
[ -n "$py" ] && row "python3 + pylcs (train.py recipe)" "$py" "$N" "$bytes"
row "t5p pseudo, 1 thread" "$t1" "$((N * R))" "$((bytes * R))"
row "t5p pseudo, $cores threads" "$tn" "$((N * R))" "$((bytes * R))"
if [ -n "$py" ]; then
    printf 'ratio t5p/python: %.0fx on 1 core, %.0fx on %d cores\n' \
        "$(echo "($N * $R / $t1) / ($N / $py)" | bc -l)" "$(echo "($N * $R / $tn) / ($N / $py)" | bc -l)" "$cores"
else
    echo "(python3 with pylcs not found: no ratio)"
fi
printf 'thread scaling: %.2fx on %d cores\n' "$(echo "$t1 / $tn" | bc -l)" "$cores"
