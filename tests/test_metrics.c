// tests/test_metrics.c - ROUGE-1/2/L F and BLEU against the rouge (1.0.0, 1.0.1) and nltk packages.
// Goldens: tests/golden/metrics_synthetic.tsv (synthetic pairs, texts in full) and
// tests/golden/metrics_csl.tsv (pairs derived from ../shared/data CSL titles; skipped without it),
// both written by tests/ref/ref_metrics.py. Every score must be within 1e-9 of Python's; the test
// also reports how many are bit-identical.
#define _POSIX_C_SOURCE 200809L
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>
#include <time.h>

#define TOL 1e-9

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Per metric (r1, r2, rl, bleu) and version: compared, within TOL, bit-identical, worst error.
typedef struct {
    long n[2][4], ok[2][4], bits[2][4];
    double maxerr[2][4];
    int shown;
} tally;

static const char *metric_name[4] = {"rouge-1", "rouge-2", "rouge-l", "bleu"};
static const char *version_name[2] = {"1.0.0", "1.0.1"};

static void check(tally *t, int v, int k, double got, double want, const char *where) {
    double err = fabs(got - want);
    t->n[v][k]++;
    if (err <= TOL) t->ok[v][k]++;
    if (memcmp(&got, &want, sizeof got) == 0) t->bits[v][k]++;
    if (err > t->maxerr[v][k]) t->maxerr[v][k] = err;
    if (err > TOL && t->shown++ < 8)
        printf("  mismatch %s rouge %s %s: got %.17g want %.17g\n", where, version_name[v], metric_name[k], got, want);
}

// ROUGE needs only +, *, / on exact counts: bit-identical on any IEEE double platform. BLEU also
// goes through the C library's log and exp; glibc gives Python's bits, another libm may differ
// in a last place now and then, so fewer than 99% identical BLEU values fail the check.
static long bits_total[2], bits_same[2];
static void bits_note(const tally *t) {
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 4; k++) bits_total[k == 3] += t->n[v][k], bits_same[k == 3] += t->bits[v][k];
}

static int report(const tally *t, const char *name) {
    bits_note(t);
    int bad = 0;
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 4; k++) {
            printf("  %s rouge %s %-7s: %ld/%ld within 1e-9, %ld/%ld bit-identical, max |diff| %.3g\n", name,
                   version_name[v], metric_name[k], t->ok[v][k], t->n[v][k], t->bits[v][k], t->n[v][k],
                   t->maxerr[v][k]);
            if (t->ok[v][k] != t->n[v][k] || t->n[v][k] == 0) bad = 1;
        }
    return bad;
}

// Undoes ref_metrics.py's esc(): \\ \t \n \r \xHH \uHHHH.
static char *unescape(const char *s, long *len) {
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1);
    long k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') { o[k++] = s[i]; continue; }
        char c = s[++i];
        if (c == 't') o[k++] = '\t';
        else if (c == 'n') o[k++] = '\n';
        else if (c == 'r') o[k++] = '\r';
        else if (c == '\\') o[k++] = '\\';
        else if (c == 'x' || c == 'u') {
            int w = c == 'x' ? 2 : 4;
            char hex[5] = {0};
            memcpy(hex, s + i + 1, (size_t)w);
            k += t5p_utf8_put(o + k, (uint32_t)strtoul(hex, NULL, 16));
            i += (size_t)w;
        }
    }
    o[k] = 0;
    *len = k;
    return o;
}

// Splits a line on tabs in place; returns the number of fields.
static int split_tabs(char *line, char **f, int max) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') { *p = 0; f[n++] = p + 1; }
    return n;
}

// Every golden number is Python's repr(): t5p_repr_double must print the same text.
static long repr_checked, repr_bad;
static double golden(const char *s) {
    double x = strtod(s, NULL);
    char buf[64];
    t5p_repr_double(buf, sizeof buf, x);
    repr_checked++;
    if (strcmp(buf, s) != 0 && repr_bad++ < 5) printf("  repr: got %s want %s\n", buf, s);
    return x;
}

