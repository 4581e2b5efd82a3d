// bench/bench_kernels.cu - t5p_cuda.cu's fused kernels timed at t5p-base training shapes (batch 32, source
// 512, target 128: 16384 encoder rows, 4096 decoder rows, D 768, F 2048, 12 heads, V 50000). For each
// kernel: a block-size sweep, fused and unfused versions side by side where t5p fuses, a check against
// the C twin (t5p.h section 6) on a slice of the data, and milliseconds and GB/s against the measured
// device-to-device copy bandwidth (bytes read + written). Timed with CUDA events after warm-up, mean of
// 20 launches. Built and run by bench/gpu_check.sh; lines "RESULT kernel ..." feed its table.
#include "../t5p_cuda.cu"

#include <vector>

static const int B = 32, S = 512, Td = 128, D = 768, F = 2048, H = 12, Dk = 64, HK = 768, V = 50000;
static const int Ne = B * S, Nd = B * Td;
static double copy_gbs;  // measured ceiling

#define CHECK(x)                                                                            \
    do {                                                                                    \
        if ((x) < 0) {                                                                      \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #x, t5p_last_error()); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

__global__ void fill_kernel(float *x, size_t n, uint32_t seed, float scale) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = ((float)(t5p__hash32((uint32_t)i ^ seed) >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
}
static float *dev_rand(size_t n, float scale, uint32_t seed) {
    float *p = NULL;
    CHECK(t5p_cuda_malloc((void **)&p, n * sizeof(float)));
    fill_kernel<<<t5p__blocks(n, 256), 256>>>(p, n, seed * 2654435761u, scale);
    CHECK(t5p_cuda_sync());
    return p;
}
static std::vector<float> host(const float *d, size_t n) {
    std::vector<float> h(n);
    CHECK(t5p_cuda_download(h.data(), d, n * sizeof(float)));
    return h;
}
static double max_err(const float *a, const float *b, size_t n) {  // relative to max|b|
    double mx = 0, e = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]));
    return e / (mx > 0 ? mx : 1);
}

// mean milliseconds of f over 20 runs after 3 warm-ups
template <typename Fn>
static double time_ms(Fn f) {
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    for (int i = 0; i < 3; i++) CHECK(f());
    cudaEventRecord(a);
    for (int i = 0; i < 20; i++) CHECK(f());
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a), cudaEventDestroy(b);
    return ms / 20;
}

struct best {
    double ms = 1e30;
    int bs = 0;
};
static void line(const char *kernel, const char *version, int bs, double ms, double bytes, best *bt) {
    double gbs = bytes / ms / 1e6;
    printf("  %-24s %-12s block %4d %9.4f ms %8.1f GB/s %6.1f%% of copy\n", kernel, version, bs, ms, gbs,
           100 * gbs / copy_gbs);
    if (bt && ms < bt->ms) bt->ms = ms, bt->bs = bs;
}
static void result(const char *kernel, const best &bt, double bytes, double err) {
    double gbs = bytes / bt.ms / 1e6;
    printf("RESULT kernel %-28s %9.4f ms %8.1f GB/s %5.1f%% block %4d maxerr %.2g\n", kernel, bt.ms, gbs,
           100 * gbs / copy_gbs, bt.bs, err);
}

static const int sweep[] = {64, 128, 256, 512, 1024};

// unfused reference versions (what the fused kernels replace)
__global__ void add_kernel(float *y, const float *a, const float *b, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a[i] + b[i];
}

