// manpages - text and a title task from troff man pages (the demo's data: Debian's manpages-zh).
//
//   build/manpages --out DIR [--eval-percent 20] [--max-desc 600] PAGE...
//
// Each PAGE is an uncompressed troff man page (man or mdoc macros). The program strips the markup
// itself (no man, groff or nroff needed, so the result is the same on every machine) and splits the page
// into sections by .SH / .Sh. The NAME section ("ls \- 列出目录内容") gives the page's one-line summary,
// the DESCRIPTION section the text the summary is to be predicted from. Pages are read in sorted path
// order; pages that are only a ".so" link, pages without a summary or a description holding Chinese
// text, and repeats of an earlier (summary, description) are skipped. A page is held out for evaluation
// when FNV-1a(summary) % 100 < --eval-percent, so equal summaries always land on the same side.
//
// Writes into DIR:
//   train.tsv, eval.tsv   summary<TAB>description (CSL layout title<TAB>abstract), one page a line;
//                         train.tsv in a fixed shuffled order, so that its first N lines are a sample
//   eval_src.txt, eval_ref.txt   the eval descriptions and summaries, one a line (t5p generate / eval)
//   docs.jsonl            {"text": ...} per training page: every section but NAME and the translators'
//                         notes, paragraphs separated by "\n" (t5p pseudo --jsonl)
//   corpus.txt            the same texts, one paragraph a line (t5p vocab)
//   pages.tsv             split<TAB>file<TAB>name<TAB>summary for every page kept
// and prints the counts. Exit status: 0 ok, 1 a file cannot be read or written or no page was kept, 2 bad usage.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// ----------------------------------------------------------------------------
// growable byte strings

typedef struct {
    char *p;
    size_t n, cap;
} str;

static void str_add(str *s, const char *b, size_t n) {
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        if (!s->p) { fprintf(stderr, "manpages: out of memory\n"); exit(1); }
    }
    memcpy(s->p + s->n, b, n);
    s->n += n;
    s->p[s->n] = 0;
}
static void str_adds(str *s, const char *z) { str_add(s, z, strlen(z)); }
static void str_addc(str *s, char c) { str_add(s, &c, 1); }
static void str_clear(str *s) { s->n = 0; if (s->p) s->p[0] = 0; }

static void str_add_cp(str *s, uint32_t cp) {
    char b[4];
    int n;
    if (cp < 0x80) b[0] = (char)cp, n = 1;
    else if (cp < 0x800) b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000) b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | (cp >> 6 & 63)), b[2] = (char)(0x80 | (cp & 63)), n = 3;
    else b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | (cp >> 12 & 63)), b[2] = (char)(0x80 | (cp >> 6 & 63)), b[3] = (char)(0x80 | (cp & 63)), n = 4;
    str_add(s, b, (size_t)n);
}

// The code point that ends at s[n) (UTF-8), or 0 when s is empty; and the one that starts at s.
static uint32_t last_cp(const char *s, size_t n) {
    if (!n) return 0;
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    const unsigned char *u = (const unsigned char *)s + i;
    if (u[0] < 0x80) return u[0];
    if (u[0] >= 0xF0 && n - i >= 4) return (uint32_t)(u[0] & 7) << 18 | (uint32_t)(u[1] & 63) << 12 | (uint32_t)(u[2] & 63) << 6 | (u[3] & 63);
    if (u[0] >= 0xE0 && n - i >= 3) return (uint32_t)(u[0] & 15) << 12 | (uint32_t)(u[1] & 63) << 6 | (u[2] & 63);
    if (u[0] >= 0xC0 && n - i >= 2) return (uint32_t)(u[0] & 31) << 6 | (u[1] & 63);
    return 0xFFFD;
}
static uint32_t first_cp(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) return u[0];
    if (u[0] >= 0xF0 && u[1] && u[2] && u[3]) return (uint32_t)(u[0] & 7) << 18 | (uint32_t)(u[1] & 63) << 12 | (uint32_t)(u[2] & 63) << 6 | (u[3] & 63);
    if (u[0] >= 0xE0 && u[1] && u[2]) return (uint32_t)(u[0] & 15) << 12 | (uint32_t)(u[1] & 63) << 6 | (u[2] & 63);
    if (u[0] >= 0xC0 && u[1]) return (uint32_t)(u[0] & 31) << 6 | (u[1] & 63);
    return 0xFFFD;
}

// Wide characters (CJK ideographs, kana, hangul, full-width forms and CJK punctuation): troff would put a
// space where an input line ends, but Chinese text is written without spaces, so two lines whose junction
// is wide on either side are joined without one.
static int is_wide(uint32_t c) {
    return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFFEF) || (c >= 0x20000 && c <= 0x2FFFF);
}
static int is_han(uint32_t c) { return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF); }

