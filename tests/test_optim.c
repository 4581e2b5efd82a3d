// tests/test_optim.c - Adafactor (bert4keras and Hugging Face styles), Adam, AdamW against the peers'
// 10-step goldens (tests/ref/ref_optim.py), LR schedules, state memory, save/load/continue bitwise.
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define STEPS 10
#define NP 8

// Same parameters and splitmix64 streams as tests/ref/ref_optim.py.
static const struct {
    const char *name;
    int ndim;
    int64_t shape[2];
    int is_norm;
    double init;  // < 0: norm init 1 + 0.1 x
    double gs;
} P[NP] = {
    {"enc.final_layer_norm.weight", 1, {64, 0}, 1, -1, 0.01},
    {"vec", 1, {5, 0}, 0, 0.05, 0.02},
    {"q", 2, {16, 24}, 0, 0.05, 0.01},
    {"rel", 2, {32, 4}, 0, 0.5, 0.1},
    {"tall", 2, {200, 8}, 0, 0.05, 0.003},
    {"emb", 2, {129, 128}, 0, 0.05, 0.001},
    {"wo", 2, {128, 129}, 0, 0.05, 0.01},
    {"tiny", 2, {3, 7}, 0, 1e-4, 1e-3},
};

static void uniform(uint64_t seed, float *x, int64_t n) {
    uint64_t s = seed;
    for (int64_t k = 0; k < n; k++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[k] = (float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
    }
}

static int64_t numel(int k) { return P[k].ndim == 1 ? P[k].shape[0] : P[k].shape[0] * P[k].shape[1]; }

typedef struct {
    float *w[NP], *g[NP];
    t5p_param prm[NP];
} model;

static void model_init(model *m) {
    for (int k = 0; k < NP; k++) {
        int64_t n = numel(k);
        m->w[k] = malloc(n * sizeof(float));
        m->g[k] = calloc(n, sizeof(float));
        uniform(1000 + k, m->w[k], n);
        for (int64_t i = 0; i < n; i++) {
            if (P[k].init < 0) {
                float t = 0.1f * m->w[k][i];
                m->w[k][i] = 1.0f + t;
            } else {
                m->w[k][i] = m->w[k][i] * (float)P[k].init;
            }
        }
        t5p_param *p = &m->prm[k];
        memset(p, 0, sizeof *p);
        p->name = P[k].name;
        p->w = m->w[k];
        p->g = m->g[k];
        p->ndim = P[k].ndim;
        p->shape[0] = P[k].shape[0];
        p->shape[1] = P[k].shape[1];
        p->is_norm = P[k].is_norm;
    }
}

static void model_free(model *m) {
    for (int k = 0; k < NP; k++) free(m->w[k]), free(m->g[k]);
}

static void set_grads(model *m, int step) {
    for (int k = 0; k < NP; k++) {
        int64_t n = numel(k);
        uniform(100000 + 100 * k + step, m->g[k], n);
        float gs = (float)(P[k].gs * ((step % 3) + 1) * 0.5);
        for (int64_t i = 0; i < n; i++) m->g[k][i] = m->g[k][i] * gs;
        if (strcmp(P[k].name, "tall") == 0) memset(m->g[k], 0, P[k].shape[1] * sizeof(float));
        if (strcmp(P[k].name, "vec") == 0 && step == 4) memset(m->g[k], 0, n * sizeof(float));
    }
}

// Per tensor: |got - ref| <= rtol |ref| + atol max|ref|. Prints the max error; returns 0 if all pass.
static int compare(const char *what, const float *got, const float *ref, int64_t n, double rtol, double atol_rel,
                   double *worst) {
    double mx = 0, maxerr = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        maxerr = fmax(maxerr, e);
        if (!(e <= rtol * fabs(ref[i]) + atol_rel * mx)) {
            if (bad < 3) printf("  %s[%lld]: got %.9g, want %.9g\n", what, (long long)i, got[i], ref[i]);
            bad++;
        }
    }
    double rel = mx > 0 ? maxerr / mx : maxerr;
    if (rel > *worst) *worst = rel;
    if (bad) printf("  %s: %d of %lld values off, max |err| %.3g (max |ref| %.3g)\n", what, bad, (long long)n, maxerr, mx);
    return bad;
}

typedef struct {
    const char *name;
    t5p_optim_config cfg;
} variant;

