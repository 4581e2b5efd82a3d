#!/usr/bin/env bash
# tests/test_eval.sh - the `t5p eval` command: finetune.py's metrics dict on the golden pairs
# (tests/golden/eval_*.txt, written by tests/ref/ref_metrics.py), --help, and its errors.
cd "$(dirname "$0")/.." || exit 1
T5P=build/t5p
G=tests/golden
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "PASS eval_$1"; }
bad() { echo "FAIL eval_$1: $2"; }

# finetune.py's printed dict, both rouge versions
for v in 1.0.0 1.0.1; do
    want=$(grep "^$v	" $G/eval_expected.txt | cut -f2)
    got=$($T5P eval --pred $G/eval_pred.txt --ref $G/eval_ref.txt --rouge-version $v | head -1)
    if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "dict_$v"; else bad "dict_$v" "got '$got' want '$want'"; fi
done

# --per-line: one row per pair plus a header, and the same summary
n=$(wc -l < $G/eval_pred.txt)
rows=$($T5P eval --pred $G/eval_pred.txt --ref $G/eval_ref.txt --per-line | grep -c '^[0-9]')
[ "$rows" = "$n" ] && ok per_line || bad per_line "$rows rows for $n pairs"

$T5P eval --help | grep -q -- '--rouge-version' && ok help || bad help "no usage text"

# line-count mismatch names both files and counts, exit 2
head -n 5 $G/eval_ref.txt > "$tmp/ref5.txt"
msg=$($T5P eval --pred $G/eval_pred.txt --ref "$tmp/ref5.txt" 2>&1 >/dev/null); rc=$?
if [ $rc = 2 ] && [[ "$msg" == *"eval_pred.txt has $n lines"*"ref5.txt has 5"* ]]; then ok mismatch
else bad mismatch "rc $rc: $msg"; fi

# a prediction "." makes the rouge package raise: exit 2 naming the line, or 0 with --on-error zero
printf 'ab\n.\n' > "$tmp/p.txt"; printf 'ab\ncd\n' > "$tmp/r.txt"
msg=$($T5P eval --pred "$tmp/p.txt" --ref "$tmp/r.txt" 2>&1 >/dev/null); rc=$?
if [ $rc = 2 ] && [[ "$msg" == *"p.txt:2"*"Hypothesis is empty"* ]]; then ok raise; else bad raise "rc $rc: $msg"; fi
got=$($T5P eval --pred "$tmp/p.txt" --ref "$tmp/r.txt" --on-error zero | head -1)
[ "$got" = "{'rouge-1': 0.4999999975, 'rouge-2': 0.4999999975, 'rouge-l': 0.4999999975, 'bleu': 0.158113883008419}" ] \
    && ok on_error_zero || bad on_error_zero "$got"

# bad input and usage
printf 'a\xffb\n' > "$tmp/bad.txt"
msg=$($T5P eval --pred "$tmp/bad.txt" --ref "$tmp/r.txt" 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] && [[ "$msg" == *"bad.txt:1: invalid UTF-8 at byte 2"* ]] && ok utf8 || bad utf8 "rc $rc: $msg"
$T5P eval --pred "$tmp/p.txt" 2>/dev/null; rc1=$?
$T5P eval --pred "$tmp/p.txt" --ref "$tmp/r.txt" --rouge-version 2.0 2>/dev/null; rc2=$?
$T5P eval --pred "$tmp/missing.txt" --ref "$tmp/r.txt" 2>/dev/null; rc3=$?
[ $rc1 = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 1 ] && ok usage || bad usage "exit codes $rc1 $rc2 $rc3 (want 2 2 1)"
exit 0
