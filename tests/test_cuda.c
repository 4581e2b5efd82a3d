// tests/test_cuda.c - the CUDA backend against the CPU: every kernel against its C twin (t5p.h section 6)
// on fresh random inputs with the output poisoned (NaN) before the launch, forward and backward, per-op
// tolerances in float32 and bf16; the optimizers for 10 steps; a whole training step (dropout on) and
// 10 training steps of the model; greedy decoding and the beam-search building blocks (KV-cache
// reordering, top-k of log-probabilities) against the CPU model's full forward.
// Without a device (or without CUDA) it prints "SKIP cuda: no CUDA device" and passes.
// The random seed is printed; T5P_TEST_SEED=N repeats a run.
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>

#ifndef T5P_CUDA
int main(void) {
    t5pt_skip("cuda", "built without CUDA (nvcc not found), no CUDA device");
    return 0;
}
#else

// --- random inputs

static uint64_t rng_state;
static uint64_t rnd64(void) {  // splitmix64
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float unif(void) { return (float)((rnd64() >> 40) / 16777216.0) * 2.0f - 1.0f; }  // [-1, 1)
static int rndint(int n) { return (int)(rnd64() % (uint64_t)n); }
static float *rand_floats(size_t n, float scale) {
    float *x = (float *)malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = unif() * scale;
    return x;
}

// --- device buffers

#define OK(call)                                                                              \
    do {                                                                                      \
        int rc_ = (call);                                                                     \
        if (rc_ < 0) {                                                                        \
            printf("  %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, t5p_last_error()); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    OK(t5p_cuda_malloc(&p, bytes));
    return p;
}
static void *dev_copy(const void *h, size_t bytes) {
    void *p = dev_alloc(bytes);
    OK(t5p_cuda_upload(p, h, bytes));
    return p;
}
static float *dev_poisoned(size_t n) {  // 0xFF bytes: every float a NaN, so unwritten outputs show
    float *p = (float *)dev_alloc(sizeof(float) * (n ? n : 1));
    OK(t5p_cuda_memset(p, 0xFF, sizeof(float) * n));
    return p;
}
static float *host_of(const float *d, size_t n) {
    float *h = (float *)malloc(sizeof(float) * (n ? n : 1));
    OK(t5p_cuda_download(h, d, sizeof(float) * n));
    return h;
}
static float *fdup(const float *x, size_t n) {
    float *y = (float *)malloc(sizeof(float) * (n ? n : 1));
    memcpy(y, x, sizeof(float) * n);
    return y;
}

// |got - ref| <= rtol (max|ref| + |ref|) elementwise (rtol 0: bitwise); prints the first mismatches.
// Returns the number of bad elements; *maxerr gets the largest error relative to max|ref|.
static int compare(const char *what, const float *got, const float *ref, size_t n, double rtol, double *maxerr) {
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        int ok = rtol == 0 ? got[i] == ref[i] : e <= rtol * (mx + fabs(ref[i]));  // NaN never passes
        if (!ok) {
            if (bad++ < 5) printf("  %s[%zu]: got %.9g want %.9g (err %.3g)\n", what, i, got[i], ref[i], e);
        }
        if (!(e / (mx > 0 ? mx : 1) <= worst)) worst = e / (mx > 0 ? mx : 1);
    }
    if (maxerr && worst > *maxerr) *maxerr = worst;
    return bad;
}

// compares a device result with a host reference and frees the host copy
static int compare_dev(const char *what, const float *dgot, const float *ref, size_t n, double rtol, double *maxerr) {
    float *got = host_of(dgot, n);
    int bad = compare(what, got, ref, n, rtol, maxerr);
    free(got);
    return bad;
}

static void report(const char *name, int bad, double maxerr) {
    if (bad) t5pt_fail(name, "%d values out of tolerance (max error %.3g of max|ref|)", bad, maxerr);
    else {
        printf("  max error %.3g of max|ref|\n", maxerr);
        t5pt_pass(name);
    }
}

static const char *precname[] = {"fp32", "tf32", "bf16"};

// --- embedding

static void test_embedding(void) {
    const int N = 257, D = 72, V = 40;  // repeated ids
    int *ids = (int *)malloc(sizeof(int) * N);
    for (int i = 0; i < N; i++) ids[i] = rndint(V);
    float *table = rand_floats((size_t)V * D, 1), *dout = rand_floats((size_t)N * D, 1);
    float *dtab0 = rand_floats((size_t)V * D, 1);
    int *dids = (int *)dev_copy(ids, sizeof(int) * N);
    float *dtable = (float *)dev_copy(table, sizeof(float) * V * D), *dout_d = (float *)dev_copy(dout, sizeof(float) * N * D);
    float *out = dev_poisoned((size_t)N * D), *ref = (float *)malloc(sizeof(float) * N * D);
    double me = 0;
    OK(t5p_cuda_embedding_forward(out, dids, dtable, N, D));
    t5p_embedding_forward(ref, ids, table, N, D);
    int bad = compare_dev("out", out, ref, (size_t)N * D, 0, &me);
    report("cuda embedding forward (bitwise)", bad, me);
    float *dtab = (float *)dev_copy(dtab0, sizeof(float) * V * D);  // += onto random values
    OK(t5p_cuda_embedding_backward(dtab, dout_d, dids, N, D));
    t5p_embedding_backward(dtab0, dout, ids, N, D);
    me = 0;
    bad = compare_dev("dtable", dtab, dtab0, (size_t)V * D, 0, &me);
    report("cuda embedding backward (+=, bitwise: rows summed in the CPU's order)", bad, me);
    t5p_cuda_free(dids), t5p_cuda_free(dtable), t5p_cuda_free(dout_d), t5p_cuda_free(out), t5p_cuda_free(dtab);
    free(ids), free(table), free(dout), free(dtab0), free(ref);
}

// --- RMSNorm, plain and fused with the residual and dropout

static void test_rmsnorm(int N, int D) {
    char name[160];
    const float eps = 1e-6f, p = 0.1f;
    const uint64_t key = rnd64(), key2 = rnd64();
    float *x = rand_floats((size_t)N * D, 2), *sub = rand_floats((size_t)N * D, 1), *g = rand_floats(D, 1);
    float *dh = rand_floats((size_t)N * D, 1), *din0 = rand_floats((size_t)N * D, 1), *dg0 = rand_floats(D, 1);
    const size_t nd = (size_t)N * D;
    float *dx = (float *)dev_copy(x, 4 * nd), *dsub_in = (float *)dev_copy(sub, 4 * nd), *dgw = (float *)dev_copy(g, 4 * D);
    float *ddh = (float *)dev_copy(dh, 4 * nd);
    // plain forward
    float *out = dev_poisoned(nd), *rstd = dev_poisoned(N);
    float *rout = (float *)malloc(4 * nd), *rrstd = (float *)malloc(4 * N);
    OK(t5p_cuda_rmsnorm_forward(out, rstd, dx, dgw, N, D, eps));
    t5p_rmsnorm_forward(rout, rrstd, x, g, N, D, eps);
    double me = 0;
    int bad = compare_dev("out", out, rout, nd, 2e-6, &me) + compare_dev("rstd", rstd, rrstd, N, 2e-6, &me);
    snprintf(name, sizeof name, "cuda rmsnorm forward N=%d D=%d", N, D);
    report(name, bad, me);
    // plain backward: din += ..., dg += ...
    float *ddin = (float *)dev_copy(din0, 4 * nd), *ddg = (float *)dev_copy(dg0, 4 * D);
    float *rdin = fdup(din0, nd), *rdg = fdup(dg0, D);
    OK(t5p_cuda_rmsnorm_backward(ddin, ddg, ddh, dx, rstd, dgw, N, D));
    t5p_rmsnorm_backward(rdin, rdg, dh, x, rrstd, g, N, D);
    me = 0;
    bad = compare_dev("din", ddin, rdin, nd, 1e-5, &me) + compare_dev("dg", ddg, rdg, D, 1e-5, &me);
    snprintf(name, sizeof name, "cuda rmsnorm backward N=%d D=%d", N, D);
    report(name, bad, me);
    // fused: xout = x + dropout(sub), out = rmsnorm(xout); twin: dropout, add, rmsnorm
    float *xout = dev_poisoned(nd);
    OK(t5p_cuda_memset(out, 0xFF, 4 * nd));
    OK(t5p_cuda_memset(rstd, 0xFF, 4 * (size_t)N));
    OK(t5p_cuda_residual_rmsnorm_forward(xout, out, rstd, dx, dsub_in, dgw, N, D, eps, p, key));
    float *rx = (float *)malloc(4 * nd);
    t5p_dropout_forward(rx, sub, nd, p, key, 1.0f);
    for (size_t i = 0; i < nd; i++) rx[i] += x[i];
    t5p_rmsnorm_forward(rout, rrstd, rx, g, N, D, eps);
    me = 0;
    bad = compare_dev("xout", xout, rx, nd, 0, &me);
    bad += compare_dev("out", out, rout, nd, 2e-6, &me) + compare_dev("rstd", rstd, rrstd, N, 2e-6, &me);
    snprintf(name, sizeof name, "cuda residual+rmsnorm forward N=%d D=%d (dropout mask and sum bitwise)", N, D);
    report(name, bad, me);
    // fused backward: dres += rmsnorm backward, dsub = dropout(dres)
    OK(t5p_cuda_upload(ddin, din0, 4 * nd));
    OK(t5p_cuda_upload(ddg, dg0, 4 * (size_t)D));
    float *dsub = dev_poisoned(nd);
    memcpy(rdin, din0, 4 * nd), memcpy(rdg, dg0, 4 * (size_t)D);
    OK(t5p_cuda_residual_rmsnorm_backward(ddin, dsub, ddg, ddh, xout, rstd, dgw, N, D, p, key2));
    t5p_rmsnorm_backward(rdin, rdg, dh, rx, rrstd, g, N, D);
    float *rdsub = (float *)malloc(4 * nd);
    t5p_dropout_backward(rdsub, rdin, nd, p, key2, 1.0f);
    me = 0;
    bad = compare_dev("dres", ddin, rdin, nd, 1e-5, &me) + compare_dev("dg", ddg, rdg, D, 1e-5, &me);
    bad += compare_dev("dsub", dsub, rdsub, nd, 1e-5, &me);
    snprintf(name, sizeof name, "cuda residual+rmsnorm backward N=%d D=%d", N, D);
    report(name, bad, me);
    void *dev[] = {dx, dsub_in, dgw, ddh, out, rstd, ddin, ddg, xout, dsub};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) t5p_cuda_free(dev[i]);
    free(x), free(sub), free(g), free(dh), free(din0), free(dg0), free(rout), free(rrstd), free(rdin), free(rdg);
    free(rx), free(rdsub);
}

// --- gated GELU and dropout

static void test_gelu(int tanh_form) {
    char name[128];
    const size_t n = 100003;
    float *u0 = rand_floats(n, 4), *u1 = rand_floats(n, 2), *dg = rand_floats(n, 1);
    float *du0 = (float *)dev_copy(u0, 4 * n), *du1 = (float *)dev_copy(u1, 4 * n), *ddg = (float *)dev_copy(dg, 4 * n);
    float *g = dev_poisoned(n), *gu0 = dev_poisoned(n), *gu1 = dev_poisoned(n);
    float *rg = (float *)malloc(4 * n), *r0 = (float *)malloc(4 * n), *r1 = (float *)malloc(4 * n);
    OK(t5p_cuda_gelu_gate_forward(g, du0, du1, n, tanh_form));
    t5p_gelu_gate_forward(rg, u0, u1, n, tanh_form);
    double me = 0;
    int bad = compare_dev("g", g, rg, n, 2e-6, &me);
    snprintf(name, sizeof name, "cuda gelu gate forward (%s)", tanh_form ? "tanh" : "erf");
    report(name, bad, me);
    OK(t5p_cuda_gelu_gate_backward(gu0, gu1, ddg, du0, du1, n, tanh_form));
    t5p_gelu_gate_backward(r0, r1, dg, u0, u1, n, tanh_form);
    me = 0;
    bad = compare_dev("du0", gu0, r0, n, 2e-6, &me) + compare_dev("du1", gu1, r1, n, 2e-6, &me);
    snprintf(name, sizeof name, "cuda gelu gate backward (%s)", tanh_form ? "tanh" : "erf");
    report(name, bad, me);
    void *dev[] = {du0, du1, ddg, g, gu0, gu1};
    for (size_t i = 0; i < 6; i++) t5p_cuda_free(dev[i]);
    free(u0), free(u1), free(dg), free(rg), free(r0), free(r1);
}

static void test_dropout(void) {
    const size_t n = 65537;
    const float ps[3] = {0.1f, 0.0f, 0.3f}, scales[3] = {1.0f, 0.5f, 0.7f};
    float *x = rand_floats(n, 3), *ref = (float *)malloc(4 * n);
    float *dx = (float *)dev_copy(x, 4 * n), *out = dev_poisoned(n);
    int bad = 0;
    double me = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t key = rnd64();
        OK(t5p_cuda_memset(out, 0xFF, 4 * n));
        OK(t5p_cuda_dropout_forward(out, dx, n, ps[k], key, scales[k]));
        t5p_dropout_forward(ref, x, n, ps[k], key, scales[k]);
        bad += compare_dev("out", out, ref, n, 0, &me);
        OK(t5p_cuda_dropout_backward(out, out, n, ps[k], key, scales[k]));  // in place
        t5p_dropout_backward(ref, ref, n, ps[k], key, scales[k]);
        bad += compare_dev("din", out, ref, n, 0, &me);
    }
    report("cuda dropout forward/backward, p 0.1/0/0.3 with scales (bitwise: same mask)", bad, me);
    t5p_cuda_free(dx), t5p_cuda_free(out);
    free(x), free(ref);
}

