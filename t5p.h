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
     4. pseudo      text_segmentate, groups, bit-parallel LCS, greedy pseudo-summary pairs (train.py)

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
// 4. pseudo: declarations
// PEGASUS pseudo-summary pairs as t5-pegasus train.py builds them: text_segmentate, groups of pieces,
// greedy selection of the pieces that best "summarize" the rest by longest common subsequence. One input
// document (in train.py one corpus line, the "text" field of its JSON) gives 0..k groups of pieces, and
// each group one (source, target) pair. Same pairs as the original, far faster (bit-parallel LCS, bounds
// that skip candidates that cannot win); see the implementation notes.

typedef struct {
    int maxlen;            // 512: a group closes before a piece that takes it past maxlen*1.5 characters
    int piece_len;         // 32: text_segmentate's maxlen (pieces merge while shorter than piece_len)
    const char *seps;      // "\n。": separators, one code point each, in order of use (UTF-8)
    double rate;           // 0.25: stop once target/source characters > rate
    long max_group_chars;  // 32768: groups longer than this are skipped and counted (0: no limit); only
                           // hostile input gets there: it bounds time and memory
} t5p_pseudo_params;

typedef struct {
    long long docs, groups, pairs;  // documents seen, groups formed, pairs made
    long long skipped_long;         // groups over max_group_chars
    long long skipped_empty;        // groups whose source ran out of characters (train.py divides by zero)
    long long bad_utf8;             // invalid UTF-8 bytes replaced by U+FFFD
    long long candidates, lcs_runs; // candidates considered, of which scored by a full LCS run
} t5p_pseudo_stats;

typedef struct {
    const char *source, *target;    // UTF-8, NUL-terminated
    size_t source_len, target_len;  // bytes
} t5p_pseudo_pair;

typedef struct t5p_pseudo t5p_pseudo;  // workspace; one per thread

T5PDEF t5p_pseudo_params t5p_pseudo_defaults(void);
T5PDEF t5p_pseudo *t5p_pseudo_new(const t5p_pseudo_params *p);  // NULL p: defaults. NULL on failure
T5PDEF void t5p_pseudo_free(t5p_pseudo *ps);
// Pairs of one document (UTF-8 text of n bytes): returns their number (>= 0) or a negative error; *pairs
// points into ps and stays valid until the next call on ps.
T5PDEF int t5p_pseudo_summary(t5p_pseudo *ps, const char *text, size_t n, const t5p_pseudo_pair **pairs);
// The last call's pairs as JSONL lines {"source": "...", "target": "..."} (json.dumps, ensure_ascii=False).
T5PDEF const char *t5p_pseudo_jsonl(t5p_pseudo *ps, size_t *len);
T5PDEF t5p_pseudo_stats t5p_pseudo_get_stats(const t5p_pseudo *ps);

// The steps, on code points. text_segmentate (bert4keras): pieces as (start, length) pairs in *spans
// (t5p_free it); returns the number of pieces or a negative error.
T5PDEF long t5p_text_segmentate(const int32_t *text, long n, long maxlen, const int32_t *seps, int nseps,
                                long **spans);
// Greedy selection on one group of npieces pieces (spans into text): side[k] = 0 for source pieces, 1 for
// target pieces (after train.py's swap). Returns 1, or 0 when the source runs out of characters (no pair),
// or a negative error. ps may be NULL (a temporary workspace is used).
T5PDEF int t5p_pseudo_select(t5p_pseudo *ps, const int32_t *text, const long *spans, int npieces, double rate,
                             unsigned char *side);
// Length of the longest common subsequence of a and b (bit-parallel, Hyyro 2004). Negative on failure.
T5PDEF long t5p_lcs(const int32_t *a, long na, const int32_t *b, long nb);
// Value of the string field key of the JSON object in json[0..n): decoded UTF-8 in *out (grown with
// T5P_REALLOC, capacity *cap). Returns its length in bytes, or T5P_ERR_FORMAT (malformed JSON, no such
// field, not a string; t5p_last_error() says which byte).
T5PDEF long t5p_json_string_field(const char *json, size_t n, const char *key, char **out, size_t *cap);

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
// 4. pseudo
//
// The recipe (t5-pegasus train.py with bert4keras 0.10.0's text_segmentate), per document:
//   pieces = text_segmentate(text, 32, "\n。"); groups of >= 3 pieces, closed before a piece that takes
//   them past 512*1.5 characters (a short tail group is dropped); per group, S = all pieces, T = {}:
//   repeat: score of each i in S = LCS(join(S - i), join(T + i)) (pieces joined in document order), the
//   first maximum moves to T; stop at one piece left in S or len(T)/len(S) > rate; swap if S is shorter.
// Where train.py divides by zero (every piece left in S is empty) the group gives no pair.
//
// Made fast without changing a result:
//   - Hyyro's bit-parallel LCS: V all ones, per text character u = V & M[c], V = (V + u) | (V - u), the
//     addition carrying from word to word; O(n * ceil(m/64)) word operations. Characters of a group get
//     dense ids, so match masks are rows of a flat table.
//   - One match table per group (ML): a bit for every position of the group. Positions of target pieces
//     are cleared as pieces move, and a candidate clears its own piece for its run: a cleared position is
//     the same as a deleted one (its bit stays 1 and passes carries on). The text is then join(T + i), the
//     short side, without the characters that no longer occur in S - i (they leave V unchanged). When that
//     would cost more (target side long, or a huge alphabet), a run builds a pattern of the shorter side.
//   - Upper bounds on a candidate's score s_i = LCS(S-i, T+i), where s1_i = LCS(S0-i, p_i) is its score
//     in the first round (S0 all pieces, T empty; or a bound on it), X = LCS(S,T) the last winner's score,
//     b that winner: s_i <= min(|T|+|p_i|, |S|-|p_i|); after the first round s_i <= X + s1_i (split a
//     common subsequence where p_i sits in T+i; S-i is a subsequence of S0-i) and s_i <= (i's score or
//     bound in the round before) + s1_b.
//     Candidates are scored in order of falling bound; once a bound cannot beat the best so far (ties go
//     to the lower index, as np.argmax) the rest are settled. A run stops as soon as the LCS so far plus
//     the text left cannot reach the score it needs (the carry out of the top word is exactly a step where
//     the LCS grows).
//   - Every empty piece scores LCS(S,T), so only the first one counts, and moving one changes no text:
//     the next round's scores are the same and are not recomputed.
//   - Big groups (past maxlen*1.5) hold at most 3 non-empty pieces; max_group_chars caps their length.
// tests/test_pseudo.c checks all of it against the recipe as written (a plain O(n*m) LCS table per
// candidate) and against goldens from tests/ref/ref_pseudo.py (the recipe with pylcs).

typedef struct {
    long bound;
    int k;
} t5p__cand;

typedef struct {
    int32_t key;
    uint32_t stamp, val;
} t5p__hent;

