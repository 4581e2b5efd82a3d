#!/usr/bin/env bash
# tests/test_pseudo.sh - the `t5p pseudo` command: usage and exit codes; the reference's pairs on the
# synthetic documents (--jsonl) and, when ../shared/data exists, on the real corpora (one document a line);
# input order whatever the thread count; line endings; stdin; long lines; invalid UTF-8 report.
set -u
cd "$(dirname "$0")/.."
T5P=build/t5p
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
sha() { sha256sum | cut -c1-64; }

# usage and exit codes
out=$($T5P pseudo --help); rc=$?
[ $rc = 0 ] && [[ $out == *"usage: t5p pseudo"* ]] && pass "pseudo --help" || fail "pseudo --help" "rc $rc"
for bad in "--bogus" "--rate x" "--threads 0" "--maxlen" "--piece-len -1"; do
    $T5P pseudo $bad </dev/null >/dev/null 2>"$tmp/err"; rc=$?
    [ $rc = 2 ] && pass "pseudo $bad: exit 2" || fail "pseudo $bad: exit 2" "rc $rc"
done
$T5P pseudo "$tmp/missing.txt" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "missing.txt" "$tmp/err" && pass "pseudo missing file: exit 1" || fail "pseudo missing file: exit 1" "rc $rc"
printf '{"text": "a"}\n{"text": "b",}\n' | $T5P pseudo --jsonl >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "<stdin>:2: JSON" "$tmp/err" && pass "pseudo --jsonl malformed line: exit 2, names the line" \
    || fail "pseudo --jsonl malformed line" "rc $rc: $(cat "$tmp/err")"
printf '{"body": "a"}\n' | $T5P pseudo --jsonl >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q 'no field "text"' "$tmp/err" && pass "pseudo --jsonl missing field: exit 2" || fail "pseudo --jsonl missing field" "rc $rc"

# the synthetic documents of tests/ref/ref_pseudo.py: every thread count, line ending and stdin
syn=tests/golden/pseudo_synthetic.jsonl
want=$(cat tests/golden/pseudo_synthetic.sha256)
for t in 1 2 3; do
    got=$($T5P pseudo --jsonl --field doc --threads $t "$syn" 2>/dev/null | sha)
    [ "$got" = "$want" ] && pass "pseudo synthetic = reference (--threads $t)" || fail "pseudo synthetic = reference (--threads $t)" "sha256 $got"
done
sed 's/$/\r/' "$syn" >"$tmp/crlf.jsonl"
tr '\n' '\r' <"$syn" >"$tmp/cr.jsonl"
for f in crlf cr; do
    got=$($T5P pseudo --jsonl --field doc --threads 2 "$tmp/$f.jsonl" 2>/dev/null | sha)
    [ "$got" = "$want" ] && pass "pseudo synthetic, $f line endings" || fail "pseudo synthetic, $f line endings" "sha256 $got"
done
got=$(cat "$syn" | $T5P pseudo --jsonl --field doc --threads 2 2>/dev/null | sha)
[ "$got" = "$want" ] && pass "pseudo synthetic from stdin" || fail "pseudo synthetic from stdin" "sha256 $got"

# long lines across the reader's blocks, progress line
{ head -c 1500000 /dev/zero | tr '\0' 'a'; echo; echo short; head -c 2500000 /dev/zero | tr '\0' 'b'; printf '\r\nlast'; } >"$tmp/long.txt"
$T5P pseudo --progress --threads 2 "$tmp/long.txt" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 0 ] && grep -q "docs: 4 " "$tmp/err" && pass "pseudo long lines, --progress" || fail "pseudo long lines, --progress" "rc $rc: $(tr '\r' '\n' <"$tmp/err" | tail -2)"

# invalid UTF-8 is replaced and counted
printf 'ok\xff\xfe\n\xe4\xbb\n' | $T5P pseudo >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 0 ] && grep -q "4 invalid UTF-8 bytes replaced by U+FFFD" "$tmp/err" && pass "pseudo invalid UTF-8 counted" \
    || fail "pseudo invalid UTF-8 counted" "rc $rc: $(cat "$tmp/err")"

# real corpora, one document a line (field 1 of the TSV files), against the reference's sha256
shared=../shared/data
if [ ! -d "$shared" ]; then
    skip "pseudo corpora = reference" "../shared/data not found"
else
    check() {  # name, files...
        local name=$1; shift
        local want; want=$(sed -n '1s/.*sha256 of all output \([0-9a-f]*\).*/\1/p' "tests/golden/pseudo_$name.txt")
        local got; got=$(for f in "$@"; do cut -f2 "$shared/$f"; done | $T5P pseudo --threads 2 | sha)
        [ -n "$want" ] && [ "$got" = "$want" ] && pass "pseudo $name = reference (command line, 2 threads)" \
            || fail "pseudo $name = reference (command line, 2 threads)" "sha256 $got, want $want"
    }
    check thucnews corpus_thucnews/cnews.val.txt
    check lcsts lcsts/clge_lcsts/train.tsv lcsts/clge_lcsts/val.tsv lcsts/clge_lcsts/test.tsv
    check csl csl/clge_csl/val.tsv csl/clge_csl/test.tsv csl/sunnygjing_csl/train.tsv csl/sunnygjing_csl/dev.tsv \
        csl/sunnygjing_csl/test.tsv csl/ydli_csl_ts/dev.tsv csl/ydli_csl_ts/test.tsv csl/t5_pegasus_sample/train.tsv
fi