static int count_han(const char *s) {
    int k = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) == 0x80) continue;
        if (is_han(first_cp(s))) k++;
    }
    return k;
}

// Appends text to a paragraph the way filled troff text joins input lines (or, with `paragraphs`, the
// way this program joins paragraphs: a space unless both sides are wide).
static void para_join(str *para, const char *t, size_t n, int glue, int paragraphs) {
    while (n && (*t == ' ' || *t == '\t')) t++, n--;
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t')) n--;
    if (!n) return;
    if (para->n && !glue && para->p[para->n - 1] != ' ') {
        char tmp[8] = {0};
        memcpy(tmp, t, n < 4 ? n : 4);
        int a = is_wide(last_cp(para->p, para->n)), b = is_wide(first_cp(tmp));
        if (paragraphs ? !(a && b) : !(a || b)) str_addc(para, ' ');
    }
    str_add(para, t, n);
}

// ----------------------------------------------------------------------------
// troff escapes

typedef struct {
    const char *name, *text;
} named;

// \(xx and \[xx] special characters (groff_char(7)); unknown ones print nothing.
static const named special_chars[] = {
    {"em", "—"}, {"en", "–"}, {"hy", "-"}, {"mi", "-"}, {"lq", "“"}, {"rq", "”"}, {"oq", "‘"}, {"cq", "’"},
    {"aq", "'"}, {"dq", "\""}, {"bu", "•"}, {"co", "©"}, {"rg", "®"}, {"tm", "™"}, {"mu", "×"}, {"di", "÷"},
    {"+-", "±"}, {"<=", "≤"}, {">=", "≥"}, {"!=", "≠"}, {"->", "→"}, {"<-", "←"}, {"de", "°"}, {"ti", "~"},
    {"ha", "^"}, {"sl", "/"}, {"rs", "\\"}, {"ba", "|"}, {"bv", "|"}, {"br", "|"}, {"ul", "_"}, {"ru", "_"},
    {"ci", "○"}, {"sq", "□"}, {"dg", "†"}, {"fm", "′"}, {"pl", "+"}, {"eq", "="}, {"**", "*"}, {"lB", "["},
    {"rB", "]"}, {"lC", "{"}, {"rC", "}"}, {"la", "⟨"}, {"ra", "⟩"}, {"Fo", "«"}, {"Fc", "»"}, {"ga", "`"},
    {"aa", "´"}, {"pd", "∂"}, {"*a", "α"}, {"*b", "β"}, {"*g", "γ"}, {"*d", "δ"}, {"*m", "μ"}, {"*p", "π"},
    {"*W", "Ω"}, {"sc", "§"}, {"ps", "¶"}, {"at", "@"}, {"sh", "#"}, {"Do", "$"}, {"ct", "¢"}, {"Po", "£"},
    {"Ye", "¥"}, {"Eu", "€"}, {"eu", "€"}, {"fi", "fi"}, {"fl", "fl"}, {"ff", "ff"}, {"es", "∅"}, {"if", "∞"},
    {"no", "¬"}, {"OK", "✓"}, {"tno", "¬"}, {"cq", "’"}, {NULL, NULL}};

// \*x, \*(xx, \*[...] strings, as man(7) and pod2man pages define them for nroff output.
static const named strings[] = {
    {"lq", "“"}, {"rq", "”"}, {"L\"", "“"}, {"R\"", "”"}, {"C`", "\""}, {"C'", "\""}, {"C+", "C++"},
    {"--", "—"}, {"R", "®"}, {"Tm", "™"}, {"PI", "π"}, {"Aq", "'"}, {"q", "\""}, {NULL, NULL}};

static const char *lookup(const named *t, const char *name) {
    for (; t->name; t++)
        if (!strcmp(t->name, name)) return t->text;
    return NULL;
}

// Bytes of the UTF-8 character at s (1 for ASCII and for a stray byte).
static size_t cp_len(const char *s) {
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    for (size_t k = 1; k < n; k++)
        if (((unsigned char)s[k] & 0xC0) != 0x80) return 1;
    return n;
}

// Reads an escape's name argument at s (x, (xx or [name]) into name; returns the bytes used. Names are
// read by whole UTF-8 characters, so skipping one never splits a character.
static size_t esc_name(const char *s, char *name, size_t cap) {
    size_t n = 0, used;
    if (*s == '(') {
        size_t a = s[1] ? cp_len(s + 1) : 0, b = a && s[1 + a] ? cp_len(s + 1 + a) : 0;
        if (!b || a + b >= cap) { name[0] = 0; return 1 + a + b; }
        memcpy(name, s + 1, a + b), n = a + b, used = 1 + a + b;
    } else if (*s == '[') {
        const char *e = strchr(s, ']');
        if (!e) e = s + strlen(s);
        n = (size_t)(e - s - 1);
        if (n >= cap) n = cap - 1;
        memcpy(name, s + 1, n);
        used = (size_t)(e - s) + (*e ? 1 : 0);
    } else if (*s) {
        n = used = cp_len(s);
        memcpy(name, s, n);
    } else {
        used = 0;
    }
    name[n] = 0;
    return used;
}

