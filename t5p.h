/* t5p.h - T5 PEGASUS in C: Chinese tokenization, pseudo-summary pretraining data,
   the mT5 encoder-decoder, training and generation.                 public domain / MIT

   An stb-style single-file library. Do this:
       #define T5P_IMPLEMENTATION
   before you include this file in *one* C file to create the implementation.
   Other files include it without the define and see only the declarations.

   Link with: -lutf8proc -lm (and -fopenmp for threads). Include path must find
   <stb_ds.h> (Debian: libstb-dev, -I/usr/include/stb).

   CONTENTS (sections in dependency order, each behind a "// ---" banner)
     1. base        errors, allocation, UTF-8, Unicode properties, files, lines
     2. jieba       dictionary, DAG, max-probability route, HMM, block rules: jieba 0.42.1
     3. tokenizer   vocabulary, lowercase/NFD/Mn, basic tokenizer, WordPiece, encode/decode,
                    vocabulary builder (bert4keras Tokenizer with jieba pre-tokenization)
    10. metrics     ROUGE-1/2/L F (rouge 1.0.0 / 1.0.1) and BLEU (nltk, method1) as finetune.py scored titles

   OPTIONS (define before including with T5P_IMPLEMENTATION)
     T5P_STATIC                 make every function static
     T5P_MALLOC/T5P_REALLOC/T5P_FREE   your allocator (define all three or none)
     T5P_ASSERT(x)              invariant checks (default: assert)
     T5P_NO_STB_DS_IMPLEMENTATION   you compile stb_ds's implementation yourself

   USAGE
       t5p_jieba *jb = t5p_jieba_load("dict.txt", NULL);       // NULL hmm: no HMM tables
       t5p_vocab *vb = t5p_vocab_load("vocab.txt");
       t5p_tokenizer tk = { .jieba = jb, .vocab = vb };
       int *ids = NULL; int n = t5p_encode(&tk, "今天天气不错", -1, 0, &ids);
       if (n < 0) fprintf(stderr, "%s\n", t5p_last_error());
       ...
       t5p_free(ids); t5p_vocab_free(vb); t5p_jieba_free(jb);

   ERRORS
     The library never prints or exits. Functions return a negative value or NULL on failure
     and t5p_last_error() says what went wrong, naming the file, line and byte where it can.

   VERSION HISTORY
     0.1  tokenizer stack: jieba segmentation, bert4keras tokenizer, vocabulary builder
*/
#ifndef T5P_H
#define T5P_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef T5P_STATIC
#define T5PDEF static
#else
#define T5PDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

// ----------------------------------------------------------------------------
// 1. base: declarations

#define T5P_VERSION "0.1"

enum {
    T5P_OK = 0,
    T5P_ERR_IO = -1,      // file could not be opened, read or written
    T5P_ERR_FORMAT = -2,  // malformed input file (names file, line, byte)
    T5P_ERR_ARG = -3,     // bad argument
    T5P_ERR_NOMEM = -4,   // allocation failed
};

T5PDEF const char *t5p_last_error(void);  // thread-local message of the last failure
T5PDEF void t5p_free(void *p);            // frees arrays the library hands out

// UTF-8. t5p_utf8_next decodes one code point at s[*i] (n bytes in all) and advances *i;
// an invalid or truncated sequence yields -1 and advances by one byte.
T5PDEF int32_t t5p_utf8_next(const char *s, size_t n, size_t *i);
T5PDEF int t5p_utf8_put(char *out, uint32_t cp);  // writes 1..4 bytes, returns the count
// Decodes s into code points (*out, t5p_free it), invalid bytes become U+FFFD and are counted
// in *nbad when it is not NULL. Returns the number of code points or T5P_ERR_NOMEM.
T5PDEF long t5p_utf8_decode(const char *s, size_t n, int32_t **out, long *nbad);

// Reads a whole file (NUL-terminated copy, *len without the NUL). NULL on failure.
T5PDEF char *t5p_read_file(const char *path, size_t *len);

// Line reader with Python's universal newlines: "\n", "\r\n" and a lone "\r" end a line;
// the terminator is not part of the line. Lines of any length.
typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap;
    long lineno;  // 1-based number of the line last returned
    int pending_cr;
} t5p_lines;
T5PDEF void t5p_lines_init(t5p_lines *r, FILE *f);
// Returns the line length (>= 0) with the line in r->buf (NUL-terminated), or -1 at the end.
T5PDEF long t5p_lines_next(t5p_lines *r);
T5PDEF void t5p_lines_free(t5p_lines *r);

// Unicode helpers over utf8proc.
T5PDEF int t5p_is_space(int32_t cp);  // Python str.isspace() / str.split() whitespace

