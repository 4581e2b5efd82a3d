/* t5p_cuda.cu - the CUDA backend of t5p (T5 PEGASUS in C): fused kernels, cuBLAS launchers, the
   encoder-decoder forward and backward on the device, Adafactor / Adam / AdamW, KV-cached decoding.

   The API is declared in t5p.h, section 12. Build (build.sh does this when nvcc exists):
       nvcc -O3 --fmad=false -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80 \
            -I. -c t5p_cuda.cu -o t5p_cuda.o
   then compile the file that defines T5P_IMPLEMENTATION with -DT5P_CUDA and link t5p_cuda.o with
   -lcublas -lcudart -lstdc++.

   Every kernel is the twin of a C function of t5p.h section 6 (or of a composition of them, for the
   fused ones): same arguments, same = / += contract, and tests/test_cuda.c checks the pair on random
   inputs. Contents:
     errors and context        every CUDA/cuBLAS call checked, failures returned with file:line
     device helpers            warp/block reductions, the dropout hash of t5p.h
     kernels                   embedding, residual + RMSNorm, gated GELU, dropout, position bias,
                               attention softmax with bias and masks, fused classifier, top-k, gather
     matrix products           cuBLAS (strided-batched for attention), precision per call
     kernel-level entry points the twins of section 6, on device pointers
     the model                 activations in one allocation, forward, backward
     optimizers                Adafactor (both styles), Adam, AdamW: t5p_optim's arithmetic
     generation                encoder once, cross K/V once, self-attention KV cache, greedy

   Precision. Parameters (the master weights), gradients, optimizer state and activations are float32.
   Matrix products run as float32 (T5P_CUDA_FP32), TF32, or bf16 tensor-core products with float32
   accumulation (T5P_CUDA_BF16: cuBLAS rounds operands to bf16 as it loads them,
   CUBLAS_COMPUTE_32F_FAST_16BF, what PyTorch's set_float32_matmul_precision("medium") selects).
   Elementwise kernels always compute in float32.

   Determinism. No atomics: every sum runs in a fixed order (embedding and position-table gradients,
   norm-weight gradients, optimizer reductions), so a step gives the same bits on every run on the same
   device. Compiled with --fmad=false, elementwise arithmetic rounds like the C twins (t5p.h compiles
   under -std=c11, which does not contract either): dropout masks, embeddings, residual sums and Adam
   updates agree with the CPU bit for bit; reductions, exp and erf agree to float rounding.

   Errors. Every CUDA runtime and cuBLAS call and every kernel launch is checked; a failure returns
   T5P_ERR_DEVICE (T5P_ERR_NOMEM when out of memory) with "file:line: call: reason" in
   t5p_last_error(). Nothing here prints or exits.

   Without a GPU. Compiled as C++ with -DT5P_CUDA_EMULATE, this file runs on the CPU against
   tests/cuda_emu.h (runtime, cuBLAS and launches emulated; a block's threads as fibers meeting at each
   barrier), which is how CI runs tests/test_cuda.c where no device exists (tests/test_cuda_emu.sh).
*/
#ifdef T5P_CUDA_EMULATE  // on the CPU, for tests where no GPU exists: tests/cuda_emu.h, tests/test_cuda_emu.sh
#include "cuda_emu.h"
#else
#include <cublas_v2.h>
#include <cuda_runtime.h>
// Kernel launches read T5P__GO(kernel, grid, block, shared bytes)(arguments...), so that the CPU emulator
// can run them; here it is the plain launch.
#define T5P__GO(kernel, grid, block, smem) kernel<<<(grid), (block), (smem)>>>
#define T5P__DYNAMIC_SMEM(type, name) extern __shared__ type name[]
#endif
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t5p.h"

// ----------------------------------------------------------------------------
// errors and context

static int t5p__cuda_fail(cudaError_t e, const char *call, const char *file, int line) {
    return t5p_error_set(e == cudaErrorMemoryAllocation ? (int)T5P_ERR_NOMEM : (int)T5P_ERR_DEVICE, "%s:%d: %s: %s (%s)", file,
                         line, call, cudaGetErrorString(e), cudaGetErrorName(e));
}

static int t5p__cublas_fail(cublasStatus_t s, const char *call, const char *file, int line) {
    return t5p_error_set(s == CUBLAS_STATUS_ALLOC_FAILED ? (int)T5P_ERR_NOMEM : (int)T5P_ERR_DEVICE, "%s:%d: %s: %s", file, line,
                         call, cublasGetStatusString(s));
}

// Each returns the error from the enclosing function (which returns int).
#define T5P__CUDA(call)                                                                   \
    do {                                                                                  \
        cudaError_t e_ = (call);                                                          \
        if (e_ != cudaSuccess) return t5p__cuda_fail(e_, #call, __FILE__, __LINE__);      \
    } while (0)
#define T5P__CUBLAS(call)                                                                 \
    do {                                                                                  \
        cublasStatus_t s_ = (call);                                                       \
        if (s_ != CUBLAS_STATUS_SUCCESS) return t5p__cublas_fail(s_, #call, __FILE__, __LINE__); \
    } while (0)
#define T5P__LAUNCHED() T5P__CUDA(cudaGetLastError())  // after every kernel launch
#define T5P__TRY(x)                  \
    do {                             \
        int rc_ = (x);               \
        if (rc_ < 0) return rc_;     \
    } while (0)

static struct {
    int ready, device, nsm;
    cublasHandle_t blas;
    int precision;  // of the kernel-level entry points' matrix products
    void *ws;       // scratch of the kernel-level entry points
    size_t ws_cap;
} t5p__cu;

// Threads per block of each kernel family; bench/bench_kernels.cu sweeps them.
enum { T5P__K_ELEM, T5P__K_NORM, T5P__K_SOFTMAX, T5P__K_XENT, T5P__K_TOPK, T5P__K_OPT, T5P__K_COUNT };
static int t5p__block[T5P__K_COUNT] = {256, 256, 256, 512, 512, 256};
#define T5P__OPT_PARTS 256  // blocks of a reduction's first stage (fixed: the same sums on every device)
static int t5p__opt_parts = T5P__OPT_PARTS;  // (the CPU emulator uses fewer)

extern "C" int t5p_cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // not sticky: clear it
        t5p_error_set(T5P_ERR_DEVICE, "no CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        return 0;
    }
    if (n == 0) t5p_error_set(T5P_ERR_DEVICE, "no CUDA device");
    return n;
}

extern "C" int t5p_cuda_init(int device) {
    int n = t5p_cuda_device_count();
    if (n <= 0) return T5P_ERR_DEVICE;
    if (device < 0 || device >= n) return t5p_error_set(T5P_ERR_ARG, "CUDA device %d does not exist (%d devices)", device, n);
    if (t5p__cu.ready && t5p__cu.device == device) return 0;
    if (t5p__cu.ready) {
        T5P__CUBLAS(cublasDestroy(t5p__cu.blas));
        t5p__cu.ready = 0;
    }
    T5P__CUDA(cudaSetDevice(device));
    cudaDeviceProp prop;
    T5P__CUDA(cudaGetDeviceProperties(&prop, device));
    t5p__cu.nsm = prop.multiProcessorCount;
    T5P__CUBLAS(cublasCreate(&t5p__cu.blas));
#ifdef T5P_CUDA_EMULATE  // fewer fibers: two warps per block still take every cross-warp path
    if (!getenv("T5P_EMU_REAL_BLOCKS")) {
        for (int k = 0; k < T5P__K_COUNT; k++) t5p__block[k] = 64;
        t5p__opt_parts = 8;
    }
#endif
    t5p__cu.device = device;
    t5p__cu.ready = 1;
    return 0;
}

static int t5p__ready(void) { return t5p__cu.ready ? 0 : t5p_cuda_init(0); }

extern "C" int t5p_cuda_device_info(char *buf, size_t size) {
    T5P__TRY(t5p__ready());
    cudaDeviceProp p;
    T5P__CUDA(cudaGetDeviceProperties(&p, t5p__cu.device));
    int rt = 0, drv = 0;
    T5P__CUDA(cudaRuntimeGetVersion(&rt));
    T5P__CUDA(cudaDriverGetVersion(&drv));
    snprintf(buf, size, "%s, %.1f GiB, %d SMs, sm_%d%d, runtime %d.%d, driver %d.%d", p.name,
             (double)p.totalGlobalMem / (1 << 30), p.multiProcessorCount, p.major, p.minor, rt / 1000, rt % 1000 / 10,
             drv / 1000, drv % 1000 / 10);
    return 0;
}

// Scratch for the kernel-level entry points (the model has its own): grows, never shrinks.
static int t5p__ws(size_t bytes, void **p) {
    if (bytes > t5p__cu.ws_cap) {
        T5P__CUDA(cudaDeviceSynchronize());  // nothing in flight may still use the old block
        if (t5p__cu.ws) T5P__CUDA(cudaFree(t5p__cu.ws));
        t5p__cu.ws = NULL, t5p__cu.ws_cap = 0;
        T5P__CUDA(cudaMalloc(&t5p__cu.ws, bytes));
        t5p__cu.ws_cap = bytes;
    }
    *p = t5p__cu.ws;
    return 0;
}

extern "C" int t5p_cuda_malloc(void **p, size_t bytes) {
    *p = NULL;
    T5P__TRY(t5p__ready());
    T5P__CUDA(cudaMalloc(p, bytes ? bytes : 1));
    return 0;
}
extern "C" int t5p_cuda_free(void *p) {
    if (p) T5P__CUDA(cudaFree(p));
    return 0;
}
extern "C" int t5p_cuda_upload(void *dst, const void *src, size_t bytes) {
    T5P__CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    return 0;
}
extern "C" int t5p_cuda_download(void *dst, const void *src, size_t bytes) {
    T5P__CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return 0;
}
extern "C" int t5p_cuda_memset(void *p, int byte, size_t bytes) {
    T5P__CUDA(cudaMemset(p, byte, bytes));
    return 0;
}
extern "C" int t5p_cuda_sync(void) {
    T5P__CUDA(cudaDeviceSynchronize());
    return 0;
}
extern "C" int t5p_cuda_set_precision(int precision) {
    if (precision < T5P_CUDA_FP32 || precision > T5P_CUDA_BF16)
        return t5p_error_set(T5P_ERR_ARG, "unknown CUDA precision %d", precision);
    t5p__cu.precision = precision;
    return 0;
}

static inline unsigned t5p__blocks(size_t n, int block) { return (unsigned)((n + (size_t)block - 1) / (size_t)block); }


// ----------------------------------------------------------------------------
// device helpers

__device__ __forceinline__ float t5p__warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double t5p__warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float t5p__warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum (or max) over the block; every thread gets the result. blockDim.x is a multiple of 32.
template <typename T>
__device__ T t5p__block_sum(T v) {
    __shared__ T sh[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = t5p__warp_sum(v);
    __syncthreads();  // sh may still be read by a previous call
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : (T)0;
    return t5p__warp_sum(v);
}
__device__ float t5p__block_max(float v) {
    __shared__ float sh[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = t5p__warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return t5p__warp_max(v);
}

// The better of two (value, index) candidates: larger value, then smaller index.
__device__ __forceinline__ bool t5p__better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }
// Best candidate over the block (every thread gets it).
__device__ void t5p__block_best(float *v, int *i) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    float bv = *v;
    int bi = *i;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (t5p__better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    __syncthreads();
    if (lane == 0) shv[warp] = bv, shi[warp] = bi;
    __syncthreads();
    bv = lane < nw ? shv[lane] : -INFINITY;
    bi = lane < nw ? shi[lane] : INT_MAX;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (t5p__better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    *v = bv, *i = bi;
}

// Dropout exactly as t5p.h draws it: element i of stream `key` is kept when a 24-bit hash of (key, i)
// is at or above p * 2^24, and scaled by scale / (1 - p); p = 0 multiplies by scale (or copies).
struct t5p__drop {
    float p, s;
    uint32_t thr, k0, k1;
};
static t5p__drop t5p__drop_make(float p, uint64_t key, float scale) {
    t5p__drop d;
    d.p = p > 0.0f ? p : 0.0f;
    d.thr = p > 0.0f ? (uint32_t)(p * 16777216.0f) : 0u;
    d.s = p > 0.0f ? scale / (1.0f - p) : scale;
    d.k0 = (uint32_t)key, d.k1 = (uint32_t)(key >> 32);
    return d;
}
static const t5p__drop t5p__no_drop = {0.0f, 1.0f, 0u, 0u, 0u};

__device__ __forceinline__ uint32_t t5p__hash32(uint32_t x) {  // t5p.h's "lowbias32"
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}
__device__ __forceinline__ float t5p__dropped(const t5p__drop &d, float v, size_t i) {
    if (d.p > 0.0f) {
        uint32_t h = t5p__hash32(t5p__hash32((uint32_t)i ^ d.k0) + d.k1) >> 8;
        return h >= d.thr ? v * d.s : 0.0f;
    }
    return d.s == 1.0f ? v : v * d.s;
}

// t5p.h's splitmix64 finaliser and dropout-stream keys (host side).
static inline uint64_t t5p__mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// ----------------------------------------------------------------------------
// kernels

// out (N,D) = dropout(table[ids]) (d = t5p__no_drop: the plain lookup)
__global__ void t5p__embedding_forward_kernel(float *out, const int *ids, const float *table, int N, int D,
                                              t5p__drop d) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * D) return;
    size_t n = i / D, c = i % D;
    out[i] = t5p__dropped(d, table[(size_t)ids[n] * D + c], i);
}

// dtable[uniq[u]] += the dout rows order[starts[u] .. starts[u+1]) in ascending row order: the CPU's
// summation order, without atomics. grid (U, column blocks).
__global__ void t5p__embedding_backward_kernel(float *dtable, const float *dout, const int *order, const int *uniq,
                                               const int *starts, int D) {
    const int u = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= D) return;
    float *dst = dtable + (size_t)uniq[u] * D + c;
    float acc = *dst;
    for (int k = starts[u]; k < starts[u + 1]; k++) acc += dout[(size_t)order[k] * D + c];
    *dst = acc;
}

#define T5P__MAXC 16       // columns per thread in the row kernels: D <= 16 * blockDim
#define T5P__NORM_ROWS 32  // rows per block of the RMSNorm backward (one partial weight gradient each)

// One block per row. With sub: xout = x + dropout(sub) (xout may alias x), then out = rmsnorm(xout);
// without: out = rmsnorm(x). rstd = 1/sqrt(mean(v^2) + eps); out = g * (v * rstd), HF's order.
__global__ void t5p__rmsnorm_forward_kernel(float *xout, float *out, float *rstd, const float *x, const float *sub,
                                            const float *g, int D, float eps, t5p__drop d) {
    const size_t base = (size_t)blockIdx.x * D;
    float v[T5P__MAXC];
    float ss = 0.0f;
#pragma unroll
    for (int k = 0; k < T5P__MAXC; k++) {
        const int c = threadIdx.x + k * blockDim.x;
        if (c < D) {
            float t = x[base + c];
            if (sub) {
                t = t5p__dropped(d, sub[base + c], base + c) + t;
                xout[base + c] = t;
            }
            v[k] = t;
            ss += t * t;
        }
    }
    ss = t5p__block_sum(ss);
    const float r = 1.0f / sqrtf(ss / (float)D + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
#pragma unroll
    for (int k = 0; k < T5P__MAXC; k++) {
        const int c = threadIdx.x + k * blockDim.x;
        if (c < D) out[base + c] = g[c] * (v[k] * r);
    }
}

// y = g x r:  dres += r g dy - x r^3 / D sum(g dy x)  (the residual's gradient gathers the norm's),
// dsub = dropout(dres) for the sublayer below when dsub is given, and this block's T5P__NORM_ROWS rows
// of dy x r summed into dgpart[blockIdx.x] (t5p__colsum_kernel adds the blocks in order).
__global__ void t5p__rmsnorm_backward_kernel(float *dres, float *dsub, float *dgpart, const float *dh, const float *in,
                                             const float *rstd, const float *g, int N, int D, t5p__drop d) {
    float acc[T5P__MAXC];
#pragma unroll
    for (int k = 0; k < T5P__MAXC; k++) acc[k] = 0.0f;
    const int r0 = blockIdx.x * T5P__NORM_ROWS, r1 = min(N, r0 + T5P__NORM_ROWS);
    for (int row = r0; row < r1; row++) {
        const size_t base = (size_t)row * D;
        const float r = rstd[row];
        float dot = 0.0f;
#pragma unroll
        for (int k = 0; k < T5P__MAXC; k++) {
            const int c = threadIdx.x + k * blockDim.x;
            if (c < D) dot += g[c] * dh[base + c] * in[base + c];
        }
        dot = t5p__block_sum(dot);
        const float cc = dot * r * r * r / (float)D;
#pragma unroll
        for (int k = 0; k < T5P__MAXC; k++) {
            const int c = threadIdx.x + k * blockDim.x;
            if (c < D) {
                const float dy = dh[base + c], x = in[base + c];
                const float dx = dres[base + c] + (r * g[c] * dy - cc * x);
                dres[base + c] = dx;
                if (dsub) dsub[base + c] = t5p__dropped(d, dx, base + c);
                acc[k] += dy * x * r;
            }
        }
    }
#pragma unroll
    for (int k = 0; k < T5P__MAXC; k++) {
        const int c = threadIdx.x + k * blockDim.x;
        if (c < D) dgpart[(size_t)blockIdx.x * D + c] = acc[k];
    }
}

// dst (D) += sum over parts of part (nparts, D), in part order
__global__ void t5p__colsum_kernel(float *dst, const float *part, int nparts, int D) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= D) return;
    float s = 0.0f;
    for (int b = 0; b < nparts; b++) s += part[(size_t)b * D + c];
    dst[c] += s;
}

// GELU: exact erf form (pegasus) or the tanh form ("gelu_new", hf-mt5) with t5p.h's tanh formula.
#define T5P__SQRT_2_OVER_PI 0.7978845608028654f
__device__ __forceinline__ float t5p__tanh_inner(float x) {
    float u = T5P__SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
    return 1.0f - 2.0f / (expf(2.0f * u) + 1.0f);
}