static int variants(variant *v) {
    int n = 0;
    t5p_optim_config c;
    c = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR);  // bert4keras defaults
    v[n++] = (variant){"af_b4k", c};
    c = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR);  // lr=None, beta1 .9, no param scale, wd, warm-up
    c.relative_step = 1;
    c.beta1 = 0.9;
    c.scale_parameter = 0;
    c.weight_decay = 0.01;
    c.warmup_steps = 3;
    v[n++] = (variant){"af_b4k_m", c};
    c = t5p_optim_config_adafactor_hf();  // transformers defaults
    v[n++] = (variant){"af_hf", c};
    c = t5p_optim_config_adafactor_hf();
    c.warmup_init = 1;
    v[n++] = (variant){"af_hf_wi", c};
    c = t5p_optim_config_adafactor_hf();
    c.relative_step = 0;
    c.lr = 1e-2;
    c.scale_parameter = 0;
    c.beta1 = 0.9;
    c.weight_decay = 0.01;
    c.warmup_steps = 3;
    c.total_steps = 20;
    v[n++] = (variant){"af_hf_m", c};
    c = t5p_optim_config_default(T5P_OPTIM_ADAM);
    c.lr = 1e-2;
    v[n++] = (variant){"adam", c};
    c.eps = 1e-7;
    c.eps_hat = 1;
    v[n++] = (variant){"adam_keras", c};
    c = t5p_optim_config_default(T5P_OPTIM_ADAMW);
    c.lr = 1e-2;
    c.warmup_steps = 3;
    c.total_steps = 20;
    v[n++] = (variant){"adamw", c};
    c.total_steps = 0;
    v[n++] = (variant){"adamw_b4k", c};
    return n;
}

static void run(t5p_optim *o, model *m, int from, int to) {
    for (int s = from; s <= to; s++) {
        set_grads(m, s);
        t5p_optim_step(o);
    }
}

static void test_goldens(void) {
    const char *path = t5pt_path("tests/golden/optim_ref.safetensors");
    t5p_safetensors *st = t5p_safetensors_open(path);
    if (!st) { t5pt_fail("optim goldens", "%s", t5p_last_error()); return; }
    {  // the generator agrees with the Python one
        float x[8];
        uniform(12345, x, 8);
        const t5p_tensor *t = t5p_safetensors_find(st, "rng_check");
        if (!t || t5p_tensor_nbytes(t) != sizeof x || memcmp(t->data, x, sizeof x)) t5pt_fail("optim rng", "splitmix64 streams differ");
        else t5pt_pass("optim rng");
    }
    variant v[16];
    int nv = variants(v);
    for (int k = 0; k < nv; k++) {
        model m;
        model_init(&m);
        t5p_optim *o = t5p_optim_new(&v[k].cfg, m.prm, NP);
        char name[64];
        snprintf(name, sizeof name, "optim %s 10 steps", v[k].name);
        if (!o) { t5pt_fail(name, "%s", t5p_last_error()); model_free(&m); continue; }
        run(o, &m, 1, STEPS);
        int bad = 0;
        double worst = 0;
        int big = strncmp(v[k].name, "af_b4k", 6) == 0;  // the golden has emb and wo for these only
        for (int q = 0; q < NP; q++) {
            char tn[128];
            if (!big && (strcmp(P[q].name, "emb") == 0 || strcmp(P[q].name, "wo") == 0)) continue;
            snprintf(tn, sizeof tn, "%s/%s", v[k].name, P[q].name);
            float *ref = malloc(numel(q) * sizeof(float));
            if (t5p_safetensors_read_f32(st, tn, ref, P[q].ndim, P[q].shape) < 0) {
                printf("  %s\n", t5p_last_error());
                bad++;
            } else {
                bad += compare(tn, m.w[q], ref, numel(q), 1e-5, 1e-6, &worst);
            }
            free(ref);
        }
        // factored second moments where the golden has them
        t5p_optim *oo = o;
        for (int q = 0; q < NP; q++) {
            char tr[128], tc[128];
            snprintf(tr, sizeof tr, "%s/%s.v_row", v[k].name, P[q].name);
            snprintf(tc, sizeof tc, "%s/%s.v_col", v[k].name, P[q].name);
            const t5p_tensor *a = t5p_safetensors_find(st, tr), *b = t5p_safetensors_find(st, tc);
            if (!a || !b) continue;
            // state through the public save path: write, reopen, compare
            char sp[64];
            snprintf(sp, sizeof sp, "optim_%s.safetensors", v[k].name);
            if (t5p_optim_save(oo, sp) < 0) { printf("  %s\n", t5p_last_error()); bad++; break; }
            t5p_safetensors *s2 = t5p_safetensors_open(sp);
            char mr[128], mc[128];
            snprintf(mr, sizeof mr, "%s.v_row", P[q].name);
            snprintf(mc, sizeof mc, "%s.v_col", P[q].name);
            const t5p_tensor *x = s2 ? t5p_safetensors_find(s2, mr) : NULL, *y = s2 ? t5p_safetensors_find(s2, mc) : NULL;
            if (!x || !y || t5p_tensor_numel(x) != t5p_tensor_numel(a) || t5p_tensor_numel(y) != t5p_tensor_numel(b)) {
                printf("  %s: factored state missing or of the wrong size\n", tr);
                bad++;
            } else {
                bad += compare(tr, x->data, a->data, t5p_tensor_numel(a), 1e-5, 1e-6, &worst);
                bad += compare(tc, y->data, b->data, t5p_tensor_numel(b), 1e-5, 1e-6, &worst);
            }
            t5p_safetensors_close(s2);
            remove(sp);
        }
        if (bad) t5pt_fail(name, "%d values off (max |err|/max|ref| %.2e)", bad, worst);
        else {
            printf("  %-10s max |err| / max |ref| per tensor: %.2e\n", v[k].name, worst);
            t5pt_pass(name);
        }
        t5p_optim_free(o);
        model_free(&m);
    }
    t5p_safetensors_close(st);
}

