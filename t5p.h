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

#endif  // T5P_IMPLEMENTATION_DONE
#endif  // T5P_IMPLEMENTATION