__global__ void t5p__gelu_gate_forward_kernel(float *g, const float *u0, const float *u1, size_t n, int tanh_form) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float x = u0[i];
    const float gelu = tanh_form ? 0.5f * x * (1.0f + t5p__tanh_inner(x)) : 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    g[i] = gelu * u1[i];
}

__global__ void t5p__gelu_gate_backward_kernel(float *du0, float *du1, const float *dg, const float *u0, const float *u1,
                                               size_t n, int tanh_form) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float x = u0[i];
    float gelu, grad;
    if (tanh_form) {
        const float t = t5p__tanh_inner(x);
        gelu = 0.5f * x * (1.0f + t);
        grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * T5P__SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
    } else {
        const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        gelu = x * cdf;
        grad = cdf + x * expf(-0.5f * x * x) * 0.3989422804014327f;  // Phi(x) + x phi(x)
    }
    const float d = dg[i];
    du0[i] = d * u1[i] * grad;
    du1[i] = d * gelu;
}

// out = dropout(in); in-place allowed
__global__ void t5p__dropout_kernel(float *out, const float *in, size_t n, t5p__drop d) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = t5p__dropped(d, in[i], i);
}

// bias (H,Tq,Tk) = table[bucket[j - i + Tq - 1], h]; the buckets come from t5p_relative_bucket on the
// host, so boundary distances land where the CPU puts them.
__global__ void t5p__position_bias_kernel(float *bias, const float *table, const int *bucket, int H, int Tq, int Tk) {
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (size_t)H * Tq * Tk) return;
    const int j = (int)(t % Tk), i = (int)(t / Tk % Tq), h = (int)(t / ((size_t)Tk * Tq));
    bias[t] = table[bucket[j - i + Tq - 1] * H + h];
}

// diag (H, Tq+Tk-1): sums of dbias (H,Tq,Tk) along each diagonal j - i = d - (Tq-1), ascending i.
__global__ void t5p__bias_diag_kernel(float *diag, const float *dbias, int H, int Tq, int Tk) {
    const int ND = Tq + Tk - 1;
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= H * ND) return;
    const int h = t / ND, rel = t % ND - (Tq - 1);
    const int i0 = rel < 0 ? -rel : 0, i1 = min(Tq, Tk - rel);
    float s = 0.0f;
    for (int i = i0; i < i1; i++) s += dbias[((size_t)h * Tq + i) * Tk + i + rel];
    diag[t] = s;
}

// dtable (NB,H) += the diagonals of each bucket, in ascending relative position
__global__ void t5p__bias_table_kernel(float *dtable, const float *diag, const int *bucket, int H, int NB, int ND) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= NB * H) return;
    const int b = t / H, h = t % H;
    float s = 0.0f;
    for (int d = 0; d < ND; d++)
        if (bucket[d] == b) s += diag[(size_t)h * ND + d];
    dtable[t] += s;
}

// Head split for the batched attention products: nmat matrices (B, T, H, Dk) = (B*T, HK) rows become
// (B, H, T, Dk) (inverse: back), matrix m at m * mstride on both sides.
__global__ void t5p__permute_kernel(float *out, const float *in, int B, int T, int H, int Dk, size_t mstride, int nmat,
                                    int inverse) {
    const size_t n = (size_t)B * T * H * Dk;
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n * nmat) return;
    const size_t m = t / n, p = t % n;  // p indexes the (B, H, T, Dk) side
    const int d = (int)(p % Dk), tt = (int)(p / Dk % T), h = (int)(p / ((size_t)Dk * T) % H);
    const size_t b = p / ((size_t)Dk * T * H);
    const size_t q = ((b * T + tt) * H + h) * Dk + d;
    if (inverse) out[m * mstride + q] = in[m * mstride + p];
    else out[m * mstride + p] = in[m * mstride + q];
}

// One warp per row (b, h, i) of att (B, H, Tq, Tk): scores in, probabilities out. Keys masked by
// kmask (B, Tk) or, when causal, j > i get exactly 0; a row whose keys are all masked is uniform over
// all Tk keys (t5p_attention_forward's rules).
__global__ void t5p__softmax_forward_kernel(float *att, const float *bias, const uint8_t *kmask, int causal, int B,
                                            int H, int Tq, int Tk) {
    const size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= (size_t)B * H * Tq) return;
    const int i = (int)(row % Tq), h = (int)(row / Tq % H), b = (int)(row / ((size_t)Tq * H));
    float *x = att + row * Tk;
    const float *br = bias ? bias + ((size_t)h * Tq + i) * Tk : NULL;
    const uint8_t *km = kmask ? kmask + (size_t)b * Tk : NULL;
    const int jend = causal ? min(i + 1, Tk) : Tk;
    float mx = -INFINITY;
    for (int j = lane; j < jend; j += 32) {
        if (km && !km[j]) continue;
        float s = x[j];
        if (br) s += br[j];
        x[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = t5p__warp_max(mx);
    if (mx == -INFINITY) {
        for (int j = lane; j < Tk; j += 32) x[j] = 1.0f / (float)Tk;
        return;
    }
    float sum = 0.0f;
    for (int j = lane; j < Tk; j += 32) {
        const float e = (j < jend && (!km || km[j])) ? expf(x[j] - mx) : 0.0f;
        x[j] = e;
        sum += e;
    }
    sum = t5p__warp_sum(sum);
    const float inv = 1.0f / sum;
    for (int j = lane; j < Tk; j += 32) x[j] *= inv;
}

// dS = P (dP - sum_j P dP) in place of P. With dbias (H,Tq,Tk): one warp per (h, i) that walks the batch
// in order and adds each dS row to dbias (the CPU's order, no atomics); without: one warp per (b, h, i).
__global__ void t5p__softmax_backward_kernel(float *att, const float *dP, float *dbias, int B, int H, int Tq, int Tk) {
    const size_t w = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (w >= (dbias ? (size_t)H * Tq : (size_t)B * H * Tq)) return;
    int h, i, b0, b1;
    if (dbias) {
        h = (int)(w / Tq), i = (int)(w % Tq), b0 = 0, b1 = B;
    } else {
        i = (int)(w % Tq), h = (int)(w / Tq % H), b0 = (int)(w / ((size_t)Tq * H)), b1 = b0 + 1;
    }
    float *db = dbias ? dbias + ((size_t)h * Tq + i) * Tk : NULL;
    for (int b = b0; b < b1; b++) {
        const size_t off = (((size_t)b * H + h) * Tq + i) * Tk;
        float *p = att + off;
        const float *dp = dP + off;
        float dot = 0.0f;
        for (int j = lane; j < Tk; j += 32) dot += p[j] * dp[j];
        dot = t5p__warp_sum(dot);
        for (int j = lane; j < Tk; j += 32) {
            const float ds = p[j] * (dp[j] - dot);
            p[j] = ds;
            if (db) db[j] += ds;
        }
    }
}

// Softmax cross-entropy, one block per row of logits (N, V). mode 1: lse, the label's logit and whether
// the first maximal logit is the label; mode 2: logits (=) (softmax - onehot) * scale from the given lse;
// mode 3: both in one pass over the row (llm.c's fused classifier). Rows with label < 0: zeros.
__global__ void t5p__xent_kernel(float *logits, float *lse, float *xlab, int *correct, const int *labels, int V,
                                 float scale, int mode) {
    const size_t row = blockIdx.x;
    float *x = logits + row * V;
    const int y = labels[row];
    if (y < 0) {
        if ((mode & 1) && threadIdx.x == 0) lse[row] = 0.0f, xlab[row] = 0.0f, correct[row] = 0;
        if (mode & 2)
            for (int j = threadIdx.x; j < V; j += blockDim.x) x[j] = 0.0f;
        return;
    }
    float m;
    if (mode & 1) {
        float mx = -INFINITY;
        int arg = INT_MAX;
        for (int j = threadIdx.x; j < V; j += blockDim.x)
            if (x[j] > mx) mx = x[j], arg = j;
        t5p__block_best(&mx, &arg);
        float sum = 0.0f;
        for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(x[j] - mx);
        sum = t5p__block_sum(sum);
        m = mx + logf(sum);
        if (threadIdx.x == 0) lse[row] = m, xlab[row] = x[y], correct[row] = arg == y;
    } else {
        m = lse[row];
    }
    if (mode & 2) {
        __syncthreads();  // thread 0 has read x[y]
        for (int j = threadIdx.x; j < V; j += blockDim.x) {
            float v = expf(x[j] - m) * scale;
            if (j == y) v = v - scale;
            x[j] = v;
        }
    }
}

// Top-k per row: k rounds, each taking the best element strictly after the previous one in the order
// (value descending, index ascending). value = x, or add[r] + (x - logsumexp(row)).
__global__ void t5p__topk_kernel(float *vals, int *idx, const float *x, const float *add, int V, int k) {
    const size_t row = blockIdx.x;
    const float *xr = x + row * V;
    float lse = 0.0f, a = 0.0f;
    if (add) {
        float mx = -INFINITY;
        for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, xr[j]);
        mx = t5p__block_max(mx);
        float sum = 0.0f;
        for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(xr[j] - mx);
        sum = t5p__block_sum(sum);
        lse = mx + logf(sum);
        a = add[row];
    }
    float pv = INFINITY;
    int pi = -1;
    for (int q = 0; q < k; q++) {
        float bv = -INFINITY;
        int bi = INT_MAX;
        for (int j = threadIdx.x; j < V; j += blockDim.x) {
            const float v = add ? a + (xr[j] - lse) : xr[j];
            const bool after = v < pv || (v == pv && j > pi);
            if (after && t5p__better(v, j, bv, bi)) bv = v, bi = j;
        }
        t5p__block_best(&bv, &bi);
        if (threadIdx.x == 0) vals[row * k + q] = bv, idx[row * k + q] = bi;
        pv = bv, pi = bi;
    }
}

// dst row r = src row idx[r]
__global__ void t5p__gather_rows_kernel(float *dst, const float *src, const int *idx, int R, size_t row) {
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (size_t)R * row) return;
    dst[t] = src[(size_t)idx[t / row] * row + t % row];
}

// ----------------------------------------------------------------------------
// matrix products
//
// C (M,N; row stride ldc) = op(A) op(B) + beta C, row-major, t5p.h's gemm convention: ta means A is
// stored (K,M), tb means B is stored (N,K). cuBLAS is column-major, so it computes C^T = op(B)^T op(A)^T.
// batch > 1: strided-batched with strides sA, sB, sC (0 broadcasts an operand).

static cublasComputeType_t t5p__compute(int precision) {
    return precision == T5P_CUDA_BF16   ? CUBLAS_COMPUTE_32F_FAST_16BF
           : precision == T5P_CUDA_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                        : CUBLAS_COMPUTE_32F;
}

static int t5p__gemm(int precision, int ta, int tb, int M, int N, int K, const float *A, int lda, long long sA,
                     const float *B, int ldb, long long sB, float *C, int ldc, long long sC, int batch, float beta) {
    const float alpha = 1.0f;
    const cublasOperation_t opA = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch <= 1)
        T5P__CUBLAS(cublasGemmEx(t5p__cu.blas, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta,
                                 C, CUDA_R_32F, ldc, t5p__compute(precision), CUBLAS_GEMM_DEFAULT));
    else
        T5P__CUBLAS(cublasGemmStridedBatchedEx(t5p__cu.blas, opB, opA, N, M, K, &alpha, B, CUDA_R_32F, ldb, sB, A,
                                               CUDA_R_32F, lda, sA, &beta, C, CUDA_R_32F, ldc, sC, batch,
                                               t5p__compute(precision), CUBLAS_GEMM_DEFAULT));
    return 0;
}

// Linear layers (W stored (O,I)); batch > 1 runs `batch` weights at stride sw on the same x (outputs at
// stride sy), as q/k/v and wi_0/wi_1 sit back to back in the parameter layout.
// y (N,O) = x W^T (+ beta y)
static int t5p__linear_y(int prec, float *y, const float *x, const float *w, int N, int I, int O, int batch,
                         long long sx, long long sw, long long sy, float beta) {
    return t5p__gemm(prec, 0, 1, N, O, I, x, I, sx, w, I, sw, y, O, sy, batch, beta);
}
// dx (N,I) = dy W (+ beta dx)
static int t5p__linear_dx(int prec, float *dx, const float *dy, const float *w, int N, int I, int O, float beta) {
    return t5p__gemm(prec, 0, 0, N, I, O, dy, O, 0, w, I, 0, dx, I, 0, 1, beta);
}
// dw (O,I) += dy^T x
static int t5p__linear_dw(int prec, float *dw, const float *dy, const float *x, int N, int I, int O, int batch,
                          long long sdy, long long sx, long long sdw) {
    return t5p__gemm(prec, 1, 0, O, I, N, dy, O, sdy, x, I, sx, dw, I, sdw, batch, 1.0f);
}

// ----------------------------------------------------------------------------
// kernel launchers (used by the entry points, the model and bench/bench_kernels.cu)

static int t5p__launch_embedding_forward(float *out, const int *ids, const float *table, int N, int D, t5p__drop d) {
    const int bs = t5p__block[T5P__K_ELEM];
    if ((size_t)N * D == 0) return 0;
    T5P__GO(t5p__embedding_forward_kernel, t5p__blocks((size_t)N * D, bs), bs, 0)(out, ids, table, N, D, d);
    T5P__LAUNCHED();
    return 0;
}

// ids -> rows grouped by id (CSR), stable: order (N), uniq (U), starts (U+1) on the host; returns U.
static int t5p__cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static int t5p__csr(const int *ids, int N, int *order, int *uniq, int *starts, uint64_t *tmp) {
    for (int n = 0; n < N; n++) tmp[n] = (uint64_t)(uint32_t)ids[n] << 32 | (uint32_t)n;
    qsort(tmp, (size_t)N, sizeof *tmp, t5p__cmp_u64);
    int U = 0;
    for (int n = 0; n < N; n++) {
        int id = (int)(tmp[n] >> 32);
        if (n == 0 || id != uniq[U - 1]) starts[U] = n, uniq[U++] = id;
        order[n] = (int)(uint32_t)tmp[n];
    }
    starts[U] = N;
    return U;
}

