#!/usr/bin/env bash
# Fuzzes segment + tokenize + decode with libFuzzer under AddressSanitizer and UBSan for a bounded time
# (T5P_FUZZ_SECONDS, default 30). Skipped when clang with libFuzzer is not available.
cd "$(dirname "$0")/.."
secs=${T5P_FUZZ_SECONDS:-30}
if ! command -v clang >/dev/null; then echo "SKIP fuzz segment+tokenize: clang not installed"; exit 0; fi
if [ ! -r /usr/lib/python3/dist-packages/jieba/dict.txt ] && [ -z "${T5P_JIEBA_DICT:-}" ]; then
    echo "SKIP fuzz segment+tokenize: jieba dictionary not installed"; exit 0
fi
mkdir -p build/fuzz
if ! clang -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I. -I/usr/include/stb \
        -o build/fuzz/fuzz_tokenize tests/fuzz/fuzz_tokenize.c -lutf8proc -lm 2> build/fuzz/build.log; then
    if grep -q "fuzzer" build/fuzz/build.log; then echo "SKIP fuzz segment+tokenize: clang has no libFuzzer"; exit 0; fi
    echo "FAIL fuzz segment+tokenize: does not build: $(head -3 build/fuzz/build.log)"; exit 1
fi
corpus=build/fuzz/corpus
mkdir -p "$corpus"
# seeds: our own edge-case strings, one file each
i=0
while IFS= read -r line; do printf '%s' "$line" > "$corpus/seed$i"; i=$((i + 1)); done < tests/golden/vocab_corpus.txt
printf '\xff\xfe\x00abc\xe4\xb8' > "$corpus/seed_bad"
vocab=../shared/data/t5_pegasus/vocab.txt
[ -r "$vocab" ] && export T5P_FUZZ_VOCAB=$vocab
if ASAN_OPTIONS=detect_leaks=1 build/fuzz/fuzz_tokenize -max_total_time="$secs" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 "$corpus" > build/fuzz/run.log 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs' build/fuzz/run.log | tail -1)
    echo "PASS fuzz segment+tokenize: ${secs}s, ${runs:-no count}, no crash, leak or UB"
else
    echo "FAIL fuzz segment+tokenize: $(grep -m3 -E 'ERROR|SUMMARY|runtime error' build/fuzz/run.log | tr '\n' ' ')"
    exit 1
fi
