#!/usr/bin/env bash
# t5p train --dev-metrics: one table row and one dev_metrics.csv row per epoch; the row's ROUGE/BLEU equal
# `t5p generate` + `t5p eval` of the saved best model; best/ holds the epoch with the highest BLEU; a run
# stopped and resumed writes the same rows as one that never stopped. Seconds on 2 cores.
cd "$(dirname "$0")/.."
T5P=build/t5p
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

corpus=tests/golden/vocab_corpus.txt
$T5P vocab -q --words 3000 --size 500 --out "$tmp/vocab.txt" "$corpus" || fail "vocab" "exit $?"
awk '{ l[NR - 1] = $0 } END { for (i = 0; i < 30; i++) printf "%s\t%s%s\n", l[i % NR], l[(i + 3) % NR], l[(i + 7) % NR] }' \
    "$corpus" > "$tmp/train.tsv"
awk '{ l[NR - 1] = $0 } END { for (i = 30; i < 42; i++) printf "%s\t%s%s\n", l[i % NR], l[(i + 3) % NR], l[(i + 7) % NR] }' \
    "$corpus" > "$tmp/dev.tsv"
TR=(--config tiny --vocab "$tmp/vocab.txt" --batch 8 --max-src 40 --max-tgt 12 --seed 3 --lr 0.01 --save-every 0
    --dev "$tmp/dev.tsv" --dev-metrics)

$T5P train "${TR[@]}" --data "$tmp/train.tsv" --out "$tmp/a" --epochs 4 2> "$tmp/err"
rc=$?
rows=$(grep -cE '^ +[0-9]+ +[0-9]+ +[0-9.]+ \|' "$tmp/err")
if [ "$rc" = 0 ] && [ "$rows" = 4 ] && [ "$(wc -l < "$tmp/a/dev_metrics.csv")" = 5 ] && grep -q 'R-L' "$tmp/err"; then
    pass "--dev-metrics: a table row and a CSV row per epoch (4)"
else
    fail "--dev-metrics: a table row and a CSV row per epoch" "exit $rc, $rows rows: $(tail -c 400 "$tmp/err")"
fi

# the best epoch's numbers, recomputed from the saved model with generate + eval
best=$(awk -F, 'NR > 1 && (b == "" || $7 > b) { b = $7; r = $0 } END { print r }' "$tmp/a/dev_metrics.csv")
cut -f2 "$tmp/dev.tsv" > "$tmp/src.txt"
cut -f1 "$tmp/dev.tsv" > "$tmp/ref.txt"
$T5P generate -q --model "$tmp/a/best" --max-len 12 --max-src 40 "$tmp/src.txt" > "$tmp/pred.txt"
got=$($T5P eval --pred "$tmp/pred.txt" --ref "$tmp/ref.txt" --on-error zero | head -n 1 |
      sed "s/[{}']//g; s/[a-z0-9-]*: //g; s/ //g")
want=$(echo "$best" | awk -F, '{ printf "%.9g,%.9g,%.9g,%.9g", $4, $5, $6, $7 }')
got9=$(echo "$got" | awk -F, '{ printf "%.9g,%.9g,%.9g,%.9g", $1, $2, $3, $4 }')
if [ -n "$best" ] && [ "$got9" = "$want" ]; then pass "best/ generates and scores as its row says ($want)"
else fail "best/ generates and scores as its row says" "row [$best] vs generate+eval [$got]"; fi

# stopped after 2 epochs (checkpoint at step 8), resumed to 4: the same rows
$T5P train "${TR[@]}" --data "$tmp/train.tsv" --out "$tmp/b" --epochs 2 -q 2> "$tmp/err2"
$T5P train --out "$tmp/b" --resume --epochs 4 --dev "$tmp/dev.tsv" --dev-metrics -q 2>> "$tmp/err2"
if [ "$(cut -d, -f1-8 "$tmp/a/dev_metrics.csv")" = "$(cut -d, -f1-8 "$tmp/b/dev_metrics.csv")" ] &&
   cmp -s "$tmp/a/best/model.safetensors" "$tmp/b/best/model.safetensors"; then
    pass "2 epochs + --resume to 4: the same dev rows and the same best/"
else
    fail "2 epochs + --resume to 4: the same dev rows and the same best/" \
        "$(diff <(cut -d, -f1-8 "$tmp/a/dev_metrics.csv") <(cut -d, -f1-8 "$tmp/b/dev_metrics.csv") | head -4 | tr '\n' ' ') $(tail -c 200 "$tmp/err2")"
fi

$T5P train --config tiny --vocab "$tmp/vocab.txt" --data "$tmp/train.tsv" --out "$tmp/c" --dev-metrics -q 2> "$tmp/err"
rc=$?
if [ "$rc" = 2 ] && grep -q -- '--dev-metrics needs --dev' "$tmp/err"; then pass "--dev-metrics without --dev: exit 2"
else fail "--dev-metrics without --dev: exit 2" "exit $rc: $(cat "$tmp/err")"; fi