struct t5p_pseudo {
    t5p_pseudo_params p;
    int32_t seps[16];
    int nseps;
    t5p_pseudo_stats st;
    // document: code points, byte offset of each (and of the end), pieces
    const char *doc;
    int32_t *cps;
    long cps_cap, *boff, boff_cap, doc_bad;
    long *spans, spans_cap;
    // group: dense ids of its characters, pieces in order; per piece offset/length/state
    uint32_t *ids;
    long ids_cap;
    long *off, *len, *sc, *s1;  // sc: score (or bound) in the last round scored, s1: in the first
    t5p__cand *cand;
    int *ne, nne;  // the non-empty pieces, in order
    unsigned char *side;
    long pieces_cap;
    uint64_t *bmp;    // BMP code point -> gen << 32 | dense id
    t5p__hent *hash;  // other code points -> dense id, open addressing, entries live when stamp == gen
    uint32_t gen, nalpha;
    long hcap;
    int hshift;
    uint32_t *cntS;               // per dense id: count in join(S)
    long cnt_cap;
    uint64_t *ML;                 // the group's match table: a bit for every source position
    uint32_t *fidx;               // word of ML holding position j's bit
    long ML_cap, fidx_cap, WL, gtotal;  // words per row, group length
    uint32_t *ttxt;               // join(T) as rows of ML, characters still in S only; T piece q from tcut[q]
    long *tcut, ttxt_cap, tcut_cap;
    int *tidx, tidx_cap, nT, ttxt_ok;
    int ML_built, swapped;
    // one LCS run
    int32_t *rowof;  // dense id -> row of M, or -1
    long rowof_cap;
    uint64_t *M, *V;
    long M_cap, V_cap;
    uint32_t *txt, *distinct;
    long txt_cap, distinct_cap;
    // output: pair texts (offsets while the buffer grows), pairs, JSONL
    t5p__buf out;
    size_t *pair_off;
    long pair_off_cap;
    t5p_pseudo_pair *pairs;
    long pairs_cap;
    int npairs;
    t5p__buf json;
};

// Grows *p (elements of size elem) to hold need elements. 0 or T5P_ERR_NOMEM.
static int t5p__grow(void **p, long *cap, long need, size_t elem) {
    if (need <= *cap) return 0;
    long c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = T5P_REALLOC(*p, (size_t)c * elem);
    if (!q) return t5p__err(T5P_ERR_NOMEM, "out of memory (%ld elements of %zu bytes)", c, elem);
    *p = q;
    *cap = c;
    return 0;
}
#define T5P__GROW(ptr, cap, need) t5p__grow((void **)&(ptr), &(cap), (need), sizeof *(ptr))

T5PDEF t5p_pseudo_params t5p_pseudo_defaults(void) {
    t5p_pseudo_params p = {512, 32, "\n\xe3\x80\x82", 0.25, 32768};
    return p;
}

T5PDEF t5p_pseudo *t5p_pseudo_new(const t5p_pseudo_params *p) {
    t5p_pseudo *ps = (t5p_pseudo *)T5P_MALLOC(sizeof *ps);
    if (!ps) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    memset(ps, 0, sizeof *ps);
    ps->p = p ? *p : t5p_pseudo_defaults();
    const char *s = ps->p.seps ? ps->p.seps : "";
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int32_t cp = t5p_utf8_next(s, n, &i);
        if (cp < 0 || ps->nseps == 16) {
            T5P_FREE(ps);
            t5p__err(T5P_ERR_ARG, "separators: %s", cp < 0 ? "invalid UTF-8" : "more than 16");
            return NULL;
        }
        ps->seps[ps->nseps++] = cp;
    }
    if (ps->p.piece_len < 1 || ps->p.maxlen < 1 || !(ps->p.rate >= 0) || ps->p.max_group_chars < 0) {
        T5P_FREE(ps);
        t5p__err(T5P_ERR_ARG, "pseudo: piece_len and maxlen must be >= 1, rate and max_group_chars >= 0");
        return NULL;
    }
    ps->p.seps = NULL;  // the caller's string need not outlive ps
    return ps;
}

T5PDEF void t5p_pseudo_free(t5p_pseudo *ps) {
    if (!ps) return;
    void *bufs[] = {ps->cps, ps->boff, ps->spans, ps->ids, ps->off, ps->len, ps->sc, ps->s1, ps->cand,
                    ps->ne, ps->side, ps->bmp, ps->hash, ps->cntS, ps->ML, ps->fidx, ps->ttxt, ps->tcut, ps->tidx, ps->rowof, ps->M, ps->V,
                    ps->txt, ps->distinct, ps->out.p, ps->pair_off, ps->pairs, ps->json.p};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) T5P_FREE(bufs[i]);
    T5P_FREE(ps);
}

T5PDEF t5p_pseudo_stats t5p_pseudo_get_stats(const t5p_pseudo *ps) { return ps->st; }

// text_segmentate(text[a:b], maxlen, seps): strip, keep whole if short or no separator left, else split
// on seps[0] (separator kept at the end of every part but the last), merge parts while the merged length
// plus the next non-empty part stays <= maxlen-1, and recurse with the remaining separators on each chunk.
// Chunks are contiguous in text, so pieces are (start, length) spans.
static int t5p__segmentate(long **spans, long *cap, long *count, const int32_t *t, long a, long b,
                           long maxlen, const int32_t *seps, int nseps) {
    while (a < b && t5p_is_space(t[a])) a++;
    while (b > a && t5p_is_space(t[b - 1])) b--;
    if (nseps == 0 || b - a <= maxlen) {
        if (T5P__GROW(*spans, *cap, 2 * (*count + 1))) return T5P_ERR_NOMEM;
        (*spans)[2 * *count] = a;
        (*spans)[2 * *count + 1] = b - a;
        ++*count;
        return 0;
    }
    int32_t sep = seps[0];
    long cur = a, curlen = 0, part = a;  // current chunk text[cur .. cur+curlen), next part starts at part
    for (long k = a;; k++) {
        if (k < b && t[k] != sep) continue;
        long plen = k - part;
        int last = k == b;
        if (curlen > 0 && plen > 0 && curlen + plen > maxlen - 1) {
            int e = t5p__segmentate(spans, cap, count, t, cur, cur + curlen, maxlen, seps + 1, nseps - 1);
            if (e) return e;
            curlen = 0;
        }
        if (curlen == 0) cur = part;
        curlen += plen + (last ? 0 : 1);
        if (last) break;
        part = k + 1;
    }
    if (curlen > 0) return t5p__segmentate(spans, cap, count, t, cur, cur + curlen, maxlen, seps + 1, nseps - 1);
    return 0;
}

T5PDEF long t5p_text_segmentate(const int32_t *text, long n, long maxlen, const int32_t *seps, int nseps,
                                long **spans) {
    long cap = 0, count = 0;
    *spans = NULL;
    int e = t5p__segmentate(spans, &cap, &count, text, 0, n, maxlen, seps, nseps);
    if (e) { T5P_FREE(*spans); *spans = NULL; return e; }
    return count;
}