// Skips a delimited argument ('...' or any other ASCII delimiter) at s; returns the bytes used (0 when
// s does not start with an ASCII delimiter: the escape then takes no argument).
static size_t esc_delimited(const char *s) {
    if (!*s || (unsigned char)*s >= 0x80) return 0;
    const char *e = strchr(s + 1, *s);
    return e ? (size_t)(e - s) + 1 : strlen(s);
}

typedef struct {
    int glue_next;   // the line ended in \c: the next line continues this word
    int dash_at;     // byte offset in the output of the first \- (-1: none), for the NAME line
} strip_state;

// Appends the printable text of one input line (without its newline) to out, dropping markup.
static void strip_escapes(const char *s, str *out, strip_state *st) {
    char name[64];
    while (*s) {
        if (*s != '\\') {
            if (*s == '\t') str_addc(out, ' ');
            else if ((unsigned char)*s >= 0x20) str_addc(out, *s);
            s++;
            continue;
        }
        s++;
        char c = *s;
        if (!c) { st->glue_next = 1; return; }  // an escaped newline joins the lines
        s++;
        switch (c) {
        case '"': return;               // comment to the end of the line
        case '#': st->glue_next = 1; return;
        case 'c': if (!*s) st->glue_next = 1; break;
        case '-':
            if (st->dash_at < 0) st->dash_at = (int)out->n;
            str_addc(out, '-');
            break;
        case 'e': case 'E': case '\\': str_addc(out, '\\'); break;
        case '.': str_addc(out, '.'); break;
        case '\'': str_addc(out, '\''); break;
        case '`': str_addc(out, '`'); break;
        case '_': str_addc(out, '_'); break;
        case ' ': case '0': case '~': case 't': str_addc(out, ' '); break;
        case '&': case '|': case '^': case ')': case '/': case ',': case '%': case '{': case '}': case 'a':
        case 'd': case 'u': case 'r': case 'p': case 'z': case ':': case '!': case '?':
            break;
        case '(': case '[': {
            s += esc_name(s - 1, name, sizeof name) - 1;
            const char *t = lookup(special_chars, name);
            if (t) str_adds(out, t);
            else if (name[0] == 'u' && strlen(name) >= 5) str_add_cp(out, (uint32_t)strtoul(name + 1, NULL, 16));
            break;
        }
        case '*': {
            s += esc_name(s, name, sizeof name);
            const char *t = lookup(strings, name);
            if (t) str_adds(out, t);
            break;
        }
        case 'f': case 'F': case 'n': case 'g': case 'k': case 'm': case 'M': case 'V': case 'Y': case '$':
            if (c == 'n' && (*s == '+' || *s == '-')) s++;
            s += esc_name(s, name, sizeof name);
            break;
        case 's':
            if (*s == '+' || *s == '-') s++;
            if (*s == '(' || *s == '[') s += esc_name(s, name, sizeof name);
            else if (*s == '\'') s += esc_delimited(s);
            else if (*s >= '1' && *s <= '3' && s[1] >= '0' && s[1] <= '9') s += 2;
            else if (*s >= '0' && *s <= '9') s++;
            break;
        case 'h': case 'v': case 'w': case 'l': case 'L': case 'o': case 'x': case 'N': case 'X': case 'C':
        case 'H': case 'S': case 'D': case 'b': case 'R': case 'Z': case 'A': case 'B': case 'T': case 'U':
        case 'I': case 'j': case 'O': case 'W':
            if (c == 'C' || c == 'N') {  // \C'name' and \N'n' are characters; print what we know
                size_t k = esc_delimited(s);
                if (k >= 2 && c == 'C') {
                    size_t m = k - 2 < sizeof name - 1 ? k - 2 : sizeof name - 1;
                    memcpy(name, s + 1, m);
                    name[m] = 0;
                    const char *t = lookup(special_chars, name);
                    if (t) str_adds(out, t);
                }
                s += k;
            } else {
                s += esc_delimited(s);
            }
            break;
        default:
            // an unknown escape prints its character, as troff does
            str_addc(out, c);
            break;
        }
    }
}

// ----------------------------------------------------------------------------
// one page

typedef struct {
    str name_raw;        // text of the NAME section
    int name_dash;       // offset of its first \- (-1: none)
    str summary_mdoc;    // .Nd text of mdoc pages
    str desc;            // the DESCRIPTION section, paragraphs joined
    str body;            // every kept section, paragraphs separated by '\n'
    int so_only;         // the page is a .so link
} page;

enum { SEC_OTHER, SEC_NAME, SEC_DESC, SEC_SKIP };