// --- linear, position bias, attention (matrix products: per precision)

static void test_linear(int prec) {
    char name[128];
    const int N = 67, I = 96, O = 130;
    const double tol = prec == T5P_CUDA_FP32 ? 2e-5 : prec == T5P_CUDA_TF32 ? 3e-3 : 2e-2;
    OK(t5p_cuda_set_precision(prec));
    float *x = rand_floats((size_t)N * I, 1), *w = rand_floats((size_t)O * I, 1), *dy = rand_floats((size_t)N * O, 1);
    float *dx0 = rand_floats((size_t)N * I, 1), *dw0 = rand_floats((size_t)O * I, 1);
    float *dxd = (float *)dev_copy(x, 4 * (size_t)N * I), *dwd = (float *)dev_copy(w, 4 * (size_t)O * I);
    float *ddy = (float *)dev_copy(dy, 4 * (size_t)N * O), *y = dev_poisoned((size_t)N * O);
    float *ry = (float *)malloc(4 * (size_t)N * O);
    OK(t5p_cuda_linear_forward(y, dxd, dwd, N, I, O));
    t5p_linear_forward(ry, x, w, N, I, O);
    double me = 0;
    int bad = compare_dev("y", y, ry, (size_t)N * O, tol, &me);
    snprintf(name, sizeof name, "cuda linear forward %s", precname[prec]);
    report(name, bad, me);
    float *gdx = (float *)dev_copy(dx0, 4 * (size_t)N * I), *gdw = (float *)dev_copy(dw0, 4 * (size_t)O * I);
    OK(t5p_cuda_linear_backward(gdx, gdw, ddy, dxd, dwd, N, I, O));
    t5p_linear_backward(dx0, dw0, dy, x, w, N, I, O);
    me = 0;
    bad = compare_dev("dx", gdx, dx0, (size_t)N * I, tol, &me) + compare_dev("dw", gdw, dw0, (size_t)O * I, tol, &me);
    snprintf(name, sizeof name, "cuda linear backward (+=) %s", precname[prec]);
    report(name, bad, me);
    void *dev[] = {dxd, dwd, ddy, y, gdx, gdw};
    for (size_t i = 0; i < 6; i++) t5p_cuda_free(dev[i]);
    free(x), free(w), free(dy), free(dx0), free(dw0), free(ry);
    OK(t5p_cuda_set_precision(T5P_CUDA_FP32));
}

