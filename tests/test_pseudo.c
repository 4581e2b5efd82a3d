// tests/test_pseudo.c - PEGASUS pseudo-summary pairs (t5p.h section 4).
//   - bit-parallel LCS against a plain dynamic-programming table on random strings;
//   - the fast greedy selection against the recipe as written (every candidate scored by a plain LCS
//     table on the joined texts, no bound, no shortcut) on random groups and real documents;
//   - goldens of tests/ref/ref_pseudo.py (the official recipe with pylcs): synthetic documents in full,
//     and one hash per document of ../shared/data corpora (skipped when ../shared is absent);
//   - the JSON reader; bad input (empty, 5 MB without separator, 10 000 one-character pieces, a group
//     of 170 000 empty pieces, invalid UTF-8) in bounded time.
#define _POSIX_C_SOURCE 200809L
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {  // xorshift64*
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static long rnd_below(long n) { return (long)(rnd() % (uint64_t)n); }

static uint32_t fnv1a(const char *s, size_t n) {
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x01000193u;
    return h;
}

// ----------------------------------------------------------------------------
// the plain recipe

static long dp_lcs(const int32_t *a, long na, const int32_t *b, long nb) {
    long *row = (long *)calloc((size_t)nb + 1, sizeof *row);
    for (long i = 0; i < na; i++) {
        long diag = 0;  // row[j-1] of the previous row
        for (long j = 1; j <= nb; j++) {
            long up = row[j];
            row[j] = a[i] == b[j - 1] ? diag + 1 : (row[j - 1] > up ? row[j - 1] : up);
            diag = up;
        }
    }
    long r = row[nb];
    free(row);
    return r;
}

// Joins the pieces k with in[k] set, in order.
static long join(const int32_t *text, const long *spans, int P, const unsigned char *in, int32_t *out) {
    long n = 0;
    for (int k = 0; k < P; k++)
        if (in[k]) memcpy(out + n, text + spans[2 * k], (size_t)spans[2 * k + 1] * 4), n += spans[2 * k + 1];
    return n;
}

// train.py pseudo_summary as written: side[k] = 1 for target pieces after the swap; 0 = no pair.
static int plain_select(const int32_t *text, const long *spans, int P, double rate, unsigned char *side) {
    long total = 0;
    for (int k = 0; k < P; k++) total += spans[2 * k + 1];
    int32_t *a = (int32_t *)malloc((size_t)(total + 1) * 4), *b = (int32_t *)malloc((size_t)(total + 1) * 4);
    unsigned char *src = (unsigned char *)malloc((size_t)P), *tgt = (unsigned char *)calloc((size_t)P, 1);
    memset(src, 1, (size_t)P);
    int nsrc = P, r = 1;
    long ls, lt;
    for (;;) {
        long best = -1;
        int bi = -1;
        for (int i = 0; i < P; i++) {
            if (!src[i]) continue;
            src[i] = 0, tgt[i] = 1;
            long na = join(text, spans, P, src, a), nb = join(text, spans, P, tgt, b);
            src[i] = 1, tgt[i] = 0;
            long s = dp_lcs(a, na, b, nb);
            if (s > best) best = s, bi = i;
        }
        src[bi] = 0, tgt[bi] = 1, nsrc--;
        ls = join(text, spans, P, src, a), lt = join(text, spans, P, tgt, b);
        if (nsrc == 1) break;
        if (ls == 0) { r = 0; break; }
        if ((double)lt / (double)ls > rate) break;
    }
    for (int k = 0; k < P; k++) side[k] = (unsigned char)(r && ls < lt ? src[k] : tgt[k]);
    free(a), free(b), free(src), free(tgt);
    return r;
}

// The whole document pipeline with the plain selection: JSONL bytes of the pairs into out.
static void plain_document(const char *doc, size_t n, t5p__buf *out) {
    int32_t *cps;
    long m = t5p_utf8_decode(doc, n, &cps, NULL), *spans;
    int32_t seps[2] = {'\n', 0x3002};
    long np = t5p_text_segmentate(cps, m, 32, seps, 2, &spans);
    long g0 = 0, glen = 0;
    unsigned char side[4096];
    for (long k = 0; k <= np; k++) {
        int last = k == np;
        if ((last || (glen + spans[2 * k + 1] > 768 && k - g0 >= 3)) && k - g0 >= 3) {
            int P = (int)(k - g0);
            if (plain_select(cps, spans + 2 * g0, P, 0.25, side)) {
                t5p__buf s[2] = {{0}, {0}};
                for (int q = 0; q < P; q++)
                    for (long j = 0; j < spans[2 * (g0 + q) + 1]; j++) t5p__buf_cp(&s[side[q]], cps[spans[2 * (g0 + q)] + j]);
                t5p__buf_add(&s[0], "", 0), t5p__buf_add(&s[1], "", 0);
                t5p__buf_add(out, "{\"source\": ", 11);
                t5p__json_write_utf8(out, s[0].p, s[0].n);
                t5p__buf_add(out, ", \"target\": ", 12);
                t5p__json_write_utf8(out, s[1].p, s[1].n);
                t5p__buf_add(out, "}\n", 2);
                free(s[0].p), free(s[1].p);
            }
            g0 = k, glen = 0;
        }
        if (!last) glen += spans[2 * k + 1];
    }
    free(cps), free(spans);
}

// ----------------------------------------------------------------------------
// random text

static int32_t rnd_char(int alpha) {
    static const int32_t big[] = {0x4E00, 0x3002, 0xFF0C, 0x20000, 0x1F600, 'a', ' ', 0x3000};
    if (alpha <= 26) return 'a' + (int32_t)rnd_below(alpha);
    long r = rnd_below(alpha);
    if (r < 8) return big[r];
    return r % 5 == 0 ? 0x20000 + (int32_t)r : 0x4E00 + (int32_t)r;  // astral and CJK
}

static void test_lcs(void) {
    static const int alphas[] = {2, 4, 26, 3000};
    int n = 0, ok = 0;
    int32_t *a = (int32_t *)malloc(4000 * 4), *b = (int32_t *)malloc(4000 * 4);
    for (int t = 0; t < 2400; t++) {
        int alpha = alphas[t % 4];
        long na, nb;
        if (t < 2000) na = rnd_below(300), nb = rnd_below(300);
        else if (t < 2300) na = 64 * (1 + rnd_below(4)) + rnd_below(3) - 1, nb = 60 + rnd_below(200);  // word edges
        else na = 500 + rnd_below(1500), nb = 500 + rnd_below(2000);
        for (long i = 0; i < na; i++) a[i] = rnd_char(alpha);
        for (long i = 0; i < nb; i++) b[i] = rnd_char(alpha);
        if (t % 3 == 0)  // related strings: b is a with edits
            for (long i = 0; i < nb && i < na; i++)
                if (rnd_below(4)) b[i] = a[i];
        long x = t5p_lcs(a, na, b, nb), y = dp_lcs(a, na, b, nb);
        n++;
        if (x == y) ok++;
        else if (n - ok <= 3) printf("  lcs mismatch: na=%ld nb=%ld alphabet=%d bit-parallel %ld, table %ld\n", na, nb, alpha, x, y);
    }
    if (ok == n) printf("  %d/%d random pairs equal (alphabets 2, 4, 26, 3000 with astral; up to 2000 x 2500)\n", ok, n), t5pt_pass("lcs bit-parallel = dynamic programming");
    else t5pt_fail("lcs bit-parallel = dynamic programming", "%d/%d equal", ok, n);
    free(a), free(b);
}

static void test_segmentate(void) {
    struct { const char *text; int n; long lens[8]; } cases[] = {
        {"", 1, {0}},
        {"  abc \u3000", 1, {3}},
        {"x\n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \n \ny", 3, {1, 0, 1}},
        {"a\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nc", 3, {1, 40, 1}},
        {"aaaaaaaaaaaaaaa\xe3\x80\x82" "bbbbbbbbbbbbbbb\xe3\x80\x82" "ccccccccccccccc\xe3\x80\x82", 2, {32, 16}},
    };
    int32_t seps[2] = {'\n', 0x3002};
    int bad = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t *cps;
        long m = t5p_utf8_decode(cases[c].text, strlen(cases[c].text), &cps, NULL), *spans;
        long np = t5p_text_segmentate(cps, m, 32, seps, 2, &spans);
        int same = np == cases[c].n;
        for (long k = 0; same && k < np; k++) same = spans[2 * k + 1] == cases[c].lens[k];
        if (!same) {
            bad++;
            printf("  case %zu: %ld pieces:", c, np);
            for (long k = 0; k < np; k++) printf(" %ld", spans[2 * k + 1]);
            printf("\n");
        }
        free(cps), free(spans);
    }
    if (bad) t5pt_fail("text_segmentate cases", "%d wrong", bad);
    else t5pt_pass("text_segmentate cases");
}