// Dense id of code point cp in the current group (ids count up from 0 in order of first appearance).
static inline uint32_t t5p__pseudo_id(t5p_pseudo *ps, int32_t cp) {
    if (cp < 0x10000) {  // branch-free: about half the characters of a group are new
        uint64_t *bmp = ps->bmp, e = bmp[cp];
        uint32_t gen = ps->gen, na = ps->nalpha, fresh = (e >> 32) != gen, id = fresh ? na : (uint32_t)e;
        bmp[cp] = (uint64_t)gen << 32 | id;
        ps->nalpha = na + fresh;
        return id;
    }
    uint32_t mask = (uint32_t)ps->hcap - 1, i = ((uint32_t)cp * 2654435761u) >> ps->hshift;
    for (;; i = (i + 1) & mask) {
        t5p__hent *e = ps->hash + i;
        if (e->stamp != ps->gen) {
            e->stamp = ps->gen, e->key = cp;
            return e->val = ps->nalpha++;
        }
        if (e->key == cp) return e->val;
    }
}

// Starts a new id space able to hold n distinct characters.
static int t5p__pseudo_ids_begin(t5p_pseudo *ps, long n) {
    long want = 64;
    while (want < 2 * n) want *= 2;
    if (want > ps->hcap) {
        t5p__hent *h = (t5p__hent *)T5P_REALLOC(ps->hash, (size_t)want * sizeof *h);
        if (!h) return t5p__err(T5P_ERR_NOMEM, "out of memory");
        ps->hash = h;
        memset(h, 0, (size_t)want * sizeof *h);
        ps->hcap = want;
        ps->gen = 0;
        ps->hshift = 32;
        for (long c2 = want; c2 > 1; c2 /= 2) ps->hshift--;
    }
    if (!ps->bmp && !(ps->bmp = (uint64_t *)T5P_MALLOC(0x10000 * sizeof(uint64_t))))
        return t5p__err(T5P_ERR_NOMEM, "out of memory");
    if (ps->gen == 0) memset(ps->bmp, 0, 0x10000 * sizeof(uint64_t));
    if (++ps->gen == 0) {  // stamps wrapped: forget them all
        memset(ps->bmp, 0, 0x10000 * sizeof(uint64_t));
        memset(ps->hash, 0, (size_t)ps->hcap * sizeof *ps->hash);
        ps->gen = 1;
    }
    ps->nalpha = 0;
    return 0;
}

// Makes rowof[] cover the alphabet (all -1) and M zero; call after the ids are assigned.
static int t5p__pseudo_ids_end(t5p_pseudo *ps) {
    long old = ps->rowof_cap;
    if (T5P__GROW(ps->rowof, ps->rowof_cap, (long)ps->nalpha + 1)) return T5P_ERR_NOMEM;
    for (long i = old; i < ps->rowof_cap; i++) ps->rowof[i] = -1;
    return 0;
}

// a + b + c (carry in 0 or 1) into *s; returns the carry out.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <x86intrin.h>
static inline unsigned char t5p__addc(unsigned char c, uint64_t a, uint64_t b, uint64_t *s) {
    unsigned long long r;
    c = _addcarry_u64(c, a, b, &r);
    *s = r;
    return c;
}
#else
static inline unsigned char t5p__addc(unsigned char c, uint64_t a, uint64_t b, uint64_t *s) {
    uint64_t x = a + c;
    unsigned char c1 = x < a;
    *s = x + b;
    return c1 | (*s < x);
}
#endif

// Number of zero bits among the first m bits of v (W words).
static inline long t5p__lcs_zeros(const uint64_t *v, long W, long m) {
    long z = 0;
    for (long w = 0; w < W; w++)
        z += __builtin_popcountll(~v[w] & ((w == W - 1 && m % 64) ? (1ull << (m % 64)) - 1 : ~0ull));
    return z;
}

// Hyyro's bit-parallel LCS over a prepared match table: M holds W words per row, txt the text as row
// offsets (row * W) of its characters that occur in the pattern (the others leave V unchanged). V starts
// all ones; per text character u = V & M[c], V = (V + u) | (V - u), the addition carrying from word to
// word; LCS = zero bits among the m pattern positions.
static long t5p__lcs_k1(const uint64_t *M, long m, const uint32_t *txt, long n) {
    uint64_t v = ~0ull;
    for (long k = 0; k < n; k++) {
        uint64_t u = v & M[txt[k]];
        v = (v + u) | (v - u);
    }
    return t5p__lcs_zeros(&v, 1, m);
}

// Straight-line kernels for 2..16 words: V in registers and the add-with-carry chain unbroken (the
// compiler keeps the carry in the flags; 14% faster than a loop over the words), with the early stop of
// t5p__lcs_kernel.
#define T5P__R2(X) X(0) X(1)
#define T5P__R3(X) T5P__R2(X) X(2)
#define T5P__R4(X) T5P__R3(X) X(3)
#define T5P__R5(X) T5P__R4(X) X(4)
#define T5P__R6(X) T5P__R5(X) X(5)
#define T5P__R7(X) T5P__R6(X) X(6)
#define T5P__R8(X) T5P__R7(X) X(7)
#define T5P__R9(X) T5P__R8(X) X(8)
#define T5P__R10(X) T5P__R9(X) X(9)
#define T5P__R11(X) T5P__R10(X) X(10)
#define T5P__R12(X) T5P__R11(X) X(11)
#define T5P__R13(X) T5P__R12(X) X(12)
#define T5P__R14(X) T5P__R13(X) X(13)
#define T5P__R15(X) T5P__R14(X) X(14)
#define T5P__R16(X) T5P__R15(X) X(15)
#define T5P__V_DECL(i) uint64_t v##i = ~0ull;
#define T5P__V_AND(i) uint64_t u##i = v##i & r[i];
#define T5P__V_ADD(i) uint64_t s##i; c = t5p__addc(c, v##i, u##i, &s##i);
#define T5P__V_OR(i) v##i = s##i | (v##i & ~u##i);
#define T5P__V_STORE(i) V[i] = v##i;
#define T5P__LCS_LINE(W)                                                                            \
    static long t5p__lcs_s##W(const uint64_t *M, long m, const uint32_t *txt, long n, uint64_t *V,  \
                              long need) {                                                          \
        long lcs = 0;                                                                               \
        T5P__R##W(T5P__V_DECL)                                                                      \
        for (long k = 0; k < n; k++) {                                                              \
            const uint64_t *r = M + txt[k];                                                         \
            unsigned char c = 0;                                                                    \
            T5P__R##W(T5P__V_AND) T5P__R##W(T5P__V_ADD) T5P__R##W(T5P__V_OR) lcs += c;              \
            if (lcs + (n - 1 - k) < need) return lcs + (n - 1 - k);                                 \
        }                                                                                           \
        T5P__R##W(T5P__V_STORE)(void) m;                                                            \
        return lcs;                                                                                 \
    }
T5P__LCS_LINE(2) T5P__LCS_LINE(3) T5P__LCS_LINE(4) T5P__LCS_LINE(5) T5P__LCS_LINE(6) T5P__LCS_LINE(7) T5P__LCS_LINE(8) T5P__LCS_LINE(9) T5P__LCS_LINE(10)
T5P__LCS_LINE(11) T5P__LCS_LINE(12) T5P__LCS_LINE(13) T5P__LCS_LINE(14) T5P__LCS_LINE(15) T5P__LCS_LINE(16)

