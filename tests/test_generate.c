// tests/test_generate.c - generation against transformers' generate() and bert4keras's beam search
// (tests/ref/ref_generate.py goldens), cached against uncached decoding, batched against alone, beam 1
// against greedy, scores against t5p_model_forward, sampling, argument errors.
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>

#include "golden.h"

// --- the golden model and sources

static golden G;
static int NSRC, START, END, MAXLEN;
static const int **SRC;
static int *SRCLEN;

// The golden's weights in a model of the given flavour (the same tensors serve both). NULL on failure.
static t5p_model *golden_model(int flavor) {
    int *cf = (int *)golden_get(&G, "config")->data;
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.vocab_size = cf[0], c.d_model = cf[1], c.d_ff = cf[2], c.num_heads = cf[3], c.d_kv = cf[4];
    c.num_layers = cf[5], c.num_decoder_layers = cf[6], c.num_buckets = cf[7], c.max_distance = cf[8];
    c.flavor = flavor;
    t5p_model *m = t5p_model_new(&c);
    if (!m) return NULL;
    int nt = t5p_param_tensors(&c, m->params, NULL);
    t5p_param_tensor *ts = (t5p_param_tensor *)malloc((size_t)nt * sizeof *ts);
    t5p_param_tensors(&c, m->params, ts);
    int missing = 0;
    for (int i = 0; i < nt; i++) {
        rec *r = golden_get(&G, ts[i].name);
        if (!r || r->count != (size_t)(ts[i].shape[0] * ts[i].shape[1])) {
            printf("  %s: missing or wrong size in the golden\n", ts[i].name);
            missing++;
            continue;
        }
        memcpy(ts[i].data, r->data, r->count * sizeof(float));
    }
    free(ts);
    if (missing) {
        t5p_model_free(m);
        return NULL;
    }
    return m;
}

typedef struct {
    int *ids;     // (NSRC, MAXLEN)
    int *lens;    // (NSRC)
    double *scores;
} outputs;

static outputs out_new(void) {
    outputs o = {(int *)calloc((size_t)NSRC * MAXLEN, sizeof(int)), (int *)calloc(NSRC, sizeof(int)),
                 (double *)calloc(NSRC, sizeof(double))};
    return o;
}
static void out_free(outputs *o) { free(o->ids), free(o->lens), free(o->scores); }

static t5p_gen_config gen_config(int mode, int beam, float lp, int es) {
    t5p_gen_config g;
    t5p_gen_config_init(&g);
    g.mode = mode, g.beam = beam, g.length_penalty = lp, g.early_stopping = es;
    g.max_len = MAXLEN, g.start_id = START, g.end_id = END;
    return g;
}

static int run_batch(const t5p_model *m, const t5p_gen_config *g, outputs *o) {
    int rc = t5p_generate_batch(m, SRC, SRCLEN, NSRC, g, o->ids, MAXLEN, o->lens, o->scores);
    if (rc < 0) printf("  generate: %s\n", t5p_last_error());
    return rc;
}

// Sources whose outputs differ (printing the first few); *diff_at the first one.
static int count_diff(const outputs *a, const outputs *b, const char *what) {
    int bad = 0;
    for (int i = 0; i < NSRC; i++) {
        int same = a->lens[i] == b->lens[i] && !memcmp(a->ids + (size_t)i * MAXLEN, b->ids + (size_t)i * MAXLEN,
                                                      (size_t)a->lens[i] * sizeof(int));
        if (!same && bad++ < 3) {
            printf("  %s source %d:", what, i);
            for (int k = 0; k < a->lens[i]; k++) printf(" %d", a->ids[(size_t)i * MAXLEN + k]);
            printf("  vs");
            for (int k = 0; k < b->lens[i]; k++) printf(" %d", b->ids[(size_t)i * MAXLEN + k]);
            printf("\n");
        }
    }
    return bad;
}

// --- bars (a) and (b): every golden case, batched, alone, cached and uncached