static int t5p__launch_embedding_backward(float *dtable, const float *dout, const int *order, const int *uniq,
                                          const int *starts, int U, int D) {
    if (U == 0) return 0;
    const int bs = D < 256 ? 32 * ((D + 31) / 32) : 256;
    T5P__GO(t5p__embedding_backward_kernel, dim3((unsigned)U, t5p__blocks((size_t)D, bs)), bs, 0)(dtable, dout, order, uniq,
                                                                                          starts, D);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__norm_block(int D, int *bs) {
    int b = t5p__block[T5P__K_NORM];
    while (b < 1024 && b * T5P__MAXC < D) b *= 2;
    if (b * T5P__MAXC < D) return t5p_error_set(T5P_ERR_ARG, "rmsnorm: d_model %d above %d", D, 1024 * T5P__MAXC);
    *bs = b;
    return 0;
}

static int t5p__launch_rmsnorm_forward(float *xout, float *out, float *rstd, const float *x, const float *sub,
                                       const float *g, int N, int D, float eps, t5p__drop d) {
    int bs = 0;
    T5P__TRY(t5p__norm_block(D, &bs));
    if (N == 0) return 0;
    T5P__GO(t5p__rmsnorm_forward_kernel, (unsigned)N, bs, 0)(xout, out, rstd, x, sub, g, D, eps, d);
    T5P__LAUNCHED();
    return 0;
}

// scratch: t5p__cdiv(N, T5P__NORM_ROWS) * D floats
static int t5p__launch_rmsnorm_backward(float *dres, float *dsub, float *dg, const float *dh, const float *in,
                                        const float *rstd, const float *g, int N, int D, t5p__drop d, float *scratch) {
    int bs = 0;
    T5P__TRY(t5p__norm_block(D, &bs));
    if (N == 0) return 0;
    const int nb = (N + T5P__NORM_ROWS - 1) / T5P__NORM_ROWS;
    T5P__GO(t5p__rmsnorm_backward_kernel, (unsigned)nb, bs, 0)(dres, dsub, scratch, dh, in, rstd, g, N, D, d);
    T5P__LAUNCHED();
    T5P__GO(t5p__colsum_kernel, t5p__blocks((size_t)D, 128), 128, 0)(dg, scratch, nb, D);
    T5P__LAUNCHED();
    return 0;
}
static size_t t5p__rmsnorm_scratch(int N, int D) { return (size_t)((N + T5P__NORM_ROWS - 1) / T5P__NORM_ROWS) * D; }

static int t5p__launch_gelu_forward(float *g, const float *u0, const float *u1, size_t n, int tanh_form) {
    const int bs = t5p__block[T5P__K_ELEM];
    if (n == 0) return 0;
    T5P__GO(t5p__gelu_gate_forward_kernel, t5p__blocks(n, bs), bs, 0)(g, u0, u1, n, tanh_form);
    T5P__LAUNCHED();
    return 0;
}
static int t5p__launch_gelu_backward(float *du0, float *du1, const float *dg, const float *u0, const float *u1, size_t n,
                                     int tanh_form) {
    const int bs = t5p__block[T5P__K_ELEM];
    if (n == 0) return 0;
    T5P__GO(t5p__gelu_gate_backward_kernel, t5p__blocks(n, bs), bs, 0)(du0, du1, dg, u0, u1, n, tanh_form);
    T5P__LAUNCHED();
    return 0;
}
static int t5p__launch_dropout(float *out, const float *in, size_t n, t5p__drop d) {
    const int bs = t5p__block[T5P__K_ELEM];
    if (n == 0 || (d.p == 0.0f && d.s == 1.0f && out == in)) return 0;
    T5P__GO(t5p__dropout_kernel, t5p__blocks(n, bs), bs, 0)(out, in, n, d);
    T5P__LAUNCHED();
    return 0;
}

// Buckets of the relative positions -(Tq-1) .. Tk-1, as t5p_relative_bucket gives them (host).
static void t5p__buckets(int *bucket, int Tq, int Tk, int bidirectional, int num_buckets, int max_distance) {
    for (int d = 0; d < Tq + Tk - 1; d++)
        bucket[d] = t5p_relative_bucket(d - (Tq - 1), bidirectional, num_buckets, max_distance);
}

static int t5p__launch_position_bias(float *bias, const float *table, const int *bucket, int H, int Tq, int Tk) {
    const int bs = t5p__block[T5P__K_ELEM];
    const size_t n = (size_t)H * Tq * Tk;
    if (n == 0) return 0;
    T5P__GO(t5p__position_bias_kernel, t5p__blocks(n, bs), bs, 0)(bias, table, bucket, H, Tq, Tk);
    T5P__LAUNCHED();
    return 0;
}
// scratch: H * (Tq + Tk - 1) floats
static int t5p__launch_position_bias_backward(float *dtable, const float *dbias, const int *bucket, int H, int Tq,
                                              int Tk, int NB, float *scratch) {
    const int ND = Tq + Tk - 1;
    T5P__GO(t5p__bias_diag_kernel, t5p__blocks((size_t)H * ND, 128), 128, 0)(scratch, dbias, H, Tq, Tk);
    T5P__LAUNCHED();
    T5P__GO(t5p__bias_table_kernel, t5p__blocks((size_t)NB * H, 128), 128, 0)(dtable, scratch, bucket, H, NB, ND);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__launch_permute(float *out, const float *in, int B, int T, int H, int Dk, size_t mstride, int nmat,
                               int inverse) {
    const int bs = t5p__block[T5P__K_ELEM];
    const size_t n = (size_t)B * T * H * Dk * nmat;
    if (n == 0) return 0;
    T5P__GO(t5p__permute_kernel, t5p__blocks(n, bs), bs, 0)(out, in, B, T, H, Dk, mstride, nmat, inverse);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__launch_softmax_forward(float *att, const float *bias, const uint8_t *kmask, int causal, int B, int H,
                                       int Tq, int Tk) {
    const int bs = t5p__block[T5P__K_SOFTMAX], rows = bs / 32;
    const size_t n = (size_t)B * H * Tq;
    if (n == 0) return 0;
    T5P__GO(t5p__softmax_forward_kernel, t5p__blocks(n, rows), bs, 0)(att, bias, kmask, causal, B, H, Tq, Tk);
    T5P__LAUNCHED();
    return 0;
}
static int t5p__launch_softmax_backward(float *att, const float *dP, float *dbias, int B, int H, int Tq, int Tk) {
    const int bs = t5p__block[T5P__K_SOFTMAX], rows = bs / 32;
    const size_t n = dbias ? (size_t)H * Tq : (size_t)B * H * Tq;
    if (n == 0) return 0;
    T5P__GO(t5p__softmax_backward_kernel, t5p__blocks(n, rows), bs, 0)(att, dP, dbias, B, H, Tq, Tk);
    T5P__LAUNCHED();
    return 0;
}

// Attention on head-split operands: qp (B*H, Tq, Dk), kp, vp (B*H, Tk, Dk) -> att (B*H, Tq, Tk)
// probabilities and ctxp (B*H, Tq, Dk). No 1/sqrt(Dk) scaling (T5).
static int t5p__attn_core_forward(int prec, float *ctxp, float *att, const float *qp, const float *kp, const float *vp,
                                  const float *bias, const uint8_t *kmask, int causal, int B, int Tq, int Tk, int H,
                                  int Dk) {
    const int BH = B * H;
    T5P__TRY(t5p__gemm(prec, 0, 1, Tq, Tk, Dk, qp, Dk, (long long)Tq * Dk, kp, Dk, (long long)Tk * Dk, att, Tk,
                       (long long)Tq * Tk, BH, 0.0f));  // scores = q k^T
    T5P__TRY(t5p__launch_softmax_forward(att, bias, kmask, causal, B, H, Tq, Tk));
    return t5p__gemm(prec, 0, 0, Tq, Dk, Tk, att, Tk, (long long)Tq * Tk, vp, Dk, (long long)Tk * Dk, ctxp, Dk,
                     (long long)Tq * Dk, BH, 0.0f);  // ctx = att v
}

// Backward on head-split operands: dqp, dkp, dvp (=), dbias (H,Tq,Tk) += when not NULL; att becomes dS;
// dP: B*H*Tq*Tk floats of scratch.
static int t5p__attn_core_backward(int prec, float *dqp, float *dkp, float *dvp, float *dbias, float *dP,
                                   const float *dctxp, float *att, const float *qp, const float *kp, const float *vp,
                                   int B, int Tq, int Tk, int H, int Dk) {
    const int BH = B * H;
    const long long sq = (long long)Tq * Dk, sk = (long long)Tk * Dk, sa = (long long)Tq * Tk;
    T5P__TRY(t5p__gemm(prec, 0, 1, Tq, Tk, Dk, dctxp, Dk, sq, vp, Dk, sk, dP, Tk, sa, BH, 0.0f));   // dP = dctx v^T
    T5P__TRY(t5p__gemm(prec, 1, 0, Tk, Dk, Tq, att, Tk, sa, dctxp, Dk, sq, dvp, Dk, sk, BH, 0.0f)); // dv = P^T dctx
    T5P__TRY(t5p__launch_softmax_backward(att, dP, dbias, B, H, Tq, Tk));
    T5P__TRY(t5p__gemm(prec, 0, 0, Tq, Dk, Tk, att, Tk, sa, kp, Dk, sk, dqp, Dk, sq, BH, 0.0f));    // dq = dS k
    return t5p__gemm(prec, 1, 0, Tk, Dk, Tq, att, Tk, sa, qp, Dk, sq, dkp, Dk, sk, BH, 0.0f);       // dk = dS^T q
}

static int t5p__launch_xent(float *logits, float *lse, float *xlab, int *correct, const int *labels, int N, int V,
                            float scale, int mode) {
    const int bs = t5p__block[T5P__K_XENT];
    if (N == 0) return 0;
    T5P__GO(t5p__xent_kernel, (unsigned)N, bs, 0)(logits, lse, xlab, correct, labels, V, scale, mode);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__launch_topk(float *vals, int *idx, const float *x, const float *add, int R, int V, int k) {
    const int bs = t5p__block[T5P__K_TOPK];
    if (k < 1 || k > 64 || k > V) return t5p_error_set(T5P_ERR_ARG, "top-k: k = %d outside [1, min(V = %d, 64)]", k, V);
    if (R == 0) return 0;
    T5P__GO(t5p__topk_kernel, (unsigned)R, bs, 0)(vals, idx, x, add, V, k);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__launch_gather(float *dst, const float *src, const int *idx, int R, size_t row) {
    const int bs = t5p__block[T5P__K_ELEM];
    if ((size_t)R * row == 0) return 0;
    T5P__GO(t5p__gather_rows_kernel, t5p__blocks((size_t)R * row, bs), bs, 0)(dst, src, idx, R, row);
    T5P__LAUNCHED();
    return 0;
}

// ----------------------------------------------------------------------------
// kernel-level entry points: section 6's layer pairs on device pointers

extern "C" int t5p_cuda_embedding_forward(float *out, const int *ids, const float *table, int N, int D) {
    T5P__TRY(t5p__ready());
    return t5p__launch_embedding_forward(out, ids, table, N, D, t5p__no_drop);
}

extern "C" int t5p_cuda_embedding_backward(float *dtable, const float *dout, const int *ids, int N, int D) {
    T5P__TRY(t5p__ready());
    if (N <= 0) return 0;
    // group the rows by id on the host (the model does this when it uploads a batch)
    int *h = (int *)malloc(sizeof(int) * (4 * (size_t)N + 1));  // ids, order, uniq, starts
    uint64_t *tmp = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)N);
    int rc = h && tmp ? 0 : t5p_error_set(T5P_ERR_NOMEM, "embedding backward: out of memory");
    if (rc == 0) rc = t5p_cuda_download(h, ids, sizeof(int) * (size_t)N);
    if (rc == 0) {
        int *order = h + N, *uniq = order + N, *starts = uniq + N;
        int U = t5p__csr(h, N, order, uniq, starts, tmp);
        void *ws = NULL;
        rc = t5p__ws(sizeof(int) * (3 * (size_t)N + 1), &ws);  // order, uniq, starts on the device
        int *d = (int *)ws;
        if (rc == 0) rc = t5p_cuda_upload(d, order, sizeof(int) * (3 * (size_t)N + 1));
        if (rc == 0) rc = t5p__launch_embedding_backward(dtable, dout, d, d + N, d + 2 * (size_t)N, U, D);
    }
    free(h);
    free(tmp);
    return rc;
}

extern "C" int t5p_cuda_rmsnorm_forward(float *out, float *rstd, const float *in, const float *g, int N, int D,
                                        float eps) {
    T5P__TRY(t5p__ready());
    return t5p__launch_rmsnorm_forward(NULL, out, rstd, in, NULL, g, N, D, eps, t5p__no_drop);
}

extern "C" int t5p_cuda_residual_rmsnorm_forward(float *xout, float *out, float *rstd, const float *x, const float *sub,
                                                 const float *g, int N, int D, float eps, float p, uint64_t key) {
    T5P__TRY(t5p__ready());
    return t5p__launch_rmsnorm_forward(xout, out, rstd, x, sub, g, N, D, eps, t5p__drop_make(p, key, 1.0f));
}

extern "C" int t5p_cuda_residual_rmsnorm_backward(float *dres, float *dsub, float *dg, const float *dh, const float *in,
                                                  const float *rstd, const float *g, int N, int D, float p,
                                                  uint64_t key) {
    T5P__TRY(t5p__ready());
    void *ws = NULL;
    T5P__TRY(t5p__ws(sizeof(float) * t5p__rmsnorm_scratch(N, D), &ws));
    return t5p__launch_rmsnorm_backward(dres, dsub, dg, dh, in, rstd, g, N, D, t5p__drop_make(p, key, 1.0f),
                                        (float *)ws);
}

extern "C" int t5p_cuda_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in, const float *rstd,
                                         const float *g, int N, int D) {
    return t5p_cuda_residual_rmsnorm_backward(din, NULL, dg, dout, in, rstd, g, N, D, 0.0f, 0);
}

extern "C" int t5p_cuda_linear_forward(float *y, const float *x, const float *w, int N, int I, int O) {
    T5P__TRY(t5p__ready());
    return t5p__linear_y(t5p__cu.precision, y, x, w, N, I, O, 1, 0, 0, 0, 0.0f);
}

extern "C" int t5p_cuda_linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int N,
                                        int I, int O) {
    T5P__TRY(t5p__ready());
    if (dx) T5P__TRY(t5p__linear_dx(t5p__cu.precision, dx, dy, w, N, I, O, 1.0f));
    return t5p__linear_dw(t5p__cu.precision, dw, dy, x, N, I, O, 1, 0, 0, 0);
}

// Position tables: the buckets go up with the scratch (Tq+Tk-1 ints, then H*(Tq+Tk-1) floats).
static int t5p__bucket_upload(int Tq, int Tk, int bidirectional, int num_buckets, int max_distance, size_t extra_floats,
                              int **dbucket, float **dextra) {
    const int ND = Tq + Tk - 1;
    int *h = (int *)malloc(sizeof(int) * (size_t)ND);
    if (!h) return t5p_error_set(T5P_ERR_NOMEM, "position bias: out of memory");
    t5p__buckets(h, Tq, Tk, bidirectional, num_buckets, max_distance);
    void *ws = NULL;
    size_t ib = ((size_t)ND * sizeof(int) + 255) / 256 * 256;
    int rc = t5p__ws(ib + extra_floats * sizeof(float), &ws);
    if (rc == 0) rc = t5p_cuda_upload(ws, h, sizeof(int) * (size_t)ND);
    free(h);
    *dbucket = (int *)ws;
    *dextra = (float *)((char *)ws + ib);
    return rc;
}

extern "C" int t5p_cuda_position_bias_forward(float *bias, const float *table, int H, int Tq, int Tk, int bidirectional,
                                              int num_buckets, int max_distance) {
    T5P__TRY(t5p__ready());
    int *bucket = NULL;
    float *unused = NULL;
    T5P__TRY(t5p__bucket_upload(Tq, Tk, bidirectional, num_buckets, max_distance, 0, &bucket, &unused));
    return t5p__launch_position_bias(bias, table, bucket, H, Tq, Tk);
}

extern "C" int t5p_cuda_position_bias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk,
                                               int bidirectional, int num_buckets, int max_distance) {
    T5P__TRY(t5p__ready());
    int *bucket = NULL;
    float *diag = NULL;
    T5P__TRY(t5p__bucket_upload(Tq, Tk, bidirectional, num_buckets, max_distance, (size_t)H * (Tq + Tk - 1), &bucket,
                                &diag));
    return t5p__launch_position_bias_backward(dtable, dbias, bucket, H, Tq, Tk, num_buckets, diag);
}

