// bench/bench_optim.c - milliseconds per optimizer step over the parameter shapes of a T5 PEGASUS
// config (small by default), for each optimizer. Usage: bench_optim [small|base] [steps]
#define T5P_IMPLEMENTATION
#include "t5p.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int base = argc > 1 && strcmp(argv[1], "base") == 0, steps = argc > 2 ? atoi(argv[2]) : 5;
    int d = base ? 768 : 512, ff = base ? 2048 : 1024, L = base ? 12 : 8, H = base ? 12 : 6, V = 50000;
    t5p_param ps[1024];
    int n = 0;
    char names[1024][16];
#define ADD(nd, a, b, norm) \
    (snprintf(names[n], 16, "p%d", n), ps[n] = (t5p_param){.name = names[n], .ndim = nd, .shape = {a, b}, .is_norm = norm}, n++)
    ADD(2, V, d, 0), ADD(2, V, d, 0), ADD(2, 32, H, 0), ADD(2, 32, H, 0), ADD(1, d, 0, 1), ADD(1, d, 0, 1);
    for (int l = 0; l < L; l++) {
        for (int q = 0; q < 4; q++) ADD(2, H * 64, d, 0);
        ADD(2, ff, d, 0), ADD(2, ff, d, 0), ADD(2, d, ff, 0), ADD(1, d, 0, 1), ADD(1, d, 0, 1);
        for (int q = 0; q < 8; q++) ADD(2, H * 64, d, 0);
        ADD(2, ff, d, 0), ADD(2, ff, d, 0), ADD(2, d, ff, 0), ADD(1, d, 0, 1), ADD(1, d, 0, 1), ADD(1, d, 0, 1);
    }
    size_t total = 0;
    for (int k = 0; k < n; k++) total += (size_t)ps[k].shape[0] * (ps[k].ndim == 2 ? ps[k].shape[1] : 1);
    float *w = malloc(total * sizeof(float)), *g = malloc(total * sizeof(float));
    uint64_t s = 1;
    for (size_t i = 0; i < total; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = ((s >> 40) / 16777216.0f - 0.5f) * 0.1f;
        g[i] = ((s >> 16 & 0xffffff) / 16777216.0f - 0.5f) * 1e-3f;
    }
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        ps[k].w = w + off;
        ps[k].g = g + off;
        off += (size_t)ps[k].shape[0] * (ps[k].ndim == 2 ? ps[k].shape[1] : 1);
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("optimizer step, %s config: %.2f M parameters, %d threads (C, float32)\n", base ? "base" : "small", total / 1e6, threads);
    const char *names_[4] = {"adafactor (bert4keras)", "adafactor (hf)", "adam", "adamw"};
    for (int v = 0; v < 4; v++) {
        t5p_optim_config c = v == 0 ? t5p_optim_config_default(T5P_OPTIM_ADAFACTOR)
                           : v == 1 ? t5p_optim_config_adafactor_hf()
                                    : t5p_optim_config_default(v == 2 ? T5P_OPTIM_ADAM : T5P_OPTIM_ADAMW);
        t5p_optim *o = t5p_optim_new(&c, ps, n);
        if (!o) { fprintf(stderr, "%s\n", t5p_last_error()); return 1; }
        t5p_optim_step(o);  // first step left out (page faults of the state)
        double t0 = now_s();
        for (int k = 0; k < steps; k++) t5p_optim_step(o);
        double ms = (now_s() - t0) / steps * 1e3;
        printf("  %-24s %8.1f ms/step   state %9.3f MB\n", names_[v], ms, t5p_optim_state_bytes(o) / 1e6);
        t5p_optim_free(o);
    }
    free(w);
    free(g);
    return 0;
}