static void test_case(const rec *cs, t5p_model *models[2]) {
    const char *name = cs->name + 5;  // after "case."
    const float *p = (const float *)cs->data;
    const int flavor = (int)p[0], sem = (int)p[1], beam = (int)p[2], es = (int)p[4];
    const float lp = p[3];
    const int mode = sem == 0 ? T5P_GEN_GREEDY : sem == 1 ? T5P_GEN_BEAM_ORIGINAL : T5P_GEN_BEAM_HF;
    char key[160], tn[200];
    snprintf(key, sizeof key, "out.%s.offsets", name);
    rec *offs = golden_get(&G, key);
    snprintf(key, sizeof key, "out.%s.ids", name);
    rec *ids = golden_get(&G, key);
    snprintf(key, sizeof key, "score.%s", name);
    rec *sc = golden_get(&G, key);
    snprintf(tn, sizeof tn, "%s (%s, %s, beam %d)", name, t5p_flavor_name(flavor), t5p_gen_mode_name(mode), beam);
    if (!offs || !ids || !sc || offs->count != (size_t)NSRC + 1) {
        t5pt_fail(tn, "golden records missing");
        return;
    }
    const t5p_model *m = models[flavor];
    t5p_gen_config g = gen_config(mode, beam, lp, es);
    outputs ob = out_new(), ou = out_new(), o1 = out_new();
    if (run_batch(m, &g, &ob) < 0) {
        t5pt_fail(tn, "batched generate failed");
        return;
    }
    // the golden
    outputs want = out_new();
    const int *off = (const int *)offs->data;
    int ended = 0;
    for (int i = 0; i < NSRC; i++) {
        want.lens[i] = off[i + 1] - off[i];
        memcpy(want.ids + (size_t)i * MAXLEN, (const int *)ids->data + off[i], (size_t)want.lens[i] * sizeof(int));
        ended += want.lens[i] > 0 && want.ids[(size_t)i * MAXLEN + want.lens[i] - 1] == END;
    }
    int bad = count_diff(&ob, &want, "batched vs golden");
    double serr = 0;  // scores against the peer (float32 rounding apart)
    for (int i = 0; i < NSRC; i++)
        if (sem != 0) serr = fmax(serr, fabs(ob.scores[i] - ((const float *)sc->data)[i]) / fmax(1, fabs(ob.scores[i])));
    // alone: one source at a time (every third source)
    int nalone = 0;
    for (int i = 0; i < NSRC; i++) {
        if (i % 3) {
            memcpy(o1.ids + (size_t)i * MAXLEN, ob.ids + (size_t)i * MAXLEN, sizeof(int) * MAXLEN);
            o1.lens[i] = ob.lens[i];
            continue;
        }
        int n = t5p_generate(m, SRC[i], SRCLEN[i], &g, o1.ids + (size_t)i * MAXLEN, MAXLEN);
        o1.lens[i] = n < 0 ? -1 : n;
        nalone++;
    }
    int bad1 = count_diff(&o1, &ob, "alone vs batched");
    // uncached (every other source): the decoder over the whole prefix each step; the same ids and bitwise
    // the same scores
    g.use_cache = 0;
    const int nu = (NSRC + 1) / 2;
    const int **usrc = (const int **)malloc(sizeof(int *) * nu);
    int *ulen = (int *)malloc(sizeof(int) * nu), badu = 0, sdiff = 0;
    for (int i = 0; i < nu; i++) usrc[i] = SRC[2 * i], ulen[i] = SRCLEN[2 * i];
    if (t5p_generate_batch(m, usrc, ulen, nu, &g, ou.ids, MAXLEN, ou.lens, ou.scores) < 0) {
        printf("  uncached: %s\n", t5p_last_error());
        badu = nu;
    }
    for (int i = 0; i < nu && !badu; i++) {
        const int *a = ou.ids + (size_t)i * MAXLEN, *b = ob.ids + (size_t)2 * i * MAXLEN;
        if (ou.lens[i] != ob.lens[2 * i] || memcmp(a, b, sizeof(int) * (size_t)ou.lens[i])) {
            if (badu++ < 3) printf("  uncached vs cached differ on source %d\n", 2 * i);
        }
        sdiff += ou.scores[i] != ob.scores[2 * i];
    }
    free(usrc), free(ulen);
    printf("  %s: %d/%d identical to the peer (%d ended), alone %d/%d, uncached %d/%d (scores bitwise %d/%d), "
           "score err %.1e\n",
           name, NSRC - bad, NSRC, ended, nalone - bad1, nalone, nu - badu, nu, nu - sdiff, nu, serr);
    const double stol = sem == 1 ? 1e-6 : 2e-5;  // double sums of float32 terms; float32 sums
    if (bad || bad1 || badu || sdiff || serr > stol)
        t5pt_fail(tn, "%d differ from the peer, %d alone, %d uncached, %d scores uncached, score err %.2g", bad, bad1,
                  badu, sdiff, serr);
    else
        t5pt_pass(tn);
    out_free(&ob), out_free(&ou), out_free(&o1), out_free(&want);
}