static void test_position_bias(int bidirectional, int Tq, int Tk) {
    char name[128];
    const int H = 5, NB = 32, MD = 128;
    float *table = rand_floats((size_t)NB * H, 1), *db = rand_floats((size_t)H * Tq * Tk, 1);
    float *dt0 = rand_floats((size_t)NB * H, 1);
    float *dtab = (float *)dev_copy(table, 4 * (size_t)NB * H), *ddb = (float *)dev_copy(db, 4 * (size_t)H * Tq * Tk);
    float *bias = dev_poisoned((size_t)H * Tq * Tk), *rb = (float *)malloc(4 * (size_t)H * Tq * Tk);
    OK(t5p_cuda_position_bias_forward(bias, dtab, H, Tq, Tk, bidirectional, NB, MD));
    t5p_position_bias_forward(rb, table, H, Tq, Tk, bidirectional, NB, MD);
    double me = 0;
    int bad = compare_dev("bias", bias, rb, (size_t)H * Tq * Tk, 0, &me);
    float *gdt = (float *)dev_copy(dt0, 4 * (size_t)NB * H);
    OK(t5p_cuda_position_bias_backward(gdt, ddb, H, Tq, Tk, bidirectional, NB, MD));
    t5p_position_bias_backward(dt0, db, H, Tq, Tk, bidirectional, NB, MD);
    bad += compare_dev("dtable", gdt, dt0, (size_t)NB * H, 1e-5, &me);
    snprintf(name, sizeof name, "cuda position bias forward (bitwise) and backward, %s %dx%d",
             bidirectional ? "bidirectional" : "causal", Tq, Tk);
    report(name, bad, me);
    t5p_cuda_free(dtab), t5p_cuda_free(ddb), t5p_cuda_free(bias), t5p_cuda_free(gdt);
    free(table), free(db), free(dt0), free(rb);
}

