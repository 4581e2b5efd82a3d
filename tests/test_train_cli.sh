#!/usr/bin/env bash
# t5p pretokenize / t5p train end to end on a tiny model: help and exit codes, shards = text, --resume
# continues bitwise (also across thread counts), runs refuse to change under --resume, a diverging run stops
# with the last good checkpoint kept, Ctrl-C saves, bad inputs give clear errors. Seconds on 2 cores.
cd "$(dirname "$0")/.."
T5P=build/t5p
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

expect() {  # name wanted-status message-substring command...
    local name=$1 want=$2 msg=$3; shift 3
    "$@" > "$tmp/out" 2> "$tmp/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then fail "$name" "exit status $rc, expected $want: $(head -c 300 "$tmp/err")"
    elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$tmp/err"; then fail "$name" "stderr lacks '$msg': $(head -c 300 "$tmp/err")"
    else pass "$name"; fi
}

# help and usage
expect "pretokenize --help" 0 "" $T5P pretokenize --help
expect "train --help" 0 "" $T5P train --help
grep -q -- "--resume" "$tmp/out" || fail "train --help mentions --resume" "no"
expect "train without options" 2 "--out DIR is required" $T5P train
expect "train: unknown option" 2 "unknown option '--bogus'" $T5P train --bogus
expect "train: --batch 0" 2 "--batch expects an integer" $T5P train --batch 0 --out "$tmp/x"
expect "train: bad --optim" 2 "--optim expects" $T5P train --optim sgd --out "$tmp/x" --vocab v --data d --config tiny
expect "pretokenize without inputs" 2 "required" $T5P pretokenize --vocab v -o x

# a vocabulary and pairs from the committed synthetic corpus
corpus=tests/golden/vocab_corpus.txt
$T5P vocab -q --words 3000 --size 500 --out "$tmp/vocab.txt" "$corpus" || fail "vocab" "exit $?"
awk '{ l[NR - 1] = $0 } END { for (i = 0; i < 40; i++) printf "%s\t%s%s\n", l[i % NR], l[(i + 3) % NR], l[(i + 7) % NR] }' \
    "$corpus" > "$tmp/pairs.tsv"
awk -F'\t' '{ printf "{\"source\":\"%s\",\"target\":\"%s\",\"n\":%d}\n", $2, $1, NR }' "$tmp/pairs.tsv" > "$tmp/pairs.jsonl"
V="--vocab $tmp/vocab.txt"
TR="--config tiny $V --batch 6 --max-src 48 --max-tgt 16 --seed 5 -q"

expect "pretokenize JSONL" 0 "" $T5P pretokenize $V --max-src 48 --max-tgt 16 "$tmp/pairs.jsonl" -o "$tmp/pairs.t5ps"
expect "pretokenize TSV" 0 "" $T5P pretokenize $V --max-src 48 --max-tgt 16 "$tmp/pairs.tsv" -o "$tmp/pairs_tsv.t5ps"
if cmp -s "$tmp/pairs.t5ps" "$tmp/pairs_tsv.t5ps"; then pass "JSONL and TSV make the same shard"
else fail "JSONL and TSV make the same shard" "files differ"; fi

losses() { cut -d, -f1-4 "$1/loss.csv"; }  # step, epoch, loss, acc (printed exactly: %.9g of floats)

# text, shard, straight, resumed, other thread counts: the same losses
expect "train from TSV" 0 "" $T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/a" --steps 12 --threads 2
expect "train from a shard" 0 "" $T5P train $TR --data "$tmp/pairs.t5ps" --out "$tmp/b" --steps 12 --threads 2
if [ "$(losses "$tmp/a")" = "$(losses "$tmp/b")" ] && [ "$(wc -l < "$tmp/a/loss.csv")" = 13 ]; then
    pass "text and shard train the same (12 steps)"
else fail "text and shard train the same" "$(diff <(losses "$tmp/a") <(losses "$tmp/b") | head -3 | tr '\n' ' ')"; fi
expect "train 5 steps" 0 "" $T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/c" --steps 5 --threads 1
expect "--resume to step 12" 0 "" $T5P train --out "$tmp/c" --resume --steps 12 --threads 1 -q
if [ "$(losses "$tmp/a")" = "$(losses "$tmp/c")" ]; then
    pass "5 steps + --resume 7 = 12 steps, bitwise (and 1 thread = 2 threads)"
else fail "5 steps + --resume 7 = 12 steps" "$(diff <(losses "$tmp/a") <(losses "$tmp/c") | head -3 | tr '\n' ' ')"; fi
if cmp -s "$tmp/a/checkpoint-00000012/model.safetensors" "$tmp/c/checkpoint-00000012/model.safetensors" &&
   cmp -s "$tmp/a/checkpoint-00000012/optimizer.safetensors" "$tmp/c/checkpoint-00000012/optimizer.safetensors"; then
    pass "resumed run ends with the same weights and optimizer state"
else fail "resumed run ends with the same weights and optimizer state" "files differ"; fi
if [ "$(cat "$tmp/c/latest")" = checkpoint-00000012 ] && [ ! -e "$tmp/c/checkpoint-00000005" ]; then
    pass "latest names the newest checkpoint; older ones removed (--keep 1)"