// Random groups: fast selection against the plain recipe.
static void test_select_random(void) {
    static const double rates[] = {0.25, 0.25, 0.1, 0.5, 0.0, 1.0};
    int n = 0, ok = 0;
    int32_t text[4096];
    long spans[2 * 64];
    unsigned char s1[64], s2[64];
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    for (int t = 0; t < 1500; t++) {
        int P = 3 + (int)rnd_below(t < 1200 ? 14 : 40), alpha = (int)(t % 3 == 0 ? 2 + rnd_below(3) : 3 + rnd_below(40));
        int maxlen = t < 1200 ? 24 : 6, empties = (int)rnd_below(4);  // empties: 0 none, else 1 in 2^empties
        long o = 0;
        for (int k = 0; k < P; k++) {
            long l = empties && rnd_below(1 << empties) == 0 ? 0 : 1 + rnd_below(maxlen);
            spans[2 * k] = o, spans[2 * k + 1] = l;
            for (long j = 0; j < l; j++) text[o++] = rnd_char(alpha);
        }
        double rate = rates[t % 6];
        int r1 = t5p_pseudo_select(ps, text, spans, P, rate, s1), r2 = plain_select(text, spans, P, rate, s2);
        n++;
        if (r1 == r2 && (r1 == 0 || memcmp(s1, s2, (size_t)P) == 0)) ok++;
        else if (n - ok <= 3) printf("  group %d (P=%d alphabet=%d rate=%g): fast %d, plain %d\n", t, P, alpha, rate, r1, r2);
    }
    t5p_pseudo_stats st = t5p_pseudo_get_stats(ps);
    t5p_pseudo_free(ps);
    if (ok == n)
        printf("  %d/%d random groups identical (%lld of %lld candidates needed an LCS run)\n", ok, n, st.lcs_runs, st.candidates), t5pt_pass("greedy selection = plain recipe (random groups)");
    else t5pt_fail("greedy selection = plain recipe (random groups)", "%d/%d identical", ok, n);
}

