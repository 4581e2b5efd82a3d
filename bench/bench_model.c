// bench/bench_model.c - training-step speed of the CPU network: forward + backward (dropout on) of one
// batch, the first step left out, median of the rest.
//   build/bench_model CONFIG B S T STEPS [FLAVOR]     (CONFIG: tiny | small | base)
// Prints one line: config, threads, ms per step, tokens/s (tokens = B*(S+T), source and target),
// GFLOP/s of the matrix products, peak resident memory.
#define _POSIX_C_SOURCE 200809L
#define T5P_IMPLEMENTATION
#include "t5p.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Multiply-adds of the matrix products of one training step (forward 1x, backward 2x).
static double step_flops(const t5p_config *c, int B, int S, int T) {
    double D = c->d_model, F = c->d_ff, HK = (double)c->num_heads * c->d_kv, V = c->vocab_size;
    double Ne = (double)B * S, Td = T - 1, Nd = B * Td;
    double enc = Ne * (4 * D * HK + 3 * D * F) + 2.0 * B * c->num_heads * S * S * c->d_kv;
    double dec = Nd * (6 * D * HK + 3 * D * F) + Ne * 2 * D * HK + 2.0 * B * c->num_heads * Td * Td * c->d_kv +
                 2.0 * B * c->num_heads * Td * S * c->d_kv;
    double fwd = c->num_layers * enc + c->num_decoder_layers * dec + Nd * D * V;
    return 2.0 * 3.0 * fwd;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG B S T STEPS [pegasus|hf-mt5]\n", argv[0]);
        return 2;
    }
    t5p_config c;
    if (t5p_config_preset(&c, argv[1]) < 0) {
        fprintf(stderr, "%s\n", t5p_last_error());
        return 2;
    }
    int B = atoi(argv[2]), S = atoi(argv[3]), T = atoi(argv[4]), steps = atoi(argv[5]);
    if (argc > 6) c.flavor = t5p_flavor_parse(argv[6]);
    if (B <= 0 || S <= 0 || T < 2 || steps < 2 || c.flavor < 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    t5p_model *m = t5p_model_new(&c);
    t5p_params_init(&c, m->params, 1);
    int *src = malloc(sizeof(int) * B * S), *tgt = malloc(sizeof(int) * B * T);
    uint64_t r = 42;
    for (int b = 0; b < B; b++) {  // full rows except some padding at the end of odd rows
        for (int s = 0; s < S; s++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            src[b * S + s] = (b & 1) && s >= S - S / 8 ? 0 : 1 + (int)((r >> 33) % (uint64_t)(c.vocab_size - 1));
        }
        for (int t = 0; t < T; t++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            tgt[b * T + t] = (b & 1) && t >= T - T / 8 ? 0 : 1 + (int)((r >> 33) % (uint64_t)(c.vocab_size - 1));
        }
    }
    double *dt = malloc(sizeof(double) * steps);
    float loss = 0;
    for (int i = 0; i < steps; i++) {
        double t0 = now_s();
        t5p_model_zero_grad(m);
        if (t5p_model_forward(m, src, tgt, B, S, T, 1) < 0 || t5p_model_backward(m) < 0) {
            fprintf(stderr, "%s\n", t5p_last_error());
            return 1;
        }
        dt[i] = now_s() - t0;
        loss = m->loss;
    }
    qsort(dt + 1, steps - 1, sizeof(double), cmp_double);  // the first step is left out
    double med = dt[1 + (steps - 1) / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("t5p     %-5s %s B=%d S=%d T=%d threads=%d: %8.1f ms/step %8.0f tokens/s %6.1f GFLOP/s  peak %5.0f MB  "
           "(loss %.3f)\n",
           argv[1], t5p_flavor_name(c.flavor), B, S, T, threads, med * 1e3, B * (S + T) / med,
           step_flops(&c, B, S, T) / med / 1e9, ru.ru_maxrss / 1024.0, loss);
    free(dt), free(src), free(tgt);
    t5p_model_free(m);
    return 0;
}
