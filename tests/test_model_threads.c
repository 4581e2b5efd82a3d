// tests/test_model_threads.c - every parallel path of the model on small shapes (thresholds set to 1):
// loss, logits and gradients of a training step (dropout on) bitwise equal on 1, 2 and 3 threads.
#define T5P_PAR_MIN 1
#define T5P_GEMM_PAR_MIN 1
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

static void run(int flavor) {
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.vocab_size = 203, c.d_model = 40, c.d_ff = 52, c.num_heads = 3, c.d_kv = 11, c.num_layers = 2;
    c.num_decoder_layers = 2, c.num_buckets = 8, c.max_distance = 20, c.flavor = flavor;
    enum { B = 3, S = 37, T = 19 };
    int src[B * S], tgt[B * T];
    uint64_t r = 5;
    for (int i = 0; i < B * S; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        src[i] = (i % S) < S - 5 * (i / S) ? 1 + (int)((r >> 33) % 202) : 0;
    }
    for (int i = 0; i < B * T; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tgt[i] = (i % T) < T - 4 * (i / T) ? 1 + (int)((r >> 33) % 202) : 0;
    }
    t5p_model *m = t5p_model_new(&c);
    t5p_params_init(&c, m->params, 3);
    size_t nl = (size_t)B * (T - 1) * c.vocab_size;
    float *logits1 = malloc(nl * sizeof(float)), *grads1 = malloc(m->num_params * sizeof(float));
    float loss1 = 0;
    int ok = 1;
    char what[200] = "";
    for (int threads = 1; threads <= 3; threads++) {
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        m->seed = 9, m->step = 0;
        t5p_model_zero_grad(m);
        t5p_model_forward(m, src, tgt, B, S, T, 1);
        if (threads == 1) {
            loss1 = m->loss;
            memcpy(logits1, t5p_model_logits(m), nl * sizeof(float));
        } else if (m->loss != loss1 || memcmp(logits1, t5p_model_logits(m), nl * sizeof(float))) {
            ok = 0;
            snprintf(what, sizeof what, "%d threads: loss %.9g vs %.9g or logits differ", threads, m->loss, loss1);
        }
        t5p_model_backward(m);
        if (threads == 1)
            memcpy(grads1, m->grads, m->num_params * sizeof(float));
        else if (memcmp(grads1, m->grads, m->num_params * sizeof(float))) {
            ok = 0;
            snprintf(what, sizeof what, "%d threads: gradients differ", threads);
        }
    }
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    char name[100];
    snprintf(name, sizeof name, "model (%s) bitwise equal on 1, 2 and 3 threads, every path parallel",
             t5p_flavor_name(flavor));
    if (ok) t5pt_pass(name);
    else t5pt_fail(name, "%s", what);
    free(logits1), free(grads1);
    t5p_model_free(m);
}

int main(void) {
    (void)t5pt_shared, (void)t5pt_skip, (void)t5pt_path;
#ifndef _OPENMP
    t5pt_skip("model threads", "built without OpenMP");
    return t5pt_exit();
#endif
    run(T5P_PEGASUS);
    run(T5P_HF_MT5);
    return t5pt_exit();
}
