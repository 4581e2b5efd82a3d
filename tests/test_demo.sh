#!/usr/bin/env bash
# The end-to-end demo (./build.sh demo --quick): data from Debian's manpages-zh, vocabulary, pseudo-summary
# pairs, pretraining, few-shot fine-tuning, generation, scoring, loss curves.
# Runs when the package is in the demo cache already (build/demo-cache or $T5P_DEMO_CACHE; ./build.sh demo
# puts it there), or when T5P_DEMO_TEST=1 allows fetching it with apt-get; else SKIP. T5P_DEMO_TEST=0 skips.
# About 35 seconds on a 2-core machine.
cd "$(dirname "$0")/.."
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
cache=${T5P_DEMO_CACHE:-$PWD/build/demo-cache}
if [ "${T5P_DEMO_TEST:-}" = 0 ]; then echo "SKIP demo: T5P_DEMO_TEST=0"; exit 0; fi
if ! ls "$cache"/manpages-zh_*_all.deb > /dev/null 2>&1 && [ "${T5P_DEMO_TEST:-}" != 1 ]; then
    echo "SKIP demo: no manpages-zh package in $cache (./build.sh demo fetches it; T5P_DEMO_TEST=1 lets this test fetch it)"
    exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$tmp/demo
t0=$(date +%s)
timeout 900 bash examples/demo.sh --quick --cache "$cache" --out "$out" > "$tmp/stdout" 2> "$tmp/stderr"
rc=$?
secs=$(( $(date +%s) - t0 ))
if [ "$rc" = 3 ]; then echo "SKIP demo: manpages-zh unavailable: $(tail -n 1 "$tmp/stderr")"; exit 0; fi
if [ "$rc" = 0 ] && grep -q '^Demo finished' "$tmp/stdout"; then pass "demo --quick runs end to end (${secs}s)"
else fail "demo --quick runs end to end" "exit $rc: $(tail -n 5 "$tmp/stderr" | tr '\r\n' '  ')"; exit 0; fi

D=$out/data
n_eval=$(wc -l < "$D/eval_ref.txt")
bad=""
for f in "$out"/pred/*.txt; do [ "$(wc -l < "$f")" = "$n_eval" ] || bad="$bad $(basename "$f")"; done
nf=$(ls "$out"/pred/*.txt | wc -l)
if [ -z "$bad" ] && [ "$nf" = 12 ]; then pass "demo: 12 prediction files, one line per held-out page ($n_eval)"
else fail "demo: 12 prediction files, one line per held-out page" "$nf files; wrong line counts:$bad"; fi

# the table: 6 rows of 2 x (R-1 R-2 R-L BLEU empty), percentages in [0, 100]
rows=$(awk -F'|' 'NF == 3 && $2 ~ /[0-9]/ {
    split($2 " " $3, v, " "); ok = length(v) == 10
    for (i = 1; i <= 10; i++) if (v[i] !~ /^[0-9.]+$/ || (i % 5 != 0 && v[i] > 100) || (i % 5 == 0 && v[i] > n)) ok = 0
    if (ok) c++ } END { print c + 0 }' n="$n_eval" "$out/results.txt")
if [ "$rows" = 6 ]; then pass "demo: results table has 6 complete rows"
else fail "demo: results table has 6 complete rows" "$rows: $(cat "$out/results.txt")"; fi

# the data make sense: the description's first sentence overlaps its title (a check of the extraction)
lead_rl=$(awk -F'|' '/first sentence/ { split($2, v, " "); print v[3] }' "$out/results.txt")
if awk -v x="$lead_rl" 'BEGIN { exit !(x > 5) }'; then pass "demo: first-sentence baseline R-L ${lead_rl}% > 5%"
else fail "demo: first-sentence baseline R-L > 5%" "${lead_rl:-missing}"; fi

# held-out titles never appear among the training titles
leak=$(cut -f1 "$D/train.tsv" | sort -u | comm -12 - <(sort -u "$D/eval_ref.txt") | wc -l)
if [ "$leak" = 0 ]; then pass "demo: no held-out title among the training titles"
else fail "demo: no held-out title among the training titles" "$leak shared"; fi

# every run trained: the loss of its last steps is below that of its first steps
for r in pretrain ft_pretrained_10 ft_random_10 ft_pretrained_100 ft_random_100; do
    if awk -F, 'NR > 1 { l[++n] = $3 } END { k = n < 10 ? 1 : 5; a = b = 0
                for (i = 1; i <= k; i++) { a += l[i]; b += l[n - i + 1] } exit !(n >= 2 && b < a) }' "$out/$r/loss.csv"; then
        pass "demo: $r loss went down"
    else
        fail "demo: $r loss went down" "$(sed -n '2p;$p' "$out/$r/loss.csv" | tr '\n' ' ')"
    fi
done

polys=$(grep -c '<polyline' "$out/loss.svg")
if [ "$(head -c 4 "$out/loss.svg")" = "<svg" ] && [ "$(tail -n 1 "$out/loss.svg")" = "</svg>" ] && [ "$polys" = 10 ]; then
    pass "demo: loss.svg with 5 curves (raw and smoothed)"
else
    fail "demo: loss.svg with 5 curves (raw and smoothed)" "$polys polylines"
fi