else fail "latest names the newest checkpoint" "$(cat "$tmp/c/latest"; ls "$tmp/c")"; fi

# epochs, periodic checkpoints, --keep, dev evaluation
expect "train 2 epochs, save every 4, keep 2, --dev" 0 "" $T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/d" --epochs 2 \
    --save-every 4 --keep 2 --dev "$tmp/pairs.jsonl"
last=$(tail -n 1 "$tmp/d/loss.csv" | cut -d, -f1,2)
if [ "$last" = "14,2" ] && [ "$(ls -d "$tmp/d"/checkpoint-* | wc -l)" = 2 ] && [ "$(wc -l < "$tmp/d/dev.csv")" = 4 ]; then
    pass "2 epochs of 40 pairs in batches of 6 = 14 steps; 2 checkpoints kept; dev.csv at each save"
else fail "2 epochs = 14 steps" "last row $last; $(ls "$tmp/d" | tr '\n' ' '); dev rows $(wc -l < "$tmp/d/dev.csv")"; fi

# a run refuses to change under --resume, and an existing run is not overwritten
expect "--resume with another --batch" 2 "batch '8' differs from the run's '6'" $T5P train --out "$tmp/c" --resume --batch 8 --steps 20
head -n 30 "$tmp/pairs.tsv" > "$tmp/pairs30.tsv"
expect "--resume with other data" 2 "the data differ from the run's (30 pairs" $T5P train --out "$tmp/c" --resume \
    --data "$tmp/pairs30.tsv" --steps 20
expect "--resume without a run" 2 "holds no training run" $T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/none" --resume
expect "a new run into an existing one" 2 "already holds a training run" $T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/c"
if [ "$(cat "$tmp/c/latest")" = checkpoint-00000012 ]; then pass "refused runs leave the old one untouched"
else fail "refused runs leave the old one untouched" "latest is $(cat "$tmp/c/latest")"; fi

# fine-tuning from a trained model directory, Hugging Face style; its vocabulary must fit
expect "--finetune --init a training directory" 0 "" $T5P train $V --init "$tmp/a" --finetune --data "$tmp/pairs.t5ps" \
    --out "$tmp/ft" --steps 2 -q
grep -q '"optim":"adam"' "$tmp/ft/train_options.json" && grep -q '"max_src":"256"' "$tmp/ft/train_options.json" &&
    grep -q '"lr":"0.00020000000000000001"' "$tmp/ft/train_options.json" && pass "--finetune: Adam 2e-4, source 256, target 32" ||
    fail "--finetune defaults" "$(cat "$tmp/ft/train_options.json")"
head -n 300 "$tmp/vocab.txt" > "$tmp/vocab300.txt"
expect "--init with another vocabulary size" 2 "300 tokens, but the model's vocab_size is" $T5P train --vocab "$tmp/vocab300.txt" \
    --init "$tmp/a" --data "$tmp/pairs.tsv" --out "$tmp/v300" --steps 1
expect "a shard of another vocabulary" 2 "pretokenized with another vocabulary" $T5P train --vocab "$tmp/vocab300.txt" \
    --config tiny --data "$tmp/pairs.t5ps" --out "$tmp/v300" --steps 1
[ ! -e "$tmp/v300" ] && pass "refused runs create nothing" || fail "refused runs create nothing" "$tmp/v300 exists"

# bad data
printf 'title\tabstract\nonly one field\n' > "$tmp/bad.tsv"
expect "TSV line with one field" 2 "bad.tsv:2: 1 tab-separated field" $T5P train $TR --data "$tmp/bad.tsv" --out "$tmp/e"
printf '{"source":"a","target":"b"}\n{"source":"a"}\n' > "$tmp/bad.jsonl"
expect "JSONL line without target" 2 "bad.jsonl:2: expected a JSON object" $T5P pretokenize $V "$tmp/bad.jsonl" -o "$tmp/e.t5ps"
head -c 100 "$tmp/pairs.t5ps" > "$tmp/cut.t5ps"
expect "truncated shard" 2 "truncated" $T5P train $TR --data "$tmp/cut.t5ps" --out "$tmp/e"

# divergence: the first step is fine, the second has a NaN loss; the checkpoint of step 1 is kept
expect "lr 1e30 stops with exit 1" 1 "the loss is NaN" $T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/nan" --optim adam \
    --lr 1e30 --steps 10 --save-every 1
grep -q "last good checkpoint is $tmp/nan/checkpoint-00000001" "$tmp/err" && [ "$(cat "$tmp/nan/latest")" = checkpoint-00000001 ] &&
    pass "the last good checkpoint is named and kept" || fail "the last good checkpoint is named and kept" "$(cat "$tmp/err")"

# Ctrl-C saves a checkpoint and exits 130
$T5P train $TR --data "$tmp/pairs.tsv" --out "$tmp/int" --steps 1000000 --save-every 0 2> "$tmp/err" &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/int/loss.csv" ] && [ "$(wc -l < "$tmp/int/loss.csv")" -gt 3 ] && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
if [ "$rc" = 130 ] && [ -e "$tmp/int/latest" ] && grep -q interrupted "$tmp/err"; then
    pass "Ctrl-C saves $(cat "$tmp/int/latest") and exits 130"
else fail "Ctrl-C saves and exits 130" "exit $rc; $(cat "$tmp/err")"; fi