extern "C" int t5p_cuda_attention_forward(float *ctx, float *att, const float *q, const float *k, const float *v,
                                          const float *bias, const uint8_t *kmask, int causal, int B, int Tq, int Tk,
                                          int H, int Dk) {
    T5P__TRY(t5p__ready());
    const size_t nq = (size_t)B * Tq * H * Dk, nk = (size_t)B * Tk * H * Dk;
    void *ws = NULL;
    T5P__TRY(t5p__ws(sizeof(float) * (2 * nq + 2 * nk), &ws));
    float *qp = (float *)ws, *kp = qp + nq, *vp = kp + nk, *ctxp = vp + nk;
    T5P__TRY(t5p__launch_permute(qp, q, B, Tq, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__launch_permute(kp, k, B, Tk, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__launch_permute(vp, v, B, Tk, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__attn_core_forward(t5p__cu.precision, ctxp, att, qp, kp, vp, bias, kmask, causal, B, Tq, Tk, H, Dk));
    return t5p__launch_permute(ctx, ctxp, B, Tq, H, Dk, 0, 1, 1);
}

extern "C" int t5p_cuda_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dctx, float *att,
                                           const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
                                           int Dk) {
    T5P__TRY(t5p__ready());
    const size_t nq = (size_t)B * Tq * H * Dk, nk = (size_t)B * Tk * H * Dk, na = (size_t)B * H * Tq * Tk;
    void *ws = NULL;
    T5P__TRY(t5p__ws(sizeof(float) * (3 * nq + 4 * nk + na), &ws));
    float *qp = (float *)ws, *kp = qp + nq, *vp = kp + nk, *dctxp = vp + nk, *dqp = dctxp + nq, *dkp = dqp + nq;
    float *dvp = dkp + nk, *dP = dvp + nk;
    T5P__TRY(t5p__launch_permute(qp, q, B, Tq, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__launch_permute(kp, k, B, Tk, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__launch_permute(vp, v, B, Tk, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__launch_permute(dctxp, dctx, B, Tq, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__attn_core_backward(t5p__cu.precision, dqp, dkp, dvp, dbias, dP, dctxp, att, qp, kp, vp, B, Tq, Tk, H,
                                     Dk));
    T5P__TRY(t5p__launch_permute(dq, dqp, B, Tq, H, Dk, 0, 1, 1));
    T5P__TRY(t5p__launch_permute(dk, dkp, B, Tk, H, Dk, 0, 1, 1));
    return t5p__launch_permute(dv, dvp, B, Tk, H, Dk, 0, 1, 1);
}

extern "C" int t5p_cuda_gelu_gate_forward(float *g, const float *u0, const float *u1, size_t n, int tanh_form) {
    T5P__TRY(t5p__ready());
    return t5p__launch_gelu_forward(g, u0, u1, n, tanh_form);
}

extern "C" int t5p_cuda_gelu_gate_backward(float *du0, float *du1, const float *dg, const float *u0, const float *u1,
                                           size_t n, int tanh_form) {
    T5P__TRY(t5p__ready());
    return t5p__launch_gelu_backward(du0, du1, dg, u0, u1, n, tanh_form);
}

extern "C" int t5p_cuda_dropout_forward(float *out, const float *in, size_t n, float p, uint64_t key, float scale) {
    T5P__TRY(t5p__ready());
    if (n > 0xFFFFFFFFu) return t5p_error_set(T5P_ERR_ARG, "dropout: %zu elements (at most 2^32)", n);
    return t5p__launch_dropout(out, in, n, t5p__drop_make(p, key, scale));
}

extern "C" int t5p_cuda_dropout_backward(float *din, const float *dout, size_t n, float p, uint64_t key, float scale) {
    return t5p_cuda_dropout_forward(din, dout, n, p, key, scale);  // the same mask and factor
}

// Loss from the per-row results, summed on the host in row order like t5p_xent_forward.
static int t5p__xent_sum(double *loss, int *correct, const float *lse, const float *xlab, const int *ok,
                         const int *labels, int N) {
    float *h = (float *)malloc(sizeof(float) * 2 * (size_t)N);
    int *hi = (int *)malloc(sizeof(int) * 2 * (size_t)N);
    int rc = h && hi ? 0 : t5p_error_set(T5P_ERR_NOMEM, "cross-entropy: out of memory");
    if (rc == 0) rc = t5p_cuda_download(h, lse, sizeof(float) * (size_t)N);
    if (rc == 0) rc = t5p_cuda_download(h + N, xlab, sizeof(float) * (size_t)N);
    if (rc == 0) rc = t5p_cuda_download(hi, ok, sizeof(int) * (size_t)N);
    if (rc == 0) rc = t5p_cuda_download(hi + N, labels, sizeof(int) * (size_t)N);
    if (rc == 0) {
        double s = 0.0;
        int nc = 0;
        for (int r = 0; r < N; r++)
            if (hi[N + r] >= 0) s += (double)h[r] - h[N + r], nc += hi[r];
        *loss = s;
        if (correct) *correct = nc;
    }
    free(h);
    free(hi);
    return rc;
}

static int t5p__xent_entry(double *loss, int *correct, float *logits, float *lse, const int *labels, int N, int V,
                           float scale, int mode) {
    T5P__TRY(t5p__ready());
    void *ws = NULL;
    T5P__TRY(t5p__ws(sizeof(float) * 2 * (size_t)(N ? N : 1), &ws));
    float *xlab = (float *)ws;
    int *ok = (int *)(xlab + N);
    T5P__TRY(t5p__launch_xent(logits, lse, xlab, ok, labels, N, V, scale, mode));
    return t5p__xent_sum(loss, correct, lse, xlab, ok, labels, N);
}

extern "C" int t5p_cuda_xent_forward(double *loss, float *lse, const float *logits, const int *labels, int N, int V,
                                     int *correct) {
    return t5p__xent_entry(loss, correct, (float *)logits, lse, labels, N, V, 0.0f, 1);  // mode 1 does not write logits
}

extern "C" int t5p_cuda_xent_fused(double *loss, int *correct, float *logits, float *lse, const int *labels, int N,
                                   int V, float scale) {
    return t5p__xent_entry(loss, correct, logits, lse, labels, N, V, scale, 3);
}

extern "C" int t5p_cuda_xent_backward(float *dlogits, const float *logits, const float *lse, const int *labels, int N,
                                      int V, float scale) {
    T5P__TRY(t5p__ready());
    if (dlogits != logits)
        T5P__CUDA(cudaMemcpy(dlogits, logits, sizeof(float) * (size_t)N * V, cudaMemcpyDeviceToDevice));
    return t5p__launch_xent(dlogits, (float *)lse, NULL, NULL, labels, N, V, scale, 2);
}

extern "C" int t5p_cuda_topk(float *vals, int *idx, const float *x, const float *add, int R, int V, int k) {
    T5P__TRY(t5p__ready());
    return t5p__launch_topk(vals, idx, x, add, R, V, k);
}

extern "C" int t5p_cuda_gather_rows(float *dst, const float *src, const int *idx, int R, size_t row_floats) {
    T5P__TRY(t5p__ready());
    if (dst == src) return t5p_error_set(T5P_ERR_ARG, "gather rows: dst and src are the same buffer");
    return t5p__launch_gather(dst, src, idx, R, row_floats);
}

// ----------------------------------------------------------------------------
// the model
//
// t5p_model_forward/_backward step for step (t5p.h section 6), with the kernels above. Layout
// differences from the CPU model: q, k, v are kept split by head, (B, H, T, Dk), for the batched
// attention products; wi_0 h and wi_1 h sit back to back (2, N, F); a sublayer's output goes through
// s_sub into the fused residual + RMSNorm kernel, which also writes the next sublayer's normed input.

// Dropout sites, as t5p.h numbers them: one stream per place, in forward order.
enum { T5P__SITE_ENC = 0, T5P__SITE_DEC = 1 << 20 };

// Integer inputs of a batch, laid out the same in a host staging buffer and on the device (one copy).
typedef struct {
    int *src, *dec_in, *labels;                   // (Ne), (Nd), (Nd): labels -1 where ignored
    int *enc_order, *enc_uniq, *enc_starts;       // source rows grouped by id (embedding backward)
    int *dec_order, *dec_uniq, *dec_starts;       // decoder-input rows grouped by id
    int *enc_bucket, *dec_bucket, *cross_bucket;  // relative-position buckets, (2S-1), (2Td-1), (Td+S-1)
    uint8_t *src_mask;                            // (Ne) 1 for a real source token
} t5p__cu_batch;

// Activations and scratch, device pointers into one allocation. Ne = B*S, Nd = B*Td, N = max(Ne, Nd).
typedef struct {
    float *enc_pb, *dec_pb, *cross_pb;          // (H,S,S), (H,Td,Td), (H,Td,S) position biases (cross: pegasus)
    float *enc_x;                               // (Le+1, Ne, D) residual stream: [0] dropout(embedding)
    float *enc_x1;                              // (Le, Ne, D) after the attention sublayer
    float *enc_rstd0, *enc_rstd1;               // (Le, Ne)
    float *enc_h0, *enc_h1;                     // (Le, Ne, D) normed sublayer inputs
    float *enc_qkv;                             // (Le, 3, B, H, S, Dk)
    float *enc_ctx;                             // (Le, Ne, HK)
    float *enc_att;                             // (Le, B, H, S, S)
    float *enc_u, *enc_g;                       // (Le, 2, Ne, F) wi_0 h, wi_1 h; (Le, Ne, F) gelu(u0) u1
    float *enc_rstdf, *enc_out;                 // (Ne), (Ne, D) dropout(final norm)
    float *dec_x;                               // (Ld+1, Nd, D)
    float *dec_x1, *dec_x2;                     // (Ld, Nd, D) after self- and cross-attention
    float *dec_rstd0, *dec_rstd1, *dec_rstd2;   // (Ld, Nd)
    float *dec_h0, *dec_h1, *dec_h2;            // (Ld, Nd, D)
    float *dec_qkv;                             // (Ld, 3, B, H, Td, Dk)
    float *dec_ctx;                             // (Ld, Nd, HK)
    float *dec_att;                             // (Ld, B, H, Td, Td)
    float *dec_cq;                              // (Ld, B, H, Td, Dk)
    float *dec_ckv;                             // (Ld, 2, B, H, S, Dk)
    float *dec_cctx;                            // (Ld, Nd, HK)
    float *dec_catt;                            // (Ld, B, H, Td, S)
    float *dec_u, *dec_g;                       // (Ld, 2, Nd, F), (Ld, Nd, F)
    float *dec_rstdf, *dec_out;                 // (Nd), (Nd, D) dropout(final norm) [* D^-0.5]
    float *logits;                              // (Nd, V); a training forward leaves their gradient
    float *lse, *xlab;                          // (Nd) log-sum-exp, the label's logit
    int *correct;                               // (Nd)
    float *s_lin;                               // (3, N, HK) projections / gradients in row layout
    float *s_perm;                              // (3, N, HK) head-split gradients
    float *s_ctxp;                              // (N, HK) head-split context or its gradient
    float *s_sub;                               // (N, D) sublayer output before dropout + residual
    float *s_dP;                                // (B, H, max Tq*Tk) probability gradient
    float *dres, *dh, *dsub;                    // (N, D) residual, normed-input and sublayer-output gradients
    float *dctx;                                // (N, HK)
    float *du, *dg;                             // (2, N, F), (N, F)
    float *denc;                                // (Ne, D) gradient of enc_out, summed over decoder layers
    float *denc_pb, *ddec_pb, *dcross_pb;       // like the biases, summed over layers and batch
    float *s_norm;                              // (cdiv(N, 32), D) RMSNorm weight-gradient partials
    float *s_diag;                              // (H, 2 max(S, Td)) position-table gradient diagonals
} t5p__cu_acts;

// Decoding state: one device allocation.
typedef struct {
    int B, S, nbeams, R, tmax, t, cur;  // cur: which self-attention cache is live
    char *buf;
    size_t cap;
    float *self[2];        // (R, Ld, 2, H, tmax, Dk) self-attention K and V; two copies for reordering
    float *cross;          // (Ld, 2, B, H, S, Dk) cross-attention K and V
    float *self_pb;        // (H, tmax, tmax)
    float *cross_pb;       // (H, tmax, S) pegasus; NULL for hf-mt5
    float *y, *h, *sub;    // (R, D) residual stream, normed input, sublayer output
    float *rstd;           // (R)
    float *qkv;            // (3, R, HK)
    float *ctx;            // (R, HK)
    float *u, *gg;         // (2, R, F), (R, F)
    float *logits;         // (R, V)
    float *add, *vals;     // (R), (R, 64)
    int *ids, *parents, *idx;  // (R), (R), (R, 64)
    int *bucket;           // (2 tmax - 1) self, then (tmax + S - 1) cross
    uint8_t *src_mask;     // (B, S)
} t5p__cu_gen;

struct t5p_cuda_model {
    t5p_config cfg;
    int precision;
    size_t num_params;
    float *params, *grads;  // device, the t5p_params layout; grads allocated when first needed
    t5p_params w, g;        // pointers into them
    uint64_t seed, step;    // dropout streams, as t5p_model's
    int B, S, T, training, has_acts, grad_ready;  // grad_ready: the logits hold their gradient
    float loss, acc;
    int ntokens;
    char *acts;             // t5p__cu_acts, then the batch (t5p__cu_batch)
    size_t acts_cap, acts_bytes;
    t5p__cu_acts a;
    t5p__cu_batch b, hb;    // device and host-staging views of the batch
    char *hbatch;
    size_t hbatch_cap;
    uint64_t *htmp;         // sort keys of the CSR build
    size_t htmp_cap;
    int enc_nuniq, dec_nuniq;
    float *hlse;            // host copies of lse, xlab, correct (3 Nd)
    size_t hlse_cap;
    t5p__cu_gen gen;
};

static uint64_t t5p__key(const t5p_cuda_model *m, int site) {
    return t5p__mix64(m->seed ^ t5p__mix64(m->step * 0x100000001B3ull + (uint64_t)site));
}

#define T5P__TAKE(base, off, ptr, type, count)                                   \
    do {                                                                          \
        (ptr) = (base) ? (type *)((base) + (off)) : NULL;                         \
        (off) += (((size_t)(count) * sizeof(type)) + 255) / 256 * 256;            \
    } while (0)

static size_t t5p__acts_layout(const t5p_config *c, char *base, int B, int S, int T, t5p__cu_acts *a) {
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->num_heads;
    const size_t HK = H * (size_t)c->d_kv, V = (size_t)c->vocab_size, Td = (size_t)T - 1;
    const size_t Le = (size_t)c->num_layers, Ld = (size_t)c->num_decoder_layers;
    const size_t Ne = (size_t)B * S, Nd = (size_t)B * Td, N = Ne > Nd ? Ne : Nd;
    const size_t Sm = (size_t)S > Td ? (size_t)S : Td;
    size_t scores = (size_t)S * S;
    if (Td * Td > scores) scores = Td * Td;
    if (Td * S > scores) scores = Td * S;
    size_t off = 0;
#define T5P__A(ptr, count) T5P__TAKE(base, off, a->ptr, float, count)
    T5P__A(enc_pb, H * S * S);
    T5P__A(dec_pb, H * Td * Td);
    a->cross_pb = NULL;
    if (c->flavor == T5P_PEGASUS) T5P__A(cross_pb, H * Td * S);
    T5P__A(enc_x, (Le + 1) * Ne * D);
    T5P__A(enc_x1, Le * Ne * D);
    T5P__A(enc_rstd0, Le * Ne);
    T5P__A(enc_rstd1, Le * Ne);
    T5P__A(enc_h0, Le * Ne * D);
    T5P__A(enc_h1, Le * Ne * D);
    T5P__A(enc_qkv, Le * 3 * Ne * HK);
    T5P__A(enc_ctx, Le * Ne * HK);
    T5P__A(enc_att, Le * B * H * S * S);
    T5P__A(enc_u, Le * 2 * Ne * F);
    T5P__A(enc_g, Le * Ne * F);
    T5P__A(enc_rstdf, Ne);
    T5P__A(enc_out, Ne * D);
    T5P__A(dec_x, (Ld + 1) * Nd * D);
    T5P__A(dec_x1, Ld * Nd * D);
    T5P__A(dec_x2, Ld * Nd * D);
    T5P__A(dec_rstd0, Ld * Nd);
    T5P__A(dec_rstd1, Ld * Nd);
    T5P__A(dec_rstd2, Ld * Nd);
    T5P__A(dec_h0, Ld * Nd * D);
    T5P__A(dec_h1, Ld * Nd * D);
    T5P__A(dec_h2, Ld * Nd * D);
    T5P__A(dec_qkv, Ld * 3 * Nd * HK);
    T5P__A(dec_ctx, Ld * Nd * HK);
    T5P__A(dec_att, Ld * B * H * Td * Td);
    T5P__A(dec_cq, Ld * Nd * HK);
    T5P__A(dec_ckv, Ld * 2 * Ne * HK);
    T5P__A(dec_cctx, Ld * Nd * HK);
    T5P__A(dec_catt, Ld * B * H * Td * S);
    T5P__A(dec_u, Ld * 2 * Nd * F);
    T5P__A(dec_g, Ld * Nd * F);
    T5P__A(dec_rstdf, Nd);
    T5P__A(dec_out, Nd * D);
    T5P__A(logits, Nd * V);
    T5P__A(lse, Nd);
    T5P__A(xlab, Nd);
    T5P__TAKE(base, off, a->correct, int, Nd);
    T5P__A(s_lin, 3 * N * HK);
    T5P__A(s_perm, 3 * N * HK);
    T5P__A(s_ctxp, N * HK);
    T5P__A(s_sub, N * D);
    T5P__A(s_dP, B * H * scores);
    T5P__A(dres, N * D);
    T5P__A(dh, N * D);
    T5P__A(dsub, N * D);
    T5P__A(dctx, N * HK);
    T5P__A(du, 2 * N * F);
    T5P__A(dg, N * F);
    T5P__A(denc, Ne * D);
    T5P__A(denc_pb, H * S * S);
    T5P__A(ddec_pb, H * Td * Td);
    a->dcross_pb = NULL;
    if (c->flavor == T5P_PEGASUS) T5P__A(dcross_pb, H * Td * S);
    T5P__A(s_norm, t5p__rmsnorm_scratch((int)N, (int)D));
    T5P__A(s_diag, H * 2 * Sm);
#undef T5P__A
    return off;
}

static size_t t5p__batch_layout(char *base, int B, int S, int T, t5p__cu_batch *b) {
    const size_t Td = (size_t)T - 1, Ne = (size_t)B * S, Nd = (size_t)B * Td;
    size_t off = 0;
    T5P__TAKE(base, off, b->src, int, Ne);
    T5P__TAKE(base, off, b->dec_in, int, Nd);
    T5P__TAKE(base, off, b->labels, int, Nd);
    T5P__TAKE(base, off, b->enc_order, int, Ne);
    T5P__TAKE(base, off, b->enc_uniq, int, Ne);
    T5P__TAKE(base, off, b->enc_starts, int, Ne + 1);
    T5P__TAKE(base, off, b->dec_order, int, Nd);
    T5P__TAKE(base, off, b->dec_uniq, int, Nd);
    T5P__TAKE(base, off, b->dec_starts, int, Nd + 1);
    T5P__TAKE(base, off, b->enc_bucket, int, 2 * (size_t)S - 1);
    T5P__TAKE(base, off, b->dec_bucket, int, 2 * Td - 1);
    T5P__TAKE(base, off, b->cross_bucket, int, Td + S - 1);
    T5P__TAKE(base, off, b->src_mask, uint8_t, Ne);
    return off;
}

extern "C" t5p_cuda_model *t5p_cuda_model_new(const t5p_config *c, int precision) {
    if (t5p_config_check(c) < 0) return NULL;
    if (precision < T5P_CUDA_FP32 || precision > T5P_CUDA_BF16) {
        t5p_error_set(T5P_ERR_ARG, "unknown CUDA precision %d", precision);
        return NULL;
    }
    if (t5p__ready() < 0) return NULL;
    t5p_cuda_model *m = (t5p_cuda_model *)calloc(1, sizeof *m);
    if (!m) {
        t5p_error_set(T5P_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->cfg = *c;
    m->precision = precision;
    m->num_params = t5p_num_params(c);
    if (t5p_cuda_malloc((void **)&m->params, m->num_params * sizeof(float)) < 0 ||
        t5p_cuda_memset(m->params, 0, m->num_params * sizeof(float)) < 0) {
        t5p_cuda_model_free(m);
        return NULL;
    }
    t5p_params_layout(c, m->params, &m->w);
    t5p_params_layout(c, NULL, &m->g);
    return m;
}

extern "C" void t5p_cuda_model_free(t5p_cuda_model *m) {
    if (!m) return;
    cudaFree(m->params);  // errors here have nowhere to go
    cudaFree(m->grads);
    cudaFree(m->acts);
    cudaFree(m->gen.buf);
    free(m->hbatch);
    free(m->htmp);
    free(m->hlse);
    free(m);
}

extern "C" size_t t5p_cuda_model_device_bytes(const t5p_cuda_model *m) {
    return (m->params ? m->num_params * sizeof(float) : 0) + (m->grads ? m->num_params * sizeof(float) : 0) +
           m->acts_cap + m->gen.cap;
}

extern "C" int t5p_cuda_model_set_params(t5p_cuda_model *m, const float *params) {
    return t5p_cuda_upload(m->params, params, m->num_params * sizeof(float));
}
extern "C" int t5p_cuda_model_get_params(t5p_cuda_model *m, float *params) {
    return t5p_cuda_download(params, m->params, m->num_params * sizeof(float));
}
extern "C" int t5p_cuda_model_zero_grad(t5p_cuda_model *m) {
    if (!m->grads) {
        T5P__TRY(t5p_cuda_malloc((void **)&m->grads, m->num_params * sizeof(float)));
        t5p_params_layout(&m->cfg, m->grads, &m->g);
    }
    return t5p_cuda_memset(m->grads, 0, m->num_params * sizeof(float));
}
extern "C" int t5p_cuda_model_get_grads(t5p_cuda_model *m, float *grads) {
    if (!m->grads) return t5p_error_set(T5P_ERR_ARG, "model: no gradients yet");
    return t5p_cuda_download(grads, m->grads, m->num_params * sizeof(float));
}
extern "C" int t5p_cuda_model_set_rng(t5p_cuda_model *m, uint64_t seed, uint64_t step) {
    m->seed = seed, m->step = step;
    return 0;
}
extern "C" int t5p_cuda_model_get_logits(t5p_cuda_model *m, float *logits) {
    if (!m->has_acts || m->grad_ready)
        return t5p_error_set(T5P_ERR_ARG, "model: no logits (they exist after an evaluation forward)");
    return t5p_cuda_download(logits, m->a.logits, sizeof(float) * (size_t)m->B * (m->T - 1) * m->cfg.vocab_size);
}

// Checks and uploads a batch (tgt NULL: encoder only, T = 2), growing the buffers; lays out m->a.
static int t5p__prepare(t5p_cuda_model *m, const int *src, const int *tgt, int B, int S, int T) {
    const t5p_config *c = &m->cfg;
    if (B <= 0 || S <= 0 || T < 2)
        return t5p_error_set(T5P_ERR_ARG, "model forward: batch %d, source length %d, target length %d (need >= 2)", B,
                             S, T);
    for (size_t i = 0; i < (size_t)B * S; i++)
        if (src[i] < 0 || src[i] >= c->vocab_size)
            return t5p_error_set(T5P_ERR_ARG, "model forward: source id %d at row %zu, position %zu outside [0, %d)",
                                 src[i], i / S, i % S, c->vocab_size);
    for (size_t i = 0; tgt && i < (size_t)B * T; i++)
        if (tgt[i] < 0 || tgt[i] >= c->vocab_size)
            return t5p_error_set(T5P_ERR_ARG, "model forward: target id %d at row %zu, position %zu outside [0, %d)",
                                 tgt[i], i / T, i % T, c->vocab_size);
    const size_t abytes = t5p__acts_layout(c, NULL, B, S, T, &m->a), bbytes = t5p__batch_layout(NULL, B, S, T, &m->b);
    if (abytes + bbytes > m->acts_cap) {
        m->has_acts = 0;
        T5P__CUDA(cudaDeviceSynchronize());
        if (m->acts) T5P__CUDA(cudaFree(m->acts));
        m->acts = NULL, m->acts_cap = 0;
        T5P__CUDA(cudaMalloc((void **)&m->acts, abytes + bbytes));
        m->acts_cap = abytes + bbytes;
    }
    const int Td = T - 1;
    const size_t Ne = (size_t)B * S, Nd = (size_t)B * Td;
    if (bbytes > m->hbatch_cap || Ne > m->htmp_cap || 3 * Nd > m->hlse_cap) {
        free(m->hbatch), free(m->htmp), free(m->hlse);
        m->hbatch = (char *)malloc(bbytes);
        m->htmp = (uint64_t *)malloc(sizeof(uint64_t) * (Ne > Nd ? Ne : Nd));
        m->hlse = (float *)malloc(sizeof(float) * 3 * Nd);
        m->hbatch_cap = m->htmp_cap = m->hlse_cap = 0;
        if (!m->hbatch || !m->htmp || !m->hlse) return t5p_error_set(T5P_ERR_NOMEM, "model: out of memory");
        m->hbatch_cap = bbytes, m->htmp_cap = Ne > Nd ? Ne : Nd, m->hlse_cap = 3 * Nd;
    }
    t5p__acts_layout(c, m->acts, B, S, T, &m->a);
    m->acts_bytes = abytes;
    t5p__batch_layout(m->acts + abytes, B, S, T, &m->b);
    t5p__cu_batch *h = &m->hb;
    t5p__batch_layout(m->hbatch, B, S, T, h);
    for (size_t i = 0; i < Ne; i++) h->src[i] = src[i], h->src_mask[i] = src[i] != c->pad_id;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Td; t++) {  // decoder input tgt[:, :-1], labels tgt[:, 1:]
            int x = tgt ? tgt[(size_t)b * T + t] : c->pad_id, y = tgt ? tgt[(size_t)b * T + t + 1] : c->pad_id;
            h->dec_in[b * Td + t] = x;
            h->labels[b * Td + t] = y == c->pad_id ? -1 : y;
        }
    m->enc_nuniq = t5p__csr(h->src, (int)Ne, h->enc_order, h->enc_uniq, h->enc_starts, m->htmp);
    m->dec_nuniq = t5p__csr(h->dec_in, (int)Nd, h->dec_order, h->dec_uniq, h->dec_starts, m->htmp);
    t5p__buckets(h->enc_bucket, S, S, 1, c->num_buckets, c->max_distance);
    t5p__buckets(h->dec_bucket, Td, Td, 0, c->num_buckets, c->max_distance);
    t5p__buckets(h->cross_bucket, Td, S, 0, c->num_buckets, c->max_distance);
    T5P__CUDA(cudaMemcpy(m->acts + abytes, m->hbatch, bbytes, cudaMemcpyHostToDevice));
    m->B = B, m->S = S, m->T = T;
    return 0;
}

// --- sublayers. Each forward leaves the sublayer's output in a->s_sub; each backward starts from
// a->dsub (the gradient of that output, dropout already undone) and leaves the gradient of its normed
// input in a->dh (=). Weight gradients accumulate.

// Self-attention on h (B*T rows); q, k, v weights back to back at stride ws.
static int t5p__self_attn_forward(t5p_cuda_model *m, const float *h, const float *wq, size_t ws, const float *wo,
                                  float *qkvp, float *att, float *ctx, const float *bias, const uint8_t *kmask,
                                  int causal, int B, int T) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, N = B * T, prec = m->precision;
    t5p__cu_acts *a = &m->a;
    const size_t nq = (size_t)N * HK;
    T5P__TRY(t5p__linear_y(prec, a->s_lin, h, wq, N, D, HK, 3, 0, (long long)ws, (long long)nq, 0.0f));
    T5P__TRY(t5p__launch_permute(qkvp, a->s_lin, B, T, H, Dk, nq, 3, 0));
    T5P__TRY(t5p__attn_core_forward(prec, a->s_ctxp, att, qkvp, qkvp + nq, qkvp + 2 * nq, bias, kmask, causal, B, T, T,
                                    H, Dk));
    T5P__TRY(t5p__launch_permute(ctx, a->s_ctxp, B, T, H, Dk, 0, 1, 1));
    return t5p__linear_y(prec, a->s_sub, ctx, wo, N, HK, D, 1, 0, 0, 0, 0.0f);
}

static int t5p__self_attn_backward(t5p_cuda_model *m, const float *h, const float *wq, size_t ws, const float *wo,
                                   float *dwq, float *dwo, const float *qkvp, float *att, const float *ctx,
                                   float *dbias, int B, int T) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, N = B * T, prec = m->precision;
    t5p__cu_acts *a = &m->a;
    const size_t nq = (size_t)N * HK;
    T5P__TRY(t5p__linear_dx(prec, a->dctx, a->dsub, wo, N, HK, D, 0.0f));
    T5P__TRY(t5p__linear_dw(prec, dwo, a->dsub, ctx, N, HK, D, 1, 0, 0, 0));
    T5P__TRY(t5p__launch_permute(a->s_ctxp, a->dctx, B, T, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__attn_core_backward(prec, a->s_perm, a->s_perm + nq, a->s_perm + 2 * nq, dbias, a->s_dP, a->s_ctxp,
                                     att, qkvp, qkvp + nq, qkvp + 2 * nq, B, T, T, H, Dk));
    T5P__TRY(t5p__launch_permute(a->s_lin, a->s_perm, B, T, H, Dk, nq, 3, 1));  // dq, dk, dv rows
    T5P__TRY(t5p__linear_dw(prec, dwq, a->s_lin, h, N, D, HK, 3, (long long)nq, 0, (long long)ws));
    T5P__TRY(t5p__linear_dx(prec, a->dh, a->s_lin + 2 * nq, wq + 2 * ws, N, D, HK, 0.0f));  // dv Wv
    T5P__TRY(t5p__linear_dx(prec, a->dh, a->s_lin + nq, wq + ws, N, D, HK, 1.0f));          // + dk Wk
    return t5p__linear_dx(prec, a->dh, a->s_lin, wq, N, D, HK, 1.0f);                        // + dq Wq
}

// Cross-attention: q from h (B*Tq rows), k and v from enc (B*Tk rows; weights at wk, wk + ws).
static int t5p__cross_attn_forward(t5p_cuda_model *m, const float *h, const float *enc, const float *wq,
                                   const float *wk, size_t ws, const float *wo, float *qp, float *kvp, float *att,
                                   float *ctx, const float *bias, const uint8_t *kmask, int B, int Tq, int Tk) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, prec = m->precision;
    const int Nq = B * Tq, Nk = B * Tk;
    t5p__cu_acts *a = &m->a;
    const size_t nk = (size_t)Nk * HK;
    T5P__TRY(t5p__linear_y(prec, a->s_lin, h, wq, Nq, D, HK, 1, 0, 0, 0, 0.0f));
    T5P__TRY(t5p__launch_permute(qp, a->s_lin, B, Tq, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__linear_y(prec, a->s_lin, enc, wk, Nk, D, HK, 2, 0, (long long)ws, (long long)nk, 0.0f));
    T5P__TRY(t5p__launch_permute(kvp, a->s_lin, B, Tk, H, Dk, nk, 2, 0));
    T5P__TRY(t5p__attn_core_forward(prec, a->s_ctxp, att, qp, kvp, kvp + nk, bias, kmask, 0, B, Tq, Tk, H, Dk));
    T5P__TRY(t5p__launch_permute(ctx, a->s_ctxp, B, Tq, H, Dk, 0, 1, 1));
    return t5p__linear_y(prec, a->s_sub, ctx, wo, Nq, HK, D, 1, 0, 0, 0, 0.0f);
}

// ... its backward also adds the gradient of enc to a->denc.
static int t5p__cross_attn_backward(t5p_cuda_model *m, const float *h, const float *enc, const float *wq,
                                    const float *wk, size_t ws, const float *wo, float *dwq, float *dwk, float *dwo,
                                    const float *qp, const float *kvp, float *att, const float *ctx, float *dbias,
                                    int B, int Tq, int Tk) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, prec = m->precision;
    const int Nq = B * Tq, Nk = B * Tk;
    t5p__cu_acts *a = &m->a;
    const size_t nk = (size_t)Nk * HK;
    float *dkvp = a->s_perm, *dqp = a->s_perm + 2 * nk;
    T5P__TRY(t5p__linear_dx(prec, a->dctx, a->dsub, wo, Nq, HK, D, 0.0f));
    T5P__TRY(t5p__linear_dw(prec, dwo, a->dsub, ctx, Nq, HK, D, 1, 0, 0, 0));
    T5P__TRY(t5p__launch_permute(a->s_ctxp, a->dctx, B, Tq, H, Dk, 0, 1, 0));
    T5P__TRY(t5p__attn_core_backward(prec, dqp, dkvp, dkvp + nk, dbias, a->s_dP, a->s_ctxp, att, qp, kvp, kvp + nk, B,
                                     Tq, Tk, H, Dk));
    T5P__TRY(t5p__launch_permute(a->s_lin, dkvp, B, Tk, H, Dk, nk, 2, 1));  // dk, dv rows
    T5P__TRY(t5p__linear_dw(prec, dwk, a->s_lin, enc, Nk, D, HK, 2, (long long)nk, 0, (long long)ws));
    T5P__TRY(t5p__linear_dx(prec, a->denc, a->s_lin + nk, wk + ws, Nk, D, HK, 1.0f));  // denc += dv Wv
    T5P__TRY(t5p__linear_dx(prec, a->denc, a->s_lin, wk, Nk, D, HK, 1.0f));            //       + dk Wk
    T5P__TRY(t5p__launch_permute(a->s_lin, dqp, B, Tq, H, Dk, 0, 1, 1));             // dq rows
    T5P__TRY(t5p__linear_dw(prec, dwq, a->s_lin, h, Nq, D, HK, 1, 0, 0, 0));
    return t5p__linear_dx(prec, a->dh, a->s_lin, wq, Nq, D, HK, 0.0f);
}

// Gated-GELU feed-forward on h (N rows); wi_0 and wi_1 back to back at stride ws.
static int t5p__ffn_forward(t5p_cuda_model *m, const float *h, const float *wi0, size_t ws, const float *wo, float *u,
                            float *gg, int N) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, F = c->d_ff, prec = m->precision;
    const size_t nf = (size_t)N * F;
    T5P__TRY(t5p__linear_y(prec, u, h, wi0, N, D, F, 2, 0, (long long)ws, (long long)nf, 0.0f));
    T5P__TRY(t5p__launch_gelu_forward(gg, u, u + nf, nf, c->flavor == T5P_HF_MT5));
    return t5p__linear_y(prec, m->a.s_sub, gg, wo, N, F, D, 1, 0, 0, 0, 0.0f);
}

static int t5p__ffn_backward(t5p_cuda_model *m, const float *h, const float *wi0, size_t ws, const float *wo,
                             float *dwi0, float *dwo, const float *u, const float *gg, int N) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, F = c->d_ff, prec = m->precision;
    const size_t nf = (size_t)N * F;
    t5p__cu_acts *a = &m->a;
    T5P__TRY(t5p__linear_dx(prec, a->dg, a->dsub, wo, N, F, D, 0.0f));
    T5P__TRY(t5p__linear_dw(prec, dwo, a->dsub, gg, N, F, D, 1, 0, 0, 0));
    T5P__TRY(t5p__launch_gelu_backward(a->du, a->du + nf, a->dg, u, u + nf, nf, c->flavor == T5P_HF_MT5));
    T5P__TRY(t5p__linear_dw(prec, dwi0, a->du, h, N, D, F, 2, (long long)nf, 0, (long long)ws));
    T5P__TRY(t5p__linear_dx(prec, a->dh, a->du + nf, wi0 + ws, N, D, F, 0.0f));  // du1 W1
    return t5p__linear_dx(prec, a->dh, a->du, wi0, N, D, F, 1.0f);                // + du0 W0
}

// --- the stacks

static int t5p__encoder_forward(t5p_cuda_model *m, float p) {
    const t5p_config *c = &m->cfg;
    const t5p_params *w = &m->w;
    t5p__cu_acts *a = &m->a;
    const int B = m->B, S = m->S, D = c->d_model, F = c->d_ff, H = c->num_heads, HK = H * c->d_kv;
    const int Le = c->num_layers, Ne = B * S;
    const size_t ND = (size_t)Ne * D, NH = (size_t)Ne * HK, NF = (size_t)Ne * F;
    const size_t qkv_ws = (size_t)(w->enc_k - w->enc_q), ff_ws = (size_t)(w->enc_wi1 - w->enc_wi0);
    T5P__TRY(t5p__launch_position_bias(a->enc_pb, w->enc_bias, m->b.enc_bucket, H, S, S));
    T5P__TRY(t5p__launch_embedding_forward(a->enc_x, m->b.src, w->shared, Ne, D,
                                           t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC), 1.0f)));
    T5P__TRY(t5p__launch_rmsnorm_forward(NULL, a->enc_h0, a->enc_rstd0, a->enc_x, NULL, w->enc_ln0, Ne, D, c->eps,
                                         t5p__no_drop));
    for (int l = 0; l < Le; l++) {
        float *x = a->enc_x + l * ND, *x1 = a->enc_x1 + l * ND, *h0 = a->enc_h0 + l * ND, *h1 = a->enc_h1 + l * ND;
        T5P__TRY(t5p__self_attn_forward(m, h0, w->enc_q + (size_t)l * HK * D, qkv_ws, w->enc_o + (size_t)l * D * HK,
                                        a->enc_qkv + 3 * l * NH, a->enc_att + (size_t)l * B * H * S * S,
                                        a->enc_ctx + l * NH, a->enc_pb, m->b.src_mask, 0, B, S));
        T5P__TRY(t5p__launch_rmsnorm_forward(x1, h1, a->enc_rstd1 + (size_t)l * Ne, x, a->s_sub, w->enc_ln1 + l * D, Ne,
                                             D, c->eps, t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC + 1 + 2 * l), 1.0f)));
        T5P__TRY(t5p__ffn_forward(m, h1, w->enc_wi0 + (size_t)l * F * D, ff_ws, w->enc_wo + (size_t)l * D * F,
                                  a->enc_u + 2 * l * NF, a->enc_g + l * NF, Ne));
        const int last = l == Le - 1;  // the next norm: layer l+1's first, or the final one
        T5P__TRY(t5p__launch_rmsnorm_forward(x + ND, last ? a->enc_out : a->enc_h0 + (l + 1) * ND,
                                             last ? a->enc_rstdf : a->enc_rstd0 + (size_t)(l + 1) * Ne, x1, a->s_sub,
                                             last ? w->enc_norm : w->enc_ln0 + (l + 1) * D, Ne, D, c->eps,
                                             t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC + 2 + 2 * l), 1.0f)));
    }
    return t5p__launch_dropout(a->enc_out, a->enc_out, ND, t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC + 1 + 2 * Le), 1.0f));
}