// Document texts of a corpus as ref_pseudo.py reads them: field 1 of TAB-separated lines; joined: blocks
// of 2 + k % 7 consecutive texts of one file joined with "\n".
typedef struct { char **doc; size_t *len; long n; } docs_t;
static void docs_add(docs_t *d, const char *s, size_t n) {
    d->doc = (char **)realloc(d->doc, (size_t)(d->n + 1) * sizeof *d->doc);
    d->len = (size_t *)realloc(d->len, (size_t)(d->n + 1) * sizeof *d->len);
    d->doc[d->n] = (char *)malloc(n + 1);
    memcpy(d->doc[d->n], s, n), d->doc[d->n][n] = 0;
    d->len[d->n++] = n;
}
static int read_corpus(const char *const *files, int joined, docs_t *out) {
    for (int f = 0; files[f]; f++) {
        const char *path = t5pt_shared(files[f]);
        if (!path) return 0;
        FILE *fp = fopen(path, "rb");
        t5p_lines lr;
        t5p_lines_init(&lr, fp);
        t5p__buf block = {0};
        long k = 0, inblock = 0, len;
        while ((len = t5p_lines_next(&lr)) >= 0) {
            char *a = memchr(lr.buf, '\t', (size_t)len), *b;
            a = a ? a + 1 : lr.buf + len;
            b = memchr(a, '\t', (size_t)(lr.buf + len - a));
            size_t n = (size_t)((b ? b : lr.buf + len) - a);
            if (!joined) { docs_add(out, a, n); continue; }
            if (inblock) t5p__buf_add(&block, "\n", 1);
            t5p__buf_add(&block, a, n);
            if (++inblock == 2 + k % 7) docs_add(out, block.p, block.n), block.n = 0, inblock = 0, k++;
        }
        if (joined && inblock) docs_add(out, block.p, block.n);
        free(block.p);
        t5p_lines_free(&lr);
        fclose(fp);
    }
    return 1;
}