int main(void) {
    CHECK(t5p_cuda_init(0));
    char info[256];
    CHECK(t5p_cuda_device_info(info, sizeof info));
    printf("device: %s\nshapes: t5p-base training, B %d, S %d, Td %d (Ne %d, Nd %d rows), D %d, F %d, H %d, V %d\n",
           info, B, S, Td, Ne, Nd, D, F, H, V);

    // ceiling: device-to-device copy of 2 GiB, bytes read + written
    {
        const size_t n = (size_t)1 << 29;
        float *a = dev_rand(n, 1, 1), *b = dev_rand(n, 1, 2);
        double ms = time_ms([&] { return cudaMemcpy(b, a, n * 4, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : -1; });
        copy_gbs = 2.0 * n * 4 / ms / 1e6;
        printf("copy bandwidth (cudaMemcpy device to device, read + write): %.1f GB/s\n", copy_gbs);
        printf("RESULT copy_bandwidth %.1f GB/s\n", copy_gbs);
        t5p_cuda_free(a), t5p_cuda_free(b);
    }

    const size_t nd = (size_t)Ne * D, nf = (size_t)Ne * F;
    float *x = dev_rand(nd, 2, 3), *sub = dev_rand(nd, 1, 4), *g = dev_rand(D, 1, 5), *out = dev_rand(nd, 1, 6);
    float *xout = dev_rand(nd, 1, 7), *tmp = dev_rand(nd, 1, 8), *rstd = dev_rand(Ne, 1, 9);
    float *dres = dev_rand(nd, 1, 10), *dsub = dev_rand(nd, 1, 11), *dgw = dev_rand(D, 1, 12);
    float *scratch = dev_rand(t5p__rmsnorm_scratch(Ne, D), 1, 13);
    const t5p__drop drop = t5p__drop_make(0.1f, 0x1234567890ull, 1.0f);
    const int CR = 64;  // rows checked against the C twins

    // --- embedding
    {
        printf("embedding (Ne rows of the (V, D) table)\n");
        float *table = dev_rand((size_t)V * D, 1, 20);
        std::vector<int> ids(Ne);
        for (int i = 0; i < Ne; i++) ids[i] = (int)(t5p__mix64(i) % V);
        int *dids = NULL;
        CHECK(t5p_cuda_malloc((void **)&dids, sizeof(int) * Ne));
        CHECK(t5p_cuda_upload(dids, ids.data(), sizeof(int) * Ne));
        best bt;
        for (int bs : sweep) {
            t5p__block[T5P__K_ELEM] = bs;
            double ms = time_ms([&] { return t5p__launch_embedding_forward(out, dids, table, Ne, D, t5p__no_drop); });
            line("embedding_forward", "", bs, ms, 2.0 * nd * 4, &bt);
        }
        std::vector<float> th = host(table, (size_t)V * D), ref((size_t)CR * D);
        t5p_embedding_forward(ref.data(), ids.data(), th.data(), CR, D);
        result("embedding_forward", bt, 2.0 * nd * 4, max_err(host(out, (size_t)CR * D).data(), ref.data(), (size_t)CR * D));
        // backward, decoder rows grouped by id on the host (as the model does per batch)
        std::vector<int> order(Nd), uniq(Nd), starts(Nd + 1);
        std::vector<uint64_t> tmpk(Nd);
        int U = t5p__csr(ids.data(), Nd, order.data(), uniq.data(), starts.data(), tmpk.data());
        int *csr = NULL;
        CHECK(t5p_cuda_malloc((void **)&csr, sizeof(int) * (3 * (size_t)Nd + 1)));
        CHECK(t5p_cuda_upload(csr, order.data(), sizeof(int) * Nd));
        CHECK(t5p_cuda_upload(csr + Nd, uniq.data(), sizeof(int) * U));
        CHECK(t5p_cuda_upload(csr + 2 * Nd, starts.data(), sizeof(int) * (U + 1)));
        bt = best();
        double ms = time_ms([&] { return t5p__launch_embedding_backward(table, dsub, csr, csr + Nd, csr + 2 * Nd, U, D); });
        line("embedding_backward", "csr", 256, ms, 3.0 * Nd * D * 4, &bt);
        result("embedding_backward", bt, 3.0 * Nd * D * 4, 0);
        t5p_cuda_free(table), t5p_cuda_free(dids), t5p_cuda_free(csr);
    }

    // --- RMSNorm and the fused residual + RMSNorm
    {
        printf("rmsnorm (Ne x D)\n");
        best bt;
        for (int bs : sweep) {
            t5p__block[T5P__K_NORM] = bs;
            double ms = time_ms([&] { return t5p__launch_rmsnorm_forward(NULL, out, rstd, x, NULL, g, Ne, D, 1e-6f, t5p__no_drop); });
            line("rmsnorm_forward", "", bs, ms, 2.0 * nd * 4, &bt);
        }
        std::vector<float> xh = host(x, (size_t)CR * D), gh = host(g, D), ref((size_t)CR * D), rr(CR);
        t5p__block[T5P__K_NORM] = bt.bs;
        CHECK(t5p__launch_rmsnorm_forward(NULL, out, rstd, x, NULL, g, Ne, D, 1e-6f, t5p__no_drop));
        t5p_rmsnorm_forward(ref.data(), rr.data(), xh.data(), gh.data(), CR, D, 1e-6f);
        result("rmsnorm_forward", bt, 2.0 * nd * 4, max_err(host(out, (size_t)CR * D).data(), ref.data(), (size_t)CR * D));

        best fused, unfused;
        for (int bs : sweep) {
            t5p__block[T5P__K_NORM] = bs, t5p__block[T5P__K_ELEM] = bs;
            double ms = time_ms([&] { return t5p__launch_rmsnorm_forward(xout, out, rstd, x, sub, g, Ne, D, 1e-6f, drop); });
            line("residual_rmsnorm_fwd", "fused", bs, ms, 4.0 * nd * 4, &fused);
            ms = time_ms([&] {
                T5P__TRY(t5p__launch_dropout(tmp, sub, nd, drop));
                add_kernel<<<t5p__blocks(nd, bs), bs>>>(xout, x, tmp, nd);
                T5P__LAUNCHED();
                return t5p__launch_rmsnorm_forward(NULL, out, rstd, xout, NULL, g, Ne, D, 1e-6f, t5p__no_drop);
            });
            line("residual_rmsnorm_fwd", "unfused(3)", bs, ms, 7.0 * nd * 4, &unfused);
        }
        t5p__block[T5P__K_NORM] = fused.bs;
        CHECK(t5p__launch_rmsnorm_forward(xout, out, rstd, x, sub, g, Ne, D, 1e-6f, drop));
        std::vector<float> sh = host(sub, (size_t)CR * D), rx((size_t)CR * D);
        t5p_dropout_forward(rx.data(), sh.data(), (size_t)CR * D, 0.1f, 0x1234567890ull, 1.0f);
        for (size_t i = 0; i < (size_t)CR * D; i++) rx[i] += xh[i];
        t5p_rmsnorm_forward(ref.data(), rr.data(), rx.data(), gh.data(), CR, D, 1e-6f);
        result("residual_rmsnorm_fwd fused", fused, 4.0 * nd * 4,
               max_err(host(out, (size_t)CR * D).data(), ref.data(), (size_t)CR * D));
        result("residual_rmsnorm_fwd unfused", unfused, 7.0 * nd * 4, 0);
        printf("  fused / unfused time: %.2f\n", fused.ms / unfused.ms);

        bt = best();
        for (int bs : sweep) {
            t5p__block[T5P__K_NORM] = bs;
            double ms = time_ms([&] { return t5p__launch_rmsnorm_backward(dres, dsub, dgw, tmp, xout, rstd, g, Ne, D, drop, scratch); });
            line("residual_rmsnorm_bwd", "fused", bs, ms, 5.0 * nd * 4, &bt);
        }
        result("residual_rmsnorm_bwd", bt, 5.0 * nd * 4, 0);
    }

    // --- gated GELU and dropout
    {
        printf("gelu gate and dropout (Ne x F, Ne x D)\n");
        float *u = dev_rand(2 * nf, 3, 30), *gg = dev_rand(nf, 1, 31), *dg = dev_rand(nf, 1, 32), *du = dev_rand(2 * nf, 1, 33);
        for (int form = 0; form < 2; form++) {
            best bf, bb;
            for (int bs : sweep) {
                t5p__block[T5P__K_ELEM] = bs;
                double ms = time_ms([&] { return t5p__launch_gelu_forward(gg, u, u + nf, nf, form); });
                line(form ? "gelu_forward tanh" : "gelu_forward erf", "", bs, ms, 3.0 * nf * 4, &bf);
                ms = time_ms([&] { return t5p__launch_gelu_backward(du, du + nf, dg, u, u + nf, nf, form); });
                line(form ? "gelu_backward tanh" : "gelu_backward erf", "", bs, ms, 5.0 * nf * 4, &bb);
            }
            const size_t cn = (size_t)CR * F;
            std::vector<float> u0 = host(u, cn), u1 = host(u + nf, cn), ref(cn);
            t5p_gelu_gate_forward(ref.data(), u0.data(), u1.data(), cn, form);
            t5p__block[T5P__K_ELEM] = bf.bs;
            CHECK(t5p__launch_gelu_forward(gg, u, u + nf, nf, form));
            result(form ? "gelu_forward tanh" : "gelu_forward erf", bf, 3.0 * nf * 4, max_err(host(gg, cn).data(), ref.data(), cn));
            result(form ? "gelu_backward tanh" : "gelu_backward erf", bb, 5.0 * nf * 4, 0);
        }
        best bt;
        for (int bs : sweep) {
            t5p__block[T5P__K_ELEM] = bs;
            double ms = time_ms([&] { return t5p__launch_dropout(tmp, sub, nd, drop); });
            line("dropout", "", bs, ms, 2.0 * nd * 4, &bt);
        }
        result("dropout", bt, 2.0 * nd * 4, 0);
        t5p_cuda_free(u), t5p_cuda_free(gg), t5p_cuda_free(dg), t5p_cuda_free(du);
    }

    // --- attention pieces: head split, position bias, softmax forward / backward
    {
        printf("attention (encoder self-attention: B x H x S x S scores)\n");
        const size_t nq = (size_t)Ne * HK, na = (size_t)B * H * S * S;
        float *q = dev_rand(3 * nq, 1, 40), *qp = dev_rand(3 * nq, 1, 41);
        best bt;
        for (int bs : sweep) {
            t5p__block[T5P__K_ELEM] = bs;
            double ms = time_ms([&] { return t5p__launch_permute(qp, q, B, S, H, Dk, nq, 3, 0); });
            line("permute qkv", "", bs, ms, 2.0 * 3 * nq * 4, &bt);
        }
        result("permute qkv", bt, 2.0 * 3 * nq * 4, 0);
        t5p_cuda_free(q), t5p_cuda_free(qp);

        float *table = dev_rand(32 * H, 1, 42), *bias = dev_rand((size_t)H * S * S, 1, 43);
        std::vector<int> bk(2 * S - 1);
        t5p__buckets(bk.data(), S, S, 1, 32, 128);
        int *dbk = NULL;
        CHECK(t5p_cuda_malloc((void **)&dbk, sizeof(int) * bk.size()));
        CHECK(t5p_cuda_upload(dbk, bk.data(), sizeof(int) * bk.size()));
        t5p__block[T5P__K_ELEM] = 256;
        double ms = time_ms([&] { return t5p__launch_position_bias(bias, table, dbk, H, S, S); });
        bt = best();
        line("position_bias_forward", "", 256, ms, (double)H * S * S * 4, &bt);
        result("position_bias_forward", bt, (double)H * S * S * 4, 0);
        float *dtab = dev_rand(32 * H, 1, 44), *diag = dev_rand((size_t)H * 2 * S, 1, 45);
        ms = time_ms([&] { return t5p__launch_position_bias_backward(dtab, bias, dbk, H, S, S, 32, diag); });
        bt = best();
        line("position_bias_backward", "diagonals", 128, ms, (double)H * S * S * 4, &bt);
        result("position_bias_backward", bt, (double)H * S * S * 4, 0);

        float *att = dev_rand(na, 4, 46), *dP = dev_rand(na, 1, 47), *dbias = dev_rand((size_t)H * S * S, 1, 48);
        std::vector<uint8_t> mask((size_t)B * S);
        for (size_t i = 0; i < mask.size(); i++) mask[i] = (i % S) < (size_t)(S - (i / S) * 7 % 100);
        uint8_t *dmask = NULL;
        CHECK(t5p_cuda_malloc((void **)&dmask, mask.size()));
        CHECK(t5p_cuda_upload(dmask, mask.data(), mask.size()));
        float *scores = dev_rand(na, 4, 46);
        best bf, bb;
        for (int bs : sweep) {
            t5p__block[T5P__K_SOFTMAX] = bs;
            // (repeated in place: the second pass sees probabilities, the same work)
            ms = time_ms([&] { return t5p__launch_softmax_forward(att, bias, dmask, 0, B, H, S, S); });
            line("softmax_forward", "bias+mask", bs, ms, 2.0 * na * 4, &bf);
            ms = time_ms([&] { return t5p__launch_softmax_backward(att, dP, dbias, B, H, S, S); });
            line("softmax_backward", "+dbias", bs, ms, 3.0 * na * 4, &bb);
        }
        // check: softmax of a few rows against the C rules (t5p_attention_forward's)
        t5p__block[T5P__K_SOFTMAX] = bf.bs;
        CHECK(cudaMemcpy(att, scores, na * 4, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : -1);
        CHECK(t5p__launch_softmax_forward(att, bias, dmask, 0, B, H, S, S));
        std::vector<float> sc = host(scores, (size_t)CR * S), got = host(att, (size_t)CR * S), bh = host(bias, (size_t)CR * S);
        std::vector<float> ref((size_t)CR * S);
        for (int i = 0; i < CR; i++) {  // rows (b 0, h 0, i)
            float mx = -INFINITY, sum = 0;
            for (int j = 0; j < S; j++)
                if (mask[j]) mx = fmaxf(mx, sc[(size_t)i * S + j] + bh[(size_t)i * S + j]);
            for (int j = 0; j < S; j++) {
                float e = mask[j] ? expf(sc[(size_t)i * S + j] + bh[(size_t)i * S + j] - mx) : 0.0f;
                ref[(size_t)i * S + j] = e, sum += e;
            }
            for (int j = 0; j < S; j++) ref[(size_t)i * S + j] *= 1.0f / sum;
        }
        result("softmax_forward bias+mask", bf, 2.0 * na * 4, max_err(got.data(), ref.data(), ref.size()));
        result("softmax_backward +dbias", bb, 3.0 * na * 4, 0);
        t5p_cuda_free(table), t5p_cuda_free(bias), t5p_cuda_free(dbk), t5p_cuda_free(dtab), t5p_cuda_free(diag);
        t5p_cuda_free(att), t5p_cuda_free(dP), t5p_cuda_free(dbias), t5p_cuda_free(dmask), t5p_cuda_free(scores);
    }

    // --- the classifier: softmax + cross-entropy + logit gradient
    {
        printf("classifier (Nd x V logits)\n");
        const size_t nv = (size_t)Nd * V;
        float *src = dev_rand(nv, 8, 50), *lg = dev_rand(nv, 1, 51), *lse = dev_rand(Nd, 1, 52), *xlab = dev_rand(Nd, 1, 53);
        int *labels = NULL, *ok = NULL;
        std::vector<int> lh(Nd);
        for (int i = 0; i < Nd; i++) lh[i] = i % 9 == 0 ? -1 : (int)(t5p__mix64(i + 99) % V);
        CHECK(t5p_cuda_malloc((void **)&labels, sizeof(int) * Nd));
        CHECK(t5p_cuda_malloc((void **)&ok, sizeof(int) * Nd));
        CHECK(t5p_cuda_upload(labels, lh.data(), sizeof(int) * Nd));
        best fused, split;
        for (int bs : {128, 256, 512, 1024}) {  // repeated in place on its own output: the same work
            t5p__block[T5P__K_XENT] = bs;
            double ms = time_ms([&] { return t5p__launch_xent(lg, lse, xlab, ok, labels, Nd, V, 1e-4f, 3); });
            line("xent", "fused", bs, ms, 2.0 * nv * 4, &fused);
            ms = time_ms([&] {
                T5P__TRY(t5p__launch_xent(lg, lse, xlab, ok, labels, Nd, V, 1e-4f, 1));
                return t5p__launch_xent(lg, lse, xlab, ok, labels, Nd, V, 1e-4f, 2);
            });
            line("xent", "fwd+bwd(2)", bs, ms, 3.0 * nv * 4, &split);
        }
        t5p__block[T5P__K_XENT] = fused.bs;
        CHECK(cudaMemcpy(lg, src, nv * 4, cudaMemcpyDeviceToDevice) == cudaSuccess ? 0 : -1);
        CHECK(t5p__launch_xent(lg, lse, xlab, ok, labels, Nd, V, 1e-4f, 3));
        const int cr = 16;
        std::vector<float> xs = host(src, (size_t)cr * V), rl(cr), rd((size_t)cr * V);
        int corr;
        t5p_xent_forward(rl.data(), xs.data(), lh.data(), cr, V, &corr);
        t5p_xent_backward(rd.data(), xs.data(), rl.data(), lh.data(), cr, V, 1e-4f);
        result("xent fused", fused, 2.0 * nv * 4, max_err(host(lg, (size_t)cr * V).data(), rd.data(), (size_t)cr * V));
        result("xent fwd+bwd", split, 3.0 * nv * 4, 0);
        printf("  fused / two passes time: %.2f\n", fused.ms / split.ms);

        // beam top-k: 96 rows (32 sources x 3 beams), k = 6, log-softmax + score
        best bt;
        float *vals = dev_rand(96 * 6, 1, 54), *add = dev_rand(96, 1, 55);
        int *idx = NULL;
        CHECK(t5p_cuda_malloc((void **)&idx, sizeof(int) * 96 * 6));
        for (int bs : {128, 256, 512, 1024}) {
            t5p__block[T5P__K_TOPK] = bs;
            double ms = time_ms([&] { return t5p__launch_topk(vals, idx, src, add, 96, V, 6); });
            line("topk beam", "k=6", bs, ms, 96.0 * V * 4, &bt);
        }
        result("topk beam (96 x V, k 6)", bt, 96.0 * V * 4, 0);
        t5p_cuda_free(src), t5p_cuda_free(lg), t5p_cuda_free(lse), t5p_cuda_free(xlab), t5p_cuda_free(labels);
        t5p_cuda_free(ok), t5p_cuda_free(vals), t5p_cuda_free(add), t5p_cuda_free(idx);
    }

    // --- optimizers on one (V, D) tensor: Adam(W) elementwise, Adafactor with its reductions
    {
        printf("optimizers (one %d x %d tensor)\n", V, D);
        const size_t n = (size_t)V * D;
        float *w = dev_rand(n, 0.1f, 60), *gr = dev_rand(n, 1, 61);
        t5p_param p;
        memset(&p, 0, sizeof p);
        p.name = "shared.weight", p.w = w, p.g = gr, p.ndim = 2, p.shape[0] = V, p.shape[1] = D;
        for (int kind = 0; kind < 2; kind++) {
            t5p_optim_config oc = t5p_optim_config_default(kind ? T5P_OPTIM_ADAMW : T5P_OPTIM_ADAFACTOR);
            t5p_cuda_optim *o = t5p_cuda_optim_new(&oc, &p, 1);
            if (!o) CHECK(-1);
            best bt;
            const double bytes = kind ? 7.0 * n * 4 : 7.0 * n * 4;  // adam: w g m v in, w m v out; adafactor: ~7 passes
            for (int bs : sweep) {
                t5p__block[T5P__K_OPT] = bs;
                double ms = time_ms([&] { return t5p_cuda_optim_step(o); });
                line(kind ? "adamw step" : "adafactor step", "", bs, ms, bytes, &bt);
            }
            result(kind ? "adamw step" : "adafactor step (b4k)", bt, bytes, 0);
            t5p_cuda_optim_free(o);
        }
        t5p_cuda_free(w), t5p_cuda_free(gr);
    }
    CHECK(t5p_cuda_sync());
    return 0;
}
