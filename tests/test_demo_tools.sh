#!/usr/bin/env bash
# The demo's helper programs on synthetic input (no package needed): build/manpages turns troff man pages
# (man and mdoc macros, escapes, .so links, translators' sections, repeats) into the title task exactly as
# expected, always writing valid UTF-8; build/plot_svg draws one line per CSV with every point.
cd "$(dirname "$0")/.."
MP=build/manpages
PLOT=build/plot_svg
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
expect_eq() {  # name got want
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got [$2], want [$3]"; fi
}

mkdir -p "$tmp/p" "$tmp/o" "$tmp/e"
cat > "$tmp/p/ls.1" <<'EOF'
.\" a comment
.TH LS 1
.SH 名称
ls \- 列出目录
内容
.SH 概述
\fBls\fP [\fI选项\fP]
.SH 描述
.PP
列出指定\(lq文件\(rq的信息。如果\fB\-a\fP，
则按字母排序项目。
.TP
\fB\-a\fP, \fB\-\-all\fP
不要忽略以点号起始的条目
.IR "当前作业"，当前
.SH "[中文版维护人]"
某人 <x@y>
EOF
printf '.so man1/ls.1\n' > "$tmp/p/dir.1"
cat > "$tmp/p/foo.1" <<'EOF'
.Dd 2020
.Dt FOO 1
.Sh NAME
.Nm foo
.Nd 做某件事情的工具
.Sh DESCRIPTION
.Nm
工具用于测试\w匹配和\f中文\s-1小\s0字。
.Fl v
显示版本。
EOF
printf '.SH NAME\nbar \\- do things\n.SH DESCRIPTION\n做一些事情的程序说明文字很长很长很长\n' > "$tmp/p/bar.1"
cp "$tmp/p/ls.1" "$tmp/p/ls-copy.1"
if $MP --out "$tmp/o" --eval-percent 0 "$tmp"/p/* > "$tmp/log" 2>&1; then pass "manpages runs"; else fail "manpages runs" "$(cat "$tmp/log")"; fi
expect_eq "manpages counts (links, English summaries, repeats skipped)" "$(cat "$tmp/log")" \
    "manpages: 5 files: 2 train pages, 0 eval pages; skipped 1 links, 1 without a Chinese NAME summary, 0 with a summary over 60 characters, 0 without a Chinese description, 1 repeats; 0.0 MB of training text"
expect_eq "manpages man(7) page: summary<TAB>description" "$(grep '^列出' "$tmp/o/train.tsv")" \
    "$(printf '列出目录内容\t列出指定“文件”的信息。如果-a，则按字母排序项目。 -a, --all 不要忽略以点号起始的条目当前作业，当前')"
expect_eq "manpages mdoc(7) page: .Nd summary, .Nm and .Fl" "$(grep '^做某' "$tmp/o/train.tsv")" \
    "$(printf '做某件事情的工具\tfoo工具用于测试匹配和文小字。-v显示版本。')"
expect_eq "manpages pretraining text: NAME and translators' sections left out, paragraphs kept" \
    "$(grep -c '' "$tmp/o/corpus.txt") $(grep -c 'ls - \|某人' "$tmp/o/corpus.txt")" "5 0"
expect_eq "manpages docs.jsonl" "$(tail -n 1 "$tmp/o/docs.jsonl")" \
    '{"text": "ls [选项]\n列出指定“文件”的信息。如果-a，则按字母排序项目。\n-a, --all\n不要忽略以点号起始的条目当前作业，当前"}'
$MP --out "$tmp/e" --eval-percent 100 "$tmp"/p/* > /dev/null 2>&1
expect_eq "manpages --eval-percent 100: every page held out" \
    "$(wc -l < "$tmp/e/train.tsv") $(wc -l < "$tmp/e/eval.tsv") $(paste "$tmp/e/eval_ref.txt" "$tmp/e/eval_src.txt" | cmp -s - "$tmp/e/eval.tsv" && echo same)" "0 2 same"

# escapes that could split a UTF-8 character, on every kind of page line
{
    printf '.SH NAME\nbad \\- 坏的转义字符\n.SH DESCRIPTION\n'
    for e in '\w' '\f' '\*' '\n' '\(' '\[' '\s' '\h' '\k' '\X' '\C' '\N' '\m' '\z' '\g'; do printf '文%s中字。\n.B %s中\n.IR "甲"%s乙\n' "$e" "$e" "$e"; done
} > "$tmp/p/bad.1"
$MP --out "$tmp/o" --eval-percent 0 "$tmp/p/bad.1" > /dev/null 2>&1
if iconv -f UTF-8 -t UTF-8 "$tmp/o/train.tsv" > /dev/null 2>&1 && iconv -f UTF-8 -t UTF-8 "$tmp/o/docs.jsonl" > /dev/null 2>&1 &&
   [ "$(wc -l < "$tmp/o/train.tsv")" = 1 ]; then
    pass "manpages: escapes before Chinese characters leave valid UTF-8"
else
    fail "manpages: escapes before Chinese characters leave valid UTF-8" "$(head -c 300 "$tmp/o/train.tsv")"
fi
$MP --out "$tmp/o" > /dev/null 2>&1
expect_eq "manpages without pages: exit 2" "$?" 2
$MP --out "$tmp/o" "$tmp/p/none.1" > /dev/null 2>&1
expect_eq "manpages with a missing page: exit 1" "$?" 1

# plot_svg
printf 'step,epoch,loss\n1,0,9.5\n2,0,8.25\n3,0,nan\n4,0,7\n' > "$tmp/a.csv"
printf 'step,loss\n1,6\n2,5\n' > "$tmp/b.csv"
if $PLOT --out "$tmp/p.svg" --title 'a & b' --panel one "A=$tmp/a.csv" --panel two "B=$tmp/b.csv" "A again=$tmp/a.csv" 2> "$tmp/log"; then
    pass "plot_svg runs"
else
    fail "plot_svg runs" "$(cat "$tmp/log")"
fi
expect_eq "plot_svg: one line per series, every finite point drawn" \
    "$(grep -c '<polyline' "$tmp/p.svg") $(grep '<polyline' "$tmp/p.svg" | sed 's/.*points="//; s/".*//' | awk '{printf "%d ", NF}')" "3 3 2 3 "
expect_eq "plot_svg: a whole SVG document, text escaped" \
    "$(head -c 4 "$tmp/p.svg") $(tail -n 1 "$tmp/p.svg") $(grep -c 'a &amp; b' "$tmp/p.svg")" "<svg </svg> 1"
$PLOT --out "$tmp/q.svg" --y acc "A=$tmp/a.csv" 2> /dev/null
expect_eq "plot_svg: a missing column is an error (exit 1)" "$?" 1