static void test_synthetic(void) {
    const char *path = t5pt_path("tests/golden/metrics_synthetic.tsv");
    FILE *f = fopen(path, "rb");
    if (!f) { t5pt_fail("metrics_synthetic", "cannot open %s", path); return; }
    t5p_lines lr;
    t5p_lines_init(&lr, f);
    tally tf = {0}, tr = {0};
    long nf = 0, nr = 0, status_bad = 0, nempty = 0, nraise = 0;
    double mean_want[2][4] = {{0}}, t_score = 0;
    int have_mean = 0;
    t5p_metrics acc[2];
    t5p_metrics_init(&acc[0], T5P_ROUGE_1_0_0);
    t5p_metrics_init(&acc[1], T5P_ROUGE_1_0_1);
    while (t5p_lines_next(&lr) >= 0) {
        if (lr.buf[0] == '#' || lr.buf[0] == 0) continue;
        char *fld[16];
        int nfld = split_tabs(lr.buf, fld, 16);
        if (nfld != 13) { t5pt_fail("metrics_synthetic", "line %ld: %d fields", lr.lineno, nfld); break; }
        double want[2][4];
        for (int v = 0; v < 2; v++)
            for (int k = 0; k < 4; k++) want[v][k] = golden(fld[5 + 4 * v + k]);
        if (strcmp(fld[0], "mean") == 0) { memcpy(mean_want, want, sizeof want); have_mean = 1; continue; }
        long np, nt;
        char *pred = unescape(fld[3], &np), *ref = unescape(fld[4], &nt);
        const char *status = fld[2];
        char where[64];
        snprintf(where, sizeof where, "line %ld (%s %s)", lr.lineno, fld[0], fld[1]);
        int raise = strncmp(status, "raise", 5) == 0;
        if (strcmp(fld[0], "F") == 0) {
            nf++;
            nempty += strcmp(status, "empty") == 0;
            nraise += raise;
            for (int v = 0; v < 2; v++) {
                t5p_scores s, s2;
                double t0 = now_s();
                int rc = t5p_metrics_score(pred, np, ref, nt, v, &s);
                t_score += now_s() - t0;
                int want_rc = raise ? T5P_ERR_ARG : strcmp(status, "empty") == 0 ? 1 : 0;
                if (rc != want_rc) {
                    if (status_bad++ < 5) printf("  %s: returned %d, want %d (%s)\n", where, rc, want_rc, status);
                    continue;
                }
                if (raise) continue;  // finetune.py stops here; the mean leaves these pairs out
                int rc2 = t5p_metrics_add(&acc[v], pred, np, ref, nt, &s2);
                if (rc2 != rc || memcmp(&s, &s2, sizeof s) != 0) status_bad++;
                double got[4] = {s.rouge1, s.rouge2, s.rougel, s.bleu};
                for (int k = 0; k < 4; k++) check(&tf, v, k, got[k], want[v][k], where);
            }
        } else {
            nr++;
            double b;
            if (t5p_bleu(pred, np, ref, nt, &b) != 0) status_bad++;
            for (int v = 0; v < 2; v++) {
                double r[3];
                int rc = t5p_rouge(pred, np, ref, nt, v, r);
                if (rc != (raise ? T5P_ERR_ARG : 0)) {
                    if (status_bad++ < 5) printf("  %s: t5p_rouge returned %d (%s)\n", where, rc, status);
                    continue;
                }
                if (raise) {
                    const char *msg = strstr(status, "hyp") ? "Hypothesis is empty" : "Reference is empty";
                    if (!strstr(t5p_last_error(), msg)) status_bad++;
                } else {
                    for (int k = 0; k < 3; k++) check(&tr, v, k, r[k], want[v][k], where);
                }
                check(&tr, v, 3, b, want[v][3], where);
            }
        }
        free(pred);
        free(ref);
    }
    t5p_lines_free(&lr);
    fclose(f);

    printf("  finetune level: %ld pairs (%ld empty predictions, %ld where rouge raises); package level: %ld pairs\n",
           nf, nempty, nraise, nr);
    int bad = report(&tf, "finetune") | report(&tr, "package ");
    if (nf < 2000 || nempty == 0 || nraise == 0 || status_bad)
        t5pt_fail("metrics_synthetic", "%ld finetune pairs, %ld wrong return codes", nf, status_bad);
    else if (bad)
        t5pt_fail("metrics_synthetic", "scores differ from the packages by more than 1e-9");
    else
        t5pt_pass("metrics_synthetic");
    printf("  speed: %.0f pairs/s scored at the finetune level (both versions, %.3f s for %ld pairs)\n",
           2.0 * (nf - nraise) / (t_score > 0 ? t_score : 1e-9), t_score, 2 * nf);

    // corpus means as finetune.py's evaluate() accumulated them
    tally tm = {0};
    for (int v = 0; v < 2; v++) {
        t5p_scores m = t5p_metrics_mean(&acc[v]);
        double got[4] = {m.rouge1, m.rouge2, m.rougel, m.bleu};
        for (int k = 0; k < 4; k++) check(&tm, v, k, got[k], mean_want[v][k], "mean");
    }
    int mean_bits = 1;
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 4; k++) mean_bits &= tm.bits[v][k] == 1;
    if (!have_mean || tm.shown || acc[0].count != nf - nraise || acc[0].empty != nempty)
        t5pt_fail("metrics_mean", "corpus means differ (count %ld, empty %ld)", acc[0].count, acc[0].empty);
    else
        t5pt_pass("metrics_mean");
    printf("  corpus means: 8/8 within 1e-9, %s\n", mean_bits ? "8/8 bit-identical" : "not all bit-identical");
}

