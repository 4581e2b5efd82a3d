// bench/bench_generate.c - generation speed: titles per second for one preset with random weights (hf-mt5
// flavour, the arithmetic transformers runs), random sources of S ids, up to T generated ids.
//   build/bench_generate CONFIG S T BEAM TITLES [BATCH [original|hf]]
// Each title is generated alone (BATCH 1, the default) or BATCH at a time (t5p_generate_batch); the first
// call is a warm-up left out of the timing. Prints titles/s, ms per title, the mean generated length and
// the time split between the encoder (measured with max_len 1) and the decoding steps.
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

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG S T BEAM TITLES [BATCH [original|hf]]\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    const int S = atoi(argv[2]), T = atoi(argv[3]), beam = atoi(argv[4]), titles = atoi(argv[5]);
    const int batch = argc > 6 ? atoi(argv[6]) : 1;
    const char *sem = argc > 7 ? argv[7] : "hf";
    t5p_config c;
    if (t5p_config_preset(&c, name) < 0) {
        fprintf(stderr, "%s\n", t5p_last_error());
        return 2;
    }
    c.flavor = T5P_HF_MT5;
    t5p_model *m = t5p_model_new(&c);
    if (!m) {
        fprintf(stderr, "%s\n", t5p_last_error());
        return 1;
    }
    t5p_params_init(&c, m->params, 1);
    t5p_gen_config g;
    t5p_gen_config_init(&g);
    g.mode = !strcmp(sem, "original") ? T5P_GEN_BEAM_ORIGINAL : beam > 1 ? T5P_GEN_BEAM_HF : T5P_GEN_GREEDY;
    g.beam = beam, g.max_len = T;
    const int n = titles + batch;  // the first batch warms up
    int **src = (int **)malloc(sizeof(int *) * n), *lens = (int *)malloc(sizeof(int) * n);
    uint64_t r = 12345;
    for (int i = 0; i < n; i++) {
        src[i] = (int *)malloc(sizeof(int) * S);
        lens[i] = S;
        for (int j = 0; j < S; j++) r = r * 6364136223846793005ull + 1442695040888963407ull, src[i][j] = 1 + (int)((r >> 33) % (c.vocab_size - 1));
        src[i][S - 1] = 102;
    }
    int *out = (int *)malloc(sizeof(int) * (size_t)batch * T), *olen = (int *)malloc(sizeof(int) * batch);
    double t_all = 0, t_enc = 0;
    long ntok = 0;
    int done = 0;
    for (int i = 0; i < n; i += batch) {
        const int nb = i + batch <= n ? batch : n - i;
        t5p_gen_config g1 = g;
        g1.max_len = 1;  // the encoder and one step: the encoder's share
        double t0 = now_s();
        if (t5p_generate_batch(m, (const int *const *)src + i, lens + i, nb, &g1, out, T, olen, NULL) < 0) {
            fprintf(stderr, "%s\n", t5p_last_error());
            return 1;
        }
        double t1 = now_s();
        if (t5p_generate_batch(m, (const int *const *)src + i, lens + i, nb, &g, out, T, olen, NULL) < 0) {
            fprintf(stderr, "%s\n", t5p_last_error());
            return 1;
        }
        double t2 = now_s();
        if (i == 0) continue;  // warm-up
        t_enc += t1 - t0, t_all += t2 - t1, done += nb;
        for (int k = 0; k < nb; k++) ntok += olen[k];
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *th = getenv("OMP_NUM_THREADS");
    printf("t5p     %-5s S=%d T=%d beam=%d batch=%d threads=%s: %8.1f ms/title %7.3f titles/s  (mean length %.1f; "
           "encoder + 1 step %.0f ms/title)  peak %5.0f MB\n",
           name, S, T, beam, batch, th ? th : "all", 1e3 * t_all / done, done / t_all, (double)ntok / done,
           1e3 * t_enc / done, ru.ru_maxrss / 1024.0);
    for (int i = 0; i < n; i++) free(src[i]);
    free(src), free(lens), free(out), free(olen);
    t5p_model_free(m);
    return 0;
}
