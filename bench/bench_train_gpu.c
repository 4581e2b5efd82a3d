// bench/bench_train_gpu.c - training and decoding speed of the CUDA backend (t5p_cuda.cu).
//   bench_train_gpu train PRESET B S T STEPS PRECISION [FLAVOR]   zero_grad + forward (dropout on) + backward
//       + AdamW step per step, the first 2 steps left out, median; tokens/s counts B*(S + T-1); MFU counts the
//       matrix products (3x the forward's: attention and LM head included) against the GPU's dense peak
//       for the precision (H200: bf16 989, tf32 494, fp32 67 TFLOP/s; T5P_PEAK_TFLOPS overrides).
//   bench_train_gpu gen PRESET B S MAXLEN PRECISION [FLAVOR]      greedy decoding of B random sources, MAXLEN
//       tokens each (no end token), titles/s; the first run left out, median of 3.
// Prints a readable line and a "RESULT ..." line for bench/gpu_check.sh. Flavour hf-mt5 by default (the
// same arithmetic as transformers' MT5, the PyTorch peer bench/bench_model_gpu.py).
#define T5P_IMPLEMENTATION
#include "t5p.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define CHECK(x)                                                                             \
    do {                                                                                     \
        if ((x) < 0) {                                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #x, t5p_last_error()); \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

// Multiply-adds x2 of one forward's matrix products (Ne = B*S encoder rows, Nd = B*Td decoder rows).
static double forward_flops(const t5p_config *c, double B, double S, double Td) {
    const double D = c->d_model, F = c->d_ff, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, V = c->vocab_size;
    const double Ne = B * S, Nd = B * Td;
    double enc = 2 * Ne * D * HK * 4 + 2 * Ne * D * F * 3 + 2 * 2 * B * H * S * S * Dk;
    double dec = 2 * Nd * D * HK * 4 + 2 * 2 * B * H * Td * Td * Dk       // self-attention
                 + 2 * Nd * D * HK * 2 + 2 * Ne * D * HK * 2 + 2 * 2 * B * H * Td * S * Dk  // cross-attention
                 + 2 * Nd * D * F * 3;
    return c->num_layers * enc + c->num_decoder_layers * dec + 2 * Nd * D * V;
}

static double peak_tflops(int prec) {
    const char *e = getenv("T5P_PEAK_TFLOPS");
    if (e) return atof(e);
    return prec == T5P_CUDA_BF16 ? 989.0 : prec == T5P_CUDA_TF32 ? 494.0 : 67.0;  // H200 SXM, dense
}

static void random_batch(const t5p_config *c, int *src, int *tgt, int B, int S, int T, uint64_t *r) {
    for (int b = 0; b < B; b++) {  // odd rows padded at the end, like bench_model_gpu.py
        for (int s = 0; s < S; s++) {
            *r = *r * 6364136223846793005ull + 1442695040888963407ull;
            src[b * S + s] = (b % 2 && s >= S - S / 8) ? c->pad_id : 1 + (int)((*r >> 33) % (uint64_t)(c->vocab_size - 1));
        }
        for (int t = 0; t < T; t++) {
            *r = *r * 6364136223846793005ull + 1442695040888963407ull;
            tgt[b * T + t] = (b % 2 && t >= T - T / 8) ? c->pad_id : 1 + (int)((*r >> 33) % (uint64_t)(c->vocab_size - 1));
        }
        tgt[b * T] = c->pad_id;  // decoder start
    }
}

int main(int argc, char **argv) {
    if (argc < 7 || (strcmp(argv[1], "train") && strcmp(argv[1], "gen")) || (!strcmp(argv[1], "train") && argc < 8)) {
        fprintf(stderr, "usage: bench_train_gpu train PRESET B S T STEPS PRECISION [FLAVOR]\n"
                        "       bench_train_gpu gen PRESET B S MAXLEN PRECISION [FLAVOR]\n");
        return 2;
    }
    const int train = !strcmp(argv[1], "train");
    t5p_config c;
    CHECK(t5p_config_preset(&c, argv[2]));
    const int B = atoi(argv[3]), S = atoi(argv[4]), T = atoi(argv[5]);
    const int steps = train ? atoi(argv[6]) : 3;
    const int prec = t5p_cuda_precision_parse(argv[train ? 7 : 6]);
    CHECK(prec);
    const char *flavor = argc > (train ? 8 : 7) ? argv[train ? 8 : 7] : "hf-mt5";
    c.flavor = t5p_flavor_parse(flavor);
    CHECK(c.flavor);
    if (t5p_cuda_device_count() <= 0) {
        printf("SKIP bench_train_gpu: no CUDA device (%s)\n", t5p_last_error());
        return 0;
    }
    CHECK(t5p_cuda_init(0));
    char info[256];
    CHECK(t5p_cuda_device_info(info, sizeof info));

    float *params = (float *)malloc(sizeof(float) * t5p_num_params(&c));
    t5p_params_init(&c, params, 1);
    t5p_cuda_model *g = t5p_cuda_model_new(&c, prec);
    if (!g) CHECK(-1);
    CHECK(t5p_cuda_model_set_params(g, params));
    free(params);
    int *src = (int *)malloc(sizeof(int) * B * S), *tgt = (int *)malloc(sizeof(int) * B * (train ? T : 2));
    uint64_t r = 42;
    random_batch(&c, src, tgt, B, S, train ? T : 2, &r);
    const int warm = train ? 2 : 1, n = steps + warm;
    double *ms = (double *)malloc(sizeof(double) * n);
    t5p_cuda_stats st = {0, 0, 0};

    if (train) {
        t5p_optim_config oc = t5p_optim_config_default(T5P_OPTIM_ADAMW);
        oc.warmup_steps = 0;
        t5p_cuda_optim *o = t5p_cuda_model_optim_new(g, &oc);
        if (!o) CHECK(-1);
        for (int i = 0; i < n; i++) {
            double t0 = now();
            CHECK(t5p_cuda_model_zero_grad(g));
            CHECK(t5p_cuda_model_forward(g, src, tgt, B, S, T, 1, &st));
            CHECK(t5p_cuda_model_backward(g));
            CHECK(t5p_cuda_optim_step(o));
            CHECK(t5p_cuda_sync());
            ms[i] = 1e3 * (now() - t0);
        }
        qsort(ms + warm, (size_t)steps, sizeof *ms, cmp_double);
        const double med = ms[warm + steps / 2], tokens = (double)B * (S + T - 1);
        const double tflops = 3 * forward_flops(&c, B, S, T - 1) / (med * 1e-3) / 1e12, peak = peak_tflops(prec);
        printf("t5p-cuda %-5s %s %s B=%d S=%d T=%d: %8.1f ms/step %9.0f tokens/s %6.1f TFLOP/s MFU %5.1f%% of %.0f "
               "TFLOP/s (%s dense peak); device memory %.1f GB; loss %.3f\n  on %s\n",
               argv[2], flavor, argv[7], B, S, T, med, tokens / (med * 1e-3), tflops, 100 * tflops / peak, peak,
               argv[7], t5p_cuda_model_device_bytes(g) / 1e9, st.loss, info);
        printf("RESULT train t5p %s %s %.0f tokens/s %.1f ms/step %.1f %% MFU\n", argv[2], argv[7],
               tokens / (med * 1e-3), med, 100 * tflops / peak);
        t5p_cuda_optim_free(o);
    } else {
        int *out = (int *)malloc(sizeof(int) * B * T);
        for (int i = 0; i < n; i++) {
            double t0 = now();
            CHECK(t5p_cuda_generate_greedy(g, src, B, S, c.pad_id, -1, T, out, NULL));
            ms[i] = 1e3 * (now() - t0);
        }
        qsort(ms + warm, (size_t)steps, sizeof *ms, cmp_double);
        const double med = ms[warm + steps / 2];
        printf("t5p-cuda %-5s %s %s greedy B=%d S=%d, %d tokens each: %8.1f ms, %7.1f titles/s, %7.0f tokens/s\n",
               argv[2], flavor, argv[6], B, S, T, med, B / (med * 1e-3), (double)B * T / (med * 1e-3));
        printf("RESULT gen t5p %s %s beams 1 %.1f titles/s\n", argv[2], argv[6], B / (med * 1e-3));
        free(out);
    }
    t5p_cuda_model_free(g);
    free(src), free(tgt), free(ms);
    return 0;
}
