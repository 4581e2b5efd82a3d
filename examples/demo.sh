#!/usr/bin/env bash
# The t5p demo: T5 PEGASUS's whole story, small, on the CPU, on data a Debian package provides.
#
#   ./build.sh demo [--quick] [--cache DIR] [--out DIR] [--threads N]
#
# 1. data     apt-get download manpages-zh (Chinese man pages) into the cache, dpkg-deb -x, and
#             build/manpages turns the zh_CN pages into a title task, description -> the page's one-line NAME
#             summary ("ls - 列出目录内容"), pages split into train and held-out eval by a hash of the summary;
#             the training pages' texts (NAME sections left out) are the pretraining corpus
# 2. vocab    t5p vocab on the training texts (no --base: BERT's specials, every character, jieba words)
# 3. pseudo   t5p pseudo: PEGASUS pseudo-summary pairs from the training pages
# 4. pretrain a tiny model (2+2 layers, d_model 64) on the pseudo pairs for a fixed number of steps
# 5. finetune the pretrained model and the same architecture from random weights on 10 and 100 titles
# 6. generate titles for the held-out pages (beam 1 and 3, bert4keras semantics) and score them with t5p eval
#             (ROUGE-1/2/L and BLEU exactly as T5 PEGASUS's finetune.py scored); print the table, samples,
#             and draw the loss curves (loss.svg)
# Everything is seeded: the same package gives the same table. --quick is a smoke run (fewer steps, 40 eval
# pages; under a minute here) whose numbers mean little. Exit status: 0 done, 1 a step failed, 2 bad usage,
# 3 the package is unavailable (no apt-get, no network, or not root for apt-get update).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T5P=$ROOT/build/t5p
MANPAGES=$ROOT/build/manpages
PLOT=$ROOT/build/plot_svg

quick=0
cache=${T5P_DEMO_CACHE:-$ROOT/build/demo-cache}
out=$ROOT/build/demo
threads=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --cache) cache=$2; shift ;;
        --out) out=$2; shift ;;
        --threads) threads=(--threads "$2"); shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown option '$1' (see ./build.sh demo --help)" >&2; exit 2 ;;
    esac
    shift
done
for b in "$T5P" "$MANPAGES" "$PLOT"; do
    [ -x "$b" ] || { echo "demo: $b is missing: run ./build.sh first (./build.sh demo does)" >&2; exit 1; }
done
# OpenMP threads that sleep instead of spinning while they wait: on a machine shared with other work, spinning
# threads made training steps up to ten times slower. The user's own setting wins.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

# The budget. Full: 5.5 to 10 minutes on a 2-core x86 VM shared with other work; quick: under a minute.
if [ "$quick" = 1 ]; then
    PRE_STEPS=60 FT_STEPS=30 EVAL_PAGES=40 VOCAB_SIZE=3000
else
    PRE_STEPS=1600 FT_STEPS=100 EVAL_PAGES=0 VOCAB_SIZE=4000
fi
BATCH=16 MAX_SRC=128 MAX_TGT=32 PRE_TGT=48 SEED=1
PRE_LR=0.02 FT_LR=0.01  # Adafactor (bert4keras), no warm-up: a tiny model learns in few steps only with these