static void test_corpora(void) {
    static const char *const thucnews[] = {"corpus_thucnews/cnews.val.txt", NULL};
    static const char *const lcsts[] = {"lcsts/clge_lcsts/train.tsv", "lcsts/clge_lcsts/val.tsv", "lcsts/clge_lcsts/test.tsv", NULL};
    static const char *const csl[] = {"csl/clge_csl/val.tsv", "csl/clge_csl/test.tsv", "csl/sunnygjing_csl/train.tsv",
                                      "csl/sunnygjing_csl/dev.tsv", "csl/sunnygjing_csl/test.tsv", "csl/ydli_csl_ts/dev.tsv",
                                      "csl/ydli_csl_ts/test.tsv", "csl/t5_pegasus_sample/train.tsv", NULL};
    struct { const char *name; const char *const *files; int joined; } corpora[] = {
        {"thucnews", thucnews, 0}, {"lcsts", lcsts, 0}, {"csl", csl, 0}, {"lcsts_joined", lcsts, 1}, {"csl_joined", csl, 1},
    };
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    for (size_t c = 0; c < sizeof corpora / sizeof corpora[0]; c++) {
        char name[96], gpath[128];
        snprintf(name, sizeof name, "pseudo pairs = reference (%s)", corpora[c].name);
        docs_t d = {0};
        if (!read_corpus(corpora[c].files, corpora[c].joined, &d)) { t5pt_skip(name, "../shared/data not found"); continue; }
        snprintf(gpath, sizeof gpath, "tests/golden/pseudo_%s.txt", corpora[c].name);
        FILE *g = fopen(t5pt_path(gpath), "rb");
        if (!g) { t5pt_fail(name, "cannot open %s", gpath); continue; }
        char line[256];
        long ok = 0, ngold = 0, pairs = 0;
        int shown = 0;
        double t0 = now_s();
        while (fgets(line, sizeof line, g)) {
            if (line[0] == '#') continue;
            long i = ngold++;
            if (i >= d.n) continue;
            int np = t5p_pseudo_summary(ps, d.doc[i], d.len[i], NULL);
            size_t len;
            const char *js = t5p_pseudo_jsonl(ps, &len);
            pairs += np > 0 ? np : 0;
            uint32_t h = fnv1a(js, len);
            if (strtoul(line, NULL, 16) == h) ok++;
            else if (shown++ < 3) printf("  document %ld: hash %08x, golden %.8s\n", i + 1, h, line);
        }
        double dt = now_s() - t0;
        fclose(g);
        printf("  %s: %ld/%ld documents identical, %ld pairs (%.2f s)\n", corpora[c].name, ok, d.n, pairs, dt);
        if (ok == d.n && ngold == d.n) t5pt_pass(name);
        else t5pt_fail(name, "%ld/%ld identical (%ld golden lines)", ok, d.n, ngold);
        // the plain recipe on the first documents of each corpus, as a check of the check
        long nplain = corpora[c].joined ? 8 : 25, same = 0;
        for (long i = 0; i < nplain && i < d.n; i++) {
            t5p__buf b = {0};
            plain_document(d.doc[i], d.len[i], &b);
            t5p_pseudo_summary(ps, d.doc[i], d.len[i], NULL);
            size_t len;
            const char *js = t5p_pseudo_jsonl(ps, &len);
            same += len == b.n && (len == 0 || memcmp(js, b.p, len) == 0);
            free(b.p);
        }
        snprintf(name, sizeof name, "plain recipe = fast path (%s, first %ld)", corpora[c].name, nplain);
        if (same == nplain) t5pt_pass(name);
        else t5pt_fail(name, "%ld/%ld identical", same, nplain);
        for (long i = 0; i < d.n; i++) free(d.doc[i]);
        free(d.doc), free(d.len);
    }
    t5p_pseudo_free(ps);
}