// need > 0: the caller only wants to know whether the LCS reaches need; the run stops, returning a value
// below need, once the characters left cannot make up the difference. The bits above the m pattern
// positions start as ones and never match, so a carry out of the top word is exactly a step where the LCS
// grows by one.
static long t5p__lcs_kernel(const uint64_t *M, long W, long m, const uint32_t *txt, long n, uint64_t *V, long need) {
    switch (W) {
    case 1: return t5p__lcs_k1(M, m, txt, n);
    case 2: return t5p__lcs_s2(M, m, txt, n, V, need);
    case 3: return t5p__lcs_s3(M, m, txt, n, V, need);
    case 4: return t5p__lcs_s4(M, m, txt, n, V, need);
    case 5: return t5p__lcs_s5(M, m, txt, n, V, need);
    case 6: return t5p__lcs_s6(M, m, txt, n, V, need);
    case 7: return t5p__lcs_s7(M, m, txt, n, V, need);
    case 8: return t5p__lcs_s8(M, m, txt, n, V, need);
    case 9: return t5p__lcs_s9(M, m, txt, n, V, need);
    case 10: return t5p__lcs_s10(M, m, txt, n, V, need);
    case 11: return t5p__lcs_s11(M, m, txt, n, V, need);
    case 12: return t5p__lcs_s12(M, m, txt, n, V, need);
    case 13: return t5p__lcs_s13(M, m, txt, n, V, need);
    case 14: return t5p__lcs_s14(M, m, txt, n, V, need);
    case 15: return t5p__lcs_s15(M, m, txt, n, V, need);
    case 16: return t5p__lcs_s16(M, m, txt, n, V, need);
    }
    long lcs = 0;
    for (long w = 0; w < W; w++) V[w] = ~0ull;
    for (long k = 0; k < n; k++) {
        const uint64_t *r = M + txt[k];
        unsigned char c = 0;
        for (long w = 0; w < W; w++) {
            uint64_t u = V[w] & r[w], s;
            c = t5p__addc(c, V[w], u, &s);
            V[w] = s | (V[w] - u);
        }
        lcs += c;
        if (lcs + (n - 1 - k) < need) return lcs + (n - 1 - k);
    }
    T5P_ASSERT(lcs == t5p__lcs_zeros(V, W, m));
    return lcs;
}

// Room for one LCS run with a pattern of m characters (at most nd distinct) and a text of n.
static int t5p__lcs_reserve(t5p_pseudo *ps, long m, long nd, long n) {
    long W = (m + 63) / 64;
    if (T5P__GROW(ps->distinct, ps->distinct_cap, nd) || T5P__GROW(ps->V, ps->V_cap, W) ||
        T5P__GROW(ps->txt, ps->txt_cap, n))
        return T5P_ERR_NOMEM;
    if (nd * W > ps->M_cap) {  // M is kept all zero between runs
        long old = ps->M_cap;
        if (nd * W > (long)UINT32_MAX) return t5p__err(T5P_ERR_NOMEM, "LCS pattern too large (%ld)", m);
        if (T5P__GROW(ps->M, ps->M_cap, nd * W)) return T5P_ERR_NOMEM;
        memset(ps->M + old, 0, (size_t)(ps->M_cap - old) * sizeof(uint64_t));
    }
    return 0;
}

// Pattern character id at position pos: its row of M (a new one for a new character) gets the bit.
static inline void t5p__lcs_pat(t5p_pseudo *ps, uint32_t id, long pos, long W, long *nd) {
    int32_t r = ps->rowof[id];
    if (r < 0) r = ps->rowof[id] = (int32_t)*nd, ps->distinct[(*nd)++] = id;
    ps->M[r * W + pos / 64] |= 1ull << (pos % 64);
}

// Text characters ids[0..n) as row offsets into ps->txt + nt, leaving out those not in the pattern.
static inline long t5p__lcs_txt(t5p_pseudo *ps, const uint32_t *ids, long n, long W, long nt) {
    uint32_t *t = ps->txt;
    const int32_t *rowof = ps->rowof;
    for (long k = 0; k < n; k++) {
        int32_t r = rowof[ids[k]];
        t[nt] = (uint32_t)(r * W);
        nt += r >= 0;
    }
    return nt;
}

// Clears the rows of M and rowof[] that the last run used.
static void t5p__lcs_clear(t5p_pseudo *ps, long nd, long W) {
    for (long d = 0; d < nd; d++) {
        memset(ps->M + ps->rowof[ps->distinct[d]] * W, 0, (size_t)W * sizeof(uint64_t));
        ps->rowof[ps->distinct[d]] = -1;
    }
}

// LCS of pattern pat[0..m) and text txt[0..n) (dense ids).
static long t5p__lcs_ids(t5p_pseudo *ps, const uint32_t *pat, long m, const uint32_t *txt, long n) {
    if (m == 0 || n == 0) return 0;
    long W = (m + 63) / 64, nd = 0;
    if (t5p__lcs_reserve(ps, m, m < (long)ps->nalpha ? m : (long)ps->nalpha, n)) return T5P_ERR_NOMEM;
    for (long k = 0; k < m; k++) t5p__lcs_pat(ps, pat[k], k, W, &nd);
    long nt = t5p__lcs_txt(ps, txt, n, W, 0);
    long lcs = t5p__lcs_kernel(ps->M, W, m, ps->txt, nt, ps->V, 0);
    t5p__lcs_clear(ps, nd, W);
    return lcs;
}

T5PDEF long t5p_lcs(const int32_t *a, long na, const int32_t *b, long nb) {
    if (na < 0 || nb < 0) return t5p__err(T5P_ERR_ARG, "t5p_lcs: negative length");
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    if (!ps) return T5P_ERR_NOMEM;
    long r = T5P_ERR_NOMEM;
    if (na > nb) { const int32_t *t = a; a = b; b = t; long tn = na; na = nb; nb = tn; }  // a: pattern
    if (t5p__pseudo_ids_begin(ps, na + nb) == 0 && T5P__GROW(ps->ids, ps->ids_cap, na + nb + 1) == 0) {
        for (long k = 0; k < na; k++) ps->ids[k] = t5p__pseudo_id(ps, a[k]);
        for (long k = 0; k < nb; k++) ps->ids[na + k] = t5p__pseudo_id(ps, b[k]);
        if (t5p__pseudo_ids_end(ps) == 0) r = t5p__lcs_ids(ps, ps->ids, na, ps->ids + na, nb);
    }
    t5p_pseudo_free(ps);
    return r;
}

// Score of candidate i: LCS(join(S - i), join(T + i)), the shorter side as the bit pattern. A piece k is
// in S - i or T + i as (side[k] == 0) != (k == i) or (side[k] == 1) != (k == i).
static long t5p__pseudo_score(t5p_pseudo *ps, int i, long lenS, long lenT, long need) {
    long mt = lenT + ps->len[i], ms = lenS - ps->len[i];
    if (mt == 0 || ms == 0) return 0;
    int ps_side = mt <= ms;  // the pattern's side
    long m = ps_side ? mt : ms, n = ps_side ? ms : mt, W = (m + 63) / 64, nd = 0, pos = 0, nt = 0;
    if (t5p__lcs_reserve(ps, m, m < (long)ps->nalpha ? m : (long)ps->nalpha, n)) return T5P_ERR_NOMEM;
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if ((ps->side[k] == ps_side) == (k == i)) continue;
        const uint32_t *id = ps->ids + ps->off[k];
        for (long j = 0; j < ps->len[k]; j++) t5p__lcs_pat(ps, id[j], pos++, W, &nd);
    }
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if ((ps->side[k] == ps_side) != (k == i)) continue;
        nt = t5p__lcs_txt(ps, ps->ids + ps->off[k], ps->len[k], W, nt);
    }
    ps->st.lcs_runs++;
    long lcs = t5p__lcs_kernel(ps->M, W, m, ps->txt, nt, ps->V, need);
    t5p__lcs_clear(ps, nd, W);
    return lcs;
}