t_start=$(date +%s)
stage=0
NSTAGES=7
bold='' plain=''
if [ -t 2 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() {
    stage=$((stage + 1))
    printf '\n%s[%d/%d] %s%s  (%ds so far)\n' "$bold" "$stage" "$NSTAGES" "$1" "$plain" "$(( $(date +%s) - t_start ))" >&2
}
# The newest checkpoint of a training run (a model directory with config.json, model.safetensors, vocab.txt).
checkpoint() { echo "$1/$(cat "$1/latest")"; }
die() { echo "demo: $2" >&2; exit "$1"; }

# ----------------------------------------------------------------------------
step "data: Debian's manpages-zh (Chinese man pages)"
mkdir -p "$cache"
deb=$(ls "$cache"/manpages-zh_*_all.deb 2>/dev/null | sort | tail -n 1 || true)
if [ -z "$deb" ]; then
    command -v apt-get >/dev/null ||
        die 3 "apt-get is not available: this demo needs Debian's manpages-zh package; put manpages-zh_*_all.deb into $cache"
    echo "apt-get download manpages-zh into $cache" >&2
    log=$cache/apt.log
    if ! (cd "$cache" && apt-get download manpages-zh) >"$log" 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            echo "apt-get download failed; trying apt-get update first" >&2
            (apt-get update && cd "$cache" && apt-get download manpages-zh) >>"$log" 2>&1 ||
                die 3 "cannot fetch manpages-zh (see $log): no network or no Debian archive in the apt sources? Put manpages-zh_*_all.deb into $cache to run offline"
        else
            die 3 "apt-get download manpages-zh failed (see $log). If the package lists are empty, run 'sudo apt-get update' and try again, or put manpages-zh_*_all.deb into $cache"
        fi
    fi
    deb=$(ls "$cache"/manpages-zh_*_all.deb 2>/dev/null | sort | tail -n 1 || true)
    [ -n "$deb" ] || die 3 "apt-get download left no manpages-zh_*_all.deb in $cache (see $log)"
fi
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KB, sha256 $(sha256sum "$deb" | cut -c1-16)...)" >&2
rm -rf "$out"
mkdir -p "$out/pages" "$out/data" "$out/pred"
dpkg-deb -x "$deb" "$out/pages/pkg" || die 1 "dpkg-deb -x $deb failed"
[ -d "$out/pages/pkg/usr/share/man/zh_CN" ] || die 1 "$deb holds no usr/share/man/zh_CN"
mv "$out/pages/pkg/usr/share/man/zh_CN" "$out/pages/zh_CN"
rm -rf "$out/pages/pkg"
find "$out/pages" -type f -name '*.gz' -exec gzip -dq {} +
find "$out/pages" -type f | sort > "$out/pages/list.txt"
xargs "$MANPAGES" --out "$out/data" < "$out/pages/list.txt" >&2 || die 1 "build/manpages failed"
D=$out/data
if [ "$EVAL_PAGES" -gt 0 ]; then  # --quick: the first eval pages only
    head -n "$EVAL_PAGES" "$D/eval_src.txt" > "$D/eval_src.quick" && mv "$D/eval_src.quick" "$D/eval_src.txt"
    head -n "$EVAL_PAGES" "$D/eval_ref.txt" > "$D/eval_ref.quick" && mv "$D/eval_ref.quick" "$D/eval_ref.txt"
fi
head -n 100 "$D/train.tsv" > "$D/shots100.tsv"  # train.tsv is in a fixed shuffled order: its head is a sample
head -n 10 "$D/train.tsv" > "$D/shots10.tsv"
n_eval=$(wc -l < "$D/eval_ref.txt")
[ "$(wc -l < "$D/train.tsv")" -ge 100 ] && [ "$n_eval" -gt 0 ] ||
    die 1 "$(basename "$deb") gave $(wc -l < "$D/train.tsv") training and $n_eval eval pages: too few for the demo"
echo "title task: $(wc -l < "$D/train.tsv") training pages (10 and 100 of them for fine-tuning), $n_eval held-out pages for evaluation" >&2

# ----------------------------------------------------------------------------
step "vocabulary: t5p vocab (BERT specials + every character + jieba words, $VOCAB_SIZE tokens at most)"
"$T5P" vocab --out "$out/vocab.txt" --size "$VOCAB_SIZE" "${threads[@]}" "$D/corpus.txt"

# ----------------------------------------------------------------------------
step "pseudo-summary pairs: t5p pseudo (PEGASUS gap sentences chosen by LCS)"
"$T5P" pseudo --jsonl --maxlen "$MAX_SRC" --progress "${threads[@]}" "$D/docs.jsonl" > "$out/pseudo.jsonl"

# ----------------------------------------------------------------------------
common=(--vocab "$out/vocab.txt" --batch "$BATCH" --seed "$SEED" --optim adafactor --warmup 0 --save-every 0 "${threads[@]}")
step "pretraining: tiny model on the pseudo-summary pairs, $PRE_STEPS steps"
"$T5P" train --config tiny "${common[@]}" --data "$out/pseudo.jsonl" --out "$out/pretrain" --steps "$PRE_STEPS" \
    --lr "$PRE_LR" --max-src "$MAX_SRC" --max-tgt "$PRE_TGT" --log-every 25

# ----------------------------------------------------------------------------
step "fine-tuning on titles: {pseudo-pretrained, random init} x {10, 100 shots}, $FT_STEPS steps each"
runs=()
for shots in 10 100; do
    for init in pretrained random; do
        name=${init}_$shots
        if [ "$init" = pretrained ]; then from=(--init "$(checkpoint "$out/pretrain")"); else from=(--config tiny); fi
        echo "-- $name" >&2
        "$T5P" train "${from[@]}" "${common[@]}" --data "$D/shots$shots.tsv" --out "$out/ft_$name" \
            --steps "$FT_STEPS" --lr "$FT_LR" --max-src "$MAX_SRC" --max-tgt "$MAX_TGT" --log-every 25
        runs+=("$name")
    done