static int t5p__decoder_forward(t5p_cuda_model *m, float p) {
    const t5p_config *c = &m->cfg;
    const t5p_params *w = &m->w;
    t5p__cu_acts *a = &m->a;
    const int B = m->B, S = m->S, Td = m->T - 1, D = c->d_model, F = c->d_ff, H = c->num_heads, HK = H * c->d_kv;
    const int Ld = c->num_decoder_layers, Nd = B * Td, Ne = B * S;
    const size_t ND = (size_t)Nd * D, NH = (size_t)Nd * HK, NF = (size_t)Nd * F, NeH = (size_t)Ne * HK;
    const size_t qkv_ws = (size_t)(w->dec_k - w->dec_q), kv_ws = (size_t)(w->dec_cv - w->dec_ck);
    const size_t ff_ws = (size_t)(w->dec_wi1 - w->dec_wi0);
    T5P__TRY(t5p__launch_position_bias(a->dec_pb, w->dec_bias, m->b.dec_bucket, H, Td, Td));
    if (a->cross_pb) T5P__TRY(t5p__launch_position_bias(a->cross_pb, w->dec_bias, m->b.cross_bucket, H, Td, S));
    T5P__TRY(t5p__launch_embedding_forward(a->dec_x, m->b.dec_in, w->shared, Nd, D,
                                           t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC), 1.0f)));
    T5P__TRY(t5p__launch_rmsnorm_forward(NULL, a->dec_h0, a->dec_rstd0, a->dec_x, NULL, w->dec_ln0, Nd, D, c->eps,
                                         t5p__no_drop));
    for (int l = 0; l < Ld; l++) {
        float *x = a->dec_x + l * ND, *x1 = a->dec_x1 + l * ND, *x2 = a->dec_x2 + l * ND;
        float *h0 = a->dec_h0 + l * ND, *h1 = a->dec_h1 + l * ND, *h2 = a->dec_h2 + l * ND;
        const size_t lw = (size_t)l * HK * D;
        T5P__TRY(t5p__self_attn_forward(m, h0, w->dec_q + lw, qkv_ws, w->dec_o + lw, a->dec_qkv + 3 * l * NH,
                                        a->dec_att + (size_t)l * B * H * Td * Td, a->dec_ctx + l * NH, a->dec_pb, NULL,
                                        1, B, Td));
        T5P__TRY(t5p__launch_rmsnorm_forward(x1, h1, a->dec_rstd1 + (size_t)l * Nd, x, a->s_sub, w->dec_ln1 + l * D, Nd,
                                             D, c->eps, t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 1 + 3 * l), 1.0f)));
        T5P__TRY(t5p__cross_attn_forward(m, h1, a->enc_out, w->dec_cq + lw, w->dec_ck + lw, kv_ws, w->dec_co + lw,
                                         a->dec_cq + l * NH, a->dec_ckv + 2 * l * NeH,
                                         a->dec_catt + (size_t)l * B * H * Td * S, a->dec_cctx + l * NH, a->cross_pb,
                                         m->b.src_mask, B, Td, S));
        T5P__TRY(t5p__launch_rmsnorm_forward(x2, h2, a->dec_rstd2 + (size_t)l * Nd, x1, a->s_sub, w->dec_ln2 + l * D, Nd,
                                             D, c->eps, t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 2 + 3 * l), 1.0f)));
        T5P__TRY(t5p__ffn_forward(m, h2, w->dec_wi0 + (size_t)l * F * D, ff_ws, w->dec_wo + (size_t)l * D * F,
                                  a->dec_u + 2 * l * NF, a->dec_g + l * NF, Nd));
        const int last = l == Ld - 1;
        T5P__TRY(t5p__launch_rmsnorm_forward(x + ND, last ? a->dec_out : a->dec_h0 + (l + 1) * ND,
                                             last ? a->dec_rstdf : a->dec_rstd0 + (size_t)(l + 1) * Nd, x2, a->s_sub,
                                             last ? w->dec_norm : w->dec_ln0 + (l + 1) * D, Nd, D, c->eps,
                                             t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 3 + 3 * l), 1.0f)));
    }
    const float scale = c->flavor == T5P_PEGASUS ? 1.0f / sqrtf((float)D) : 1.0f;  // original: * d_model**-0.5
    return t5p__launch_dropout(a->dec_out, a->dec_out, ND,
                               t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 1 + 3 * Ld), scale));
}