static void test_synthetic(void) {
    FILE *f = fopen(t5pt_path("tests/golden/pseudo_synthetic.jsonl"), "rb");
    if (!f) { t5pt_fail("pseudo pairs = reference (synthetic)", "no tests/golden/pseudo_synthetic.jsonl"); return; }
    t5p_lines lr;
    t5p_lines_init(&lr, f);
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    char *doc = NULL, *want = NULL;
    size_t dcap = 0, wcap = 0;
    long len, n = 0, ok = 0, plain_ok = 0;
    while ((len = t5p_lines_next(&lr)) >= 0) {
        long dn = t5p_json_string_field(lr.buf, (size_t)len, "doc", &doc, &dcap);
        long wn = t5p_json_string_field(lr.buf, (size_t)len, "pairs", &want, &wcap);
        if (dn < 0 || wn < 0) { t5pt_fail("pseudo pairs = reference (synthetic)", "line %ld: %s", lr.lineno, t5p_last_error()); break; }
        t5p_pseudo_summary(ps, doc, (size_t)dn, NULL);
        size_t jn;
        const char *js = t5p_pseudo_jsonl(ps, &jn);
        n++;
        if (jn == (size_t)wn && memcmp(js, want, jn) == 0) ok++;
        else if (n - ok <= 3) printf("  synthetic document %ld differs:\n    got  %.200s\n    want %.200s\n", n, js, want);
        t5p__buf b = {0};
        plain_document(doc, (size_t)dn, &b);
        plain_ok += b.n == (size_t)wn && (b.n == 0 || memcmp(b.p, want, b.n) == 0);
        free(b.p);
    }
    t5p_pseudo_stats st = t5p_pseudo_get_stats(ps);
    printf("  synthetic: %ld/%ld identical (%lld pairs, %lld groups whose source ran empty); plain recipe %ld/%ld\n", ok, n,
           st.pairs, st.skipped_empty, plain_ok, n);
    if (ok == n && n > 40 && st.skipped_empty > 0) t5pt_pass("pseudo pairs = reference (synthetic)");
    else t5pt_fail("pseudo pairs = reference (synthetic)", "%ld/%ld identical", ok, n);
    if (plain_ok == n) t5pt_pass("plain recipe = reference (synthetic)");
    else t5pt_fail("plain recipe = reference (synthetic)", "%ld/%ld", plain_ok, n);
    free(doc), free(want);
    t5p_pseudo_free(ps);
    t5p_lines_free(&lr);
    fclose(f);
}

static void test_json(void) {
    struct { const char *json, *want; long ret; } cases[] = {
        {"{\"text\": \"abc\"}", "abc", 3},
        {" {\"id\": [1, 2.5e3, {\"text\": \"no\"}], \"text\" : \"a\\\"b\\\\c\\/\\n\\u4e2d\\ud83d\\ude00\"} ", "a\"b\\c/\n\xe4\xb8\xad\xf0\x9f\x98\x80", 0},
        {"{\"text\": \"x\", \"text\": \"last\"}", "last", 4},
        {"{\"text\": \"\\ud800z\"}", NULL, T5P_ERR_FORMAT},  // lone surrogate: refused (base JSON reader)
        {"{\"a\": NaN, \"b\": -Infinity, \"c\": null, \"d\": true, \"text\": \"\"}", "", 0},
        {"{\"other\": \"x\"}", NULL, T5P_ERR_FORMAT},
        {"{\"text\": 5}", NULL, T5P_ERR_FORMAT},
        {"{\"text\": \"a\"} x", NULL, T5P_ERR_FORMAT},
        {"{\"text\": \"a\tb\"}", NULL, T5P_ERR_FORMAT},
        {"{\"text\": \"\\x\"}", NULL, T5P_ERR_FORMAT},
        {"[\"text\"]", NULL, T5P_ERR_FORMAT},
        {"{\"text\": \"a\"", NULL, T5P_ERR_FORMAT},
        {"{\"a\": [1, 2,], \"text\": \"a\"}", NULL, T5P_ERR_FORMAT},
        {"", NULL, T5P_ERR_FORMAT},
    };
    int bad = 0;
    char *out = NULL;
    size_t cap = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        long r = t5p_json_string_field(cases[c].json, strlen(cases[c].json), "text", &out, &cap);
        int good = cases[c].want ? r == (long)strlen(cases[c].want) && memcmp(out, cases[c].want, (size_t)r) == 0 : r == cases[c].ret;
        if (!good) bad++, printf("  json case %zu: returned %ld (%s)\n", c, r, r < 0 ? t5p_last_error() : out);
    }
    free(out);
    if (bad) t5pt_fail("json string field", "%d cases wrong", bad);
    else t5pt_pass("json string field");
}

