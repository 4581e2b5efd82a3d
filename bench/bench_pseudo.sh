#!/usr/bin/env bash
# bench/bench_pseudo.sh - PEGASUS pseudo-summary pairs: `t5p pseudo` on one core and on all cores, side by
# side with the official recipe in Python with pylcs (tests/ref/ref_pseudo.py run), on the same documents:
# the first N THUCNews articles (../shared/data), one a line. Python runs them once; t5p runs them repeated
# R times (the same documents, so the rates compare). Median of 3 runs, the three programs taking turns.
# One-core rates are given on CPU time (user + sys: steadier on a shared machine) and on wall time; the
# all-cores rate on wall time.
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
py=0
python3 -c "import pylcs" 2>/dev/null && py=1

run() {  # name, command...: appends "wall cpu" to $tmp/name
    local name=$1; shift
    /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" >/dev/null 2>&1
    awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$tmp/t" >>"$tmp/$name"
}
for _ in 1 2 3; do
    [ $py = 1 ] && run py python3 tests/ref/ref_pseudo.py run "$tmp/docs.txt"
    run one "$T5P" pseudo --threads 1 "$tmp/docs_rep.txt"
    run all "$T5P" pseudo --threads "$cores" "$tmp/docs_rep.txt"
done
med() { sort -g -k"$2" "$tmp/$1" | sed -n 2p | awk -v c="$2" '{ print $c }'; }  # name, column (1 wall, 2 cpu)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "== pseudo-summary pairs, $N THUCNews documents ($(echo "scale=2; $bytes / 1000000" | bc -l) MB); machine: $cores cores, $cpu; load $(cut -d' ' -f1-3 /proc/loadavg)"
row() {  # label, seconds, documents, bytes, clock
    printf '%-36s %10.1f docs/s %9.3f MB/s  (%s)\n' "$1" "$(echo "$3 / $2" | bc -l)" "$(echo "$4 / $2 / 1000000" | bc -l)" "$5"
}
[ $py = 1 ] && row "python3 + pylcs (train.py recipe)" "$(med py 2)" "$N" "$bytes" "cpu time"
row "t5p pseudo, 1 thread" "$(med one 2)" "$((N * R))" "$((bytes * R))" "cpu time"
[ $py = 1 ] && row "python3 + pylcs (train.py recipe)" "$(med py 1)" "$N" "$bytes" "wall"
row "t5p pseudo, 1 thread" "$(med one 1)" "$((N * R))" "$((bytes * R))" "wall"
row "t5p pseudo, $cores threads" "$(med all 1)" "$((N * R))" "$((bytes * R))" "wall"
if [ $py = 1 ]; then
    printf 'ratio t5p/python: %.0fx on 1 core (cpu time), %.0fx on 1 core (wall), %.0fx on %d cores (wall)\n' \
        "$(echo "($R * $(med py 2)) / $(med one 2)" | bc -l)" "$(echo "($R * $(med py 1)) / $(med one 1)" | bc -l)" \
        "$(echo "($R * $(med py 1)) / $(med all 1)" | bc -l)" "$cores"
else
    echo "(python3 with pylcs not found: no ratio)"
fi
printf 'thread scaling: %.2fx on %d cores (wall)\n' "$(echo "$(med one 1) / $(med all 1)" | bc -l)" "$cores"