// Section kind from its heading: the heading's words, brackets and punctuation aside, must all be
// names of NAME (NAME 名称 名字 命令名) or all names of DESCRIPTION (DESCRIPTION SUMMARY OVERVIEW
// INTRODUCTION 描述 说明 简介 介绍), 概述 aside (it stands for SYNOPSIS alone, for OVERVIEW beside it).
static int section_kind(const char *h) {
    static const char *const name_words[] = {"NAME", "名称", "名字", "命令名", NULL};
    static const char *const desc_words[] = {"DESCRIPTION", "SUMMARY", "OVERVIEW", "INTRODUCTION", "描述", "说明",
                                             "简介", "介绍", NULL};
    static const char *const skip_words[] = {"跋", "维护人", "最新更新", "翻译计划", "译者", "中文版", "翻译", "COLOPHON", NULL};
    for (int k = 0; skip_words[k]; k++)
        if (strstr(h, skip_words[k])) return SEC_SKIP;
    int kinds[2] = {0, 0}, other = 0;
    const char *s = h;
    while (*s) {
        // skip separators: ASCII punctuation/space and full-width brackets, colons
        if ((unsigned char)*s < 0x80 && !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) { s++; continue; }
        int matched = 0;
        static const char *const seps[] = {"（", "）", "【", "】", "：", "　", "概述", NULL};
        for (int k = 0; seps[k] && !matched; k++)
            if (!strncmp(s, seps[k], strlen(seps[k]))) s += strlen(seps[k]), matched = 1;
        for (int k = 0; name_words[k] && !matched; k++)
            if (!strncmp(s, name_words[k], strlen(name_words[k]))) s += strlen(name_words[k]), matched = 1, kinds[0] = 1;
        for (int k = 0; desc_words[k] && !matched; k++)
            if (!strncmp(s, desc_words[k], strlen(desc_words[k]))) s += strlen(desc_words[k]), matched = 1, kinds[1] = 1;
        if (!matched) { other = 1; break; }
    }
    if (other || kinds[0] == kinds[1]) return SEC_OTHER;
    return kinds[0] ? SEC_NAME : SEC_DESC;
}

// Splits a request line (".B foo "bar baz"") into its name and arguments, in place.
static int split_args(char *s, char **argv, int max) {
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) break;
        if (*s == '"') {
            char *w = ++s, *d = s;
            argv[n++] = w;
            while (*s) {
                if (*s == '"' && s[1] == '"') { *d++ = '"'; s += 2; continue; }
                if (*s == '"') { s++; break; }
                *d++ = *s++;
            }
            *d = 0;  // d trails s, so this never touches what is still to be read
        } else {
            argv[n++] = s;
            while (*s && *s != ' ' && *s != '\t') s++;
            if (*s) *s++ = 0;
        }
    }
    return n;
}

typedef struct {
    page *pg;
    int section;         // SEC_*
    str para;            // the paragraph being filled
    int nofill;          // .nf ... .fi
    int tp_tag;          // .TP: the next text line is a tag (its own paragraph)
    int header_next;     // .SH without arguments: the next line is the heading
    int mdoc;
    str nm;              // mdoc: the page's name (.Nm)
    strip_state st;
} parser;

static void para_end(parser *p) {
    str *para = &p->para;
    while (para->n && para->p[para->n - 1] == ' ') para->p[--para->n] = 0;
    if (!para->n) return;
    page *pg = p->pg;
    if (p->section == SEC_NAME) {
        if (pg->name_raw.n) str_addc(&pg->name_raw, ' ');
        str_add(&pg->name_raw, para->p, para->n);
    } else if (p->section != SEC_SKIP) {
        if (p->section == SEC_DESC) para_join(&pg->desc, para->p, para->n, 0, 1);
        if (pg->body.n) str_addc(&pg->body, '\n');
        str_add(&pg->body, para->p, para->n);
    }
    str_clear(para);
}

// Adds one line of text (already stripped) to the current paragraph.
static void add_text(parser *p, const char *t, size_t n, int glue) {
    if (p->section == SEC_NAME && p->pg->name_dash < 0 && p->st.dash_at >= 0) {
        // remember where in the NAME text the first \- falls
        size_t lead = 0;
        while (lead < n && (t[lead] == ' ' || t[lead] == '\t')) lead++;
        size_t before = p->pg->name_raw.n + p->para.n;
        if (p->para.n && !glue) before++;
        if (p->pg->name_raw.n && !p->para.n) before++;
        if ((size_t)p->st.dash_at >= lead) p->pg->name_dash = (int)(before + (size_t)p->st.dash_at - lead);
    }
    para_join(&p->para, t, n, glue, 0);
    if (p->nofill || p->tp_tag) {
        p->tp_tag = 0;
        para_end(p);
    }
}

static void set_section(parser *p, const char *heading) {
    para_end(p);
    p->section = section_kind(heading);
}