extern "C" int t5p_cuda_model_forward(t5p_cuda_model *m, const int *src, const int *tgt, int B, int S, int T,
                                      int training, t5p_cuda_stats *st) {
    const t5p_config *c = &m->cfg;
    m->has_acts = 0;
    T5P__TRY(t5p__ready());
    T5P__TRY(t5p__prepare(m, src, tgt, B, S, T));
    m->training = training != 0;
    if (training) m->step++;
    const float p = training ? c->dropout : 0.0f;
    const int Nd = B * (T - 1), D = c->d_model, V = c->vocab_size;
    t5p__cu_acts *a = &m->a;
    int n = 0;
    for (int i = 0; i < Nd; i++) n += m->hb.labels[i] >= 0;
    T5P__TRY(t5p__encoder_forward(m, p));
    T5P__TRY(t5p__decoder_forward(m, p));
    // untied LM head, then loss and accuracy; a training forward also turns the logits into their gradient
    T5P__TRY(t5p__linear_y(m->precision, a->logits, a->dec_out, m->w.lm_head, Nd, D, V, 1, 0, 0, 0, 0.0f));
    T5P__TRY(t5p__launch_xent(a->logits, a->lse, a->xlab, a->correct, m->b.labels, Nd, V, n ? 1.0f / n : 0.0f,
                              training ? 3 : 1));
    float *h = m->hlse;
    T5P__CUDA(cudaMemcpy(h, a->lse, sizeof(float) * Nd, cudaMemcpyDeviceToHost));
    T5P__CUDA(cudaMemcpy(h + Nd, a->xlab, sizeof(float) * Nd, cudaMemcpyDeviceToHost));
    T5P__CUDA(cudaMemcpy(h + 2 * (size_t)Nd, a->correct, sizeof(int) * Nd, cudaMemcpyDeviceToHost));
    const int *ok = (const int *)(h + 2 * (size_t)Nd);
    double loss = 0.0;  // in row order, like t5p_xent_forward
    int correct = 0;
    for (int r = 0; r < Nd; r++)
        if (m->hb.labels[r] >= 0) loss += (double)h[r] - h[Nd + r], correct += ok[r];
    m->ntokens = n;
    m->loss = n ? (float)(loss / n) : 0.0f;
    m->acc = n ? (float)correct / (float)n : 0.0f;
    m->has_acts = 1, m->grad_ready = training != 0;
    if (st) st->loss = m->loss, st->acc = m->acc, st->ntokens = m->ntokens;
    return 0;
}

extern "C" int t5p_cuda_model_backward(t5p_cuda_model *m) {
    if (!m->has_acts) return t5p_error_set(T5P_ERR_ARG, "model backward: no forward to differentiate");
    if (!m->grads) T5P__TRY(t5p_cuda_model_zero_grad(m));
    m->has_acts = 0;  // the backward overwrites logits and attention probabilities
    const t5p_config *c = &m->cfg;
    const t5p_params *w = &m->w, *dw = &m->g;
    t5p__cu_acts *a = &m->a;
    const int B = m->B, S = m->S, Td = m->T - 1, D = c->d_model, F = c->d_ff, H = c->num_heads, HK = H * c->d_kv;
    const int V = c->vocab_size, Le = c->num_layers, Ld = c->num_decoder_layers, NB = c->num_buckets;
    const int Ne = B * S, Nd = B * Td, prec = m->precision;
    const float p = m->training ? c->dropout : 0.0f;
    const size_t NDd = (size_t)Nd * D, NHd = (size_t)Nd * HK, NFd = (size_t)Nd * F;
    const size_t NDe = (size_t)Ne * D, NHe = (size_t)Ne * HK, NFe = (size_t)Ne * F;
    const size_t HKD = (size_t)HK * D, FD = (size_t)F * D;

    // loss and LM head
    if (!m->grad_ready)
        T5P__TRY(t5p__launch_xent(a->logits, a->lse, NULL, NULL, m->b.labels, Nd, V, m->ntokens ? 1.0f / m->ntokens : 0.0f, 2));
    m->grad_ready = 0;
    T5P__TRY(t5p__linear_dx(prec, a->dh, a->logits, w->lm_head, Nd, D, V, 0.0f));
    T5P__TRY(t5p__linear_dw(prec, dw->lm_head, a->logits, a->dec_out, Nd, D, V, 1, 0, 0, 0));
    const float scale = c->flavor == T5P_PEGASUS ? 1.0f / sqrtf((float)D) : 1.0f;
    T5P__TRY(t5p__launch_dropout(a->dh, a->dh, NDd, t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 1 + 3 * Ld), scale)));
    T5P__CUDA(cudaMemset(a->dres, 0, sizeof(float) * NDd));
    T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->dec_norm, a->dh, a->dec_x + Ld * NDd, a->dec_rstdf,
                                          w->dec_norm, Nd, D,
                                          t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 3 + 3 * (Ld - 1)), 1.0f),
                                          a->s_norm));

    // decoder, each norm's backward handing the next sublayer down its output gradient in dsub
    T5P__CUDA(cudaMemset(a->denc, 0, sizeof(float) * NDe));
    T5P__CUDA(cudaMemset(a->ddec_pb, 0, sizeof(float) * H * Td * Td));
    if (a->dcross_pb) T5P__CUDA(cudaMemset(a->dcross_pb, 0, sizeof(float) * H * Td * S));
    const size_t qkv_ws = (size_t)(w->dec_k - w->dec_q), kv_ws = (size_t)(w->dec_cv - w->dec_ck);
    const size_t dff_ws = (size_t)(w->dec_wi1 - w->dec_wi0), eqkv_ws = (size_t)(w->enc_k - w->enc_q);
    const size_t eff_ws = (size_t)(w->enc_wi1 - w->enc_wi0);
    for (int l = Ld - 1; l >= 0; l--) {
        const size_t lw = (size_t)l * HKD, lf = (size_t)l * FD;
        float *x = a->dec_x + l * NDd, *x1 = a->dec_x1 + l * NDd, *x2 = a->dec_x2 + l * NDd;
        T5P__TRY(t5p__ffn_backward(m, a->dec_h2 + l * NDd, w->dec_wi0 + lf, dff_ws, w->dec_wo + lf, dw->dec_wi0 + lf,
                                   dw->dec_wo + lf, a->dec_u + 2 * l * NFd, a->dec_g + l * NFd, Nd));
        T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->dec_ln2 + l * D, a->dh, x2,
                                              a->dec_rstd2 + (size_t)l * Nd, w->dec_ln2 + l * D, Nd, D,
                                              t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 2 + 3 * l), 1.0f), a->s_norm));
        T5P__TRY(t5p__cross_attn_backward(m, a->dec_h1 + l * NDd, a->enc_out, w->dec_cq + lw, w->dec_ck + lw, kv_ws,
                                          w->dec_co + lw, dw->dec_cq + lw, dw->dec_ck + lw, dw->dec_co + lw,
                                          a->dec_cq + l * NHd, a->dec_ckv + 2 * l * NHe,
                                          a->dec_catt + (size_t)l * B * H * Td * S, a->dec_cctx + l * NHd, a->dcross_pb,
                                          B, Td, S));
        T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->dec_ln1 + l * D, a->dh, x1,
                                              a->dec_rstd1 + (size_t)l * Nd, w->dec_ln1 + l * D, Nd, D,
                                              t5p__drop_make(p, t5p__key(m, T5P__SITE_DEC + 1 + 3 * l), 1.0f), a->s_norm));
        T5P__TRY(t5p__self_attn_backward(m, a->dec_h0 + l * NDd, w->dec_q + lw, qkv_ws, w->dec_o + lw, dw->dec_q + lw,
                                         dw->dec_o + lw, a->dec_qkv + 3 * l * NHd,
                                         a->dec_att + (size_t)l * B * H * Td * Td, a->dec_ctx + l * NHd, a->ddec_pb, B,
                                         Td));
        const int below = l > 0 ? T5P__SITE_DEC + 3 + 3 * (l - 1) : T5P__SITE_DEC;  // layer l-1's FFN or the embedding
        T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->dec_ln0 + l * D, a->dh, x,
                                              a->dec_rstd0 + (size_t)l * Nd, w->dec_ln0 + l * D, Nd, D,
                                              t5p__drop_make(p, t5p__key(m, below), 1.0f), a->s_norm));
    }
    T5P__TRY(t5p__launch_embedding_backward(dw->shared, a->dsub, m->b.dec_order, m->b.dec_uniq, m->b.dec_starts,
                                            m->dec_nuniq, D));

    // encoder, from the gradient the cross-attentions left on its output
    T5P__TRY(t5p__launch_dropout(a->denc, a->denc, NDe, t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC + 1 + 2 * Le), 1.0f)));
    T5P__CUDA(cudaMemset(a->dres, 0, sizeof(float) * NDe));
    T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->enc_norm, a->denc, a->enc_x + Le * NDe, a->enc_rstdf,
                                          w->enc_norm, Ne, D,
                                          t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC + 2 + 2 * (Le - 1)), 1.0f),
                                          a->s_norm));
    T5P__CUDA(cudaMemset(a->denc_pb, 0, sizeof(float) * H * S * S));
    for (int l = Le - 1; l >= 0; l--) {
        const size_t lw = (size_t)l * HKD, lf = (size_t)l * FD;
        float *x = a->enc_x + l * NDe, *x1 = a->enc_x1 + l * NDe;
        T5P__TRY(t5p__ffn_backward(m, a->enc_h1 + l * NDe, w->enc_wi0 + lf, eff_ws, w->enc_wo + lf, dw->enc_wi0 + lf,
                                   dw->enc_wo + lf, a->enc_u + 2 * l * NFe, a->enc_g + l * NFe, Ne));
        T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->enc_ln1 + l * D, a->dh, x1,
                                              a->enc_rstd1 + (size_t)l * Ne, w->enc_ln1 + l * D, Ne, D,
                                              t5p__drop_make(p, t5p__key(m, T5P__SITE_ENC + 1 + 2 * l), 1.0f), a->s_norm));
        T5P__TRY(t5p__self_attn_backward(m, a->enc_h0 + l * NDe, w->enc_q + lw, eqkv_ws, w->enc_o + lw, dw->enc_q + lw,
                                         dw->enc_o + lw, a->enc_qkv + 3 * l * NHe,
                                         a->enc_att + (size_t)l * B * H * S * S, a->enc_ctx + l * NHe, a->denc_pb, B, S));
        const int below = l > 0 ? T5P__SITE_ENC + 2 + 2 * (l - 1) : T5P__SITE_ENC;
        T5P__TRY(t5p__launch_rmsnorm_backward(a->dres, a->dsub, dw->enc_ln0 + l * D, a->dh, x,
                                              a->enc_rstd0 + (size_t)l * Ne, w->enc_ln0 + l * D, Ne, D,
                                              t5p__drop_make(p, t5p__key(m, below), 1.0f), a->s_norm));
    }
    T5P__TRY(t5p__launch_embedding_backward(dw->shared, a->dsub, m->b.enc_order, m->b.enc_uniq, m->b.enc_starts,
                                            m->enc_nuniq, D));

    // position tables, computed first by the forward
    if (a->dcross_pb)
        T5P__TRY(t5p__launch_position_bias_backward(dw->dec_bias, a->dcross_pb, m->b.cross_bucket, H, Td, S, NB, a->s_diag));
    T5P__TRY(t5p__launch_position_bias_backward(dw->dec_bias, a->ddec_pb, m->b.dec_bucket, H, Td, Td, NB, a->s_diag));
    return t5p__launch_position_bias_backward(dw->enc_bias, a->denc_pb, m->b.enc_bucket, H, S, S, NB, a->s_diag);
}

// ----------------------------------------------------------------------------
// optimizers
//
// t5p_optim's arithmetic (t5p.h section 7), tensor by tensor: the same state layout and factoring
// rules, the host computes the step's scalars in double exactly as t5p_optim_step does, and the sums
// (RMS of w and of the update, row and column means of g^2) are taken in double in a fixed order on
// the device, so they agree with the CPU's to double rounding and the float state to the last bit in
// all but rare ties. Adam/AdamW updates agree bit for bit.

typedef struct {
    int64_t numel, rows, cols;  // 2-D: rows x cols; 1-D: 1 x numel
    int factored, large_cols;
    float *m, *v, *vr, *vc;     // device; NULL when absent
} t5p__cu_slot;

struct t5p_cuda_optim {
    t5p_optim_config cfg;
    int n;
    t5p_param *p;     // w and g on the device; names copied
    t5p__cu_slot *s;
    long step;
    float *state;     // every state array, one allocation
    double *part;     // reduction partials (device)
    double *scal;     // per-tensor sums: w^2, the factor along the normalised axis, u^2
};

#define T5P__AF_CHUNK 256   // rows per partial column sum

// t5p.h's t5p__opt_layout: shapes and factoring of one parameter's state; returns its floats.
static int64_t t5p__cu_opt_layout(const t5p_optim_config *c, const t5p_param *p, t5p__cu_slot *s) {
    memset(s, 0, sizeof *s);
    s->numel = 1;
    for (int d = 0; d < p->ndim; d++) s->numel *= p->shape[d];
    s->rows = p->ndim == 2 ? p->shape[0] : 1;
    s->cols = p->ndim == 2 ? p->shape[1] : s->numel;
    if (c->kind != T5P_OPTIM_ADAFACTOR) return 2 * s->numel;
    if (p->ndim == 2) {
        int64_t small = s->rows < s->cols ? s->rows : s->cols;
        s->factored = c->adafactor_style == T5P_ADAFACTOR_HF || small >= c->min_dim_size_to_factor;
        s->large_cols = s->cols >= s->rows;
    }
    return (c->beta1 > 0 ? s->numel : 0) + (s->factored ? s->rows + s->cols : s->numel);
}

// part[block] = sum of x^2 over the block's grid-stride share, in double
__global__ void t5p__sumsq_kernel(double *part, const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        s += (double)x[i] * x[i];
    s = t5p__block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}
// *out = sum of part[0..n), one block
__global__ void t5p__sum_kernel(double *out, const double *part, int n) {
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += part[i];
    s = t5p__block_sum(s);
    if (threadIdx.x == 0) *out = s;
}
// *out = sum of the floats x[0..n) in double, one block
__global__ void t5p__fsum_kernel(double *out, const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = t5p__block_sum(s);
    if (threadIdx.x == 0) *out = s;
}

__global__ void t5p__adam_kernel(float *w, float *m, float *v, const float *g, int64_t n, float b1, float a1, float b2,
                                 float a2, float eps, float l2, float decay, float step_size, float bc2_sqrt) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float gi = l2 != 0.0f ? g[i] + l2 * w[i] : g[i];
    const float mi = m[i] * b1 + a1 * gi;
    const float vi = v[i] * b2 + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float wi = decay != 1.0f ? w[i] * decay : w[i];
    w[i] = wi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
}