// ----------------------------------------------------------------------------
// 10. metrics: declarations
//
// ROUGE-1/2/L F and BLEU exactly as T5 PEGASUS's finetune.py computed them: the `rouge` package
// (pltrdy; 1.0.0 was current in March 2021, 1.0.1 changed ROUGE-N to unique n-grams) and nltk's
// sentence_bleu with SmoothingFunction().method1 (nltk 3.5 to 3.10 give the same numbers here).
// The doubles equal Python's bit for bit on x86-64 glibc (tests/test_metrics.c).

enum { T5P_ROUGE_1_0_0 = 0, T5P_ROUGE_1_0_1 = 1 };

typedef struct {
    double rouge1, rouge2, rougel, bleu;  // F scores and BLEU in [0, 1]
} t5p_scores;

// Package level, texts used as they are (UTF-8; a negative length means NUL-terminated).
// t5p_rouge: f[0..2] = Rouge().get_scores(hyps=hyp, refs=ref)[0]['rouge-1' | 'rouge-2' | 'rouge-l']['f'].
// Returns 0, T5P_ERR_ARG where the package raises ValueError (hyp or ref has no text between its
// '.'s, e.g. "" or "."), or T5P_ERR_NOMEM.
T5PDEF int t5p_rouge(const char *hyp, long nhyp, const char *ref, long nref, int version, double f[3]);
// *bleu = sentence_bleu([ref.split(' ')], hyp.split(' '), smoothing_function=SmoothingFunction().method1).
// Returns 0 or T5P_ERR_NOMEM.
T5PDEF int t5p_bleu(const char *hyp, long nhyp, const char *ref, long nref, double *bleu);

// finetune.py level: one generated title against its reference. Both are joined character by
// character with spaces and lowercased (Python's str.lower(): 'İ' becomes "i̇"), then scored as above.
// Returns 0 (scored), 1 (the prediction is empty or whitespace: all scores 0, and the pair still
// counts), T5P_ERR_ARG where finetune.py stops with rouge's ValueError (pred "." or title "" / "."),
// or T5P_ERR_NOMEM.
T5PDEF int t5p_metrics_score(const char *pred, long npred, const char *title, long ntitle, int version,
                             t5p_scores *out);

// Corpus averages like finetune.py's evaluate(): per-pair scores summed in input order, then divided
// by the number of pairs.
typedef struct {
    int version;        // T5P_ROUGE_1_0_0 or T5P_ROUGE_1_0_1
    int zero_on_raise;  // pairs where rouge raises: 0 = return the error and add nothing, 1 = count as 0
    long count;         // pairs counted (the denominator)
    long empty;         // of which empty predictions
    long raised;        // of which pairs where rouge raised (zero_on_raise only)
    t5p_scores sum;
} t5p_metrics;
T5PDEF void t5p_metrics_init(t5p_metrics *m, int version);
// Scores and adds one pair; *line (may be NULL) receives its scores. Returns t5p_metrics_score's code.
T5PDEF int t5p_metrics_add(t5p_metrics *m, const char *pred, long npred, const char *title, long ntitle,
                           t5p_scores *line);
T5PDEF t5p_scores t5p_metrics_mean(const t5p_metrics *m);  // all 0 when nothing was counted

// Python's repr() of a float (shortest digits that read back exactly): "0.5", "1e-05". Returns the length.
T5PDEF int t5p_repr_double(char *buf, size_t size, double x);

#ifdef __cplusplus
}
#endif
#endif  // T5P_H

// ============================================================================
#ifdef T5P_IMPLEMENTATION
#ifndef T5P_IMPLEMENTATION_DONE
#define T5P_IMPLEMENTATION_DONE

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#if defined(T5P_MALLOC) && defined(T5P_FREE) && defined(T5P_REALLOC)
// ok
#elif !defined(T5P_MALLOC) && !defined(T5P_FREE) && !defined(T5P_REALLOC)
#define T5P_MALLOC(sz) malloc(sz)
#define T5P_REALLOC(p, sz) realloc(p, sz)
#define T5P_FREE(p) free(p)
#else
#error "Must define all or none of T5P_MALLOC, T5P_FREE, and T5P_REALLOC."
#endif

#ifndef T5P_ASSERT
#define T5P_ASSERT(x) assert(x)
#endif

#ifndef T5P_NO_STB_DS_IMPLEMENTATION
#define STB_DS_IMPLEMENTATION
#endif
#include <stb_ds.h>

#ifdef _OPENMP
#include <omp.h>
#endif

// ----------------------------------------------------------------------------
// 1. base

static _Thread_local char t5p__errbuf[512];

T5PDEF const char *t5p_last_error(void) { return t5p__errbuf[0] ? t5p__errbuf : "no error"; }

// Records an error message; returns code so callers can `return t5p__err(T5P_ERR_IO, ...)`.
static inline int t5p__err(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t5p__errbuf, sizeof t5p__errbuf, fmt, ap);
    va_end(ap);
    return code;
}

T5PDEF void t5p_free(void *p) { T5P_FREE(p); }

// Growable byte buffer, used wherever text is assembled.
typedef struct {
    char *p;
    size_t n, cap;
} t5p__buf;