static int is_mdoc_callable(const char *a) {
    static const char *const m[] = {"Ar", "Fl", "Op", "Oo", "Oc", "Nm", "Cm", "Pa", "Xr", "Em", "Sy", "Li", "Dq",
                                    "Qo", "Qc", "Sq", "Ql", "Pq", "Ev", "Va", "Dv", "Er", "Fn", "Fa", "Ft", "Ic",
                                    "Ns", "No", "Ek", "Ap", "Ad", "An", "Aq", "Bq", "Brq", "Cd", "Lk", "Mt", "Tn",
                                    "Ux", "Bx", "Ox", "Nx", "Fx", "Dx", "At", "Ms", "Sx", "Xo", "Xc", "Pf", NULL};
    for (int k = 0; m[k]; k++)
        if (!strcmp(m[k], a)) return 1;
    return 0;
}

// One request or macro line (without the leading '.').
static void request(parser *p, char *line) {
    char *argv[64];
    int argc = split_args(line, argv, 64);
    if (argc == 0) return;
    const char *r = argv[0];
    str text = {0};
    if (!strcmp(r, "SH") || !strcmp(r, "Sh")) {
        if (argc == 1) { para_end(p); p->header_next = 1; return; }
        str h = {0};
        for (int k = 1; k < argc; k++) {
            if (k > 1) str_addc(&h, ' ');
            strip_escapes(argv[k], &h, &p->st);
        }
        p->st.dash_at = -1;
        set_section(p, h.p);
        free(h.p);
        return;
    }
    if (!strcmp(r, "SS") || !strcmp(r, "Ss")) {
        para_end(p);
        for (int k = 1; k < argc; k++) {
            if (k > 1) str_addc(&text, ' ');
            strip_escapes(argv[k], &text, &p->st);
        }
        if (text.n) { add_text(p, text.p, text.n, 0); para_end(p); }
        free(text.p);
        return;
    }
    if (!strcmp(r, "PP") || !strcmp(r, "P") || !strcmp(r, "LP") || !strcmp(r, "sp") || !strcmp(r, "br") ||
        !strcmp(r, "HP") || !strcmp(r, "Pp") || !strcmp(r, "Lp") || !strcmp(r, "El") || !strcmp(r, "Bl") ||
        !strcmp(r, "RS") || !strcmp(r, "RE") || !strcmp(r, "Bd") || !strcmp(r, "Ed") || !strcmp(r, "EX") ||
        !strcmp(r, "EE")) {
        para_end(p);
        if (!strcmp(r, "EX") || !strcmp(r, "Bd")) p->nofill = !strcmp(r, "EX") || (argc > 1 && !strcmp(argv[1], "-literal"));
        if (!strcmp(r, "EE") || !strcmp(r, "Ed")) p->nofill = 0;
        return;
    }
    if (!strcmp(r, "nf")) { para_end(p); p->nofill = 1; return; }
    if (!strcmp(r, "fi")) { para_end(p); p->nofill = 0; return; }
    if (!strcmp(r, "TP")) { para_end(p); p->tp_tag = 1; return; }
    if (!strcmp(r, "IP") || !strcmp(r, "It")) {
        para_end(p);
        if (argc > 1) {
            for (int k = 1; k < argc; k++) {
                if (p->mdoc && is_mdoc_callable(argv[k])) continue;
                if (text.n) str_addc(&text, ' ');
                strip_escapes(argv[k], &text, &p->st);
                if (!p->mdoc) break;  // .IP tag [indent]: only the tag prints
            }
            if (text.n) { add_text(p, text.p, text.n, 0); para_end(p); }
        }
        free(text.p);
        return;
    }
    int alternate = (strlen(r) == 2 && strchr("BIR", r[0]) && strchr("BIR", r[1]) && r[0] != r[1]);
    if (!strcmp(r, "B") || !strcmp(r, "I") || !strcmp(r, "SM") || !strcmp(r, "SB") || alternate) {
        if (argc == 1) { p->tp_tag = p->tp_tag; return; }  // the font applies to the next line
        for (int k = 1; k < argc; k++) {
            if (k > 1 && !alternate) str_addc(&text, ' ');
            strip_escapes(argv[k], &text, &p->st);
        }
        int glue = p->st.glue_next;
        p->st.glue_next = 0;
        add_text(p, text.p ? text.p : "", text.n, glue);
        free(text.p);
        return;
    }
    if (!strcmp(r, "Nd")) {
        for (int k = 1; k < argc; k++) {
            if (k > 1) str_addc(&p->pg->summary_mdoc, ' ');
            strip_escapes(argv[k], &p->pg->summary_mdoc, &p->st);
        }
        return;
    }
    if (!strcmp(r, "Dd") || !strcmp(r, "Dt") || !strcmp(r, "Os")) { p->mdoc = 1; return; }
    if (p->mdoc && !strcmp(r, "Nm")) {  // .Nm name: the page's name; a bare .Nm repeats it
        if (argc > 1 && !p->nm.n) strip_escapes(argv[1], &p->nm, &p->st);
        for (int k = 1; k < argc; k++) {
            if (text.n) str_addc(&text, ' ');
            strip_escapes(argv[k], &text, &p->st);
        }
        if (argc == 1 && p->nm.n) str_add(&text, p->nm.p, p->nm.n);
        if (text.n) add_text(p, text.p, text.n, 0);
        free(text.p);
        return;
    }
    if (p->mdoc && r[0] >= 'A' && r[0] <= 'Z' && strlen(r) <= 3) {
        // other mdoc macros print their arguments (Fl with a leading '-'), callable macro names dropped
        int fl = !strcmp(r, "Fl");
        for (int k = 1; k < argc; k++) {
            if (is_mdoc_callable(argv[k])) { fl = !strcmp(argv[k], "Fl"); continue; }
            if (text.n) str_addc(&text, ' ');
            if (fl) str_addc(&text, '-');
            strip_escapes(argv[k], &text, &p->st);
        }
        if (fl && argc == 1) str_addc(&text, '-');
        if (text.n) add_text(p, text.p, text.n, 0);
        free(text.p);
        return;
    }
    // everything else (.TH, .ft, .in, .ti, .ad, .na, .hy, .ne, .PD, .UC, .IX, ...) prints nothing
}