// Python's l.strip().split('\t') on one CSL record.
static int csl_fields(char *line, char **title, char **content) {
    size_t n = strlen(line), a = 0, b = n;
    while (1) {  // strip leading whitespace
        size_t i = a;
        if (i >= b) break;
        int32_t c = t5p_utf8_next(line, b, &i);
        if (!t5p_is_space(c)) break;
        a = i;
    }
    while (b > a) {  // strip trailing whitespace (step back over one UTF-8 sequence)
        size_t s = b - 1;
        while (s > a && ((unsigned char)line[s] & 0xC0) == 0x80) s--;
        size_t i = s;
        int32_t c = t5p_utf8_next(line, b, &i);
        if (!t5p_is_space(c)) break;
        b = s;
    }
    line[b] = 0;
    char *t = line + a, *tab = strchr(t, '\t');
    if (!tab || strchr(tab + 1, '\t')) return -1;
    *tab = 0;
    *title = t;
    *content = tab + 1;
    return 0;
}

static long cp_count(const char *s) {
    size_t n = strlen(s), i = 0;
    long k = 0;
    while (i < n) t5p_utf8_next(s, n, &i), k++;
    return k;
}

// Byte length of the first k code points of s.
static long cp_prefix(const char *s, long k) {
    size_t n = strlen(s), i = 0;
    for (long j = 0; j < k && i < n; j++) t5p_utf8_next(s, n, &i);
    return (long)i;
}