// --- beam 1 equals greedy

static void test_beam1(t5p_model *models[2]) {
    for (int f = 0; f < 2; f++) {
        outputs og = out_new(), oo = out_new(), oh = out_new();
        t5p_gen_config g = gen_config(T5P_GEN_GREEDY, 1, 1, 0);
        run_batch(models[f], &g, &og);
        g.mode = T5P_GEN_BEAM_ORIGINAL;
        run_batch(models[f], &g, &oo);
        g.mode = T5P_GEN_BEAM_HF;
        run_batch(models[f], &g, &oh);
        int bo = count_diff(&oo, &og, "original beam 1 vs greedy"), bh = count_diff(&oh, &og, "hf beam 1 vs greedy");
        char tn[96];
        snprintf(tn, sizeof tn, "beam 1 equals greedy (%s)", t5p_flavor_name(f));
        printf("  %s: original %d/%d, hf %d/%d identical\n", tn, NSRC - bo, NSRC, NSRC - bh, NSRC);
        if (bo || bh) t5pt_fail(tn, "%d and %d differ", bo, bh);
        else t5pt_pass(tn);
        out_free(&og), out_free(&oo), out_free(&oh);
    }
}

// --- greedy scores against the model's own forward (teacher forcing the generated ids)

static void test_against_forward(t5p_model *models[2]) {
    for (int f = 0; f < 2; f++) {
        t5p_model *m = models[f];
        outputs o = out_new();
        t5p_gen_config g = gen_config(T5P_GEN_GREEDY, 1, 1, 0);
        run_batch(m, &g, &o);
        double maxerr = 0;
        int argbad = 0;
        for (int i = 0; i < NSRC; i += 3) {
            int T = o.lens[i] + 1, *tgt = (int *)malloc((size_t)T * sizeof(int));
            tgt[0] = START;
            memcpy(tgt + 1, o.ids + (size_t)i * MAXLEN, (size_t)o.lens[i] * sizeof(int));
            if (T < 2 || t5p_model_forward(m, SRC[i], tgt, 1, SRCLEN[i], T, 0) < 0) {
                free(tgt);
                continue;
            }
            const float *lg = t5p_model_logits(m);
            const int V = m->cfg.vocab_size;
            double sum = 0;
            for (int s = 0; s + 1 < T; s++) {
                const float *x = lg + (size_t)s * V;
                double mx = x[0], z = 0;
                int arg = 0;
                for (int j = 1; j < V; j++)
                    if (x[j] > mx) mx = x[j], arg = j;
                for (int j = 0; j < V; j++) z += exp(x[j] - mx);
                sum += x[tgt[s + 1]] - mx - log(z);
                argbad += arg != tgt[s + 1];
            }
            maxerr = fmax(maxerr, fabs(sum - o.scores[i]) / fmax(1, fabs(sum)));
            free(tgt);
        }
        char tn[96];
        snprintf(tn, sizeof tn, "greedy against t5p_model_forward (%s)", t5p_flavor_name(f));
        printf("  %s: score err %.2g, %d argmax disagreements\n", tn, maxerr, argbad);
        if (maxerr > 1e-5 || argbad) t5pt_fail(tn, "score err %.2g, %d argmax disagreements", maxerr, argbad);
        else t5pt_pass(tn);
        out_free(&o);
    }
}

// --- sampling

