#!/usr/bin/env bash
# Segmentation and tokenization speed, one core: t5p's CLI against the Python peers on the same text.
#   bash bench/bench_tokenize.sh [INPUT]     (default: THUCNews cnews.val.txt from ../shared/data)
# Env: T5P_SHARED_DATA (default ../shared/data), T5P_VOCAB, T5P_JIEBA_DICT, T5P_BIN (default build/t5p),
#      PYTHON (default python3), RUNS (default 3).
# Peers measured when installed (see tests/ref/README.md): jieba 0.42.1, bert4keras 0.10.0, jieba_fast,
# cppjieba (pip `cppjieba`), rjieba (jieba-rs). Ours is skipped with a message until build/t5p has `segment`.
set -u
cd "$(dirname "$0")/.."
DATA=${T5P_SHARED_DATA:-../shared/data}
INPUT=${1:-$DATA/corpus_thucnews/cnews.val.txt}
VOCAB=${T5P_VOCAB:-$DATA/t5_pegasus/vocab.txt}
DICT=${T5P_JIEBA_DICT:-$DATA/jieba/dict.txt}
PY=${PYTHON:-python3}
RUNS=${RUNS:-3}
T5P=${T5P_BIN:-build/t5p}

echo "== bench_tokenize: segmentation and tokenization, one core"
if [ ! -f "$INPUT" ] || [ ! -f "$VOCAB" ] || [ ! -f "$DICT" ]; then
    echo "bench_tokenize: skipped: input, vocabulary or dictionary not found (is ../shared/data there?)"
    exit 0
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
echo "machine: $(uname -m), $(nproc) cores visible, ${cpu:-unknown CPU}"

export OMP_NUM_THREADS=1
PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
    PIN=(taskset -c 0)
    echo "pinned to core 0 (taskset), OMP_NUM_THREADS=1"
else
    echo "taskset not available: not pinned; OMP_NUM_THREADS=1"
fi

if ! "$PY" -c 'import sys' 2>/dev/null; then
    echo "bench_tokenize: $PY not found: peers skipped"
    ONLY=(--only ours)
else
    ONLY=()
fi
if [ ! -x "$T5P" ] || ! "$T5P" segment --help >/dev/null 2>&1; then
    echo "ours: skipped: '$T5P segment --help' failed (not built or no segment command yet)"
    ONLY=(--only peers)
fi
"${PIN[@]}" "$PY" bench/peer_tokenize.py --input "$INPUT" --vocab "$VOCAB" --dict "$DICT" --t5p "$T5P" \
    --runs "$RUNS" "${ONLY[@]}"