static inline void t5p__buf_reserve(t5p__buf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = (char *)T5P_REALLOC(b->p, cap);
    T5P_ASSERT(p);
    b->p = p;
    b->cap = cap;
}
static inline void t5p__buf_add(t5p__buf *b, const char *s, size_t n) {
    t5p__buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static inline void t5p__buf_cp(t5p__buf *b, int32_t cp) {
    t5p__buf_reserve(b, 4);
    b->n += t5p_utf8_put(b->p + b->n, (uint32_t)cp);
    b->p[b->n] = 0;
}

T5PDEF int32_t t5p_utf8_next(const char *str, size_t n, size_t *i) {
    const unsigned char *s = (const unsigned char *)str;
    size_t k = *i;
    unsigned c = s[k];
    if (c < 0x80) { *i = k + 1; return (int32_t)c; }
    int len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else { *i = k + 1; return -1; }
    if (k + (size_t)len > n) { *i = k + 1; return -1; }
    for (int j = 1; j < len; j++) {
        unsigned d = s[k + j];
        if ((d & 0xC0) != 0x80) { *i = k + 1; return -1; }
        cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { *i = k + 1; return -1; }
    *i = k + (size_t)len;
    return (int32_t)cp;
}

T5PDEF int t5p_utf8_put(char *out, uint32_t cp) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F);
    o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

T5PDEF long t5p_utf8_decode(const char *s, size_t n, int32_t **out, long *nbad) {
    int32_t *cps = (int32_t *)T5P_MALLOC((n + 1) * sizeof(int32_t));
    if (!cps) return t5p__err(T5P_ERR_NOMEM, "out of memory decoding %zu bytes", n);
    long m = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp = t5p_utf8_next(s, n, &i);
        if (cp < 0) { cp = 0xFFFD; bad++; }
        cps[m++] = cp;
    }
    *out = cps;
    if (nbad) *nbad = bad;
    return m;
}

T5PDEF char *t5p_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { t5p__err(T5P_ERR_IO, "%s: %s", path, strerror(errno)); return NULL; }
    t5p__buf b = {0};
    char chunk[1 << 16];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) t5p__buf_add(&b, chunk, k);
    int bad = ferror(f);
    fclose(f);
    if (bad) { T5P_FREE(b.p); t5p__err(T5P_ERR_IO, "%s: read error", path); return NULL; }
    if (!b.p) t5p__buf_reserve(&b, 0), b.p[0] = 0;
    if (len) *len = b.n;
    return b.p;
}

T5PDEF void t5p_lines_init(t5p_lines *r, FILE *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
}

T5PDEF long t5p_lines_next(t5p_lines *r) {
    r->len = 0;
    int c, any = 0;
    if (r->pending_cr) {  // a lone '\r' ended the last line; swallow a following '\n'
        r->pending_cr = 0;
        c = getc(r->f);
        if (c != '\n' && c != EOF) ungetc(c, r->f);
    }
    while ((c = getc(r->f)) != EOF) {
        any = 1;
        if (c == '\n') break;
        if (c == '\r') { r->pending_cr = 1; break; }
        if (r->len + 2 > r->cap) {
            r->cap = r->cap ? r->cap * 2 : 256;
            r->buf = (char *)T5P_REALLOC(r->buf, r->cap);
            T5P_ASSERT(r->buf);
        }
        r->buf[r->len++] = (char)c;
    }
    if (!any) return -1;
    if (!r->buf) { r->cap = 256; r->buf = (char *)T5P_MALLOC(r->cap); T5P_ASSERT(r->buf); }
    r->buf[r->len] = 0;
    r->lineno++;
    return (long)r->len;
}

T5PDEF void t5p_lines_free(t5p_lines *r) {
    T5P_FREE(r->buf);
    r->buf = NULL;
    r->cap = r->len = 0;
}

// Python's str.isspace(): bidirectional classes WS, B, S or category Zs.
T5PDEF int t5p_is_space(int32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
        cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return 1;
    return 0;
}

// ----------------------------------------------------------------------------
// 10. metrics
//
// Exactness notes. Every float operation is the one Python performs, in the same order: counts
// are exact integers, a ratio of two counts is one correctly rounded division (Python's int / int
// is correctly rounded and so is a double division of integers below 2^53), log and exp are the C
// library's (CPython's math.log and math.exp call them), and math.fsum is CPython's msum with its
// half-even fix. No product meets an addition that FP contraction could fuse into a different
// result (the only products are 0.25 * log p, exact, and ones whose results are divided or
// returned), so -ffp-contract makes no difference; -ffast-math would break fsum.

// Word interner: code point spans to dense ids, shared by the two texts of one pair.
typedef struct {
    const int32_t **s;  // slot -> span start, NULL when empty
    int *len, *id;
    size_t cap;
    int count;
} t5p__words;