static void test_attention(int prec, int B, int Tq, int Tk, int H, int Dk, int with_bias, int with_mask, int causal) {
    char name[200];
    const double tol = prec == T5P_CUDA_FP32 ? 3e-5 : prec == T5P_CUDA_TF32 ? 5e-3 : 3e-2;
    OK(t5p_cuda_set_precision(prec));
    const int HK = H * Dk;
    const size_t nq = (size_t)B * Tq * HK, nk = (size_t)B * Tk * HK, na = (size_t)B * H * Tq * Tk, nb = (size_t)H * Tq * Tk;
    float *q = rand_floats(nq, 1), *k = rand_floats(nk, 1), *v = rand_floats(nk, 1), *dctx = rand_floats(nq, 1);
    float *bias = with_bias ? rand_floats(nb, 2) : NULL, *db0 = rand_floats(nb, 1);
    uint8_t *mask = NULL;
    if (with_mask) {  // random pads; batch element 0 entirely masked (uniform rows)
        mask = (uint8_t *)malloc((size_t)B * Tk);
        for (int i = 0; i < B * Tk; i++) mask[i] = i < Tk ? 0 : rndint(4) != 0;
    }
    float *dq_ = (float *)dev_copy(q, 4 * nq), *dk_ = (float *)dev_copy(k, 4 * nk), *dv_ = (float *)dev_copy(v, 4 * nk);
    float *dbias = bias ? (float *)dev_copy(bias, 4 * nb) : NULL;
    uint8_t *dmask = mask ? (uint8_t *)dev_copy(mask, (size_t)B * Tk) : NULL;
    float *ctx = dev_poisoned(nq), *att = dev_poisoned(na);
    float *rctx = (float *)malloc(4 * nq), *ratt = (float *)malloc(4 * na);
    OK(t5p_cuda_attention_forward(ctx, att, dq_, dk_, dv_, dbias, dmask, causal, B, Tq, Tk, H, Dk));
    t5p_attention_forward(rctx, ratt, q, k, v, bias, mask, causal, B, Tq, Tk, H, Dk);
    double me = 0;
    int bad = compare_dev("ctx", ctx, rctx, nq, tol, &me) + compare_dev("att", att, ratt, na, tol, &me);
    snprintf(name, sizeof name, "cuda attention forward %s B=%d Tq=%d Tk=%d H=%d Dk=%d%s%s%s", precname[prec], B, Tq, Tk,
             H, Dk, with_bias ? " bias" : "", with_mask ? " mask(+all-masked rows)" : "", causal ? " causal" : "");
    report(name, bad, me);
    // backward: dq, dk, dv (=), dbias (+=), att becomes dS
    float *ddctx = (float *)dev_copy(dctx, 4 * nq), *gdq = dev_poisoned(nq), *gdk = dev_poisoned(nk), *gdv = dev_poisoned(nk);
    float *gdb = (float *)dev_copy(db0, 4 * nb);
    float *rdq = (float *)malloc(4 * nq), *rdk = (float *)malloc(4 * nk), *rdv = (float *)malloc(4 * nk);
    OK(t5p_cuda_attention_backward(gdq, gdk, gdv, gdb, ddctx, att, dq_, dk_, dv_, B, Tq, Tk, H, Dk));
    t5p_attention_backward(rdq, rdk, rdv, db0, dctx, ratt, q, k, v, B, Tq, Tk, H, Dk);
    me = 0;
    bad = compare_dev("dq", gdq, rdq, nq, tol, &me) + compare_dev("dk", gdk, rdk, nk, tol, &me);
    bad += compare_dev("dv", gdv, rdv, nk, tol, &me) + compare_dev("dbias", gdb, db0, nb, tol, &me);
    bad += compare_dev("dS", att, ratt, na, tol, &me);
    snprintf(name, sizeof name, "cuda attention backward %s B=%d Tq=%d Tk=%d H=%d Dk=%d%s%s%s", precname[prec], B, Tq,
             Tk, H, Dk, with_bias ? " bias" : "", with_mask ? " mask" : "", causal ? " causal" : "");
    report(name, bad, me);
    void *dev[] = {dq_, dk_, dv_, dbias, dmask, ctx, att, ddctx, gdq, gdk, gdv, gdb};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) t5p_cuda_free(dev[i]);
    free(q), free(k), free(v), free(dctx), free(bias), free(db0), free(mask), free(rctx), free(ratt), free(rdq);
    free(rdk), free(rdv);
    OK(t5p_cuda_set_precision(T5P_CUDA_FP32));
}

// --- cross-entropy: forward, backward, fused

static void test_xent(int N, int V) {
    char name[128];
    const size_t nv = (size_t)N * V;
    float *x = rand_floats(nv, 8), *rl = (float *)malloc(4 * (size_t)N), *rd = (float *)malloc(4 * nv);
    int *labels = (int *)malloc(sizeof(int) * N);
    for (int r = 0; r < N; r++) labels[r] = rndint(5) == 0 ? -1 : rndint(V);
    for (int r = 0; r < N; r += 3)  // make the label the maximum in some rows (accuracy counts)
        if (labels[r] >= 0) x[(size_t)r * V + labels[r]] = 9.0f;
    int nlab = 0;
    for (int r = 0; r < N; r++) nlab += labels[r] >= 0;
    const float scale = 1.0f / (float)(nlab ? nlab : 1);
    float *dx = (float *)dev_copy(x, 4 * nv), *lse = dev_poisoned(N), *dl = dev_poisoned(nv);
    int *dlab = (int *)dev_copy(labels, sizeof(int) * N);
    double loss = 0, me = 0;
    int correct = -1, rcorrect = -1;
    OK(t5p_cuda_xent_forward(&loss, lse, dx, dlab, N, V, &correct));
    double rloss = t5p_xent_forward(rl, x, labels, N, V, &rcorrect);
    int bad = compare_dev("lse", lse, rl, N, 1e-5, &me);  // the CPU sums V exps one by one in float
    if (fabs(loss - rloss) > 1e-5 * fabs(rloss) + 1e-5) bad++, printf("  loss %.9g want %.9g\n", loss, rloss);
    if (correct != rcorrect) bad++, printf("  correct %d want %d\n", correct, rcorrect);
    snprintf(name, sizeof name, "cuda xent forward N=%d V=%d (loss %.6g, %d correct)", N, V, rloss, rcorrect);
    report(name, bad, me);
    OK(t5p_cuda_xent_backward(dl, dx, lse, dlab, N, V, scale));
    t5p_xent_backward(rd, x, rl, labels, N, V, scale);
    me = 0;
    bad = compare_dev("dlogits", dl, rd, nv, 1e-5, &me);
    snprintf(name, sizeof name, "cuda xent backward N=%d V=%d", N, V);
    report(name, bad, me);
    OK(t5p_cuda_memset(lse, 0xFF, 4 * (size_t)N));
    OK(t5p_cuda_xent_fused(&loss, &correct, dx, lse, dlab, N, V, scale));  // dx becomes the gradient
    me = 0;
    bad = compare_dev("lse", lse, rl, N, 1e-5, &me) + compare_dev("dlogits", dx, rd, nv, 1e-5, &me);
    if (fabs(loss - rloss) > 1e-5 * fabs(rloss) + 1e-5) bad++, printf("  loss %.9g want %.9g\n", loss, rloss);
    if (correct != rcorrect) bad++, printf("  correct %d want %d\n", correct, rcorrect);
    snprintf(name, sizeof name, "cuda xent fused (loss + gradient in one pass) N=%d V=%d", N, V);
    report(name, bad, me);
    t5p_cuda_free(dx), t5p_cuda_free(lse), t5p_cuda_free(dl), t5p_cuda_free(dlab);
    free(x), free(rl), free(rd), free(labels);
}