static void test_sample(t5p_model *m) {
    outputs og = out_new(), a = out_new(), b = out_new(), c = out_new(), one = out_new();
    t5p_gen_config g = gen_config(T5P_GEN_GREEDY, 1, 1, 0);
    run_batch(m, &g, &og);
    g.mode = T5P_GEN_SAMPLE, g.seed = 42;
    run_batch(m, &g, &a);
    run_batch(m, &g, &b);
    int same = count_diff(&a, &b, "sample seed 42 twice");
    for (int i = 0; i < NSRC; i++) one.lens[i] = t5p_generate(m, SRC[i], SRCLEN[i], &g, one.ids + (size_t)i * MAXLEN, MAXLEN);
    int alone = count_diff(&one, &a, "sample alone vs batched");
    g.seed = 43;
    run_batch(m, &g, &c);
    int differ = 0;
    for (int i = 0; i < NSRC; i++)
        differ += a.lens[i] != c.lens[i] ||
                  memcmp(a.ids + (size_t)i * MAXLEN, c.ids + (size_t)i * MAXLEN, (size_t)a.lens[i] * sizeof(int));
    int notgreedy = 0;
    for (int i = 0; i < NSRC; i++)
        notgreedy += a.lens[i] != og.lens[i] ||
                     memcmp(a.ids + (size_t)i * MAXLEN, og.ids + (size_t)i * MAXLEN, (size_t)a.lens[i] * sizeof(int));
    g.top_k = 1;
    run_batch(m, &g, &b);
    int k1 = count_diff(&b, &og, "top_k 1 vs greedy");
    g.top_k = 0, g.top_p = 1e-6f, g.temperature = 0.7f;
    run_batch(m, &g, &b);
    int p0 = count_diff(&b, &og, "top_p 1e-6 vs greedy");
    // top_k 3: every sampled id is among the 3 largest logits of its step (checked through the forward)
    g.top_p = 1, g.top_k = 3, g.temperature = 1.5f, g.seed = 7;
    run_batch(m, &g, &b);
    int outside = 0;
    for (int i = 0; i < NSRC; i += 4) {
        int T = b.lens[i] + 1, *tgt = (int *)malloc((size_t)T * sizeof(int));
        tgt[0] = START;
        memcpy(tgt + 1, b.ids + (size_t)i * MAXLEN, (size_t)b.lens[i] * sizeof(int));
        t5p_model_forward(m, SRC[i], tgt, 1, SRCLEN[i], T, 0);
        const float *lg = t5p_model_logits(m);
        for (int s = 0; s + 1 < T; s++) {
            const float *x = lg + (size_t)s * m->cfg.vocab_size;
            int above = 0;
            for (int j = 0; j < m->cfg.vocab_size; j++) above += x[j] > x[tgt[s + 1]] + 1e-4f;
            outside += above >= 3;
        }
        free(tgt);
    }
    printf("  sample: seed repeat %d/%d same, alone %d/%d, seed 43 differs on %d, differs from greedy on %d, "
           "top_k 1 %d/%d greedy, top_p 1e-6 %d/%d greedy, top_k 3 outside %d\n",
           NSRC - same, NSRC, NSRC - alone, NSRC, differ, notgreedy, NSRC - k1, NSRC, NSRC - p0, NSRC, outside);
    if (same || alone || differ < NSRC / 4 || notgreedy < NSRC / 4 || k1 || p0 || outside)
        t5pt_fail("sampling", "see above");
    else
        t5pt_pass("sampling");
    out_free(&og), out_free(&a), out_free(&b), out_free(&c), out_free(&one);
}

// --- long sources and wide heads: the attention's blocks of T5P__KC (256) keys and head dimensions