static int t5p__words_init(t5p__words *w, size_t nitems) {
    size_t cap = 16;
    while (cap < 2 * nitems + 2) cap *= 2;
    w->s = (const int32_t **)T5P_MALLOC(cap * sizeof *w->s);
    w->len = (int *)T5P_MALLOC(cap * sizeof(int));
    w->id = (int *)T5P_MALLOC(cap * sizeof(int));
    w->cap = cap;
    w->count = 0;
    if (!w->s || !w->len || !w->id) return T5P_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) w->s[i] = NULL;
    return 0;
}

static void t5p__words_free(t5p__words *w) {
    T5P_FREE((void *)w->s);
    T5P_FREE(w->len);
    T5P_FREE(w->id);
}

// Id of the word s[0..n); the empty word has an id too. The table never fills (cap > 2 * words).
static int t5p__words_id(t5p__words *w, const int32_t *s, int n) {
    static const int32_t empty = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)s[i]) * 0x100000001b3ull;
    size_t k = (size_t)(h ^ (h >> 29)) & (w->cap - 1);
    while (w->s[k]) {
        if (w->len[k] == n && memcmp(w->s[k], s, (size_t)n * sizeof(int32_t)) == 0) return w->id[k];
        k = (k + 1) & (w->cap - 1);
    }
    w->s[k] = n ? s : &empty;
    w->len[k] = n;
    return w->id[k] = w->count++;
}

// One text as the rouge package sees it: text.split('.'), pieces of length > 0 kept, each made
// " ".join(piece.split()) and split on " " again, so a whitespace-only piece is one empty word.
// words[] holds the word ids of all sentences in a row, sentence k is words[sent[k] .. sent[k+1]).
typedef struct {
    int *words, *sent;
    int nwords, nsent;
} t5p__rtext;

static int t5p__rtext_init(t5p__rtext *t, const int32_t *cp, long n, t5p__words *w) {
    t->words = (int *)T5P_MALLOC((size_t)(n + 1) * sizeof(int));
    t->sent = (int *)T5P_MALLOC((size_t)(n + 2) * sizeof(int));
    t->nwords = t->nsent = 0;
    if (!t->words || !t->sent) return T5P_ERR_NOMEM;
    for (long a = 0; a <= n;) {
        long b = a;
        while (b < n && cp[b] != '.') b++;
        if (b > a) {  // a sentence
            t->sent[t->nsent++] = t->nwords;
            int any = 0;
            for (long i = a; i < b;) {
                while (i < b && t5p_is_space(cp[i])) i++;
                if (i == b) break;
                long j = i;
                while (j < b && !t5p_is_space(cp[j])) j++;
                t->words[t->nwords++] = t5p__words_id(w, cp + i, (int)(j - i));
                any = 1;
                i = j;
            }
            if (!any) t->words[t->nwords++] = t5p__words_id(w, cp + a, 0);
        }
        a = b + 1;
    }
    t->sent[t->nsent] = t->nwords;
    return 0;
}

static void t5p__rtext_free(t5p__rtext *t) {
    T5P_FREE(t->words);
    T5P_FREE(t->sent);
}

// text.split(' '): tokens between ASCII spaces, empty ones included.
static int t5p__bleu_tokens(const int32_t *cp, long n, t5p__words *w, int **out) {
    int *tok = (int *)T5P_MALLOC((size_t)(n + 1) * sizeof(int));
    if (!tok) return T5P_ERR_NOMEM;
    int k = 0;
    for (long a = 0;; ) {
        long b = a;
        while (b < n && cp[b] != ' ') b++;
        tok[k++] = t5p__words_id(w, cp + a, (int)(b - a));
        if (b >= n) break;
        a = b + 1;
    }
    *out = tok;
    return k;
}

// n-gram ids: g[i] (id of the (n-1)-gram at i, in [0, d)) becomes the id of the n-gram at i, for
// both texts at once so equal n-grams get equal ids. Returns the new id count or T5P_ERR_NOMEM.
static int t5p__ngram_next(int *gh, long nh, const int *th, int *gr, long nr, const int *tr, int n, int nwords) {
    size_t cap = 16;
    long total = (nh > 0 ? nh : 0) + (nr > 0 ? nr : 0);
    while (cap < 2 * (size_t)total + 2) cap *= 2;
    uint64_t *key = (uint64_t *)T5P_MALLOC(cap * sizeof(uint64_t));
    int *val = (int *)T5P_MALLOC(cap * sizeof(int));
    if (!key || !val) { T5P_FREE(key); T5P_FREE(val); return T5P_ERR_NOMEM; }
    memset(key, 0xff, cap * sizeof(uint64_t));
    int count = 0;
    for (int side = 0; side < 2; side++) {
        int *g = side ? gr : gh;
        const int *t = side ? tr : th;
        long m = side ? nr : nh;
        for (long i = 0; i < m - n + 1; i++) {  // n-grams that fit
            uint64_t kk = (uint64_t)g[i] * (uint64_t)nwords + (uint64_t)t[i + n - 1];
            uint64_t h = kk * 0x9e3779b97f4a7c15ull;
            size_t s = (size_t)(h >> 20) & (cap - 1);
            while (key[s] != UINT64_MAX && key[s] != kk) s = (s + 1) & (cap - 1);
            if (key[s] == UINT64_MAX) { key[s] = kk; val[s] = count++; }
            g[i] = val[s];
        }
    }
    T5P_FREE(key);
    T5P_FREE(val);
    return count;
}

