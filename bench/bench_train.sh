#!/usr/bin/env bash
# Training speed and memory: `t5p train` (tokenized data, Adam, dropout, float32, hf-mt5 flavour) against the same
# configuration, batch, lengths, optimizer and thread count in PyTorch (transformers' MT5ForConditionalGeneration),
# in one script. Data: full-length synthetic pairs (B x S sources, B x T targets, no padding), so both sides do
# the same work; tokens = B*(S+T) per step; the first step is left out on both sides (t5p also leaves out data
# loading and checkpoint writing). Run via ./build.sh bench, or: bash bench/bench_train.sh [quick]
set -euo pipefail
cd "$(dirname "$0")/.."
./build.sh >/dev/null
PY=/usr/bin/python3
GEN=python3  # writes the synthetic data (standard library only)
command -v $GEN >/dev/null || GEN=$PY
if ! command -v $GEN >/dev/null; then echo "bench_train: no python3 to write the synthetic data; skipped"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
peer=1
if ! $PY -c "import torch, transformers" 2>/dev/null; then
    echo "bench_train: torch/transformers not importable by $PY; PyTorch side skipped"
    peer=0
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, float32;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both sides)"
[ $peer = 1 ] && echo "pytorch: $($PY -c "import re, torch; print(torch.__version__, re.search(r'BLAS_INFO=[^,]*', torch.__config__.show()).group(0))")" \
    "(Debian's torch uses the system libblas: the reference BLAS unless OpenBLAS/BLIS is installed, so its matrix products are slow)"

# vocab.txt of V tokens (BERT's 106 specials, then single CJK characters) and N pairs of exactly S and T tokens
make_data() {  # V S T N dir
    $GEN - "$@" <<'PY'
import json, random, sys
V, S, T, N, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
spec = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
cps = list(range(0x4E00, 0xA000)) + list(range(0x20000, 0x2A6E0))
chars = [chr(c) for c in cps[:V - len(spec)]]
open(f"{d}/vocab.txt", "w", encoding="utf-8").write("\n".join(spec + chars) + "\n")
r = random.Random(1)
with open(f"{d}/pairs.jsonl", "w", encoding="utf-8") as f:
    for _ in range(N):  # [CLS] + S-2 characters + [SEP]
        f.write(json.dumps({"source": "".join(r.choice(chars) for _ in range(S - 2)),
                            "target": "".join(r.choice(chars) for _ in range(T - 2))}, ensure_ascii=False) + "\n")
PY
}

# config V B S T t5p-steps torch-steps threads
runs=("tiny 1000 8 128 32 30 12 1" "tiny 1000 8 128 32 30 12 2" "small 50000 2 128 32 5 3 2")
[ "${1:-}" = quick ] && runs=("tiny 1000 8 128 32 10 5 2")
for spec in "${runs[@]}"; do
    read -r cfg V B S T csteps psteps th <<<"$spec"
    d=$tmp/$cfg.$V.$S.$T
    if [ ! -e "$d/vocab.txt" ]; then mkdir -p "$d"; make_data "$V" "$S" "$T" $((B * csteps)) "$d"; fi
    rm -rf "$tmp/out"
    line=$(build/t5p train --config "$cfg" --flavor hf-mt5 --vocab "$d/vocab.txt" --no-jieba --data "$d/pairs.jsonl" \
        --batch "$B" --max-src "$S" --max-tgt "$T" --steps "$csteps" --optim adam --lr 1e-4 --threads "$th" --no-shuffle \
        --save-every 0 --out "$tmp/out" -q 2>&1 | grep 'steps in')
    ct=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) tokens\/s.*/\1/p')
    cs=$(echo "$line" | sed -n 's/.*tokens\/s after the first step, \([0-9.]*\) s\/step.*/\1/p')
    cm=$(echo "$line" | sed -n 's/.*peak memory \([0-9]*\) MB.*/\1/p')
    printf "t5p     %-5s B=%d S=%d T=%d threads=%d: %8.3f s/step %8.0f tokens/s peak %6d MB  (Adam, %d steps)\n" \
        "$cfg" "$B" "$S" "$T" "$th" "$cs" "$ct" "$cm" "$csteps"
    if [ $peer = 1 ]; then
        p=$(OMP_NUM_THREADS=$th $PY bench/bench_train.py "$cfg" "$V" "$B" "$S" "$T" "$psteps" "$th" 2>/dev/null)
        echo "$p"
        pt=$(echo "$p" | awk '{for(i=1;i<=NF;i++) if($i=="tokens/s") print $(i-1)}')
        pm=$(echo "$p" | awk '{for(i=1;i<=NF;i++) if($i=="peak") print $(i+1)}')
        awk -v a="$ct" -v b="$pt" -v am="$cm" -v bm="$pm" -v cfg="$cfg" -v th="$th" \
            'BEGIN { printf "ratio   %-5s threads=%d: t5p / pytorch = %.2fx tokens/s, %.2fx peak memory\n", cfg, th, a / b, am / bm }'
    fi
done