// --- top-k and gather (beam search); C references here, as section 9 is not in t5p.h yet

static void topk_ref(float *vals, int *idx, const float *x, const float *add, int R, int V, int k) {
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * V;
        float lse = 0;
        if (add) {
            float mx = -INFINITY;
            for (int j = 0; j < V; j++) mx = fmaxf(mx, xr[j]);
            float s = 0;
            for (int j = 0; j < V; j++) s += expf(xr[j] - mx);
            lse = mx + logf(s);
        }
        float pv = INFINITY;
        int pi = -1;
        for (int q = 0; q < k; q++) {
            float bv = -INFINITY;
            int bi = INT_MAX;
            for (int j = 0; j < V; j++) {
                float v = add ? add[r] + (xr[j] - lse) : xr[j];
                int after = v < pv || (v == pv && j > pi);
                if (after && (v > bv || (v == bv && j < bi))) bv = v, bi = j;
            }
            vals[r * k + q] = bv, idx[r * k + q] = bi;
            pv = bv, pi = bi;
        }
    }
}

static void test_topk(void) {
    const int R = 7, V = 5003, k = 5;
    float *x = rand_floats((size_t)R * V, 4), *add = rand_floats(R, 10);
    for (size_t i = 0; i < (size_t)R * V; i += 2) x[i] = floorf(x[i] * 2) / 2;  // ties: lower index first
    float *dx = (float *)dev_copy(x, 4 * (size_t)R * V), *dadd = (float *)dev_copy(add, 4 * (size_t)R);
    float *vals = dev_poisoned((size_t)R * k), rv[R * k];
    int *idx = (int *)dev_alloc(sizeof(int) * R * k), ri[R * k], gi[R * k];
    int bad = 0;
    double me = 0;
    for (int with_add = 0; with_add < 2; with_add++) {
        OK(t5p_cuda_topk(vals, idx, dx, with_add ? dadd : NULL, R, V, k));
        topk_ref(rv, ri, x, with_add ? add : NULL, R, V, k);
        OK(t5p_cuda_download(gi, idx, sizeof gi));
        for (int i = 0; i < R * k; i++)
            if (gi[i] != ri[i]) {
                if (bad++ < 5) printf("  idx[%d] = %d want %d (add %d)\n", i, gi[i], ri[i], with_add);
            }
        bad += compare_dev("vals", vals, rv, (size_t)R * k, with_add ? 1e-6 : 0, &me);
    }
    report("cuda top-k (values and ties to the lower index; raw and log-softmax + beam score)", bad, me);
    // gather rows (KV-cache reordering)
    enum { G = 6 };
    const size_t row = 1000;
    float *src = rand_floats(G * row, 1), *ref = (float *)malloc(4 * G * row);
    int par[6] = {3, 3, 0, 5, 1, 2};
    for (int r = 0; r < G; r++) memcpy(ref + r * row, src + par[r] * row, 4 * row);
    float *dsrc = (float *)dev_copy(src, 4 * G * row), *ddst = dev_poisoned(G * row);
    int *dpar = (int *)dev_copy(par, sizeof par);
    OK(t5p_cuda_gather_rows(ddst, dsrc, dpar, G, row));
    me = 0;
    bad = compare_dev("rows", ddst, ref, G * row, 0, &me);
    report("cuda gather rows (KV-cache reordering by parent)", bad, me);
    t5p_cuda_free(dx), t5p_cuda_free(dadd), t5p_cuda_free(vals), t5p_cuda_free(idx), t5p_cuda_free(dsrc);
    t5p_cuda_free(ddst), t5p_cuda_free(dpar);
    free(x), free(add), free(src), free(ref);
}

// --- optimizers: 10 steps on the device against t5p_optim on the host, same gradients

static void test_optim(const char *label, t5p_optim_config cfg) {
    char name[200];
    enum { NP = 5 };
    const int64_t shapes[NP][2] = {{300, 200}, {100, 130}, {130, 256}, {50, 1}, {64, 1}};
    const int ndims[NP] = {2, 2, 2, 1, 1}, norms[NP] = {0, 0, 0, 1, 0};
    const char *names[NP] = {"a.weight", "b.weight", "c.weight", "n.weight", "bias"};
    t5p_param hp[NP], dp[NP];
    float *hw[NP], *hg[NP];
    for (int k = 0; k < NP; k++) {
        size_t n = (size_t)(shapes[k][0] * shapes[k][1]);
        hw[k] = rand_floats(n, 0.5f), hg[k] = rand_floats(n, 1);
        memset(&hp[k], 0, sizeof hp[k]);
        hp[k].name = names[k], hp[k].w = hw[k], hp[k].g = hg[k], hp[k].ndim = ndims[k], hp[k].is_norm = norms[k];
        hp[k].shape[0] = shapes[k][0], hp[k].shape[1] = shapes[k][1];
        dp[k] = hp[k];
        dp[k].w = (float *)dev_copy(hw[k], 4 * n), dp[k].g = (float *)dev_alloc(4 * n);
    }
    t5p_optim *co = t5p_optim_new(&cfg, hp, NP), *back = t5p_optim_new(&cfg, hp, NP);
    t5p_cuda_optim *go = t5p_cuda_optim_new(&cfg, dp, NP);
    if (!co || !back || !go) {
        t5pt_fail(label, "optimizer creation: %s", t5p_last_error());
        return;
    }
    for (int step = 0; step < 10; step++) {
        for (int k = 0; k < NP; k++) {  // fresh gradients, shared by both sides
            size_t n = (size_t)(shapes[k][0] * shapes[k][1]);
            for (size_t i = 0; i < n; i++) hg[k][i] = unif() * (k == 1 ? 1e-3f : 1.0f);
            OK(t5p_cuda_upload(dp[k].g, hg[k], 4 * n));
        }
        t5p_optim_step(co);
        OK(t5p_cuda_optim_step(go));
    }
    // weights, then the whole state through t5p_cuda_optim_sync into a second CPU optimizer
    int bad = 0;
    double me = 0;
    const double tol = cfg.kind == T5P_OPTIM_ADAFACTOR ? 1e-6 : 1e-7;
    for (int k = 0; k < NP; k++)
        bad += compare_dev(names[k], dp[k].w, hw[k], (size_t)(shapes[k][0] * shapes[k][1]), tol, &me);
    OK(t5p_cuda_optim_sync(go, back, 0));
    if (t5p_optim_steps(back) != 10) bad++, printf("  synced step count %ld\n", t5p_optim_steps(back));
    for (int k = 0; k < NP; k++) {
        const t5p__opt_slot *a = &back->s[k], *b = &co->s[k];
        const float *x[4] = {a->m, a->v, a->vr, a->vc}, *y[4] = {b->m, b->v, b->vr, b->vc};
        const int64_t len[4] = {a->numel, a->numel, a->rows, a->cols};
        for (int q = 0; q < 4; q++)
            if (y[q]) bad += compare("state", x[q], y[q], (size_t)len[q], tol, &me);
    }
    snprintf(name, sizeof name, "cuda optimizer %s: 10 steps, weights and synced state vs t5p_optim", label);
    report(name, bad, me);
    t5p_optim_free(co), t5p_optim_free(back), t5p_cuda_optim_free(go);
    for (int k = 0; k < NP; k++) free(hw[k]), free(hg[k]), t5p_cuda_free(dp[k].w), t5p_cuda_free(dp[k].g);
}