// Overlap of two id sequences over [0, d): multiset (sum of min counts) or set (common distinct
// ids). *ch and *cr get the sizes (length, or number of distinct ids). Returns the overlap.
static long t5p__overlap(const int *gh, long nh, const int *gr, long nr, int d, int set, long *ch, long *cr,
                         int *scratch) {
    long ov = 0;
    memset(scratch, 0, (size_t)d * sizeof(int));
    if (!set) {
        for (long i = 0; i < nr; i++) scratch[gr[i]]++;
        for (long i = 0; i < nh; i++)
            if (scratch[gh[i]] > 0) { scratch[gh[i]]--; ov++; }
        *ch = nh > 0 ? nh : 0;
        *cr = nr > 0 ? nr : 0;
        return ov;
    }
    long a = 0, b = 0;
    for (long i = 0; i < nh; i++)
        if (!(scratch[gh[i]] & 1)) { scratch[gh[i]] |= 1; a++; }
    for (long i = 0; i < nr; i++)
        if (!(scratch[gr[i]] & 2)) {
            scratch[gr[i]] |= 2;
            b++;
            if (scratch[gr[i]] & 1) ov++;
        }
    *ch = a;
    *cr = b;
    return ov;
}

// rouge_score.f_r_p_rouge_n and the ROUGE-L formula: 2 * ((p * r) / (p + r + 1e-8)).
static double t5p__rouge_f(long overlap, long nhyp, long nref) {
    double p = nhyp == 0 ? 0.0 : (double)overlap / (double)nhyp;
    double r = nref == 0 ? 0.0 : (double)overlap / (double)nref;
    return 2.0 * ((p * r) / (p + r + 1e-8));
}

// Union LCS words over all (reference sentence, hypothesis sentence) pairs, each LCS rebuilt by
// rouge's traceback (diagonal on a match, else up when T[i-1][j] > T[i][j-1], else left): the set of
// words matters, so ties must go the same way. Marks the words in mark[] (bit 4) and returns how
// many distinct words were marked.
static long t5p__union_lcs(const t5p__rtext *hyp, const t5p__rtext *ref, int *mark, int **table, size_t *tcap) {
    long marked = 0;
    for (int a = 0; a < ref->nsent; a++) {
        const int *x = ref->words + ref->sent[a];
        int lx = ref->sent[a + 1] - ref->sent[a];
        for (int b = 0; b < hyp->nsent; b++) {
            const int *y = hyp->words + hyp->sent[b];
            int ly = hyp->sent[b + 1] - hyp->sent[b];
            size_t w = (size_t)ly + 1, need = ((size_t)lx + 1) * w;  // T[i][j] = T[i * w + j]
            if (need > *tcap) {
                int *t = (int *)T5P_REALLOC(*table, need * sizeof(int));
                if (!t) return T5P_ERR_NOMEM;
                *table = t;
                *tcap = need;
            }
            int *T = *table;
            for (size_t j = 0; j < w; j++) T[j] = 0;
            for (int i = 1; i <= lx; i++) {
                int *row = T + (size_t)i * w, *up = row - w;
                row[0] = 0;
                for (int j = 1; j <= ly; j++)
                    row[j] = x[i - 1] == y[j - 1] ? up[j - 1] + 1 : (up[j] > row[j - 1] ? up[j] : row[j - 1]);
            }
            for (int i = lx, j = ly; i > 0 && j > 0;) {
                if (x[i - 1] == y[j - 1]) {
                    if (!(mark[x[i - 1]] & 4)) { mark[x[i - 1]] |= 4; marked++; }
                    i--, j--;
                } else if (T[(size_t)(i - 1) * w + j] > T[(size_t)i * w + j - 1]) {
                    i--;
                } else {
                    j--;
                }
            }
        }
    }
    return marked;
}