// The other way to score: the group's match table ML has a bit for every position of every source piece
// (target pieces' bits are cleared as they move; clearing a position is the same as deleting it from the
// pattern: its bit stays 1 and passes carries on). Candidate i clears its own bits for the run, and the
// text is join(T + i): one table for all candidates, no per-candidate pattern. Cost |T+i| * ceil(L/64).
static int t5p__pseudo_ml_build(t5p_pseudo *ps) {
    long W = ps->WL = (ps->gtotal + 63) / 64, need = (long)ps->nalpha * W;
    long old = ps->ML_cap;
    if (T5P__GROW(ps->ML, ps->ML_cap, need) || T5P__GROW(ps->txt, ps->txt_cap, ps->gtotal) ||
        T5P__GROW(ps->V, ps->V_cap, W) || T5P__GROW(ps->fidx, ps->fidx_cap, ps->gtotal))
        return T5P_ERR_NOMEM;
    if (ps->ML_cap > old) memset(ps->ML + old, 0, (size_t)(ps->ML_cap - old) * sizeof(uint64_t));  // kept zero
    uint64_t *ML = ps->ML;
    uint32_t *fidx = ps->fidx;
    const uint32_t *ids = ps->ids;
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        long j = ps->off[k], e = j + ps->len[k];
        if (ps->side[k])
            for (; j < e; j++) fidx[j] = (uint32_t)(ids[j] * W + j / 64);
        else
            for (; j < e; j++) ML[fidx[j] = (uint32_t)(ids[j] * W + j / 64)] |= 1ull << (j % 64);
    }
    ps->ML_built = 1;
    return 0;
}

// Clears what is left of ML after a group (the source pieces' bits), keeping it all zero.
static void t5p__pseudo_ml_clear(t5p_pseudo *ps) {
    if (!ps->ML_built) return;
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if (ps->side[k] == ps->swapped) {  // the source pieces: side 0, or 1 after the swap
            uint64_t *ML = ps->ML;
            const uint32_t *f = ps->fidx;
            for (long j = ps->off[k], e = j + ps->len[k]; j < e; j++) ML[f[j]] = 0;
        }
    }
    ps->ML_built = 0;
}

// Flips the bits of piece k in ML (they are all set while k is a live source piece).
static void t5p__pseudo_ml_flip(t5p_pseudo *ps, int k) {
    uint64_t *ML = ps->ML;
    const uint32_t *f = ps->fidx;
    for (long j = ps->off[k], e = j + ps->len[k]; j < e; j++) ML[f[j]] ^= 1ull << (j % 64);
}

// join(T) for this round, as rows of ML, leaving out characters with no position left in S.
static int t5p__pseudo_ttxt(t5p_pseudo *ps) {
    long W = ps->WL, n = 0;
    int nT = 0;
    if (T5P__GROW(ps->ttxt, ps->ttxt_cap, ps->gtotal) || T5P__GROW(ps->tcut, ps->tcut_cap, ps->nne + 1)) return T5P_ERR_NOMEM;
    if (ps->nne > ps->tidx_cap) {
        long c = ps->tidx_cap;
        if (T5P__GROW(ps->tidx, c, ps->nne)) return T5P_ERR_NOMEM;
        ps->tidx_cap = (int)c;
    }
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if (!ps->side[k]) continue;
        ps->tidx[nT] = k, ps->tcut[nT++] = n;
        const uint32_t *id = ps->ids + ps->off[k];
        for (long j = 0; j < ps->len[k]; j++) {
            ps->ttxt[n] = (uint32_t)(id[j] * W);
            n += ps->cntS[id[j]] > 0;
        }
    }
    ps->tcut[nT] = n, ps->nT = nT, ps->ttxt_ok = 1;
    return 0;
}

static long t5p__pseudo_score_ml(t5p_pseudo *ps, int i, long need) {
    if (!ps->ML_built && t5p__pseudo_ml_build(ps)) return T5P_ERR_NOMEM;
    if (!ps->ttxt_ok && t5p__pseudo_ttxt(ps)) return T5P_ERR_NOMEM;
    long W = ps->WL, nt = 0, n = ps->len[i];
    const uint32_t *pi = ps->ids + ps->off[i], *cS = ps->cntS;
    uint32_t *t = ps->txt;
    int q = 0;  // text: join(T + i) without characters that have no position in S (their rows are zero)
    while (q < ps->nT && ps->tidx[q] < i) q++;
    memcpy(t, ps->ttxt, (size_t)ps->tcut[q] * sizeof *t), nt = ps->tcut[q];
    for (long j = 0; j < n; j++) {  // a character only in p_i (once) has no position left in S - i
        uint32_t c = pi[j];
        t[nt] = (uint32_t)(c * W);
        nt += cS[c] > 1;
    }
    memcpy(t + nt, ps->ttxt + ps->tcut[q], (size_t)(ps->tcut[ps->nT] - ps->tcut[q]) * sizeof *t);
    nt += ps->tcut[ps->nT] - ps->tcut[q];
    ps->st.lcs_runs++;
    t5p__pseudo_ml_flip(ps, i);
    // Only the words from the first to the last live position of S - i can change: the words before hold
    // no live bit and get no carry, the words after are all ones and pass carries through to the top.
    int a = 0, z = ps->nne - 1;
    while (ps->side[ps->ne[a]] || ps->ne[a] == i) a++;
    while (ps->side[ps->ne[z]] || ps->ne[z] == i) z--;
    long lo = ps->off[ps->ne[a]] / 64, hi = (ps->off[ps->ne[z]] + ps->len[ps->ne[z]] - 1) / 64;
    long lcs = t5p__lcs_kernel(ps->ML + lo, hi - lo + 1, 64 * (hi - lo + 1), t, nt, ps->V, need);
    t5p__pseudo_ml_flip(ps, i);
    return lcs;
}

// Moves piece w from S to T in the character counts and ML.
static void t5p__pseudo_move(t5p_pseudo *ps, int w) {
    const uint32_t *p = ps->ids + ps->off[w];
    ps->ttxt_ok = 0;
    if (ps->ML_built) t5p__pseudo_ml_flip(ps, w);
    for (long k = 0; k < ps->len[w]; k++) ps->cntS[p[k]]--;
}