// 10 steps straight == 5 steps, save, new optimizer + load, 5 steps: bitwise; and thread-count independent.
static void test_resume(void) {
    variant v[16];
    int nv = variants(v);
    for (int k = 0; k < nv; k++) {
        model a, b;
        model_init(&a);
        model_init(&b);
        t5p_optim *oa = t5p_optim_new(&v[k].cfg, a.prm, NP), *ob = t5p_optim_new(&v[k].cfg, b.prm, NP);
        run(oa, &a, 1, STEPS);
        run(ob, &b, 1, 5);
        char path[64], name[64];
        snprintf(path, sizeof path, "resume_%s.safetensors", v[k].name);
        snprintf(name, sizeof name, "optim %s save/load/continue bitwise", v[k].name);
        int rc = t5p_optim_save(ob, path);
        t5p_optim_free(ob);
        ob = t5p_optim_new(&v[k].cfg, b.prm, NP);
        if (rc == 0) rc = t5p_optim_load(ob, path);
        if (rc < 0) { t5pt_fail(name, "%s", t5p_last_error()); }
        else {
            if (t5p_optim_steps(ob) != 5) t5pt_fail(name, "step %ld after load, want 5", t5p_optim_steps(ob));
            run(ob, &b, 6, STEPS);
            int same = 1;
            for (int q = 0; q < NP; q++) same &= memcmp(a.w[q], b.w[q], numel(q) * sizeof(float)) == 0;
            if (same) t5pt_pass(name);
            else t5pt_fail(name, "weights differ after resuming");
        }
        remove(path);
        t5p_optim_free(oa);
        t5p_optim_free(ob);
        model_free(&a);
        model_free(&b);
    }
#ifdef _OPENMP
    {  // 1 thread vs 2 threads: bitwise equal (sums in fixed blocks)
        t5p_optim_config cfgs[2] = {t5p_optim_config_default(T5P_OPTIM_ADAFACTOR), t5p_optim_config_adafactor_hf()};
        int same = 1;
        for (int c = 0; c < 2; c++) {
            model a, b;
            model_init(&a);
            model_init(&b);
            t5p_optim *oa = t5p_optim_new(&cfgs[c], a.prm, NP), *ob = t5p_optim_new(&cfgs[c], b.prm, NP);
            int nt = omp_get_max_threads();
            omp_set_num_threads(1);
            run(oa, &a, 1, STEPS);
            omp_set_num_threads(nt > 1 ? nt : 2);
            run(ob, &b, 1, STEPS);
            omp_set_num_threads(nt);
            for (int q = 0; q < NP; q++) same &= memcmp(a.w[q], b.w[q], numel(q) * sizeof(float)) == 0;
            t5p_optim_free(oa);
            t5p_optim_free(ob);
            model_free(&a);
            model_free(&b);
        }
        if (same) t5pt_pass("optim thread-count independent");
        else t5pt_fail("optim thread-count independent", "1 and 2 threads give different weights");
    }
#endif
}