// ROUGE-1, ROUGE-2 and ROUGE-L F of two texts already split by the rouge package's rules.
// gh, gr, scratch: room for the words of both texts. Returns 0 or T5P_ERR_NOMEM.
static int t5p__rouge_scores(const t5p__rtext *h, const t5p__rtext *r, int nwords, int version, int *gh, int *gr,
                             int *scratch, double f[3]) {
    // ROUGE-1 and ROUGE-2 over the words of all sentences in a row (n-grams cross the '.'s);
    // 1.0.0 counts repeated n-grams (exclusive=False), 1.0.1 unique ones.
    int set = version == T5P_ROUGE_1_0_1;
    memcpy(gh, h->words, (size_t)h->nwords * sizeof(int));
    memcpy(gr, r->words, (size_t)r->nwords * sizeof(int));
    long ch, cr, ov = t5p__overlap(gh, h->nwords, gr, r->nwords, nwords, set, &ch, &cr, scratch);
    f[0] = t5p__rouge_f(ov, ch, cr);
    int d = t5p__ngram_next(gh, h->nwords, h->words, gr, r->nwords, r->words, 2, nwords);
    if (d < 0) return T5P_ERR_NOMEM;
    ov = t5p__overlap(gh, h->nwords - 1, gr, r->nwords - 1, d, set, &ch, &cr, scratch);
    f[1] = t5p__rouge_f(ov, ch, cr);
    // ROUGE-L (summary level) uses unique words in both versions (1.0.0 forces exclusive=True):
    // m, n = distinct words of the reference and the hypothesis.
    memset(scratch, 0, (size_t)nwords * sizeof(int));
    long m = 0, n = 0;
    for (int i = 0; i < r->nwords; i++)
        if (!(scratch[r->words[i]] & 1)) scratch[r->words[i]] |= 1, m++;
    for (int i = 0; i < h->nwords; i++)
        if (!(scratch[h->words[i]] & 2)) scratch[h->words[i]] |= 2, n++;
    int *table = NULL;
    size_t tcap = 0;
    long llcs = t5p__union_lcs(h, r, scratch, &table, &tcap);
    T5P_FREE(table);
    if (llcs < 0) return T5P_ERR_NOMEM;
    double r_lcs = (double)llcs / (double)m, p_lcs = (double)llcs / (double)n;
    f[2] = 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
    return 0;
}

static int t5p__rouge_cp(const int32_t *hc, long nh, const int32_t *rc, long nr, int version, double f[3]) {
    t5p__words w = {0};
    t5p__rtext h = {0}, r = {0};
    int *gh = NULL, *gr = NULL, *scratch = NULL;
    int ret = t5p__words_init(&w, (size_t)(nh + nr + 2));
    if (ret == 0) ret = t5p__rtext_init(&h, hc, nh, &w);
    if (ret == 0) ret = t5p__rtext_init(&r, rc, nr, &w);
    if (ret == 0 && h.nsent == 0) ret = t5p__err(T5P_ERR_ARG, "rouge: ValueError('Hypothesis is empty.')");
    if (ret == 0 && r.nsent == 0) ret = t5p__err(T5P_ERR_ARG, "rouge: ValueError('Reference is empty.')");
    if (ret == 0) {
        gh = (int *)T5P_MALLOC((size_t)(h.nwords + 1) * sizeof(int));
        gr = (int *)T5P_MALLOC((size_t)(r.nwords + 1) * sizeof(int));
        scratch = (int *)T5P_MALLOC((size_t)(h.nwords + r.nwords + 1) * sizeof(int));
        ret = gh && gr && scratch ? t5p__rouge_scores(&h, &r, w.count, version, gh, gr, scratch, f) : T5P_ERR_NOMEM;
    }
    if (ret == T5P_ERR_NOMEM) t5p__err(T5P_ERR_NOMEM, "rouge: out of memory");
    T5P_FREE(gh);
    T5P_FREE(gr);
    T5P_FREE(scratch);
    t5p__rtext_free(&h);
    t5p__rtext_free(&r);
    t5p__words_free(&w);
    return ret;
}

// CPython's math.fsum: Shewchuk's exact partials, then the sum rounded once (half-even across
// partials). Inputs here are finite.
static double t5p__fsum(const double *v, int nv) {
    double p[64], x, y, t, hi, yr, lo = 0.0;
    int n = 0;
    for (int k = 0; k < nv; k++) {
        x = v[k];
        int i = 0;
        for (int j = 0; j < n; j++) {
            y = p[j];
            if (fabs(x) < fabs(y)) { t = x; x = y; y = t; }
            hi = x + y;
            yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) p[i++] = lo;
            x = hi;
        }
        n = i;
        if (x != 0.0) p[n++] = x;
    }
    hi = 0.0;
    if (n > 0) {
        hi = p[--n];
        while (n > 0) {
            x = hi;
            y = p[--n];
            hi = x + y;
            yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
            y = lo * 2.0;
            x = hi + y;
            yr = x - hi;
            if (y == yr) hi = x;
        }
    }
    return hi;
}