// A document through the fast path and the plain recipe; both must agree and the fast path must be quick.
static int same_as_plain(const char *doc, size_t n, double *fast_s) {
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    double t0 = now_s();
    t5p_pseudo_summary(ps, doc, n, NULL);
    *fast_s = now_s() - t0;
    size_t len;
    const char *js = t5p_pseudo_jsonl(ps, &len);
    t5p__buf b = {0};
    plain_document(doc, n, &b);
    int same = b.n == len && (len == 0 || memcmp(b.p, js, len) == 0);
    free(b.p);
    t5p_pseudo_free(ps);
    return same;
}

static void test_bad_input(void) {
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    const t5p_pseudo_pair *pairs;
    char name[128];
    size_t big = 5 << 20;
    char *doc = (char *)malloc(big + 16);
    // empty and blank documents
    int r = t5p_pseudo_summary(ps, "", 0, &pairs) + t5p_pseudo_summary(ps, " \n\t\xe3\x80\x80", 6, &pairs);
    if (r == 0) t5pt_pass("bad input: empty documents");
    else t5pt_fail("bad input: empty documents", "%d pairs", r);
    // 5 MB without a separator: one piece, no group
    for (size_t i = 0; i < big; i += 3) memcpy(doc + i, "\xe5\xad\x97", 3);
    double t0 = now_s();
    r = t5p_pseudo_summary(ps, doc, big / 3 * 3, &pairs);
    double dt = now_s() - t0;
    snprintf(name, sizeof name, "bad input: 5 MB without separator (%.2f s)", dt);
    if (r == 0 && dt < 5) t5pt_pass(name);
    else t5pt_fail(name, "%d pairs", r);
    // 5 MB of three giant pieces: one group over max_group_chars, skipped
    memcpy(doc + big / 3 / 3 * 3, "\n", 1), memcpy(doc + 2 * (big / 3 / 3 * 3) + 1, "\n", 1);
    t5p_pseudo_stats s0 = t5p_pseudo_get_stats(ps);
    t0 = now_s();
    r = t5p_pseudo_summary(ps, doc, big / 3 * 3, &pairs);
    dt = now_s() - t0;
    t5p_pseudo_stats s1 = t5p_pseudo_get_stats(ps);
    snprintf(name, sizeof name, "bad input: 5 MB of three pieces, group skipped (%.2f s)", dt);
    if (r == 0 && s1.skipped_long == s0.skipped_long + 1 && dt < 5) t5pt_pass(name);
    else t5pt_fail(name, "%d pairs, %lld skipped", r, s1.skipped_long - s0.skipped_long);
    // 10 000 one-character pieces (before merging), several alphabets; against the plain recipe
    static const char *const one[] = {"\xe5\xad\x97\xe3\x80\x82", "a\n", NULL};
    for (int v = 0; v < 3; v++) {
        size_t n = 0;
        for (int k = 0; k < 10000; k++) {
            const char *p = one[v] ? one[v] : (k % 3 ? "x\xe3\x80\x82" : "y\n");
            if (!one[v]) p = rnd_below(2) ? (rnd_below(2) ? "a\xe3\x80\x82" : "b\xe3\x80\x82") : "c\n";
            memcpy(doc + n, p, strlen(p)), n += strlen(p);
        }
        double fast;
        int same = same_as_plain(doc, n, &fast);
        snprintf(name, sizeof name, "bad input: 10 000 one-character pieces, variant %d (%.3f s)", v, fast);
        if (same && fast < 5) t5pt_pass(name);
        else t5pt_fail(name, "same as plain recipe: %d", same);
    }
    // one group of 768 one-character pieces (the most non-empty pieces a group can hold)
    {
        int32_t text[768];
        long spans[2 * 768];
        unsigned char side[768];
        for (int k = 0; k < 768; k++) text[k] = 'a' + (int32_t)rnd_below(5), spans[2 * k] = k, spans[2 * k + 1] = 1;
        t0 = now_s();
        r = t5p_pseudo_select(ps, text, spans, 768, 0.25, side);
        dt = now_s() - t0;
        int nt = 0;
        for (int k = 0; k < 768; k++) nt += side[k];
        snprintf(name, sizeof name, "bad input: a group of 768 one-character pieces (%.2f s, %d target)", dt, nt);
        if (r == 1 && nt == 154 && dt < 10) t5pt_pass(name);
        else t5pt_fail(name, "returned %d", r);
    }
    // empty pieces: whitespace-only chunks give '' pieces; 5 MB of them form one group of ~170 000 pieces
    {
        size_t n = 0;
        const char *head = "\xe4\xbb\x8a\xe5\xa4\xa9\xe5\xa4\xa9\xe6\xb0\x94\xe4\xb8\x8d\xe9\x94\x99\n";
        memcpy(doc + n, head, strlen(head)), n += strlen(head);
        while (n + 80 < big) {
            if (rnd_below(1500) == 0) {  // now and then a sentence of 20 characters from a small alphabet
                for (int j = 0; j < 20; j++) memcpy(doc + n, rnd_below(2) ? "\xe5\xa4\xa9" : "\xe6\xb0\x94", 3), n += 3;
                doc[n++] = '\n';
            }
            memcpy(doc + n, " \n", 2), n += 2;
        }
        memcpy(doc + n, "x", 1), n += 1;
        t0 = now_s();
        r = t5p_pseudo_summary(ps, doc, n, &pairs);
        dt = now_s() - t0;
        snprintf(name, sizeof name, "bad input: 5 MB of whitespace chunks, ~170 000 empty pieces (%.2f s, %d pairs)", dt, r);
        if (r >= 0 && dt < 10) t5pt_pass(name);
        else t5pt_fail(name, "returned %d", r);
        // the same shape, small enough for the plain recipe
        double fast;
        int same = same_as_plain(doc, 6000, &fast);
        if (same) t5pt_pass("bad input: empty pieces, fast = plain recipe");
        else t5pt_fail("bad input: empty pieces, fast = plain recipe", "differ");
    }
    // invalid UTF-8: each bad byte becomes U+FFFD and is counted
    {
        const char *good = "\xe4\xbb\x8a\xe5\xa4\xa9\xe3\x80\x82";  // 今天。
        t5p__buf a = {0}, b = {0};
        for (int k = 0; k < 400; k++) {
            t5p__buf_add(&a, good, 9), t5p__buf_add(&b, good, 9);
            if (k % 7 == 0) t5p__buf_add(&a, "\xff", 1), t5p__buf_add(&b, "\xef\xbf\xbd", 3);
            if (k % 11 == 0) t5p__buf_add(&a, "\xe4\xbb", 2), t5p__buf_add(&b, "\xef\xbf\xbd\xef\xbf\xbd", 6);
        }
        s0 = t5p_pseudo_get_stats(ps);
        t5p_pseudo_summary(ps, a.p, a.n, NULL);
        size_t la;
        char *ja = strdup(t5p_pseudo_jsonl(ps, &la));
        s1 = t5p_pseudo_get_stats(ps);
        t5p_pseudo_summary(ps, b.p, b.n, NULL);
        size_t lb;
        const char *jb = t5p_pseudo_jsonl(ps, &lb);
        long nbad = (long)(s1.bad_utf8 - s0.bad_utf8);
        snprintf(name, sizeof name, "bad input: invalid UTF-8 -> U+FFFD (%ld bytes counted)", nbad);
        if (la == lb && la > 0 && memcmp(ja, jb, la) == 0 && nbad == 58 + 2 * 37) t5pt_pass(name);
        else t5pt_fail(name, "outputs differ or count wrong");
        free(ja), free(a.p), free(b.p);
    }
    free(doc);
    t5p_pseudo_free(ps);
}

int main(void) {
    double t0 = now_s();
    test_lcs();
    test_segmentate();
    test_json();
    test_select_random();
    test_synthetic();
    test_bad_input();
    test_corpora();
    printf("  test_pseudo: %.1f s\n", now_s() - t0);
    return t5pt_exit();
}