// --- the model

static void random_batch(const t5p_config *c, int *src, int *tgt, int B, int S, int T) {
    for (int b = 0; b < B; b++) {
        int ls = b == 0 ? S : 1 + rndint(S), lt = b == 0 ? T : 2 + rndint(T - 1);  // pads at the end
        for (int s = 0; s < S; s++) src[b * S + s] = s < ls ? 1 + rndint(c->vocab_size - 1) : c->pad_id;
        for (int t = 0; t < T; t++) tgt[b * T + t] = t < lt ? 1 + rndint(c->vocab_size - 1) : c->pad_id;
        tgt[b * T] = c->pad_id;  // T5's decoder start token is the pad id
    }
}

// per tensor of the name table: |gpu - cpu| <= tol (max|cpu| + |cpu|)
static int compare_tensors(const t5p_config *c, const float *got, const float *ref, double tol, double *me) {
    int n = t5p_param_tensors(c, NULL, NULL), bad = 0;
    t5p_param_tensor *ts = (t5p_param_tensor *)malloc(sizeof *ts * (size_t)n);
    t5p_param_tensors(c, NULL, ts);
    for (int k = 0; k < n; k++) {
        size_t cnt = (size_t)(ts[k].shape[0] * ts[k].shape[1]);
        bad += compare(ts[k].name, got + ts[k].offset, ref + ts[k].offset, cnt, tol, me);
    }
    free(ts);
    return bad;
}

static void test_model_step(int flavor, int prec) {
    char name[200];
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.flavor = flavor;
    const int B = 3, S = 13, T = 9, Nd = B * (T - 1);
    const double tol = prec == T5P_CUDA_FP32 ? 2e-4 : prec == T5P_CUDA_TF32 ? 2e-2 : 6e-2;
    const uint64_t seed = rnd64();
    t5p_model *m = t5p_model_new(&c);
    t5p_cuda_model *g = t5p_cuda_model_new(&c, prec);
    if (!m || !g) {
        t5pt_fail("cuda model", "creation: %s", t5p_last_error());
        return;
    }
    t5p_params_init(&c, m->params, seed);
    m->seed = seed ^ 0x5555;
    OK(t5p_cuda_model_set_params(g, m->params));
    OK(t5p_cuda_model_set_rng(g, m->seed, m->step));
    int *src = (int *)malloc(sizeof(int) * B * S), *tgt = (int *)malloc(sizeof(int) * B * T);
    random_batch(&c, src, tgt, B, S, T);
    const size_t P = m->num_params, NV = (size_t)Nd * c.vocab_size;
    float *gp = (float *)malloc(4 * P), *logits = (float *)malloc(4 * NV);
    // evaluation forward: logits and loss
    t5p_cuda_stats st;
    OK(t5p_cuda_model_forward(g, src, tgt, B, S, T, 0, &st));
    OK(t5p_cuda_model_get_logits(g, logits));
    OK(t5p_model_forward(m, src, tgt, B, S, T, 0));
    double me = 0;
    int bad = compare("logits", logits, t5p_model_logits(m), NV, tol, &me);
    if (fabsf(st.loss - m->loss) > tol * (1 + fabsf(m->loss))) bad++, printf("  loss %.7g want %.7g\n", st.loss, m->loss);
    if (st.ntokens != m->ntokens) bad++, printf("  ntokens %d want %d\n", st.ntokens, m->ntokens);
    snprintf(name, sizeof name, "cuda model evaluation forward %s %s (loss %.5f / cpu %.5f, acc %.3f / %.3f)",
             t5p_flavor_name(flavor), precname[prec], st.loss, m->loss, st.acc, m->acc);
    report(name, bad, me);
    // training step, dropout on: loss and every gradient
    OK(t5p_cuda_model_zero_grad(g));
    t5p_model_zero_grad(m);
    OK(t5p_cuda_model_forward(g, src, tgt, B, S, T, 1, &st));
    OK(t5p_cuda_model_backward(g));
    OK(t5p_model_forward(m, src, tgt, B, S, T, 1));
    OK(t5p_model_backward(m));
    OK(t5p_cuda_model_get_grads(g, gp));
    me = 0;
    bad = compare_tensors(&c, gp, m->grads, tol, &me);
    if (fabsf(st.loss - m->loss) > tol * (1 + fabsf(m->loss))) bad++, printf("  loss %.7g want %.7g\n", st.loss, m->loss);
    snprintf(name, sizeof name, "cuda model training step %s %s, dropout %.1f: loss and all %d gradient tensors",
             t5p_flavor_name(flavor), precname[prec], c.dropout, t5p_param_tensors(&c, NULL, NULL));
    report(name, bad, me);
    if (prec == T5P_CUDA_FP32) {  // the same step again on the device: the same bits
        float *gp2 = (float *)malloc(4 * P);
        OK(t5p_cuda_model_set_rng(g, m->seed, m->step - 1));
        OK(t5p_cuda_model_zero_grad(g));
        OK(t5p_cuda_model_forward(g, src, tgt, B, S, T, 1, &st));
        OK(t5p_cuda_model_backward(g));
        OK(t5p_cuda_model_get_grads(g, gp2));
        snprintf(name, sizeof name, "cuda model training step %s is deterministic (bitwise on a rerun)",
                 t5p_flavor_name(flavor));
        if (memcmp(gp, gp2, 4 * P)) t5pt_fail(name, "gradients differ between two identical steps");
        else t5pt_pass(name);
        free(gp2);
    }
    // 10 training steps with Adafactor (the original's fine-tuning optimizer) on both sides
    t5p_optim_config oc = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR);
    int n = t5p_param_tensors(&c, m->params, NULL);
    t5p_param_tensor *ts = (t5p_param_tensor *)malloc(sizeof *ts * (size_t)n);
    t5p_param *ps = (t5p_param *)calloc((size_t)n, sizeof *ps);
    t5p_param_tensors(&c, m->params, ts);
    for (int k = 0; k < n; k++) {
        ps[k].name = ts[k].name, ps[k].w = ts[k].data, ps[k].g = m->grads + ts[k].offset, ps[k].ndim = ts[k].ndim;
        ps[k].shape[0] = ts[k].shape[0], ps[k].shape[1] = ts[k].shape[1], ps[k].is_norm = ts[k].is_norm;
    }
    t5p_optim *co = t5p_optim_new(&oc, ps, n);
    t5p_cuda_optim *go = t5p_cuda_model_optim_new(g, &oc);
    if (!co || !go) {
        t5pt_fail("cuda model optimizer", "%s", t5p_last_error());
        return;
    }
    OK(t5p_cuda_model_set_params(g, m->params));
    OK(t5p_cuda_model_set_rng(g, m->seed, m->step));
    bad = 0;
    me = 0;
    double worst_loss = 0;
    for (int step = 0; step < 10; step++) {
        random_batch(&c, src, tgt, B, S, T);
        OK(t5p_cuda_model_zero_grad(g));
        OK(t5p_cuda_model_forward(g, src, tgt, B, S, T, 1, &st));
        OK(t5p_cuda_model_backward(g));
        OK(t5p_cuda_optim_step(go));
        t5p_model_zero_grad(m);
        OK(t5p_model_forward(m, src, tgt, B, S, T, 1));
        OK(t5p_model_backward(m));
        OK(t5p_optim_step(co));
        double e = fabs(st.loss - m->loss) / (1 + fabs(m->loss));
        if (e > worst_loss) worst_loss = e;
        if (e > tol) bad++, printf("  step %d: loss %.7g want %.7g\n", step + 1, st.loss, m->loss);
    }
    OK(t5p_cuda_model_get_params(g, gp));
    bad += compare_tensors(&c, gp, m->params, 10 * tol, &me);
    snprintf(name, sizeof name, "cuda model 10 Adafactor training steps %s %s: losses (max rel %.2g) and weights",
             t5p_flavor_name(flavor), precname[prec], worst_loss);
    report(name, bad, me);
    t5p_optim_free(co), t5p_cuda_optim_free(go), free(ts), free(ps);
    t5p_model_free(m), t5p_cuda_model_free(g);
    free(src), free(tgt), free(gp), free(logits);
}