// nltk sentence_bleu with one reference, weights 0.25 x 4 and smoothing method1:
// p_n = Fraction(clipped matches, max(1, hyp n-grams)); no unigram match -> 0; a zero numerator
// becomes 0.1 / denominator; BLEU = BP * exp(fsum(0.25 * log p_n)); BP = 1 if c > r else
// exp(1 - r / c) (0 if c = 0), r = the reference length (nltk's closest_ref_length of one).
static double t5p__bleu_score(int *gh, int lh, const int *th, int *gr, int lr, const int *tr, int nwords,
                              int *scratch, int *nomem) {
    long num[5], den[5], ch, cr;
    int d = nwords;
    memcpy(gh, th, (size_t)lh * sizeof(int));
    memcpy(gr, tr, (size_t)lr * sizeof(int));
    for (int n = 1; n <= 4; n++) {
        if (n > 1 && (d = t5p__ngram_next(gh, lh, th, gr, lr, tr, n, nwords)) < 0) { *nomem = 1; return 0.0; }
        long kh = lh - n + 1, kr = lr - n + 1;
        num[n] = t5p__overlap(gh, kh > 0 ? kh : 0, gr, kr > 0 ? kr : 0, d, 0, &ch, &cr, scratch);
        den[n] = kh > 0 ? kh : 1;  // max(1, number of hyp n-grams)
    }
    if (num[1] == 0) return 0.0;  // no unigram match: nltk returns 0
    double terms[4];
    for (int n = 1; n <= 4; n++) {
        double p = num[n] != 0 ? (double)num[n] / (double)den[n] : 0.1 / (double)den[n];
        terms[n - 1] = 0.25 * log(p);
    }
    double s = exp(t5p__fsum(terms, 4));
    double bp = lh > lr ? 1.0 : lh == 0 ? 0.0 : exp(1.0 - (double)lr / (double)lh);
    return bp * s;
}

static int t5p__bleu_cp(const int32_t *hc, long nh, const int32_t *rc, long nr, double *out) {
    t5p__words w = {0};
    int *th = NULL, *tr = NULL, *gh = NULL, *gr = NULL, *scratch = NULL, nomem = 0;
    int ret = t5p__words_init(&w, (size_t)(nh + nr + 2));
    int lh = ret < 0 ? ret : t5p__bleu_tokens(hc, nh, &w, &th);
    int lr = lh < 0 ? lh : t5p__bleu_tokens(rc, nr, &w, &tr);
    if (lr >= 0) {
        gh = (int *)T5P_MALLOC((size_t)lh * sizeof(int));
        gr = (int *)T5P_MALLOC((size_t)lr * sizeof(int));
        scratch = (int *)T5P_MALLOC((size_t)(lh + lr + 1) * sizeof(int));
        if (gh && gr && scratch) *out = t5p__bleu_score(gh, lh, th, gr, lr, tr, w.count, scratch, &nomem);
    }
    ret = lr < 0 || !gh || !gr || !scratch || nomem ? t5p__err(T5P_ERR_NOMEM, "bleu: out of memory") : 0;
    T5P_FREE(th);
    T5P_FREE(tr);
    T5P_FREE(gh);
    T5P_FREE(gr);
    T5P_FREE(scratch);
    t5p__words_free(&w);
    return ret;
}

static long t5p__decode_arg(const char *s, long n, int32_t **cp) {
    return t5p_utf8_decode(s, n < 0 ? strlen(s) : (size_t)n, cp, NULL);
}

T5PDEF int t5p_rouge(const char *hyp, long nhyp, const char *ref, long nref, int version, double f[3]) {
    if (version != T5P_ROUGE_1_0_0 && version != T5P_ROUGE_1_0_1)
        return t5p__err(T5P_ERR_ARG, "rouge: unknown version %d", version);
    int32_t *hc = NULL, *rc = NULL;
    long nh = t5p__decode_arg(hyp, nhyp, &hc), nr = nh < 0 ? nh : t5p__decode_arg(ref, nref, &rc);
    int ret = nr < 0 ? (int)nr : t5p__rouge_cp(hc, nh, rc, nr, version, f);
    T5P_FREE(hc);
    T5P_FREE(rc);
    return ret;
}

T5PDEF int t5p_bleu(const char *hyp, long nhyp, const char *ref, long nref, double *bleu) {
    int32_t *hc = NULL, *rc = NULL;
    long nh = t5p__decode_arg(hyp, nhyp, &hc), nr = nh < 0 ? nh : t5p__decode_arg(ref, nref, &rc);
    int ret = nr < 0 ? (int)nr : t5p__bleu_cp(hc, nh, rc, nr, bleu);
    T5P_FREE(hc);
    T5P_FREE(rc);
    return ret;
}

// ' '.join(text).lower(): code points with spaces between them, each lowercased the way Python's
// str.lower() does it: the simple mapping except U+0130 'İ' -> "i̇" (its one unconditional
// multi-character lowercase; utf8proc 2.8 agrees with Python 3.11 on every other code point).
// Capital sigma always becomes 'σ' here: its neighbours are spaces, never Final_Sigma context.
static long t5p__join_lower(const char *s, long n, int32_t **out) {
    int32_t *cp = NULL;
    long m = t5p__decode_arg(s, n, &cp);
    if (m < 0) return m;
    int32_t *o = (int32_t *)T5P_MALLOC((size_t)(3 * m + 1) * sizeof(int32_t));
    if (!o) { T5P_FREE(cp); return t5p__err(T5P_ERR_NOMEM, "out of memory"); }
    long k = 0;
    for (long i = 0; i < m; i++) {
        if (i) o[k++] = ' ';
        if (cp[i] == 0x130) { o[k++] = 'i'; o[k++] = 0x307; }
        else o[k++] = utf8proc_tolower(cp[i]);
    }
    T5P_FREE(cp);
    *out = o;
    return k;
}