done

# ----------------------------------------------------------------------------
step "generating titles for $n_eval held-out pages (beam 1 and 3) and scoring them (t5p eval)"
declare -A model=([pretrained_0]="$(checkpoint "$out/pretrain")")
for r in "${runs[@]}"; do model[$r]=$(checkpoint "$out/ft_$r"); done
order=(random_10 pretrained_10 random_100 pretrained_100 pretrained_0)
for r in "${order[@]}"; do
    for beam in 1 3; do
        echo "-- $r, beam $beam" >&2
        "$T5P" generate --model "${model[$r]}" --beam "$beam" --max-len "$MAX_TGT" --max-src "$MAX_SRC" \
            "${threads[@]}" "$D/eval_src.txt" > "$out/pred/${r}_b$beam.txt"
    done
done
# a reference point that needs no model: the description's first sentence, as the title
sed -e 's/。.*//' -e 's/；.*//' "$D/eval_src.txt" > "$out/pred/lead_b1.txt"
cp "$out/pred/lead_b1.txt" "$out/pred/lead_b3.txt"

# metrics: "rouge-1 12.34%  rouge-2 ...  bleu 1.23%  (N pairs, E empty predictions, rouge 1.0.0)"
score() {
    "$T5P" eval --pred "$1" --ref "$D/eval_ref.txt" --on-error zero | tail -n 1 |
        awk '{gsub("%", ""); printf "%6.2f %6.2f %6.2f %6.2f %4d", $2, $4, $6, $8, $11}'
}
label() {
    case "$1" in
        random_10) echo "random init, 10 titles" ;;
        pretrained_10) echo "pseudo-pretrained, 10 titles" ;;
        random_100) echo "random init, 100 titles" ;;
        pretrained_100) echo "pseudo-pretrained, 100 titles" ;;
        pretrained_0) echo "pseudo-pretrained, no titles" ;;
        lead) echo "first sentence (no model)" ;;
    esac
}
table=$out/results.txt
{
    printf 'Title generation on %d held-out manpages-zh pages (ROUGE-1/2/L F and BLEU in %%, as finetune.py scored;\n' "$n_eval"
    printf 'empty = empty predictions, scored 0). Tiny model: 2+2 layers, d_model 64, vocab %d; pretraining %d steps,\n' \
        "$(wc -l < "$out/vocab.txt")" "$PRE_STEPS"
    printf 'fine-tuning %d steps of batch %d.\n\n' "$FT_STEPS" "$BATCH"
    printf '%-31s | %-34s | %-34s\n' "" "beam 1" "beam 3"
    printf '%-31s | %6s %6s %6s %6s %5s | %6s %6s %6s %6s %5s\n' model R-1 R-2 R-L BLEU empty R-1 R-2 R-L BLEU empty
    printf '%s\n' "--------------------------------+------------------------------------+------------------------------------"
    for r in "${order[@]}" lead; do
        printf '%-31s | %s  | %s\n' "$(label "$r")" "$(score "$out/pred/${r}_b1.txt")" "$(score "$out/pred/${r}_b3.txt")"
    done
} > "$table"

# ----------------------------------------------------------------------------
step "results"
"$PLOT" --out "$out/loss.svg" --title "t5p demo: training loss (manpages-zh)" --smooth 10 \
    --panel "pseudo-summary pretraining" "pretraining=$out/pretrain/loss.csv" \
    --panel "fine-tuning, 10 titles" "pseudo-pretrained=$out/ft_pretrained_10/loss.csv" "random init=$out/ft_random_10/loss.csv" \
    --panel "fine-tuning, 100 titles" "pseudo-pretrained=$out/ft_pretrained_100/loss.csv" "random init=$out/ft_random_100/loss.csv"
echo
cat "$table"
echo
echo "Samples (held-out pages; beam 3):"
for i in 1 2 3 4 5 6; do
    [ "$i" -le "$n_eval" ] || break
    printf '  reference          %s\n' "$(sed -n "${i}p" "$D/eval_ref.txt")"
    printf '  pseudo-pretrained  %s\n' "$(sed -n "${i}p" "$out/pred/pretrained_100_b3.txt")"
    printf '  random init        %s\n' "$(sed -n "${i}p" "$out/pred/random_100_b3.txt")"
    echo
done
elapsed=$(( $(date +%s) - t_start ))
echo "Loss curves: $out/loss.svg   table: $table   predictions: $out/pred/"
echo "Demo finished in $((elapsed / 60))m$((elapsed % 60))s."