static void test_csl(void) {
    const char *src = t5pt_shared("csl/clge_csl/val.tsv");
    if (!src) { t5pt_skip("metrics_csl", "../shared/data/csl/clge_csl/val.tsv absent"); return; }
    size_t len;
    char *raw = t5p_read_file(src, &len);
    FILE *f = fopen(t5pt_path("tests/golden/metrics_csl.tsv"), "rb");
    if (!raw || !f) { t5pt_fail("metrics_csl", "cannot read %s or the golden", src); return; }
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)raw[i]) * 0x100000001b3ull;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);

    // records: raw.decode().split("\n"), lines with l.strip() kept
    char **title = NULL, **content = NULL;
    long nrec = 0;
    for (char *p = raw, *e; p < raw + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(raw + len - p));
        if (!e) e = raw + len;
        *e = 0;
        char *t, *c;
        int blank = 1;
        for (size_t i = 0, n = strlen(p); i < n;) blank &= t5p_is_space(t5p_utf8_next(p, n, &i));
        if (blank) continue;
        if (csl_fields(p, &t, &c) != 0) { t5pt_fail("metrics_csl", "record %ld: not 2 fields", nrec); return; }
        title = realloc(title, (size_t)(nrec + 1) * sizeof *title);
        content = realloc(content, (size_t)(nrec + 1) * sizeof *content);
        title[nrec] = t, content[nrec] = c, nrec++;
    }

    t5p_lines lr;
    t5p_lines_init(&lr, f);
    tally t = {0};
    long npairs = 0, status_bad = 0, nmean = 0;
    int file_ok = 0;
    char *pred = malloc(len + 1);
    double mean_want[2][4];
    char kind[16] = "";
    t5p_metrics acc[2];
    tally tm = {0};
    while (1) {
        long got_line = t5p_lines_next(&lr);
        char *fld[16];
        int nfld = got_line >= 0 ? split_tabs(lr.buf, fld, 16) : 0;
        int is_mean = nfld == 13 && strcmp(fld[0], "mean") == 0;
        if ((got_line < 0 || is_mean) && kind[0]) {  // close the previous kind's mean
            for (int v = 0; v < 2; v++) {
                t5p_scores m = t5p_metrics_mean(&acc[v]);
                double got[4] = {m.rouge1, m.rouge2, m.rougel, m.bleu};
                for (int k = 0; k < 4; k++) check(&tm, v, k, got[k], mean_want[v][k], kind);
                if (v == 0)
                    printf("  CSL val, pred = %-5s: R-1 %.2f R-2 %.2f R-L %.2f BLEU %.2f (%%, rouge 1.0.0)\n", kind,
                           100 * m.rouge1, 100 * m.rouge2, 100 * m.rougel, 100 * m.bleu);
            }
            nmean++;
        }
        if (got_line < 0) break;
        if (lr.buf[0] == '#' || lr.buf[0] == 0) continue;
        if (strcmp(fld[0], "file") == 0 && nfld == 5) {
            file_ok = strtol(fld[2], NULL, 10) == (long)len && strcmp(fld[3], hex) == 0;
            if (!file_ok) break;
            continue;
        }
        if (nfld != 13) { t5pt_fail("metrics_csl", "golden line %ld: %d fields", lr.lineno, nfld); file_ok = -1; break; }
        double want[2][4];
        for (int v = 0; v < 2; v++)
            for (int k = 0; k < 4; k++) want[v][k] = golden(fld[5 + 4 * v + k]);
        if (is_mean) {
            snprintf(kind, sizeof kind, "%s", fld[1]);
            memcpy(mean_want, want, sizeof want);
            t5p_metrics_init(&acc[0], T5P_ROUGE_1_0_0);
            t5p_metrics_init(&acc[1], T5P_ROUGE_1_0_1);
            continue;
        }
        long i = strtol(fld[1], NULL, 10);
        if (i < 0 || i >= nrec) { status_bad++; continue; }
        const char *ref = title[i];
        if (strcmp(fld[0], "lead") == 0) {  // abstract[:len(title)]
            long nb = cp_prefix(content[i], cp_count(ref));
            memcpy(pred, content[i], (size_t)nb);
            pred[nb] = 0;
        } else if (strcmp(fld[0], "next") == 0) {
            strcpy(pred, title[(i + 1) % nrec]);
        } else {  // drop3: code points k % 3 == 2 removed
            size_t n = strlen(ref), j = 0, k = 0, o = 0;
            while (j < n) {
                size_t s = j;
                t5p_utf8_next(ref, n, &j);
                if (k++ % 3 != 2) memcpy(pred + o, ref + s, j - s), o += j - s;
            }
            pred[o] = 0;
        }
        char where[64];
        snprintf(where, sizeof where, "%s record %ld", fld[0], i);
        for (int v = 0; v < 2; v++) {
            t5p_scores s;
            int rc = t5p_metrics_add(&acc[v], pred, -1, ref, -1, &s);
            if (rc != (strcmp(fld[2], "empty") == 0 ? 1 : 0)) { status_bad++; continue; }
            double got[4] = {s.rouge1, s.rouge2, s.rougel, s.bleu};
            for (int k = 0; k < 4; k++) check(&t, v, k, got[k], want[v][k], where);
        }
        npairs++;
    }
    t5p_lines_free(&lr);
    fclose(f);
    free(pred);
    free(title);
    free(content);
    free(raw);
    if (file_ok < 0) return;
    if (!file_ok) { t5pt_skip("metrics_csl", "shared CSL val.tsv differs from the one the golden was made from"); return; }
    int bad = report(&t, "CSL     ");
    if (npairs < 3000 || status_bad || bad || tm.shown || nmean != 3)
        t5pt_fail("metrics_csl", "%ld pairs, %ld wrong return codes, means checked %ld", npairs, status_bad, nmean);
    else
        t5pt_pass("metrics_csl");
}