static void test_load_errors(void) {
    model m;
    model_init(&m);
    t5p_optim_config c = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR);
    c.beta1 = 0.9;
    t5p_optim *o = t5p_optim_new(&c, m.prm, NP);
    run(o, &m, 1, 3);
    const char *path = "state_err.safetensors";
    if (t5p_optim_save(o, path) < 0) { t5pt_fail("optim state errors", "%s", t5p_last_error()); return; }
    int ok = 1;
    typedef struct {
        const char *want;
        t5p_optim_config cfg;
        int drop, grow;  // drop the last parameter / change a shape
    } load_case;
    load_case cases[5];
    int nc = 0;
    t5p_optim_config x = c;
    x.kind = T5P_OPTIM_ADAMW;
    cases[nc++] = (load_case){"optimizer is 'adamw'", x, 0, 0};
    x = c;
    x.adafactor_style = T5P_ADAFACTOR_HF;
    cases[nc++] = (load_case){"style is 'hf'", x, 0, 0};
    cases[nc++] = (load_case){"'tiny.m' is not part", c, 1, 0};
    cases[nc++] = (load_case){"has shape [16, 24], expected [16, 25]", c, 0, 1};
    x = c;
    x.beta1 = 0;  // no momentum: '.m' tensors are extra
    cases[nc++] = (load_case){"is not part of this optimizer's state", x, 0, 0};
    for (int k = 0; k < nc; k++) {
        model b;
        model_init(&b);
        if (cases[k].grow) b.prm[2].shape[1] = 25, b.g[2] = realloc(b.g[2], 16 * 25 * 4), b.w[2] = realloc(b.w[2], 16 * 25 * 4),
                           b.prm[2].w = b.w[2], b.prm[2].g = b.g[2];
        t5p_optim *ob = t5p_optim_new(&cases[k].cfg, b.prm, NP - cases[k].drop);
        size_t bytes = t5p_optim_state_bytes(ob);
        int rc = t5p_optim_load(ob, path);
        if (rc >= 0 || !strstr(t5p_last_error(), cases[k].want)) {
            printf("  case %d: rc %d, message: %s\n", k, rc, t5p_last_error());
            ok = 0;
        }
        if (t5p_optim_steps(ob) != 0 || bytes != t5p_optim_state_bytes(ob)) ok = 0;
        t5p_optim_free(ob);
        model_free(&b);
    }
    {  // a parameter missing from the file
        model b;
        model_init(&b);
        t5p_optim *o3 = t5p_optim_new(&c, b.prm, 3);
        t5p_optim_save(o3, path);
        t5p_optim_free(o3);
        t5p_optim *o8 = t5p_optim_new(&c, b.prm, NP);
        int rc = t5p_optim_load(o8, path);
        if (rc >= 0 || !strstr(t5p_last_error(), "'rel.m' is missing")) {
            printf("  missing: rc %d, message: %s\n", rc, t5p_last_error());
            ok = 0;
        }
        // unchanged on error: its state is still zero
        t5p_optim_save(o8, "probe.safetensors");
        t5p_safetensors *s = t5p_safetensors_open("probe.safetensors");
        const t5p_tensor *t = s ? t5p_safetensors_find(s, "enc.final_layer_norm.weight.m") : NULL;
        if (!t) ok = 0;
        else for (int i = 0; i < 64; i++) ok &= ((const float *)t->data)[i] == 0.0f;
        if (!s || strcmp(t5p_safetensors_meta(s, "step"), "0") != 0) ok = 0;
        t5p_safetensors_close(s);
        remove("probe.safetensors");
        t5p_optim_free(o8);
        model_free(&b);
    }
    {  // not an optimizer state at all
        t5p_tensor t = {"x", T5P_DT_F32, 1, {1}, "\0\0\0\0"};
        const char *meta[] = {"format", "pt", NULL};
        t5p_safetensors_save(path, &t, 1, meta);
        int rc = t5p_optim_load(o, path);
        if (rc >= 0 || !strstr(t5p_last_error(), "not a t5p optimizer state")) ok = 0;
    }
    if (ok) t5pt_pass("optim state load errors");
    else t5pt_fail("optim state load errors", "see above");
    remove(path);
    t5p_optim_free(o);
    model_free(&m);
}