// Scores candidate i the cheaper way (measured on THUCNews: the group table nearly always, by 20-30%);
// a separate pattern when join(T + i) is the longer side or the group table would be large.
// need > 0: a result below need is the score or a bound on it, and says the candidate cannot win.
static long t5p__pseudo_pick(t5p_pseudo *ps, int i, long lenS, long lenT, long need) {
    long mt = lenT + ps->len[i], ms = lenS - ps->len[i];
    if (mt == 0 || ms == 0) return 0;
    long wa = ((mt < ms ? mt : ms) + 63) / 64, costA = (mt > ms ? mt : ms) * (1 + wa), costB = mt * ps->WL;
    if (costB <= costA && (long)ps->nalpha * ps->WL <= (1L << 22)) return t5p__pseudo_score_ml(ps, i, need);
    return t5p__pseudo_score(ps, i, lenS, lenT, need);
}

static int t5p__cand_cmp(const void *x, const void *y) {
    const t5p__cand *a = (const t5p__cand *)x, *b = (const t5p__cand *)y;
    if (a->bound != b->bound) return a->bound > b->bound ? -1 : 1;
    return a->k - b->k;
}

// The greedy selection on the prepared group (ids, off, len of P pieces). side[] is the result.
static int t5p__pseudo_greedy_run(t5p_pseudo *ps, int P, double rate) {
    unsigned char *side = ps->side;
    long *len = ps->len, *sc = ps->sc, *s1 = ps->s1;
    long lenS = 0, lenT = 0, X = 0;  // X = LCS(join(S), join(T))
    int nS = P, ep = 0, N = -1, cached = 0, first = 1, lastb = -1;
    long sN = -1;
    t5p__cand *cand = ps->cand;
    for (int k = 0; k < P; k++) side[k] = 0, lenS += len[k];
    for (;;) {
        if (!cached) {  // first maximum among the non-empty source pieces
            int nc = 0;
            for (int q = 0; q < ps->nne; q++) {
                int k = ps->ne[q];
                if (side[k]) continue;
                long b = lenT + len[k] < lenS - len[k] ? lenT + len[k] : lenS - len[k];
                if (!first) {
                    if (X + s1[k] < b) b = X + s1[k];
                    if (sc[k] + s1[lastb] < b) b = sc[k] + s1[lastb];
                }
                cand[nc].bound = b, cand[nc].k = k, nc++;
            }
            ps->st.candidates += nc;
            if (nc > 32) qsort(cand, (size_t)nc, sizeof *cand, t5p__cand_cmp);
            else
                for (int a = 1; a < nc; a++)  // insertion sort: a group has a few dozen pieces
                    for (int z = a; z > 0 && t5p__cand_cmp(&cand[z - 1], &cand[z]) > 0; z--) {
                        t5p__cand x = cand[z];
                        cand[z] = cand[z - 1], cand[z - 1] = x;
                    }
            N = -1, sN = -1;
            int j = 0;
            for (; j < nc; j++) {
                int k = cand[j].k;
                if (cand[j].bound < sN || (cand[j].bound == sN && k > N)) break;  // nothing later can win
                long need = N < 0 ? 0 : k < N ? sN : sN + 1;  // what k must score to win
                long s = cand[j].bound == 0 ? 0 : t5p__pseudo_pick(ps, k, lenS, lenT, need);
                if (s < 0) return (int)s;
                if (s < need) {  // k cannot win; s is its score or (run stopped early) a bound on it
                    sc[k] = s < cand[j].bound ? s : cand[j].bound;
                    continue;
                }
                sc[k] = s;
                if (s > sN || (s == sN && k < N)) sN = s, N = k;
            }
            for (; j < nc; j++) sc[cand[j].k] = cand[j].bound;
            if (first)
                for (j = 0; j < nc; j++) s1[cand[j].k] = sc[cand[j].k];
            first = 0;
        }
        while (ep < P && (side[ep] || len[ep] > 0)) ep++;  // first empty source piece: scores X
        int w = N;
        if (N < 0 || (ep < P && (X > sN || (X == sN && ep < N)))) w = ep;
        T5P_ASSERT(w >= 0 && w < P && !side[w]);
        side[w] = 1, nS--, lenS -= len[w], lenT += len[w];
        if (len[w] > 0) X = sN, lastb = w, cached = 0, t5p__pseudo_move(ps, w);
        else cached = N >= 0;  // no text changed: the same scores next round
        if (nS == 1) break;
        if (lenS == 0) return 0;  // train.py: ZeroDivisionError
        if ((double)lenT / (double)lenS > rate) break;
    }
    ps->swapped = lenS < lenT;
    if (ps->swapped)
        for (int k = 0; k < P; k++) side[k] = !side[k];
    return 1;
}

static int t5p__pseudo_greedy(t5p_pseudo *ps, int P, double rate) {
    ps->swapped = 0;
    int r = t5p__pseudo_greedy_run(ps, P, rate);
    if (r < 0) ps->swapped = 0;  // side[] may be anything: clear every row
    if (r < 0)
        for (int k = 0; k < P; k++) ps->side[k] = 0;
    t5p__pseudo_ml_clear(ps);
    return r;
}

// Prepares group pieces spans[2k], spans[2k+1] (k < P) of text: dense ids, offsets, lengths, counts.
static int t5p__pseudo_group(t5p_pseudo *ps, const int32_t *text, const long *spans, int P, long total) {
    if (T5P__GROW(ps->ids, ps->ids_cap, total + 1)) return T5P_ERR_NOMEM;
    if (P > ps->pieces_cap) {  // per-piece arrays share one capacity
        long c0 = ps->pieces_cap, c;
        if ((c = c0, T5P__GROW(ps->off, c, P)) || (c = c0, T5P__GROW(ps->len, c, P)) ||
            (c = c0, T5P__GROW(ps->sc, c, P)) || (c = c0, T5P__GROW(ps->s1, c, P)) ||
            (c = c0, T5P__GROW(ps->cand, c, P)) || (c = c0, T5P__GROW(ps->ne, c, P)) ||
            (c = c0, T5P__GROW(ps->side, c, P)))
            return T5P_ERR_NOMEM;
        ps->pieces_cap = c;
    }
    if (t5p__pseudo_ids_begin(ps, total)) return T5P_ERR_NOMEM;
    long o = 0;
    ps->nne = 0;
    for (int k = 0; k < P; k++) {
        const int32_t *t = text + spans[2 * k];
        ps->off[k] = o, ps->len[k] = spans[2 * k + 1];
        if (ps->len[k] > 0) ps->ne[ps->nne++] = k;
        for (long j = 0; j < ps->len[k]; j++) ps->ids[o++] = t5p__pseudo_id(ps, t[j]);
    }
    long na = (long)ps->nalpha + 1;
    if (T5P__GROW(ps->cntS, ps->cnt_cap, na)) return T5P_ERR_NOMEM;
    memset(ps->cntS, 0, (size_t)na * sizeof *ps->cntS);
    for (long k = 0; k < o; k++) ps->cntS[ps->ids[k]]++;
    ps->gtotal = total, ps->WL = (total + 63) / 64, ps->ML_built = 0, ps->ttxt_ok = 0;
    return t5p__pseudo_ids_end(ps);
}