// Parses one page's troff source.
static void parse_page(char *src, page *pg) {
    parser p = {.pg = pg, .section = SEC_OTHER, .st = {0, -1}};
    pg->name_dash = -1;
    int skip_until_dots = 0, brace_skip = 0, table = 0, first_request = 1;
    char *line = src;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = 0;
        char *next = nl ? nl + 1 : NULL;
        p.st.dash_at = -1;
        if (skip_until_dots) {
            if (!strncmp(line, "..", 2)) skip_until_dots = 0;
        } else if (brace_skip) {
            if (strstr(line, "\\}")) brace_skip = 0;
        } else if (line[0] == '.' || line[0] == '\'') {
            char *r = line + 1;
            while (*r == ' ' || *r == '\t') r++;
            if (!strncmp(r, "\\\"", 2) || !*r) {
                // comment or empty request
            } else if (!strncmp(r, "so ", 3) && first_request) {
                pg->so_only = 1;
                return;
            } else if (!strncmp(r, "de", 2) || !strncmp(r, "am", 2) || !strncmp(r, "ig", 2)) {
                skip_until_dots = 1;
            } else if (!strncmp(r, "if", 2) || !strncmp(r, "ie", 2) || !strncmp(r, "el", 2)) {
                if (strstr(r, "\\{") && !strstr(r, "\\}")) brace_skip = 1;
            } else if (!strncmp(r, "TS", 2)) {
                para_end(&p);
                table = 1;  // options and format lines first
            } else if (!strncmp(r, "TE", 2)) {
                para_end(&p);
                table = 0;
            } else {
                first_request = 0;
                request(&p, r);
            }
            if (line[0] == '.' && strncmp(r, "\\\"", 2)) first_request = 0;
        } else if (table == 1) {
            if (len && line[len - 1] == '.') table = 2;  // the format section ends with '.'
        } else {
            str t = {0};
            int glue = p.st.glue_next;
            p.st.glue_next = 0;
            if (table == 2) {  // a table row: cells T{ ... T} and tabs become spaces
                for (char *c = line; *c; c++)
                    if (*c == '\t') *c = ' ';
                char *q;
                while ((q = strstr(line, "T{")) || (q = strstr(line, "T}"))) q[0] = q[1] = ' ';
            }
            strip_escapes(line, &t, &p.st);
            if (p.header_next) {
                p.header_next = 0;
                set_section(&p, t.p ? t.p : "");
            } else if (len == 0) {
                para_end(&p);  // a blank line is a paragraph break
            } else {
                add_text(&p, t.p ? t.p : "", t.n, glue);
                if (table == 2) para_end(&p);
            }
            free(t.p);
        }
        line = next;
    }
    para_end(&p);
    free(p.para.p);
    free(p.nm.p);
}

// ----------------------------------------------------------------------------
// output

static void trim(str *s) {
    if (!s->p) return;
    size_t a = 0;
    while (a < s->n && (s->p[a] == ' ' || s->p[a] == '\t')) a++;
    size_t b = s->n;
    while (b > a && (s->p[b - 1] == ' ' || s->p[b - 1] == '\t')) b--;
    memmove(s->p, s->p + a, b - a);
    s->n = b - a;
    s->p[s->n] = 0;
}