T5PDEF int t5p_metrics_score(const char *pred, long npred, const char *title, long ntitle, int version,
                             t5p_scores *out) {
    if (version != T5P_ROUGE_1_0_0 && version != T5P_ROUGE_1_0_1)
        return t5p__err(T5P_ERR_ARG, "rouge: unknown version %d", version);
    memset(out, 0, sizeof *out);
    int32_t *hc = NULL, *rc = NULL;
    long nh = t5p__join_lower(pred, npred, &hc), nr = nh < 0 ? nh : t5p__join_lower(title, ntitle, &rc);
    int ret = nr < 0 ? (int)nr : 1;
    for (long i = 0; ret == 1 && i < nh; i++)  // if pred_title.strip(): ...
        if (!t5p_is_space(hc[i])) ret = 0;
    if (ret == 0) {
        double f[3];
        ret = t5p__rouge_cp(hc, nh, rc, nr, version, f);
        if (ret == 0) ret = t5p__bleu_cp(hc, nh, rc, nr, &out->bleu);
        if (ret == 0) out->rouge1 = f[0], out->rouge2 = f[1], out->rougel = f[2];
        else out->bleu = 0.0;
    }
    T5P_FREE(hc);
    T5P_FREE(rc);
    return ret;
}

T5PDEF void t5p_metrics_init(t5p_metrics *m, int version) {
    memset(m, 0, sizeof *m);
    m->version = version;
}

T5PDEF int t5p_metrics_add(t5p_metrics *m, const char *pred, long npred, const char *title, long ntitle,
                           t5p_scores *line) {
    t5p_scores s;
    if (m->version != T5P_ROUGE_1_0_0 && m->version != T5P_ROUGE_1_0_1)
        return t5p__err(T5P_ERR_ARG, "rouge: unknown version %d", m->version);
    int ret = t5p_metrics_score(pred, npred, title, ntitle, m->version, &s);
    if (line) *line = s;
    if (ret == T5P_ERR_ARG && m->zero_on_raise) {
        m->count++;
        m->raised++;
        return ret;
    }
    if (ret < 0) return ret;
    m->count++;
    if (ret == 1) { m->empty++; return ret; }
    m->sum.rouge1 += s.rouge1;  // rouge_1 += scores[0]['rouge-1']['f'], in input order
    m->sum.rouge2 += s.rouge2;
    m->sum.rougel += s.rougel;
    m->sum.bleu += s.bleu;
    return ret;
}

T5PDEF t5p_scores t5p_metrics_mean(const t5p_metrics *m) {
    t5p_scores r = {0, 0, 0, 0};
    if (m->count == 0) return r;
    double c = (double)m->count;
    r.rouge1 = m->sum.rouge1 / c;
    r.rouge2 = m->sum.rouge2 / c;
    r.rougel = m->sum.rougel / c;
    r.bleu = m->sum.bleu / c;
    return r;
}

T5PDEF int t5p_repr_double(char *buf, size_t size, double x) {
    char tmp[40];
    if (isnan(x)) return snprintf(buf, size, "nan");
    if (isinf(x)) return snprintf(buf, size, x > 0 ? "inf" : "-inf");
    if (x == 0.0) return snprintf(buf, size, signbit(x) ? "-0.0" : "0.0");
    int p = 1;
    // Fewest significant digits that read back to x, correctly rounded (like Python's dtoa mode 0;
    // at an exact power of two Python may pick a neighbouring last digit that this misses).
    for (; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
    char digits[24];
    int nd = 0, neg = tmp[0] == '-';
    const char *q = tmp + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = atoi(q + 1) + 1;  // x = 0.d1d2... * 10^decpt
    char o[64];
    int k = 0;
    if (neg) o[k++] = '-';
    if (decpt <= -4 || decpt > 16) {  // Python's repr switches to exponent notation here
        o[k++] = digits[0];
        if (nd > 1) { o[k++] = '.'; for (int i = 1; i < nd; i++) o[k++] = digits[i]; }
        k += snprintf(o + k, sizeof o - (size_t)k, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    } else if (decpt <= 0) {
        o[k++] = '0', o[k++] = '.';
        for (int i = 0; i < -decpt; i++) o[k++] = '0';
        for (int i = 0; i < nd; i++) o[k++] = digits[i];
    } else {
        for (int i = 0; i < decpt; i++) o[k++] = i < nd ? digits[i] : '0';
        o[k++] = '.';
        if (nd > decpt) for (int i = decpt; i < nd; i++) o[k++] = digits[i];
        else o[k++] = '0';
    }
    o[k] = 0;
    return snprintf(buf, size, "%s", o);
}

#endif  // T5P_IMPLEMENTATION_DONE
#endif  // T5P_IMPLEMENTATION