T5PDEF int t5p_pseudo_select(t5p_pseudo *ps, const int32_t *text, const long *spans, int npieces, double rate,
                             unsigned char *side) {
    if (npieces < 1) return t5p__err(T5P_ERR_ARG, "t5p_pseudo_select: no pieces");
    t5p_pseudo *own = ps ? NULL : (ps = t5p_pseudo_new(NULL));
    if (!ps) return T5P_ERR_NOMEM;
    long total = 0;
    for (int k = 0; k < npieces; k++) total += spans[2 * k + 1];
    int r = t5p__pseudo_group(ps, text, spans, npieces, total);
    if (r == 0) r = t5p__pseudo_greedy(ps, npieces, rate);
    if (r >= 0) memcpy(side, ps->side, (size_t)npieces);
    t5p_pseudo_free(own);
    return r;
}

// Appends the group's pieces on one side to ps->out as UTF-8 (NUL-terminated): the document's own bytes
// when it was valid UTF-8, else re-encoded (invalid bytes became U+FFFD).
static void t5p__pseudo_emit(t5p_pseudo *ps, const long *spans, int P, int want) {
    for (int k = 0; k < P; k++) {
        if (ps->side[k] != want) continue;
        long a = spans[2 * k], n = spans[2 * k + 1];
        if (!ps->doc_bad) t5p__buf_add(&ps->out, ps->doc + ps->boff[a], (size_t)(ps->boff[a + n] - ps->boff[a]));
        else
            for (long j = 0; j < n; j++) t5p__buf_cp(&ps->out, ps->cps[a + j]);
    }
    t5p__buf_add(&ps->out, "", 1);  // keeps the NUL inside the buffer
}

static int t5p__pseudo_do_group(t5p_pseudo *ps, const long *spans, int P) {
    long total = 0;
    for (int k = 0; k < P; k++) total += spans[2 * k + 1];
    ps->st.groups++;
    if (ps->p.max_group_chars > 0 && total > ps->p.max_group_chars) { ps->st.skipped_long++; return 0; }
    int r = t5p__pseudo_group(ps, ps->cps, spans, P, total);
    if (r == 0) r = t5p__pseudo_greedy(ps, P, ps->p.rate);
    if (r <= 0) { ps->st.skipped_empty += r == 0; return r; }
    if (T5P__GROW(ps->pairs, ps->pairs_cap, ps->npairs + 1) ||
        T5P__GROW(ps->pair_off, ps->pair_off_cap, 2 * (ps->npairs + 1)))
        return T5P_ERR_NOMEM;
    size_t o0 = ps->out.n;
    t5p__pseudo_emit(ps, spans, P, 0);
    size_t o1 = ps->out.n;
    t5p__pseudo_emit(ps, spans, P, 1);
    ps->pair_off[2 * ps->npairs] = o0, ps->pair_off[2 * ps->npairs + 1] = o1;
    ps->pairs[ps->npairs].source_len = o1 - o0 - 1;
    ps->pairs[ps->npairs].target_len = ps->out.n - o1 - 1;
    ps->npairs++;
    ps->st.pairs++;
    return 0;
}

// Decodes text into ps->cps with the byte offset of each code point in ps->boff (and of the end), as
// t5p_utf8_next does (an invalid byte becomes U+FFFD). Returns the number of code points.
static long t5p__pseudo_decode(t5p_pseudo *ps, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    int32_t *cp = ps->cps;
    long *bo = ps->boff, m = 0;
    size_t i = 0;
    ps->doc_bad = 0;
    while (i < n) {
        unsigned c = s[i];
        bo[m] = (long)i;
        if (c < 0x80) { cp[m++] = (int32_t)c, i++; continue; }
        if (i + 2 < n) {  // three bytes 1110xxxx 10xxxxxx 10xxxxxx, one test
            uint32_t x = (uint32_t)c | (uint32_t)s[i + 1] << 8 | (uint32_t)s[i + 2] << 16;
            int32_t v = (int32_t)((x & 0x0F) << 12 | (x & 0x3F00) >> 2 | (x & 0x3F0000) >> 16);
            if ((x & 0xC0C0F0) == 0x8080E0 && v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
                cp[m++] = v, i += 3;
                continue;
            }
        }
        int32_t v = t5p_utf8_next(text, n, &i);
        if (v < 0) v = 0xFFFD, ps->doc_bad++;
        cp[m++] = v;
    }
    bo[m] = (long)n;
    return m;
}

T5PDEF int t5p_pseudo_summary(t5p_pseudo *ps, const char *text, size_t n, const t5p_pseudo_pair **pairs) {
    ps->npairs = 0;
    ps->out.n = 0;
    ps->json.n = 0;
    ps->st.docs++;
    if (T5P__GROW(ps->cps, ps->cps_cap, (long)n + 1) || T5P__GROW(ps->boff, ps->boff_cap, (long)n + 1))
        return T5P_ERR_NOMEM;
    ps->doc = text;
    long m = t5p__pseudo_decode(ps, text, n), np = 0;
    ps->st.bad_utf8 += ps->doc_bad;
    int r = t5p__segmentate(&ps->spans, &ps->spans_cap, &np, ps->cps, 0, m, ps->p.piece_len, ps->seps, ps->nseps);
    double limit = ps->p.maxlen * 1.5;
    long g0 = 0, glen = 0;  // current group: pieces g0..k-1, glen characters
    for (long k = 0; r == 0 && k < np; k++) {
        long l = ps->spans[2 * k + 1];
        if ((double)(glen + l) > limit && k - g0 >= 3) {
            r = t5p__pseudo_do_group(ps, ps->spans + 2 * g0, (int)(k - g0));
            g0 = k, glen = 0;
        }
        glen += l;
    }
    if (r == 0 && np - g0 >= 3) r = t5p__pseudo_do_group(ps, ps->spans + 2 * g0, (int)(np - g0));
    ps->doc = NULL;
    if (r < 0) return r;
    for (int k = 0; k < ps->npairs; k++) {
        ps->pairs[k].source = ps->out.p + ps->pair_off[2 * k];
        ps->pairs[k].target = ps->out.p + ps->pair_off[2 * k + 1];
    }
    if (pairs) *pairs = ps->pairs;
    return ps->npairs;
}

// A JSON string as Python's json.dumps(s, ensure_ascii=False) writes it.
static void t5p__json_put_string(t5p__buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    t5p__buf_reserve(b, n + 2);
    t5p__buf_add(b, "\"", 1);
    size_t run = 0;  // bytes from run on are copied as they are
    for (size_t i = 0; i < n;) {
        if (i + 8 <= n) {  // 8 bytes at a time while none is a control character, '"' or '\\'
            uint64_t x, q, e;
            memcpy(&x, s + i, 8);
            q = x ^ (ones * '"'), e = x ^ (ones * '\\');
            if (!((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((e - ones) & ~e)) & high)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i++];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        t5p__buf_add(b, s + run, i - 1 - run);
        run = i;
        char esc[7] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default: memcpy(esc + 1, "u00", 3), esc[4] = hex[c >> 4], esc[5] = hex[c & 15]; break;
        }
        t5p__buf_add(b, esc, strlen(esc));
    }
    t5p__buf_add(b, s + run, n - run);
    t5p__buf_add(b, "\"", 1);
}