// For TSV fields: tabs and newlines become spaces, runs of spaces one space.
static void one_line(str *s) {
    size_t w = 0;
    for (size_t r = 0; r < s->n; r++) {
        char c = s->p[r];
        if (c == '\t' || c == '\n' || c == '\r') c = ' ';
        if (c == ' ' && (w == 0 || s->p[w - 1] == ' ')) continue;
        s->p[w++] = c;
    }
    s->n = w;
    if (s->p) s->p[w] = 0;
    trim(s);
}

static int count_cps(const char *s) {
    int k = 0;
    for (; *s; s++) k += ((unsigned char)*s & 0xC0) != 0x80;
    return k;
}

// Cuts s to at most max code points (0: no limit).
static void cut_cps(str *s, int max) {
    if (max <= 0) return;
    int k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (((unsigned char)s->p[i] & 0xC0) == 0x80) continue;
        if (k++ == max) { s->n = i; s->p[i] = 0; return; }
    }
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fputc('\\', f), fputc(c, f);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    str s = {0};
    char b[1 << 16];
    size_t n;
    while ((n = fread(b, 1, sizeof b, f)) > 0) str_add(&s, b, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(s.p); return NULL; }
    if (!s.p) str_add(&s, "", 0);
    return s.p;
}

typedef struct {
    uint32_t hash;
    int index;
    char *line;
} row;

static int cmp_row(const void *a, const void *b) {
    const row *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->index - y->index;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static FILE *open_out(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "manpages: cannot write %s: %s\n", path, strerror(errno)); exit(1); }
    return f;
}

static const char *help =
    "usage: manpages --out DIR [--eval-percent 20] [--max-desc 600] [--min-han 10] [--max-summary 60] PAGE...\n"
    "Text and a title task (description -> one-line NAME summary) from uncompressed troff man pages;\n"
    "see the comment at the top of examples/manpages.c for the files written into DIR.\n"
    "  --eval-percent P  hold out pages with FNV-1a(summary) %% 100 < P (default 20)\n"
    "  --max-desc N      keep the first N characters of a description (default 600; 0: all)\n"
    "  --min-han N       skip pages whose description has fewer than N Chinese characters (default 10)\n"
    "  --max-summary N   skip pages whose summary is longer than N characters (default 60)\n";

