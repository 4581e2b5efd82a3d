#!/usr/bin/env bash
# t5p vocab: counts equal a brute-force count of `t5p tokenize` output with the candidate vocabulary;
# a vocabulary built without --base tokenizes its corpus without [UNK]; bad input gives clear errors.
cd "$(dirname "$0")/.."
T5P=build/t5p
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

check_counts() {  # name corpus [extra args]
    local name=$1 corpus=$2; shift 2
    if ! $T5P vocab -q --out "$tmp/v.txt" --candidates "$tmp/cand.txt" --counts "$tmp/counts.tsv" "$@" "$corpus"; then
        fail "vocab $name builds" "exit status $?"; return
    fi
    pass "vocab $name builds"
    # brute force: every token of every line, [CLS]/[SEP] and non-candidates left out
    $T5P tokenize -q --vocab "$tmp/cand.txt" "$corpus" | tr ' ' '\n' |
        awk -v cand="$tmp/cand.txt" 'BEGIN { while ((getline t < cand) > 0) ok[t] = 1 }
             $0 != "[CLS]" && $0 != "[SEP]" && ($0 in ok) { n[$0]++ }
             END { for (t in n) print t "\t" n[t] }' | LC_ALL=C sort > "$tmp/brute.tsv"
    awk -F'\t' '$2 > 0' "$tmp/counts.tsv" | LC_ALL=C sort > "$tmp/ours.tsv"
    if cmp -s "$tmp/brute.tsv" "$tmp/ours.tsv"; then pass "vocab $name counts equal a brute-force count ($(wc -l < "$tmp/ours.tsv") tokens)"
    else fail "vocab $name counts equal a brute-force count" "$(diff "$tmp/brute.tsv" "$tmp/ours.tsv" | head -5 | tr '\n' ' ')"; fi
}

check_no_unk() {  # name corpus
    local unk
    unk=$($T5P tokenize -q --ids --vocab "$tmp/v.txt" "$2" | tr ' ' '\n' | grep -c '^100$')
    if [ "$unk" = 0 ]; then pass "vocab $1 without --base: corpus has no [UNK]"
    else fail "vocab $1 without --base: corpus has no [UNK]" "$unk [UNK] ids"; fi
    local head106
    head106=$(head -n 106 "$tmp/v.txt" | tr '\n' ' ')
    case "$head106" in
        "[PAD] [unused1] "*"[unused99] [UNK] [CLS] [SEP] [MASK] <S> <T> ") pass "vocab $1: BERT's 106 special tokens first" ;;
        *) fail "vocab $1: BERT's 106 special tokens first" "${head106:0:80}" ;;
    esac
}

corpus=tests/golden/vocab_corpus.txt
check_counts "no-base" "$corpus" --words 50000 --size 400
check_no_unk "no-base" "$corpus"
# deterministic: same input, same output, any thread count
$T5P vocab -q --out "$tmp/v1.txt" --words 50000 --size 400 --threads 1 "$corpus"
$T5P vocab -q --out "$tmp/v2.txt" --words 50000 --size 400 --threads 2 "$corpus"
if cmp -s "$tmp/v1.txt" "$tmp/v2.txt"; then pass "vocab is deterministic across thread counts"; else fail "vocab is deterministic across thread counts" "outputs differ"; fi

shared=../shared/data
if [ -r "$shared/bert_base_chinese/vocab.txt" ]; then
    head -n 300 "$shared/csl/sunnygjing_csl/dev.tsv" > "$tmp/csl.txt"
    check_counts "bert-base" "$tmp/csl.txt" --base "$shared/bert_base_chinese/vocab.txt" --words 200000 --size 5000
    first=$(head -n 106 "$tmp/v.txt" | md5sum); want=$(head -n 106 "$shared/bert_base_chinese/vocab.txt" | md5sum)
    if [ "$first" = "$want" ]; then pass "vocab bert-base: first 106 base tokens in order"; else fail "vocab bert-base: first 106 base tokens in order" "differ"; fi
    n=$(wc -l < "$tmp/v.txt")
    if [ "$n" -le 5000 ]; then pass "vocab bert-base: at most --size tokens ($n)"; else fail "vocab bert-base: at most --size tokens" "$n"; fi
else
    echo "SKIP vocab bert-base: ../shared/data absent"
fi

# errors: missing corpus, bad option, missing base
$T5P vocab -q --out "$tmp/x.txt" "$tmp/nope.txt" 2> "$tmp/err"; rc=$?
if [ $rc = 1 ] && grep -q "nope.txt" "$tmp/err"; then pass "vocab: missing corpus names the file (exit 1)"; else fail "vocab: missing corpus" "rc $rc: $(cat "$tmp/err")"; fi
$T5P vocab --bogus 2> "$tmp/err"; rc=$?
if [ $rc = 2 ]; then pass "vocab: unknown option exits 2"; else fail "vocab: unknown option exits 2" "rc $rc"; fi
[ ! -e "$tmp/x.txt" ] && pass "vocab: nothing written on failure" || fail "vocab: nothing written on failure" "file exists"