static void test_schedule(void) {
    t5p_optim_config c = t5p_optim_config_default(T5P_OPTIM_ADAMW);
    c.warmup_steps = 4;
    double want_const[] = {0, 0.25, 0.5, 0.75, 1, 1, 1};
    int ok = 1;
    for (int t = 1; t <= 7; t++) ok &= fabs(t5p_optim_schedule(&c, t) - want_const[t - 1]) < 1e-15;
    c.total_steps = 8;  // transformers: max(0, (8 - s) / 4) after the warm-up
    double want_lin[] = {0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0, 0};
    for (int t = 1; t <= 10; t++) ok &= fabs(t5p_optim_schedule(&c, t) - want_lin[t - 1]) < 1e-15;
    c.warmup_steps = 0;
    c.total_steps = 0;
    ok &= t5p_optim_schedule(&c, 1) == 1.0;
    if (ok) t5pt_pass("optim schedules");
    else t5pt_fail("optim schedules", "warm-up/decay multipliers differ");
}

// State memory of the T5 PEGASUS base and small parameter lists (shapes only).
static void test_memory(void) {
    struct { const char *name; int d, ff, L, H; double want_m; } cfgs[2] = {{"base", 768, 2048, 12, 12, 275.03}, {"small", 512, 1024, 8, 6, 95.26}};
    int ok = 1;
    for (int c = 0; c < 2; c++) {
        int d = cfgs[c].d, ff = cfgs[c].ff, L = cfgs[c].L, H = cfgs[c].H, V = 50000;
        t5p_param *ps = calloc(40 * L + 16, sizeof *ps);
        int n = 0;
        static float dummy;
#define ADD(nd, a, b, norm) (ps[n].name = "p", ps[n].w = ps[n].g = &dummy, ps[n].ndim = nd, ps[n].shape[0] = a, ps[n].shape[1] = b, ps[n].is_norm = norm, n++)
        ADD(2, V, d, 0);  // shared
        ADD(2, V, d, 0);  // lm_head
        ADD(2, 32, H, 0), ADD(2, 32, H, 0);  // relative attention bias, encoder and decoder
        ADD(1, d, 0, 1), ADD(1, d, 0, 1);    // final norms
        for (int l = 0; l < L; l++) {
            for (int q = 0; q < 4; q++) ADD(2, H * 64, d, 0);  // encoder self-attention (q, k, v: [inner, d]; o as big)
            ADD(2, ff, d, 0), ADD(2, ff, d, 0), ADD(2, d, ff, 0);
            ADD(1, d, 0, 1), ADD(1, d, 0, 1);
            for (int q = 0; q < 8; q++) ADD(2, H * 64, d, 0);  // decoder self + cross attention
            ADD(2, ff, d, 0), ADD(2, ff, d, 0), ADD(2, d, ff, 0);
            ADD(1, d, 0, 1), ADD(1, d, 0, 1), ADD(1, d, 0, 1);
        }
#undef ADD
        double np_ = 0;
        for (int k = 0; k < n; k++) np_ += (double)(ps[k].ndim == 1 ? ps[k].shape[0] : ps[k].shape[0] * ps[k].shape[1]);
        t5p_optim_config adam = t5p_optim_config_default(T5P_OPTIM_ADAM), b4k = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR),
                         hf = t5p_optim_config_adafactor_hf();
        size_t ba = t5p_optim_state_bytes_for(&adam, ps, n), bb = t5p_optim_state_bytes_for(&b4k, ps, n),
               bh = t5p_optim_state_bytes_for(&hf, ps, n);
        printf("  %s: %.2f M parameters (%.1f MB f32); optimizer state: Adam/AdamW %.1f MB, Adafactor bert4keras %.3f MB, "
               "Adafactor HF %.3f MB\n",
               cfgs[c].name, np_ / 1e6, np_ * 4 / 1e6, ba / 1e6, bb / 1e6, bh / 1e6);
        ok &= fabs(np_ / 1e6 - cfgs[c].want_m) < 0.005;
        ok &= ba == (size_t)(8 * np_);
        ok &= bh < ba / 100 && bb < ba / 100;
        free(ps);
    }
    if (ok) t5pt_pass("optim state memory");
    else t5pt_fail("optim state memory", "parameter count or state sizes unexpected");
}

int main(void) {
    (void)t5pt_shared;
    (void)t5pt_skip;
    test_goldens();
    test_resume();
    test_load_errors();
    test_schedule();
    test_memory();
    return t5pt_exit();
}