static void test_blocks(void) {
    int bad = 0, total = 0;
#ifdef _OPENMP
    const int nth = omp_get_max_threads();
    omp_set_num_threads(1);  // many small parallel regions: slow on a busy machine; threads are tested above
#endif
    for (int f = 0; f < 2; f++) {
        t5p_config c;
        t5p_config_preset(&c, "tiny");
        c.vocab_size = 64, c.d_model = 32, c.d_ff = 40, c.num_heads = 2, c.d_kv = 264, c.flavor = f;  // d_kv > 256
        t5p_model *m = t5p_model_new(&c);
        t5p_params_init(&c, m->params, 11);
        enum { N = 4 };
        int lens[N] = {300, 257, 256, 40}, *src[N];
        uint64_t r = 99;
        for (int i = 0; i < N; i++) {
            src[i] = (int *)malloc(sizeof(int) * lens[i]);
            for (int j = 0; j < lens[i]; j++) r = r * 6364136223846793005ull + 1, src[i][j] = 1 + (int)((r >> 33) % 63);
            if (i == 1) src[i][100] = 0;  // a masked pad id inside
        }
        const int modes[3] = {T5P_GEN_GREEDY, T5P_GEN_BEAM_ORIGINAL, T5P_GEN_BEAM_HF};
        for (int k = 0; k < 3; k++) {
            t5p_gen_config g;
            t5p_gen_config_init(&g);
            g.mode = modes[k], g.beam = k ? 3 : 1, g.max_len = 9, g.start_id = 1, g.end_id = 2;
            int oa[N * 9], ob[N * 9], la[N], lb[N];
            double sa[N], sb[N];
            t5p_generate_batch(m, (const int *const *)src, lens, N, &g, oa, 9, la, sa);
            g.use_cache = 0;
            t5p_generate_batch(m, (const int *const *)src, lens, N, &g, ob, 9, lb, sb);
            for (int i = 0; i < N; i++, total++)
                if (la[i] != lb[i] || memcmp(oa + 9 * i, ob + 9 * i, sizeof(int) * la[i]) || sa[i] != sb[i]) {
                    if (bad++ < 3) printf("  %s %s source %d: cached and uncached differ\n", t5p_flavor_name(f),
                                          t5p_gen_mode_name(modes[k]), i);
                }
        }
        for (int i = 0; i < N; i++) free(src[i]);
        t5p_model_free(m);
    }
#ifdef _OPENMP
    omp_set_num_threads(nth);
#endif
    printf("  sources of 256..300 ids, d_kv 264: cached = uncached (ids and scores bitwise) %d/%d\n", total - bad, total);
    if (bad) t5pt_fail("long sources, wide heads", "%d of %d differ", bad, total);
    else t5pt_pass("long sources, wide heads");
}

// --- one thread against all: bitwise the same scores

static void test_threads(t5p_model *m) {
#ifdef _OPENMP
    outputs a = out_new(), b = out_new();
    t5p_gen_config g = gen_config(T5P_GEN_BEAM_ORIGINAL, 3, 1, 0);
    const int nth = omp_get_max_threads();
    omp_set_num_threads(nth > 1 ? nth : 2);
    run_batch(m, &g, &a);
    omp_set_num_threads(1);
    run_batch(m, &g, &b);
    omp_set_num_threads(nth);
    int ids = count_diff(&a, &b, "threads"), sc = 0;
    for (int i = 0; i < NSRC; i++) sc += a.scores[i] != b.scores[i];
    printf("  threads: %d/%d same ids, %d/%d bitwise same scores with %d threads and with 1\n", NSRC - ids, NSRC,
           NSRC - sc, NSRC, nth > 1 ? nth : 2);
    if (ids || sc) t5pt_fail("thread count", "%d ids, %d scores differ", ids, sc);
    else t5pt_pass("thread count");
    out_free(&a), out_free(&b);
#else
    (void)m;
    t5pt_skip("thread count", "built without OpenMP");
#endif
}

// --- arguments, truncation

static void test_args(t5p_model *m) {
    t5p_gen_config g = gen_config(T5P_GEN_BEAM_ORIGINAL, 3, 1, 0);
    int out[64], bad = 0, full = t5p_generate(m, SRC[20], SRCLEN[20], &g, out, 64);
    int small[4] = {-7, -7, -7, -7};
    int n = t5p_generate(m, SRC[20], SRCLEN[20], &g, small, 2);  // like snprintf: full length, 2 written
    if (n != full || small[0] != out[0] || small[1] != out[1] || small[2] != -7) bad++, printf("  truncation\n");
    t5p_gen_config e = g;
    e.beam = 0;
    bad += t5p_generate(m, SRC[0], SRCLEN[0], &e, out, 64) != T5P_ERR_ARG;
    e = g, e.end_id = m->cfg.vocab_size;
    bad += t5p_generate(m, SRC[0], SRCLEN[0], &e, out, 64) != T5P_ERR_ARG;
    e = g, e.mode = T5P_GEN_BEAM_HF, e.beam = m->cfg.vocab_size;
    bad += t5p_generate(m, SRC[0], SRCLEN[0], &e, out, 64) != T5P_ERR_ARG;
    e = g, e.mode = T5P_GEN_SAMPLE, e.top_p = 0;
    bad += t5p_generate(m, SRC[0], SRCLEN[0], &e, out, 64) != T5P_ERR_ARG;
    int badsrc[2] = {5, m->cfg.vocab_size};
    bad += t5p_generate(m, badsrc, 2, &g, out, 64) != T5P_ERR_ARG;
    bad += t5p_generate(m, badsrc, 0, &g, out, 64) != T5P_ERR_ARG;
    bad += t5p_gen_mode_parse("original") != T5P_GEN_BEAM_ORIGINAL || t5p_gen_mode_parse("hf") != T5P_GEN_BEAM_HF ||
           t5p_gen_mode_parse("nope") != T5P_ERR_ARG;
    // a source made only of pad ids: every cross-attention row is uniform, as in t5p_model_forward
    int pads[3] = {0, 0, 0};
    g.use_cache = 1;
    int a = t5p_generate(m, pads, 3, &g, out, 64);
    int out2[64];
    g.use_cache = 0;
    int b2 = t5p_generate(m, pads, 3, &g, out2, 64);
    if (a < 0 || a != b2 || memcmp(out, out2, (size_t)a * sizeof(int))) bad++, printf("  all-pad source\n");
    if (bad) t5pt_fail("arguments and truncation", "%d checks failed", bad);
    else t5pt_pass("arguments and truncation");
}