// Adafactor. vr[r] = vr[r] b2 + a2 mean_j (g^2 + eps1): one warp per row
__global__ void t5p__af_rows_kernel(float *vr, const float *g, int64_t rows, int64_t cols, float b2, float a2, float eps1) {
    const int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const float *gr = g + r * cols;
    double acc = 0.0;
    for (int64_t j = lane; j < cols; j += 32) acc += (double)(gr[j] * gr[j] + eps1);
    acc = t5p__warp_sum(acc);
    if (lane == 0) vr[r] = vr[r] * b2 + a2 * (float)(acc / (double)cols);
}
// columns: part (chunks, cols) = sums over T5P__AF_CHUNK rows; grid (column blocks, chunks)
__global__ void t5p__af_cols_part_kernel(double *part, const float *g, int64_t rows, int64_t cols, float eps1) {
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, r0 = (int64_t)blockIdx.y * T5P__AF_CHUNK;
    if (j >= cols) return;
    const int64_t r1 = r0 + T5P__AF_CHUNK < rows ? r0 + T5P__AF_CHUNK : rows;
    double acc = 0.0;
    for (int64_t r = r0; r < r1; r++) {
        const float x = g[r * cols + j];
        acc += (double)(x * x + eps1);
    }
    part[blockIdx.y * cols + j] = acc;
}
__global__ void t5p__af_cols_kernel(float *vc, const double *part, int nch, int64_t rows, int64_t cols, float b2, float a2) {
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double acc = 0.0;
    for (int q = 0; q < nch; q++) acc += part[q * cols + j];
    vc[j] = vc[j] * b2 + a2 * (float)(acc / (double)rows);
}
__global__ void t5p__af_full_kernel(float *v, const float *g, int64_t n, float b2, float a2, float eps1) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] = v[i] * b2 + a2 * (g[i] * g[i] + eps1);
}

enum { T5P__AF_HF_FACTORED, T5P__AF_HF_FULL, T5P__AF_B4K_FACTORED, T5P__AF_B4K_FULL };

typedef struct {
    int mode, hf, momentum, decay, scale_parameter;
    int64_t n, cols;
    double nf;          // length of the factor whose mean normalises (factored)
    float b1, a1, eps1;
    double rho, wd, eps2, clip;
} t5p__af;

// u = g / sqrt(v) before clipping, as t5p.h's T5P__AF_U; fm: the factor mean (factored modes)
__device__ __forceinline__ float t5p__af_u(const t5p__af &f, const float *g, const float *v, const float *vr,
                                           const float *vc, float fm, int64_t i) {
    switch (f.mode) {
    case T5P__AF_HF_FACTORED: {
        const float rf = 1.0f / sqrtf(vr[i / f.cols] / fm), cf = 1.0f / sqrtf(vc[i % f.cols]);
        return (rf * cf) * g[i];
    }
    case T5P__AF_HF_FULL: return (1.0f / sqrtf(v[i])) * g[i];
    case T5P__AF_B4K_FACTORED: return g[i] / sqrtf(vr[i / f.cols] * vc[i % f.cols] / fm + f.eps1);
    default: return g[i] / sqrtf(v[i] + f.eps1);
    }
}

__device__ __forceinline__ float t5p__af_fmean(const t5p__af &f, const double *scal) {
    return f.mode == T5P__AF_HF_FACTORED || f.mode == T5P__AF_B4K_FACTORED ? (float)(scal[1] / f.nf) : 1.0f;
}

__global__ void t5p__af_usq_kernel(double *part, t5p__af f, const float *g, const float *v, const float *vr,
                                   const float *vc, const double *scal) {
    const float fm = t5p__af_fmean(f, scal);
    double s = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < f.n; i += (int64_t)gridDim.x * blockDim.x) {
        const float u = t5p__af_u(f, g, v, vr, vc, fm, i);
        s += (double)u * u;
    }
    s = t5p__block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void t5p__af_update_kernel(t5p__af f, float *w, float *m, const float *g, const float *v, const float *vr,
                                      const float *vc, const double *scal) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= f.n) return;
    // the step's scalars, as t5p__adafactor_param computes them
    double scale = 1.0;
    if (f.scale_parameter) {
        const double rms = sqrt(scal[0] / (double)f.n);
        scale = rms > f.eps2 ? rms : f.eps2;
    }
    const double d = f.clip > 0 ? sqrt(scal[2] / (double)f.n) / f.clip : 0.0;
    const float denom = (float)(d > 1.0 ? d : 1.0);
    float u = t5p__af_u(f, g, v, vr, vc, t5p__af_fmean(f, scal), i) / denom;
    if (f.hf) {  // u/denom * lr_t; momentum on that; w -= wd lr_t w; w -= u
        const float lr_t = (float)(scale * f.rho), wdl = (float)(-f.wd * scale * f.rho);
        u = u * lr_t;
        if (f.momentum) u = m[i] = m[i] * f.b1 + f.a1 * u;
        float wi = w[i];
        if (f.decay) wi = wi + wi * wdl;
        w[i] = wi - u;
    } else {  // bert4keras: u/denom; momentum; u *= scale; w - lr u - lr wd w
        const float sc = (float)scale, lr = (float)f.rho, wdl = (float)(f.rho * f.wd);
        if (f.momentum) u = m[i] = m[i] * f.b1 + f.a1 * u;
        u = u * sc;
        float wi = w[i] - lr * u;
        if (f.decay) wi -= wdl * w[i];
        w[i] = wi;
    }
}

// Step size of step t before any parameter scaling (t5p.h's t5p__opt_rho).
static double t5p__cu_rho(const t5p_optim_config *c, long t, double sched) {
    if (c->kind != T5P_OPTIM_ADAFACTOR || !c->relative_step) return c->lr * sched;
    double inv = 1.0 / sqrt((double)t);
    if (c->adafactor_style == T5P_ADAFACTOR_HF) {
        double cap = c->warmup_init ? 1e-6 * (double)t : 1e-2;
        return cap < inv ? cap : inv;
    }
    double r = inv < 0.01 ? inv : 0.01;
    return r * (c->scale_parameter ? 1.0 : 0.05) * sched;
}

// sum of x^2 (n floats) into *out, in two fixed stages
static int t5p__sumsq(double *out, double *part, const float *x, int64_t n, int bs) {
    T5P__GO(t5p__sumsq_kernel, t5p__opt_parts, bs, 0)(part, x, n);
    T5P__LAUNCHED();
    T5P__GO(t5p__sum_kernel, 1, 256, 0)(out, part, t5p__opt_parts);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__adafactor_tensor(t5p_cuda_optim *o, int k, double sched, long t) {
    const t5p_optim_config *c = &o->cfg;
    const t5p_param *p = &o->p[k];
    const t5p__cu_slot *s = &o->s[k];
    const int bs = t5p__block[T5P__K_OPT];
    const int64_t n = s->numel, rows = s->rows, cols = s->cols;
    const double beta2t = 1.0 - pow((double)t, c->decay_rate);
    const float b2 = (float)beta2t, a2 = (float)(1.0 - beta2t), eps1 = (float)c->eps1;
    t5p__af f;
    memset(&f, 0, sizeof f);
    f.hf = c->adafactor_style == T5P_ADAFACTOR_HF;
    f.n = n, f.cols = cols;
    f.momentum = c->beta1 > 0;
    f.decay = c->weight_decay != 0 && !p->is_norm;
    f.scale_parameter = c->scale_parameter;
    f.b1 = (float)c->beta1, f.a1 = (float)(1.0 - c->beta1), f.eps1 = eps1;
    f.rho = t5p__cu_rho(c, t, sched), f.wd = c->weight_decay, f.eps2 = c->eps2, f.clip = c->clip_threshold;
    if (c->scale_parameter) T5P__TRY(t5p__sumsq(&o->scal[0], o->part, p->w, n, bs));  // RMS of w before the update
    if (s->factored) {
        T5P__GO(t5p__af_rows_kernel, t5p__blocks((size_t)rows * 32, bs), bs, 0)(s->vr, p->g, rows, cols, b2, a2, eps1);
        T5P__LAUNCHED();
        const int nch = (int)((rows + T5P__AF_CHUNK - 1) / T5P__AF_CHUNK);
        T5P__GO(t5p__af_cols_part_kernel, dim3(t5p__blocks((size_t)cols, bs), (unsigned)nch), bs, 0)(o->part, p->g, rows, cols,
                                                                                             eps1);
        T5P__LAUNCHED();
        T5P__GO(t5p__af_cols_kernel, t5p__blocks((size_t)cols, bs), bs, 0)(s->vc, o->part, nch, rows, cols, b2, a2);
        T5P__LAUNCHED();
        // HF: r_factor = rsqrt(vr / mean(vr)); bert4keras: v = vr vc / mean(the factor along the smaller axis)
        const int rows_factor = f.hf || s->large_cols;
        T5P__GO(t5p__fsum_kernel, 1, 256, 0)(&o->scal[1], rows_factor ? s->vr : s->vc, rows_factor ? rows : cols);
        T5P__LAUNCHED();
        f.nf = (double)(rows_factor ? rows : cols);
        f.mode = f.hf ? T5P__AF_HF_FACTORED : T5P__AF_B4K_FACTORED;
    } else {
        T5P__GO(t5p__af_full_kernel, t5p__blocks((size_t)n, bs), bs, 0)(s->v, p->g, n, b2, a2, eps1);
        T5P__LAUNCHED();
        f.mode = f.hf ? T5P__AF_HF_FULL : T5P__AF_B4K_FULL;
    }
    T5P__GO(t5p__af_usq_kernel, t5p__opt_parts, bs, 0)(o->part, f, p->g, s->v, s->vr, s->vc, o->scal);
    T5P__LAUNCHED();
    T5P__GO(t5p__sum_kernel, 1, 256, 0)(&o->scal[2], o->part, t5p__opt_parts);
    T5P__LAUNCHED();
    T5P__GO(t5p__af_update_kernel, t5p__blocks((size_t)n, bs), bs, 0)(f, p->w, s->m, p->g, s->v, s->vr, s->vc, o->scal);
    T5P__LAUNCHED();
    return 0;
}

static int t5p__adam_tensor(t5p_cuda_optim *o, int k, double lr, long t) {
    const t5p_optim_config *c = &o->cfg;
    const t5p_param *p = &o->p[k];
    const t5p__cu_slot *s = &o->s[k];
    const int bs = t5p__block[T5P__K_OPT];
    double bc1 = c->bias_correction ? 1.0 - pow(c->beta1, (double)t) : 1.0;
    double bc2 = c->bias_correction ? 1.0 - pow(c->beta2, (double)t) : 1.0;
    float decay = 1.0f, l2 = 0.0f;
    if (!p->is_norm && c->weight_decay != 0) {
        if (c->kind == T5P_OPTIM_ADAMW) decay = (float)(1.0 - lr * c->weight_decay);
        else l2 = (float)c->weight_decay;
    }
    float step_size, bc2_sqrt;
    if (c->eps_hat) {
        step_size = (float)(lr * sqrt(bc2) / bc1);
        bc2_sqrt = 1.0f;
    } else {
        step_size = (float)(lr / bc1);
        bc2_sqrt = (float)sqrt(bc2);
    }
    T5P__GO(t5p__adam_kernel, t5p__blocks((size_t)s->numel, bs), bs, 0)(
        p->w, s->m, s->v, p->g, s->numel, (float)c->beta1, (float)(1.0 - c->beta1), (float)c->beta2,
        (float)(1.0 - c->beta2), (float)c->eps, l2, decay, step_size, bc2_sqrt);
    T5P__LAUNCHED();
    return 0;
}

extern "C" void t5p_cuda_optim_free(t5p_cuda_optim *o) {
    if (!o) return;
    for (int k = 0; k < o->n; k++) free((char *)o->p[k].name);
    free(o->p);
    free(o->s);
    cudaFree(o->state);
    cudaFree(o->part);
    free(o);
}

extern "C" t5p_cuda_optim *t5p_cuda_optim_new(const t5p_optim_config *cfg, const t5p_param *params, int n) {
    if (!cfg || cfg->kind < T5P_OPTIM_ADAFACTOR || cfg->kind > T5P_OPTIM_ADAMW) {
        t5p_error_set(T5P_ERR_ARG, "optimizer: unknown kind");
        return NULL;
    }
    if (cfg->kind == T5P_OPTIM_ADAFACTOR && cfg->adafactor_style != T5P_ADAFACTOR_BERT4KERAS &&
        cfg->adafactor_style != T5P_ADAFACTOR_HF) {
        t5p_error_set(T5P_ERR_ARG, "optimizer: unknown Adafactor style %d", cfg->adafactor_style);
        return NULL;
    }
    for (int k = 0; k < n; k++) {
        const t5p_param *p = &params[k];
        int bad = !p->name || !p->name[0] || !p->w || !p->g || p->ndim < 1 || p->ndim > T5P_MAX_DIMS ||
                  (cfg->kind == T5P_OPTIM_ADAFACTOR && p->ndim > 2);
        for (int d = 0; !bad && d < p->ndim; d++) bad = p->shape[d] <= 0;
        if (bad) {
            t5p_error_set(T5P_ERR_ARG, "optimizer: parameter %d ('%s') has no name, data or a valid shape", k,
                          p->name ? p->name : "?");
            return NULL;
        }
    }
    if (n < 0 || t5p__ready() < 0) return NULL;
    t5p_cuda_optim *o = (t5p_cuda_optim *)calloc(1, sizeof *o);
    if (!o) {
        t5p_error_set(T5P_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    o->cfg = *cfg;
    o->p = (t5p_param *)calloc((size_t)(n ? n : 1), sizeof *o->p);
    o->s = (t5p__cu_slot *)calloc((size_t)(n ? n : 1), sizeof *o->s);
    if (!o->p || !o->s) {
        t5p_cuda_optim_free(o);
        t5p_error_set(T5P_ERR_NOMEM, "optimizer: out of memory");
        return NULL;
    }
    int64_t total = 0, part = T5P__OPT_PARTS;
    for (int k = 0; k < n; k++) {
        o->p[k] = params[k];
        o->p[k].name = NULL;
        o->n = k + 1;
        char *nm = (char *)malloc(strlen(params[k].name) + 1);
        if (!nm) {
            t5p_cuda_optim_free(o);
            t5p_error_set(T5P_ERR_NOMEM, "optimizer: out of memory");
            return NULL;
        }
        strcpy(nm, params[k].name);
        o->p[k].name = nm;
        total += t5p__cu_opt_layout(cfg, &params[k], &o->s[k]);
        const t5p__cu_slot *s = &o->s[k];
        int64_t cp = (s->rows + T5P__AF_CHUNK - 1) / T5P__AF_CHUNK * s->cols;
        if (s->factored && cp > part) part = cp;
    }
    if (t5p_cuda_malloc((void **)&o->state, sizeof(float) * (size_t)(total ? total : 1)) < 0 ||
        t5p_cuda_memset(o->state, 0, sizeof(float) * (size_t)total) < 0 ||
        t5p_cuda_malloc((void **)&o->part, sizeof(double) * (size_t)(part + 4)) < 0) {
        t5p_cuda_optim_free(o);
        return NULL;
    }
    o->scal = o->part + part;
    float *at = o->state;
    const int adam = cfg->kind != T5P_OPTIM_ADAFACTOR;
    for (int k = 0; k < n; k++) {  // m, then v or v_row and v_col, parameter after parameter
        t5p__cu_slot *s = &o->s[k];
        if (adam || cfg->beta1 > 0) s->m = at, at += s->numel;
        if (adam || !s->factored) {
            s->v = at, at += s->numel;
        } else {
            s->vr = at, at += s->rows;
            s->vc = at, at += s->cols;
        }
    }
    return o;
}

extern "C" t5p_cuda_optim *t5p_cuda_model_optim_new(t5p_cuda_model *m, const t5p_optim_config *cfg) {
    if (!m->grads && t5p_cuda_model_zero_grad(m) < 0) return NULL;
    int n = t5p_param_tensors(&m->cfg, m->params, NULL);
    t5p_param_tensor *ts = (t5p_param_tensor *)malloc(sizeof *ts * (size_t)n);
    t5p_param *ps = (t5p_param *)calloc((size_t)n, sizeof *ps);
    t5p_cuda_optim *o = NULL;
    if (!ts || !ps) {
        t5p_error_set(T5P_ERR_NOMEM, "optimizer: out of memory");
    } else {
        t5p_param_tensors(&m->cfg, m->params, ts);
        for (int k = 0; k < n; k++) {  // the list a CPU trainer builds from the same table
            ps[k].name = ts[k].name;
            ps[k].w = ts[k].data;
            ps[k].g = m->grads + ts[k].offset;
            ps[k].ndim = ts[k].ndim;
            ps[k].shape[0] = ts[k].shape[0];
            ps[k].shape[1] = ts[k].shape[1];
            ps[k].is_norm = ts[k].is_norm;
        }
        o = t5p_cuda_optim_new(cfg, ps, n);
    }
    free(ts);
    free(ps);
    return o;
}

extern "C" int t5p_cuda_optim_step(t5p_cuda_optim *o) {
    T5P__TRY(t5p__ready());
    long t = ++o->step;
    double sched = t5p_optim_schedule(&o->cfg, t);
    for (int k = 0; k < o->n; k++) {
        if (o->cfg.kind == T5P_OPTIM_ADAFACTOR) T5P__TRY(t5p__adafactor_tensor(o, k, sched, t));
        else T5P__TRY(t5p__adam_tensor(o, k, o->cfg.lr * sched, t));
    }
    return 0;
}

extern "C" long t5p_cuda_optim_steps(const t5p_cuda_optim *o) { return o->step; }
extern "C" void t5p_cuda_optim_set_steps(t5p_cuda_optim *o, long steps) { o->step = steps; }
extern "C" int t5p_cuda_optim_nparams(const t5p_cuda_optim *o) { return o->n; }

extern "C" float *t5p_cuda_optim_state(t5p_cuda_optim *o, int k, int which, int64_t *count, const char **name) {
    if (k < 0 || k >= o->n || which < 0 || which > 3) {
        if (count) *count = 0;
        return NULL;
    }
    const t5p__cu_slot *s = &o->s[k];
    float *arr[4] = {s->m, s->v, s->vr, s->vc};
    const int64_t len[4] = {s->numel, s->numel, s->rows, s->cols};
    if (name) *name = o->p[k].name;
    if (count) *count = arr[which] ? len[which] : 0;
    return arr[which];
}

// ----------------------------------------------------------------------------
// generation
//
// The encoder runs once (the model's forward, evaluation mode); each layer's cross-attention K and V
// are computed once for the B sources and read by all beams of a source (row r uses source r / nbeams);
// the self-attention K and V of each new position are appended to a cache that beam search reorders
// by parent (a gather into the second copy, then the copies swap). Every decoding step is the
// decoder's forward for one position, with the same arithmetic as the training forward's.

// cache (R, Ld, 2, H, tmax, Dk): the k and v rows (R, HK) of layer l at position t
__global__ void t5p__kv_append_kernel(float *cache, const float *k, const float *v, int R, int H, int Dk, int tmax, int Ld,
                                      int l, int t) {
    const size_t HK = (size_t)H * Dk, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)R * HK) return;
    const size_t r = i / HK, h = i % HK / Dk, d = i % Dk, plane = (size_t)H * tmax * Dk;
    const size_t at = r * Ld * 2 * plane + (size_t)l * 2 * plane + (h * tmax + t) * Dk + d;
    cache[at] = k[i];
    cache[at + plane] = v[i];
}

// One query per row: q (R, H*Dk); keys and values of row r are those of kv row r / group, key j of head h
// at K + kvrow * rstride + h * hstride + j * Dk (V likewise); Tk keys; bias row pointers at h * bstride
// (NULL for none); kmask (kv rows, Tk) or NULL, with t5p_attention_forward's masking rules. One block per
// (r, h); shared memory: Dk + Tk floats.
__global__ void t5p__decode_attention_kernel(float *ctx, const float *q, const float *K, const float *Vv,
                                             size_t rstride, size_t hstride, int group, int Tk, int H, int Dk,
                                             const float *bias, size_t bstride, const uint8_t *kmask) {
    T5P__DYNAMIC_SMEM(float, sh);
    const int r = blockIdx.x / H, h = blockIdx.x % H, kvr = r / group;
    float *qs = sh, *s = sh + Dk;
    for (int d = threadIdx.x; d < Dk; d += blockDim.x) qs[d] = q[(size_t)r * H * Dk + (size_t)h * Dk + d];
    __syncthreads();
    const float *Kb = K + kvr * rstride + h * hstride, *Vb = Vv + kvr * rstride + h * hstride;
    const uint8_t *km = kmask ? kmask + (size_t)kvr * Tk : NULL;
    const float *br = bias ? bias + h * bstride : NULL;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
        if (km && !km[j]) continue;
        float acc = 0.0f;
        for (int d = 0; d < Dk; d++) acc += qs[d] * Kb[(size_t)j * Dk + d];
        if (br) acc += br[j];
        s[j] = acc;
        mx = fmaxf(mx, acc);
    }
    mx = t5p__block_max(mx);
    if (mx == -INFINITY) {  // every key masked: uniform
        for (int j = threadIdx.x; j < Tk; j += blockDim.x) s[j] = 1.0f / (float)Tk;
    } else {
        float sum = 0.0f;
        for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
            const float e = (!km || km[j]) ? expf(s[j] - mx) : 0.0f;
            s[j] = e;
            sum += e;
        }
        sum = t5p__block_sum(sum);
        const float inv = 1.0f / sum;
        for (int j = threadIdx.x; j < Tk; j += blockDim.x) s[j] *= inv;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < Dk; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < Tk; j++) acc += s[j] * Vb[(size_t)j * Dk + d];
        ctx[(size_t)r * H * Dk + (size_t)h * Dk + d] = acc;
    }
}