// CPU reference of one decoding position: the logits at position t of the full forward of prefix
// (B rows of t+1 ids; the position after it is padding).
static const float *cpu_logits_at(t5p_model *m, const int *src, int B, int S, const int *prefix, int t) {
    const int T = t + 2;
    int *tgt = (int *)malloc(sizeof(int) * B * T);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i <= t; i++) tgt[b * T + i] = prefix[b * (t + 1) + i];
        tgt[b * T + t + 1] = m->cfg.pad_id;
    }
    OK(t5p_model_forward(m, src, tgt, B, S, T, 0));
    free(tgt);
    return t5p_model_logits(m);  // (B, t+1, V)
}

static int argmax_first(const float *x, int V, float *margin) {
    int a = 0;
    for (int j = 1; j < V; j++)
        if (x[j] > x[a]) a = j;
    float second = -INFINITY;
    for (int j = 0; j < V; j++)
        if (j != a && x[j] > second) second = x[j];
    *margin = x[a] - second;
    return a;
}

static void test_generation(int flavor) {
    char name[200];
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.flavor = flavor;
    const int B = 3, S = 10, L = 8, V = c.vocab_size, start = c.pad_id, eos = 3;
    t5p_model *m = t5p_model_new(&c);
    t5p_cuda_model *g = t5p_cuda_model_new(&c, T5P_CUDA_FP32);
    t5p_params_init(&c, m->params, rnd64());
    OK(t5p_cuda_model_set_params(g, m->params));
    int src[B * S], tgt[B * 2], out[B * L], lens[B];
    random_batch(&c, src, tgt, B, S, 2);
    OK(t5p_cuda_generate_greedy(g, src, B, S, start, eos, L, out, lens));
    // CPU: greedy by full forwards of the growing prefix (no cache)
    int prefix[B * (L + 1)], ref[B * L], done[B], bad = 0;
    for (int b = 0; b < B; b++) done[b] = 0;
    int *cur = (int *)malloc(sizeof(int) * B * (L + 1));
    for (int b = 0; b < B; b++) cur[b] = start;
    float min_margin = INFINITY;
    for (int t = 0; t < L; t++) {
        const float *lg = cpu_logits_at(m, src, B, S, cur, t);
        for (int b = 0; b < B; b++) {
            float margin;
            int y = argmax_first(lg + ((size_t)b * (t + 1) + t) * V, V, &margin);
            if (!done[b] && margin < min_margin) min_margin = margin;
            ref[b * L + t] = done[b] ? c.pad_id : y;
            if (y == eos) done[b] = 1;
            prefix[b * (L + 1) + t] = y;
        }
        int *next = (int *)malloc(sizeof(int) * B * (t + 2));
        for (int b = 0; b < B; b++) {
            memcpy(next + b * (t + 2), cur + b * (t + 1), sizeof(int) * (t + 1));
            next[b * (t + 2) + t + 1] = prefix[b * (L + 1) + t];
        }
        free(cur);
        cur = next;
    }
    for (int i = 0; i < B * L; i++)
        if (out[i] != ref[i] && bad++ < 5) printf("  row %d position %d: id %d want %d\n", i / L, i % L, out[i], ref[i]);
    snprintf(name, sizeof name,
             "cuda greedy decoding %s fp32: %d x %d ids identical to the CPU's full forwards (smallest top-2 gap %.3g)",
             t5p_flavor_name(flavor), B, L, min_margin);
    if (bad) t5pt_fail(name, "%d ids differ", bad);
    else t5pt_pass(name);

    // beams: 2 per source holding two different sequences (the greedy one and a random one); every step
    // the rows swap through parents, so the caches must follow them; top-3 of log-softmax + a beam score
    const int NB = 2, R = B * NB, K = 3;
    int *seq[2];
    seq[0] = cur;  // greedy prefixes (B, L+1)
    seq[1] = (int *)malloc(sizeof(int) * B * (L + 1));
    for (int b = 0; b < B; b++) {
        seq[1][b * (L + 1)] = start;
        for (int t = 1; t <= L; t++) seq[1][b * (L + 1) + t] = 1 + rndint(V - 1);
    }
    OK(t5p_cuda_gen_begin(g, src, B, S, NB, L));
    int holds[R], ids[R], parents[R], idx[R * K], ridx[R * K];
    float add[R], vals[R * K], rvals[R * K];
    for (int r = 0; r < R; r++) holds[r] = r % NB;
    int bad_ids = 0;
    double me = 0;
    for (int t = 0; t < L; t++) {
        if (t > 0)
            for (int r = 0; r < R; r++) parents[r] = r ^ 1, holds[r] ^= 1;  // swap the beams of each source
        for (int r = 0; r < R; r++) ids[r] = seq[holds[r]][(r / NB) * (L + 1) + t], add[r] = unif();
        OK(t5p_cuda_gen_step(g, ids, t > 0 ? parents : NULL, add, K, vals, idx));
        for (int s = 0; s < 2; s++) {  // reference rows of sequence s
            int *pre = (int *)malloc(sizeof(int) * B * (t + 1));
            for (int b = 0; b < B; b++) memcpy(pre + b * (t + 1), seq[s] + b * (L + 1), sizeof(int) * (t + 1));
            const float *lg = cpu_logits_at(m, src, B, S, pre, t);
            for (int r = 0; r < R; r++) {
                if (holds[r] != s) continue;
                topk_ref(rvals + r * K, ridx + r * K, lg + ((size_t)(r / NB) * (t + 1) + t) * V, add + r, 1, V, K);
            }
            free(pre);
        }
        for (int i = 0; i < R * K; i++)
            if (idx[i] != ridx[i] && bad_ids++ < 5) printf("  step %d row %d: id %d want %d\n", t, i / K, idx[i], ridx[i]);
        bad += compare("beam values", vals, rvals, R * K, 1e-4, &me);
    }
    snprintf(name, sizeof name, "cuda beam building blocks %s: cache reordered by parents, top-%d of log-softmax + score",
             t5p_flavor_name(flavor), K);
    if (bad_ids) t5pt_fail(name, "%d candidate ids differ", bad_ids);
    else report(name, bad, me);
    free(seq[0]), free(seq[1]);
    t5p_model_free(m), t5p_cuda_model_free(g);
}