// --- the row products against t5p_linear_forward, and bitwise the same whatever the row count

static void test_rows_linear(void) {
    const int N = 7, I = 83, O = 29;  // a tail of 3 lanes
    float *x = malloc(sizeof(float) * N * I), *w = malloc(sizeof(float) * O * I);
    float *y = malloc(sizeof(float) * N * O), *y1 = malloc(sizeof(float) * O), *ref = malloc(sizeof(float) * N * O);
    uint64_t s = 1;
    for (int i = 0; i < N * I; i++) s = s * 6364136223846793005ull + 1, x[i] = (float)((s >> 33) % 2001) / 1000 - 1;
    for (int i = 0; i < O * I; i++) s = s * 6364136223846793005ull + 1, w[i] = (float)((s >> 33) % 2001) / 1000 - 1;
    t5p__rows_linear(y, x, w, N, I, O);
    t5p_linear_forward(ref, x, w, N, I, O);
    double err = 0;
    int diff = 0;
    for (int i = 0; i < N * O; i++) err = fmax(err, fabs(y[i] - ref[i]));
    for (int n = 0; n < N; n++) {
        t5p__rows_linear(y1, x + (size_t)n * I, w, 1, I, O);
        diff += memcmp(y1, y + (size_t)n * O, sizeof(float) * O) != 0;
    }
    printf("  rows_linear: max |err| %.2g vs t5p_linear_forward, %d rows differ alone\n", err, diff);
    if (err > 1e-4 || diff) t5pt_fail("rows_linear", "err %.2g, %d rows differ", err, diff);
    else t5pt_pass("rows_linear");
    free(x), free(w), free(y), free(y1), free(ref);
}

int main(void) {
    const char *path = t5pt_path("tests/golden/generate.bin");
    if (golden_load(&G, path) < 0) {
        t5pt_fail("golden", "cannot read %s", path);
        return t5pt_exit();
    }
    int *gen = (int *)golden_get(&G, "gen")->data;
    START = gen[0], END = gen[1], MAXLEN = gen[2];
    rec *so = golden_get(&G, "src.offsets"), *si = golden_get(&G, "src.ids");
    NSRC = (int)so->count - 1;
    SRC = (const int **)malloc(sizeof(int *) * NSRC);
    SRCLEN = (int *)malloc(sizeof(int) * NSRC);
    for (int i = 0; i < NSRC; i++) {
        const int *o = (const int *)so->data;
        SRC[i] = (const int *)si->data + o[i], SRCLEN[i] = o[i + 1] - o[i];
    }
    t5p_model *models[2] = {golden_model(T5P_PEGASUS), golden_model(T5P_HF_MT5)};
    if (!models[0] || !models[1]) {
        t5pt_fail("golden model", "%s", t5p_last_error());
        return t5pt_exit();
    }
    test_rows_linear();
    for (int i = 0; i < G.n; i++)
        if (!strncmp(G.r[i].name, "case.", 5)) test_case(&G.r[i], models);
    test_beam1(models);
    test_against_forward(models);
    test_sample(models[1]);
    test_threads(models[0]);
    test_blocks();
    test_args(models[0]);
    t5p_model_free(models[0]);
    t5p_model_free(models[1]);
    free(SRC), free(SRCLEN);
    golden_free(&G);
    return t5pt_exit();
}