static void test_api(void) {
    t5p_scores s;
    // 'İ' lowercases to two code points that stay one token (values from Python)
    int rc = t5p_metrics_score("İ", -1, "i", -1, T5P_ROUGE_1_0_0, &s);
    int ok = rc == 0 && s.rouge1 == 0.0 && s.bleu == 0.0;
    rc = t5p_metrics_score("İ", -1, "i\xcc\x87", -1, T5P_ROUGE_1_0_0, &s);  // title "i̇": tokens 'i', U+0307
    ok &= rc == 0 && s.rouge1 == 0.0 && s.bleu == 0.0;
    rc = t5p_metrics_score("İ", -1, "İ", -1, T5P_ROUGE_1_0_0, &s);
    ok &= rc == 0 && s.rouge1 == 0.999999995 && s.bleu == 0.1778279410038923;
    rc = t5p_metrics_score("ABC", -1, "abc", -1, T5P_ROUGE_1_0_1, &s);
    ok &= rc == 0 && s.rouge1 == 0.999999995 && s.bleu == 0.5623413251903491;
    // empty prediction: scores 0, counted; pred "." or an empty title: rouge raises
    ok &= t5p_metrics_score(" \t", -1, "abc", -1, 0, &s) == 1 && s.rouge1 == 0 && s.bleu == 0;
    ok &= t5p_metrics_score(".", -1, "abc", -1, 0, &s) == T5P_ERR_ARG;
    ok &= strstr(t5p_last_error(), "Hypothesis is empty") != NULL;
    ok &= t5p_metrics_score("abc", -1, "", -1, 0, &s) == T5P_ERR_ARG;
    ok &= t5p_metrics_score("", -1, "", -1, 0, &s) == 1;
    ok &= t5p_metrics_score("a", -1, "a", -1, 7, &s) == T5P_ERR_ARG;
    t5p_metrics m;
    t5p_metrics_init(&m, T5P_ROUGE_1_0_0);
    ok &= t5p_metrics_add(&m, "ABC", -1, "abc", -1, NULL) == 0;
    ok &= t5p_metrics_add(&m, ".", -1, "abc", -1, NULL) == T5P_ERR_ARG && m.count == 1;
    m.zero_on_raise = 1;
    ok &= t5p_metrics_add(&m, ".", -1, "abc", -1, NULL) == T5P_ERR_ARG && m.count == 2 && m.raised == 1;
    ok &= t5p_metrics_add(&m, "", -1, "abc", -1, NULL) == 1 && m.count == 3 && m.empty == 1;
    t5p_scores mean = t5p_metrics_mean(&m);
    ok &= mean.rouge1 == 0.999999995 / 3 && mean.bleu == 0.5623413251903491 / 3;
    char buf[64];
    const struct { double x; const char *s; } reprs[] = {
        {0.0, "0.0"}, {1.0, "1.0"}, {0.5, "0.5"}, {1e-05, "1e-05"}, {0.0001, "0.0001"}, {1.5e-7, "1.5e-07"},
        {0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"}, {12345.0, "12345.0"}, {1e16, "1e+16"},
        {1e15, "1000000000000000.0"}, {123.456, "123.456"}, {2.0 / 3, "0.6666666666666666"}};
    for (size_t i = 0; i < sizeof reprs / sizeof *reprs; i++) {
        t5p_repr_double(buf, sizeof buf, reprs[i].x);
        if (strcmp(buf, reprs[i].s) != 0) { printf("  repr %s -> %s\n", reprs[i].s, buf); ok = 0; }
    }
    if (ok) t5pt_pass("metrics_api");
    else t5pt_fail("metrics_api", "edge cases (see above)");
}

int main(void) {
    test_api();
    test_synthetic();
    test_csl();
    if (bits_same[0] != bits_total[0] || bits_same[1] < 0.99 * bits_total[1] || bits_total[0] == 0)
        t5pt_fail("metrics_bitexact", "ROUGE %ld/%ld, BLEU %ld/%ld bit-identical to Python", bits_same[0], bits_total[0],
                  bits_same[1], bits_total[1]);
    else
        t5pt_pass("metrics_bitexact");
    printf("  bit-identical to Python: ROUGE %ld/%ld, BLEU %ld/%ld\n", bits_same[0], bits_total[0], bits_same[1],
           bits_total[1]);
    if (repr_bad) t5pt_fail("metrics_repr", "%ld/%ld golden numbers printed differently from Python's repr", repr_bad, repr_checked);
    else t5pt_pass("metrics_repr");
    printf("  repr: %ld/%ld golden numbers printed exactly as Python's repr()\n", repr_checked - repr_bad, repr_checked);
    return t5pt_exit();
}