int main(int argc, char **argv) {
    const char *out = NULL;
    int eval_percent = 20, max_desc = 600, min_han = 10, max_summary = 60, npaths = 0;
    char **paths = calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { printf(help, ""); return 0; }
        if ((!strcmp(a, "--out") || !strcmp(a, "--eval-percent") || !strcmp(a, "--max-desc") ||
             !strcmp(a, "--min-han") || !strcmp(a, "--max-summary")) && i + 1 >= argc) {
            fprintf(stderr, "manpages: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--eval-percent")) eval_percent = atoi(argv[++i]);
        else if (!strcmp(a, "--max-desc")) max_desc = atoi(argv[++i]);
        else if (!strcmp(a, "--min-han")) min_han = atoi(argv[++i]);
        else if (!strcmp(a, "--max-summary")) max_summary = atoi(argv[++i]);
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "manpages: unknown option '%s' (see --help)\n", a); return 2; }
        else paths[npaths++] = argv[i];
    }
    if (!out || npaths == 0 || eval_percent < 0 || eval_percent > 100) {
        fprintf(stderr, "manpages: --out DIR and at least one page are required; --eval-percent in [0, 100] (see --help)\n");
        return 2;
    }
    qsort(paths, (size_t)npaths, sizeof *paths, cmp_str);
    FILE *ftrain = open_out(out, "train.tsv"), *feval = open_out(out, "eval.tsv");
    FILE *fsrc = open_out(out, "eval_src.txt"), *fref = open_out(out, "eval_ref.txt");
    FILE *fdocs = open_out(out, "docs.jsonl"), *fcorpus = open_out(out, "corpus.txt");
    FILE *fpages = open_out(out, "pages.tsv");
    int nlink = 0, nlong = 0, nnoname = 0, nnodesc = 0, ndup = 0, ntrain = 0, neval = 0, nunread = 0;
    long long body_bytes = 0;
    uint64_t *seen = NULL;
    row *rows = NULL;
    int nseen = 0;
    for (int k = 0; k < npaths; k++) {
        struct stat sb;
        if (lstat(paths[k], &sb) != 0) { fprintf(stderr, "manpages: cannot read %s: %s\n", paths[k], strerror(errno)); return 1; }
        if (!S_ISREG(sb.st_mode)) { nlink++; continue; }
        char *src = read_all(paths[k]);
        if (!src) { fprintf(stderr, "manpages: cannot read %s: %s\n", paths[k], strerror(errno)); nunread++; return 1; }
        page pg = {0};
        parse_page(src, &pg);
        free(src);
        if (pg.so_only) { nlink++; goto next; }
        // NAME: "name[, name...] \- summary" (mdoc: .Nm name / .Nd summary)
        str name = {0}, summary = {0};
        if (pg.summary_mdoc.n) {
            str_add(&summary, pg.summary_mdoc.p, pg.summary_mdoc.n);
            if (pg.name_raw.n) str_add(&name, pg.name_raw.p, pg.name_raw.n);
        } else if (pg.name_raw.n) {
            const char *t = pg.name_raw.p;
            const char *d = pg.name_dash >= 0 && (size_t)pg.name_dash < pg.name_raw.n ? t + pg.name_dash : strstr(t, " - ");
            if (!d) d = strstr(t, " -- ");
            if (!d) d = strstr(t, "——");
            if (!d) d = strstr(t, " —");
            if (d) {
                str_add(&name, t, (size_t)(d - t));
                d += (*d == '-') ? 1 : (!strncmp(d, " - ", 3) ? 3 : !strncmp(d, " -- ", 4) ? 4 : (!strncmp(d, "——", 6) ? 6 : 4));
                while (*d == '-' || *d == ' ') d++;
                str_adds(&summary, d);
            }
        }
        one_line(&name);
        one_line(&summary);
        one_line(&pg.desc);
        if (!summary.n || count_han(summary.p) < 2) { nnoname++; goto done; }
        if (count_cps(summary.p) > max_summary) { nlong++; goto done; }
        if (count_han(pg.desc.p ? pg.desc.p : "") < min_han) { nnodesc++; goto done; }
        cut_cps(&pg.desc, max_desc);
        trim(&pg.desc);
        {
            uint64_t h = (uint64_t)fnv1a(summary.p) << 32 | fnv1a(pg.desc.p);
            int dup = 0;
            for (int j = 0; j < nseen && !dup; j++) dup = seen[j] == h;
            if (dup) { ndup++; goto done; }
            seen = realloc(seen, (size_t)(nseen + 1) * sizeof *seen);
            seen[nseen++] = h;
        }
        int is_eval = (int)(fnv1a(summary.p) % 100) < eval_percent;
        const char *base = strrchr(paths[k], '/');
        base = base ? base + 1 : paths[k];
        fprintf(fpages, "%s\t%s\t%s\t%s\n", is_eval ? "eval" : "train", base, name.p ? name.p : "", summary.p);
        if (is_eval) {
            fprintf(feval, "%s\t%s\n", summary.p, pg.desc.p);
            fprintf(fsrc, "%s\n", pg.desc.p);
            fprintf(fref, "%s\n", summary.p);
            neval++;
        } else {
            rows = realloc(rows, (size_t)(ntrain + 1) * sizeof *rows);
            str row = {0};
            str_adds(&row, summary.p);
            str_addc(&row, '\t');
            str_adds(&row, pg.desc.p);
            str_addc(&row, '\n');
            rows[ntrain].hash = fnv1a(base), rows[ntrain].index = ntrain, rows[ntrain].line = row.p;
            ntrain++;
            fputs("{\"text\": ", fdocs);
            json_string(fdocs, pg.body.p ? pg.body.p : "");
            fputs("}\n", fdocs);
            for (char *s = pg.body.p; s && *s;) {  // one paragraph a line
                char *e = strchr(s, '\n');
                size_t n = e ? (size_t)(e - s) : strlen(s);
                fwrite(s, 1, n, fcorpus);
                fputc('\n', fcorpus);
                s = e ? e + 1 : s + n;
            }
            body_bytes += (long long)pg.body.n;
        }
    done:
        free(name.p);
        free(summary.p);
    next:
        free(pg.name_raw.p);
        free(pg.summary_mdoc.p);
        free(pg.desc.p);
        free(pg.body.p);
    }
    // train.tsv in a fixed shuffled order (by FNV-1a of the file name): its first N lines are a sample
    qsort(rows, (size_t)ntrain, sizeof *rows, cmp_row);
    for (int k = 0; k < ntrain; k++) {
        fputs(rows[k].line, ftrain);
        free(rows[k].line);
    }
    free(rows);
    FILE *all[] = {ftrain, feval, fsrc, fref, fdocs, fcorpus, fpages};
    for (int k = 0; k < 7; k++)
        if (fclose(all[k]) != 0) { fprintf(stderr, "manpages: writing into %s failed\n", out); return 1; }
    printf("manpages: %d files: %d train pages, %d eval pages; skipped %d links, %d without a Chinese NAME "
           "summary, %d with a summary over %d characters, %d without a Chinese description, %d repeats; %.1f MB of "
           "training text\n", npaths, ntrain, neval, nlink, nnoname, nlong, max_summary, nnodesc, ndup, body_bytes / 1e6);
    free(seen);
    free(paths);
    if (ntrain + neval == 0) { fprintf(stderr, "manpages: no page gave a Chinese summary and description\n"); return 1; }
    return 0;
}