T5PDEF const char *t5p_pseudo_jsonl(t5p_pseudo *ps, size_t *len) {
    ps->json.n = 0;
    t5p__buf_reserve(&ps->json, 0);
    ps->json.p[0] = 0;
    for (int k = 0; k < ps->npairs; k++) {
        t5p__buf_add(&ps->json, "{\"source\": ", 11);
        t5p__json_put_string(&ps->json, ps->pairs[k].source, ps->pairs[k].source_len);
        t5p__buf_add(&ps->json, ", \"target\": ", 12);
        t5p__json_put_string(&ps->json, ps->pairs[k].target, ps->pairs[k].target_len);
        t5p__buf_add(&ps->json, "}\n", 2);
    }
    if (len) *len = ps->json.n;
    return ps->json.p;
}

// A small JSON reader, enough for JSONL corpora: validates a whole document as Python's json.loads does
// (NaN/Infinity accepted, control characters in strings rejected) and decodes strings.
typedef struct {
    const char *s;
    size_t n, i;
} t5p__json;

static int t5p__json_fail(t5p__json *j, const char *what) {
    return t5p__err(T5P_ERR_FORMAT, "JSON: %s at byte %zu", what, j->i + 1);
}
static void t5p__json_ws(t5p__json *j) {
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' || j->s[j->i] == '\r'))
        j->i++;
}
static int t5p__json_hex4(t5p__json *j, uint32_t *v) {
    *v = 0;
    for (int k = 0; k < 4; k++, j->i++) {
        char c = j->i < j->n ? j->s[j->i] : 0;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return t5p__json_fail(j, "bad \\u escape");
        *v = *v * 16 + (uint32_t)d;
    }
    return 0;
}
// Decodes the string at j->i (the opening quote) into out when out is not NULL. Lone surrogates -> U+FFFD.
static int t5p__json_string(t5p__json *j, t5p__buf *out) {
    if (j->i >= j->n || j->s[j->i] != '"') return t5p__json_fail(j, "expected a string");
    size_t run = ++j->i;
    for (;;) {
        if (j->i >= j->n) return t5p__json_fail(j, "unterminated string");
        unsigned char c = (unsigned char)j->s[j->i];
        if (c >= 0x20 && c != '"' && c != '\\') { j->i++; continue; }
        if (out) t5p__buf_add(out, j->s + run, j->i - run);
        if (c == '"') { j->i++; return 0; }
        if (c < 0x20) return t5p__json_fail(j, "control character in string");
        j->i++;  // backslash
        char e = j->i < j->n ? j->s[j->i++] : 0;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            if (out) t5p__buf_add(out, to + (simple - "\"\\/bfnrt"), 1);
        } else if (e == 'u') {
            uint32_t v, lo;
            if (t5p__json_hex4(j, &v)) return T5P_ERR_FORMAT;
            if (v >= 0xD800 && v < 0xDC00 && j->i + 1 < j->n && j->s[j->i] == '\\' && j->s[j->i + 1] == 'u') {
                size_t save = j->i;
                j->i += 2;
                if (t5p__json_hex4(j, &lo)) return T5P_ERR_FORMAT;
                if (lo >= 0xDC00 && lo < 0xE000) v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                else j->i = save;
            }
            if (v >= 0xD800 && v < 0xE000) v = 0xFFFD;
            if (out) t5p__buf_cp(out, (int32_t)v);
        } else {
            j->i--;
            return t5p__json_fail(j, "bad escape");
        }
        run = j->i;
    }
}
static int t5p__json_number(t5p__json *j) {
    const char *s = j->s;
    size_t n = j->n, i = j->i;
    if (i < n && s[i] == '-') i++;
    if (i + 8 <= n && memcmp(s + i, "Infinity", 8) == 0) { j->i = i + 8; return 0; }
    if (i < n && s[i] == '0') i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return t5p__json_fail(j, "expected a value");
    if (i + 1 < n && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t k = i + 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k < n && s[k] >= '0' && s[k] <= '9') {
            while (k < n && s[k] >= '0' && s[k] <= '9') k++;
            i = k;
        }
    }
    j->i = i;
    return 0;
}
// Skips one value. When key is given (top-level object), decodes the last member named key into out
// and sets *found.
static int t5p__json_value(t5p__json *j, int depth, const char *key, t5p__buf *out, int *found) {
    if (depth > 512) return t5p__json_fail(j, "nested too deeply");
    t5p__json_ws(j);
    if (j->i >= j->n) return t5p__json_fail(j, "expected a value");
    char c = j->s[j->i];
    if (c == '"') return t5p__json_string(j, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->i++;
        t5p__json_ws(j);
        if (j->i < j->n && j->s[j->i] == close) { j->i++; return 0; }
        t5p__buf name = {0};
        int r = 0;
        for (;;) {
            int want = 0;
            if (c == '{') {
                t5p__json_ws(j);
                name.n = 0;
                if ((r = t5p__json_string(j, key ? &name : NULL))) break;
                want = key && name.n == strlen(key) && memcmp(name.p, key, name.n) == 0;
                t5p__json_ws(j);
                if (j->i >= j->n || j->s[j->i] != ':') { r = t5p__json_fail(j, "expected ':'"); break; }
                j->i++;
            }
            if (want) {
                t5p__json_ws(j);
                if (j->i >= j->n || j->s[j->i] != '"') {
                    r = t5p__err(T5P_ERR_FORMAT, "JSON: field \"%s\" is not a string (byte %zu)", key, j->i + 1);
                    break;
                }
                out->n = 0;
                if ((r = t5p__json_string(j, out))) break;
                *found = 1;
            } else if ((r = t5p__json_value(j, depth + 1, NULL, NULL, NULL))) break;
            t5p__json_ws(j);
            if (j->i < j->n && j->s[j->i] == ',') { j->i++; continue; }
            if (j->i < j->n && j->s[j->i] == close) { j->i++; break; }
            r = t5p__json_fail(j, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            break;
        }
        T5P_FREE(name.p);
        return r;
    }
    static const char *const words[] = {"true", "false", "null", "NaN"};
    for (int k = 0; k < 4; k++) {
        size_t l = strlen(words[k]);
        if (j->i + l <= j->n && memcmp(j->s + j->i, words[k], l) == 0) { j->i += l; return 0; }
    }
    return t5p__json_number(j);
}

T5PDEF long t5p_json_string_field(const char *json, size_t n, const char *key, char **out, size_t *cap) {
    t5p__json j = {json, n, 0};
    t5p__buf b = {*out, 0, *cap};
    int found = 0, r;
    t5p__json_ws(&j);
    if (j.i >= n || json[j.i] != '{') r = t5p__json_fail(&j, "expected an object");
    else r = t5p__json_value(&j, 0, key, &b, &found);
    if (r == 0) {
        t5p__json_ws(&j);
        if (j.i < n) r = t5p__json_fail(&j, "extra data");
        else if (!found) r = t5p__err(T5P_ERR_FORMAT, "JSON: no field \"%s\"", key);
    }
    t5p__buf_reserve(&b, 0);
    b.p[b.n] = 0;
    *out = b.p, *cap = b.cap;
    return r < 0 ? r : (long)b.n;
}

#endif  // T5P_IMPLEMENTATION_DONE
#endif  // T5P_IMPLEMENTATION