static int t5p__launch_decode_attention(float *ctx, const float *q, const float *K, const float *V, size_t rstride,
                                        size_t hstride, int group, int R, int Tk, int H, int Dk, const float *bias,
                                        size_t bstride, const uint8_t *kmask) {
    const size_t smem = sizeof(float) * ((size_t)Dk + Tk);
    if (smem > 48 * 1024) return t5p_error_set(T5P_ERR_ARG, "decoding: %d keys of width %d exceed shared memory", Tk, Dk);
    T5P__GO(t5p__decode_attention_kernel, (unsigned)R * H, 128, smem)(ctx, q, K, V, rstride, hstride, group, Tk, H, Dk, bias,
                                                                 bstride, kmask);
    T5P__LAUNCHED();
    return 0;
}

static size_t t5p__gen_layout(const t5p_config *c, char *base, int B, int S, int nbeams, int tmax, t5p__cu_gen *g) {
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->num_heads, Dk = (size_t)c->d_kv;
    const size_t HK = H * Dk, V = (size_t)c->vocab_size, Ld = (size_t)c->num_decoder_layers;
    const size_t R = (size_t)B * nbeams, T = (size_t)tmax;
    size_t off = 0;
    T5P__TAKE(base, off, g->self[0], float, R * Ld * 2 * H * T * Dk);
    T5P__TAKE(base, off, g->self[1], float, R * Ld * 2 * H * T * Dk);
    T5P__TAKE(base, off, g->cross, float, Ld * 2 * (size_t)B * S * HK);
    T5P__TAKE(base, off, g->self_pb, float, H * T * T);
    g->cross_pb = NULL;
    if (c->flavor == T5P_PEGASUS) T5P__TAKE(base, off, g->cross_pb, float, H * T * S);
    T5P__TAKE(base, off, g->y, float, R * D);
    T5P__TAKE(base, off, g->h, float, R * D);
    T5P__TAKE(base, off, g->sub, float, R * D);
    T5P__TAKE(base, off, g->rstd, float, R);
    T5P__TAKE(base, off, g->qkv, float, 3 * R * HK);
    T5P__TAKE(base, off, g->ctx, float, R * HK);
    T5P__TAKE(base, off, g->u, float, 2 * R * F);
    T5P__TAKE(base, off, g->gg, float, R * F);
    T5P__TAKE(base, off, g->logits, float, R * V);
    T5P__TAKE(base, off, g->add, float, R);
    T5P__TAKE(base, off, g->vals, float, R * 64);
    T5P__TAKE(base, off, g->ids, int, R);
    T5P__TAKE(base, off, g->parents, int, R);
    T5P__TAKE(base, off, g->idx, int, R * 64);
    T5P__TAKE(base, off, g->bucket, int, 2 * T - 1 + T + S - 1);
    T5P__TAKE(base, off, g->src_mask, uint8_t, (size_t)B * S);
    return off;
}

extern "C" int t5p_cuda_gen_begin(t5p_cuda_model *m, const int *src, int B, int S, int nbeams, int max_len) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, Ld = c->num_decoder_layers;
    t5p__cu_gen *g = &m->gen;
    g->tmax = 0;  // no decoding until this succeeds
    if (nbeams < 1 || max_len < 1)
        return t5p_error_set(T5P_ERR_ARG, "decoding: %d beams, maximum length %d (need >= 1)", nbeams, max_len);
    T5P__TRY(t5p__ready());
    T5P__TRY(t5p__prepare(m, src, NULL, B, S, 2));
    T5P__TRY(t5p__encoder_forward(m, 0.0f));
    m->has_acts = 0;  // not a whole forward: nothing to differentiate
    const size_t need = t5p__gen_layout(c, NULL, B, S, nbeams, max_len, g);
    if (need > g->cap) {
        T5P__CUDA(cudaDeviceSynchronize());
        if (g->buf) T5P__CUDA(cudaFree(g->buf));
        g->buf = NULL, g->cap = 0;
        T5P__CUDA(cudaMalloc((void **)&g->buf, need));
        g->cap = need;
    }
    t5p__gen_layout(c, g->buf, B, S, nbeams, max_len, g);
    // cross-attention K and V of every layer, split by head: (Ld, 2, B, H, S, Dk)
    const int Ne = B * S;
    const size_t nk = (size_t)Ne * HK, kv_ws = (size_t)(m->w.dec_cv - m->w.dec_ck);
    for (int l = 0; l < Ld; l++) {
        T5P__TRY(t5p__linear_y(m->precision, m->a.s_lin, m->a.enc_out, m->w.dec_ck + (size_t)l * HK * D, Ne, D, HK, 2, 0,
                               (long long)kv_ws, (long long)nk, 0.0f));
        T5P__TRY(t5p__launch_permute(g->cross + 2 * (size_t)l * nk, m->a.s_lin, B, S, H, Dk, nk, 2, 0));
    }
    // position biases of query rows 0..max_len-1 (self: causal buckets; pegasus cross: the same table)
    int *bk = (int *)malloc(sizeof(int) * (3 * (size_t)max_len + S));
    if (!bk) return t5p_error_set(T5P_ERR_NOMEM, "decoding: out of memory");
    t5p__buckets(bk, max_len, max_len, 0, c->num_buckets, c->max_distance);
    t5p__buckets(bk + 2 * max_len - 1, max_len, S, 0, c->num_buckets, c->max_distance);
    cudaError_t e = cudaMemcpy(g->bucket, bk, sizeof(int) * (3 * (size_t)max_len + S - 2), cudaMemcpyHostToDevice);
    free(bk);
    T5P__CUDA(e);
    T5P__TRY(t5p__launch_position_bias(g->self_pb, m->w.dec_bias, g->bucket, H, max_len, max_len));
    if (g->cross_pb)
        T5P__TRY(t5p__launch_position_bias(g->cross_pb, m->w.dec_bias, g->bucket + 2 * max_len - 1, H, max_len, S));
    T5P__CUDA(cudaMemcpy(g->src_mask, m->b.src_mask, (size_t)Ne, cudaMemcpyDeviceToDevice));
    g->B = B, g->S = S, g->nbeams = nbeams, g->R = B * nbeams, g->t = 0, g->cur = 0, g->tmax = max_len;
    return 0;
}

extern "C" int t5p_cuda_gen_step(t5p_cuda_model *m, const int *ids, const int *parents, const float *add, int k,
                                 float *vals, int *idx) {
    const t5p_config *c = &m->cfg;
    const t5p_params *w = &m->w;
    t5p__cu_gen *g = &m->gen;
    const int D = c->d_model, F = c->d_ff, H = c->num_heads, Dk = c->d_kv, HK = H * Dk, V = c->vocab_size;
    const int Ld = c->num_decoder_layers, R = g->R, t = g->t, T = g->tmax, prec = m->precision;
    if (!g->tmax || t >= g->tmax)
        return t5p_error_set(T5P_ERR_ARG, "decoding: %s", g->tmax ? "maximum length reached" : "no t5p_cuda_gen_begin");
    if (k < 1 || k > 64 || k > V) return t5p_error_set(T5P_ERR_ARG, "decoding: k = %d outside [1, min(V, 64)]", k);
    for (int r = 0; r < R; r++) {
        if (ids[r] < 0 || ids[r] >= V)
            return t5p_error_set(T5P_ERR_ARG, "decoding: id %d of row %d outside [0, %d)", ids[r], r, V);
        if (parents && (parents[r] < 0 || parents[r] >= R))
            return t5p_error_set(T5P_ERR_ARG, "decoding: parent %d of row %d outside [0, %d)", parents[r], r, R);
    }
    T5P__CUDA(cudaMemcpy(g->ids, ids, sizeof(int) * R, cudaMemcpyHostToDevice));
    if (add) T5P__CUDA(cudaMemcpy(g->add, add, sizeof(float) * R, cudaMemcpyHostToDevice));
    const size_t plane = (size_t)H * T * Dk, rstride = (size_t)Ld * 2 * plane;
    if (parents && t > 0) {  // row r continues row parents[r]: reorder the cache into the other copy
        T5P__CUDA(cudaMemcpy(g->parents, parents, sizeof(int) * R, cudaMemcpyHostToDevice));
        T5P__TRY(t5p__launch_gather(g->self[g->cur ^ 1], g->self[g->cur], g->parents, R, rstride));
        g->cur ^= 1;
    }
    float *cache = g->self[g->cur];
    const size_t qkv_ws = (size_t)(w->dec_k - w->dec_q), ff_ws = (size_t)(w->dec_wi1 - w->dec_wi0);
    const size_t nq = (size_t)R * HK, cplane = (size_t)g->B * g->S * HK;
    T5P__TRY(t5p__launch_embedding_forward(g->y, g->ids, w->shared, R, D, t5p__no_drop));
    T5P__TRY(t5p__launch_rmsnorm_forward(NULL, g->h, g->rstd, g->y, NULL, w->dec_ln0, R, D, c->eps, t5p__no_drop));
    for (int l = 0; l < Ld; l++) {
        const size_t lw = (size_t)l * HK * D, lf = (size_t)l * F * D;
        // self-attention over positions 0..t
        T5P__TRY(t5p__linear_y(prec, g->qkv, g->h, w->dec_q + lw, R, D, HK, 3, 0, (long long)qkv_ws, (long long)nq, 0.0f));
        T5P__GO(t5p__kv_append_kernel, t5p__blocks(nq, 256), 256, 0)(cache, g->qkv + nq, g->qkv + 2 * nq, R, H, Dk, T, Ld, l, t);
        T5P__LAUNCHED();
        T5P__TRY(t5p__launch_decode_attention(g->ctx, g->qkv, cache + 2 * l * plane, cache + (2 * l + 1) * plane,
                                              rstride, (size_t)T * Dk, 1, R, t + 1, H, Dk, g->self_pb + (size_t)t * T,
                                              (size_t)T * T, NULL));
        T5P__TRY(t5p__linear_y(prec, g->sub, g->ctx, w->dec_o + lw, R, HK, D, 1, 0, 0, 0, 0.0f));
        T5P__TRY(t5p__launch_rmsnorm_forward(g->y, g->h, g->rstd, g->y, g->sub, w->dec_ln1 + l * D, R, D, c->eps,
                                             t5p__no_drop));
        // cross-attention over the source of the row's beam group
        T5P__TRY(t5p__linear_y(prec, g->qkv, g->h, w->dec_cq + lw, R, D, HK, 1, 0, 0, 0, 0.0f));
        T5P__TRY(t5p__launch_decode_attention(g->ctx, g->qkv, g->cross + 2 * l * cplane, g->cross + (2 * l + 1) * cplane,
                                              (size_t)H * g->S * Dk, (size_t)g->S * Dk, g->nbeams, R, g->S, H, Dk,
                                              g->cross_pb ? g->cross_pb + (size_t)t * g->S : NULL, (size_t)T * g->S,
                                              g->src_mask));
        T5P__TRY(t5p__linear_y(prec, g->sub, g->ctx, w->dec_co + lw, R, HK, D, 1, 0, 0, 0, 0.0f));
        T5P__TRY(t5p__launch_rmsnorm_forward(g->y, g->h, g->rstd, g->y, g->sub, w->dec_ln2 + l * D, R, D, c->eps,
                                             t5p__no_drop));
        // feed-forward
        const size_t nf = (size_t)R * F;
        T5P__TRY(t5p__linear_y(prec, g->u, g->h, w->dec_wi0 + lf, R, D, F, 2, 0, (long long)ff_ws, (long long)nf, 0.0f));
        T5P__TRY(t5p__launch_gelu_forward(g->gg, g->u, g->u + nf, nf, c->flavor == T5P_HF_MT5));
        T5P__TRY(t5p__linear_y(prec, g->sub, g->gg, w->dec_wo + lf, R, F, D, 1, 0, 0, 0, 0.0f));
        const int last = l == Ld - 1;
        T5P__TRY(t5p__launch_rmsnorm_forward(g->y, g->h, g->rstd, g->y, g->sub, last ? w->dec_norm : w->dec_ln0 + (l + 1) * D,
                                             R, D, c->eps, t5p__no_drop));
    }
    if (c->flavor == T5P_PEGASUS)
        T5P__TRY(t5p__launch_dropout(g->h, g->h, (size_t)R * D, t5p__drop_make(0.0f, 0, 1.0f / sqrtf((float)D))));
    T5P__TRY(t5p__linear_y(prec, g->logits, g->h, w->lm_head, R, D, V, 1, 0, 0, 0, 0.0f));
    T5P__TRY(t5p__launch_topk(g->vals, g->idx, g->logits, add ? g->add : NULL, R, V, k));
    T5P__CUDA(cudaMemcpy(vals, g->vals, sizeof(float) * R * k, cudaMemcpyDeviceToHost));
    T5P__CUDA(cudaMemcpy(idx, g->idx, sizeof(int) * R * k, cudaMemcpyDeviceToHost));
    g->t++;
    return 0;
}

extern "C" int t5p_cuda_generate_greedy(t5p_cuda_model *m, const int *src, int B, int S, int start_id, int eos_id,
                                        int max_len, int *out, int *lens) {
    T5P__TRY(t5p_cuda_gen_begin(m, src, B, S, 1, max_len));
    int *ids = (int *)malloc(sizeof(int) * 3 * (size_t)B);
    float *vals = (float *)malloc(sizeof(float) * (size_t)B);
    if (!ids || !vals) {
        free(ids), free(vals);
        return t5p_error_set(T5P_ERR_NOMEM, "decoding: out of memory");
    }
    int *idx = ids + B, *done = ids + 2 * B, rc = 0;
    for (int b = 0; b < B; b++) {
        ids[b] = start_id, done[b] = 0;
        if (lens) lens[b] = 0;
        for (int t = 0; t < max_len; t++) out[(size_t)b * max_len + t] = m->cfg.pad_id;
    }
    for (int t = 0; t < max_len && rc == 0; t++) {
        rc = t5p_cuda_gen_step(m, ids, NULL, NULL, 1, vals, idx);
        int all = 1;
        for (int b = 0; b < B && rc == 0; b++) {
            if (!done[b]) {
                out[(size_t)b * max_len + t] = idx[b];
                if (lens) lens[b] = t + 1;
                done[b] = idx[b] == eos_id;
            }
            ids[b] = idx[b];
            all &= done[b];
        }
        if (all) break;
    }
    free(ids);
    free(vals);
    return rc;
}