static void test_errors(void) {
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    t5p_cuda_model *g = t5p_cuda_model_new(&c, T5P_CUDA_FP32);
    int src[4] = {1, 2, 3, 5000}, tgt[4] = {0, 1, 2, 3}, ids[2] = {0, 0}, idx[2];
    float vals[2];
    int rc1 = t5p_cuda_model_forward(g, src, tgt, 1, 4, 4, 0, NULL);
    int ok1 = rc1 == T5P_ERR_ARG && strstr(t5p_last_error(), "source id 5000");
    int rc2 = t5p_cuda_model_backward(g);
    int rc3 = t5p_cuda_gen_step(g, ids, NULL, NULL, 1, vals, idx);
    int rc4 = t5p_cuda_model_get_logits(g, vals);
    if (ok1 && rc2 == T5P_ERR_ARG && rc3 == T5P_ERR_ARG && rc4 == T5P_ERR_ARG)
        t5pt_pass("cuda errors are returned with a message (bad id, backward without forward, step without begin)");
    else
        t5pt_fail("cuda errors", "codes %d %d %d %d, last: %s", rc1, rc2, rc3, rc4, t5p_last_error());
    t5p_cuda_model_free(g);
}

int main(void) {
    if (t5p_cuda_device_count() <= 0) {
        printf("  (%s)\n", t5p_last_error());
        t5pt_skip("cuda", "no CUDA device");
        return 0;
    }
    OK(t5p_cuda_init(0));
    char info[256];
    OK(t5p_cuda_device_info(info, sizeof info));
    const char *env = getenv("T5P_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng_state = seed;
    printf("device: %s; seed %llu (T5P_TEST_SEED=%llu repeats this run)\n", info, (unsigned long long)seed,
           (unsigned long long)seed);

    test_embedding();
    test_rmsnorm(37, 64);
    test_rmsnorm(130, 768);
    test_rmsnorm(5, 1000);
    test_gelu(0);
    test_gelu(1);
    test_dropout();
    for (int prec = T5P_CUDA_FP32; prec <= T5P_CUDA_BF16; prec++) test_linear(prec);
    test_position_bias(1, 37, 37);
    test_position_bias(0, 21, 21);
    test_position_bias(0, 9, 150);
    test_attention(T5P_CUDA_FP32, 2, 5, 7, 3, 8, 1, 1, 0);
    test_attention(T5P_CUDA_FP32, 3, 33, 33, 2, 16, 1, 0, 1);
    test_attention(T5P_CUDA_FP32, 2, 17, 40, 4, 64, 0, 1, 0);
    test_attention(T5P_CUDA_BF16, 2, 33, 33, 2, 16, 1, 1, 1);
    test_xent(37, 1000);
    test_xent(9, 50000);
    test_topk();
    test_optim("adafactor bert4keras", t5p_optim_config_default(T5P_OPTIM_ADAFACTOR));
    t5p_optim_config oc = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR);
    oc.beta1 = 0.9, oc.weight_decay = 0.01, oc.warmup_steps = 3;
    test_optim("adafactor bert4keras momentum+wd+warmup", oc);
    test_optim("adafactor hf", t5p_optim_config_adafactor_hf());
    oc = t5p_optim_config_adafactor_hf();
    oc.beta1 = 0.9, oc.weight_decay = 0.01;
    test_optim("adafactor hf momentum+wd", oc);
    test_optim("adam", t5p_optim_config_default(T5P_OPTIM_ADAM));
    oc = t5p_optim_config_default(T5P_OPTIM_ADAMW);
    oc.warmup_steps = 3, oc.total_steps = 20;
    test_optim("adamw warmup+decay", oc);
    oc = t5p_optim_config_default(T5P_OPTIM_ADAM);
    oc.eps_hat = 1, oc.weight_decay = 0.01;
    test_optim("adam eps_hat+L2", oc);
    test_model_step(T5P_PEGASUS, T5P_CUDA_FP32);
    test_model_step(T5P_HF_MT5, T5P_CUDA_FP32);
    test_model_step(T5P_PEGASUS, T5P_CUDA_BF16);
    test_generation(T5P_PEGASUS);
    test_generation(T5P_HF_MT5);
    test_errors();
    return t5pt_exit();
}
#endif  // T5P_CUDA
