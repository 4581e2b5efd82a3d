// tests/cuda_emu.h - runs t5p_cuda.cu on the CPU, for checking the CUDA code where no GPU exists.
//
// t5p_cuda.cu includes this instead of the CUDA headers when compiled as C++ with -DT5P_CUDA_EMULATE
// (tests/test_cuda_emu.sh). It provides what the file uses of the CUDA runtime and cuBLAS, on host
// memory, and runs kernels block after block with the threads of a block as cooperative fibers:
// __syncthreads() and every warp shuffle are barriers at which the fibers switch, so the kernels'
// indexing, reductions and barrier structure execute as written. cuBLAS's column-major GEMM is a
// reference loop that checks its leading dimensions; the fast compute types round the operands to bf16
// or TF32 as tensor cores do. Fresh device memory is filled with NaNs, so reading what was never written
// shows. Kernels that never reach a barrier on their first launch run their threads as plain calls
// afterwards (a later barrier there aborts with a message). Knobs: T5P_EMU_REVERSE=1 schedules the threads
// in reverse order (a result that depends on the order is a race); T5P_EMU_REAL_BLOCKS=1 keeps the GPU's
// block sizes (t5p_cuda.cu uses 64 threads here otherwise; the real sizes take minutes).
//
// What this cannot show: speed, races that a real GPU's parallel threads would expose, launch limits other
// than block <= 1024 threads, grid.y <= 65535 and 48 KB of shared memory, cuBLAS's own kernels (their
// handling of strides and compute types) and the device's exp/erf rounding. Those need a device
// (tests/test_cuda.c there, bench/gpu_check.sh).
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <functional>
#include <map>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  // blocks run one at a time: a static is the block's shared memory

static inline int min(int a, int b) { return a < b ? a : b; }  // CUDA's integer min/max
static inline int max(int a, int b) { return a > b ? a : b; }

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct t5p__emu_uint3 {
    unsigned x, y, z;
};
static dim3 gridDim, blockDim;
static t5p__emu_uint3 blockIdx, threadIdx;

// --- runtime

typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorLaunchFailure = 719,
} cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int multiProcessorCount, major, minor;
};
static cudaError_t t5p__emu_error = cudaSuccess;

static inline const char *cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : e == cudaErrorMemoryAllocation ? "out of memory" : "emulated error";
}
static inline const char *cudaGetErrorName(cudaError_t e) {
    return e == cudaSuccess ? "cudaSuccess" : e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : "cudaErrorInvalidValue";
}
static inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CPU emulation of CUDA (tests/cuda_emu.h)");
    p->totalGlobalMem = (size_t)1 << 32, p->multiProcessorCount = 1, p->major = 9, p->minor = 0;
    return cudaSuccess;
}
static inline cudaError_t cudaRuntimeGetVersion(int *v) { return *v = 13000, cudaSuccess; }
static inline cudaError_t cudaDriverGetVersion(int *v) { return *v = 13000, cudaSuccess; }
static inline cudaError_t cudaMalloc(void **p, size_t n) {
    *p = malloc(n ? n : 1);
    if (!*p) return cudaErrorMemoryAllocation;
    memset(*p, 0xFF, n);  // NaN floats, -1 ints: unwritten memory shows
    return cudaSuccess;
}
static inline cudaError_t cudaFree(void *p) { return free(p), cudaSuccess; }
static inline cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) {
    memmove(d, s, n);
    return cudaSuccess;
}
static inline cudaError_t cudaMemset(void *p, int v, size_t n) { return memset(p, v, n), cudaSuccess; }
static inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) {
    cudaError_t e = t5p__emu_error;
    t5p__emu_error = cudaSuccess;
    return e;
}

// --- cuBLAS

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
} cublasStatus_t;
typedef struct t5p__emu_blas *cublasHandle_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUDA_R_32F = 0 } cudaDataType;
typedef enum {
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
} cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

static inline cublasStatus_t cublasCreate(cublasHandle_t *h) { return *h = (cublasHandle_t)1, CUBLAS_STATUS_SUCCESS; }
static inline cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
static inline const char *cublasGetStatusString(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "success" : s == CUBLAS_STATUS_INVALID_VALUE ? "invalid value" : "failure";
}

// float rounded to `bits` mantissa bits, to nearest even (bf16: 7, tf32: 10)
static inline float t5p__emu_round(float x, int bits) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7F800000u) == 0x7F800000u) return x;
    const int drop = 23 - bits;
    u += ((1u << (drop - 1)) - 1) + ((u >> drop) & 1);
    u &= ~((1u << drop) - 1);
    memcpy(&x, &u, 4);
    return x;
}

// C = alpha op(A) op(B) + beta C, column-major, batch at strides; beta 0 does not read C (as cuBLAS)
static inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb,
                                                        int m, int n, int k, const void *alpha, const void *A,
                                                        cudaDataType, int lda, long long sA, const void *B,
                                                        cudaDataType, int ldb, long long sB, const void *beta, void *C,
                                                        cudaDataType, int ldc, long long sC, int batch,
                                                        cublasComputeType_t ct, cublasGemmAlgo_t) {
    if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (ta == CUBLAS_OP_N ? m : k) || lda < 1 ||
        ldb < (tb == CUBLAS_OP_N ? k : n) || ldb < 1 || ldc < m || ldc < 1) {
        fprintf(stderr, "cuda_emu: gemm with bad dimensions m %d n %d k %d lda %d ldb %d ldc %d\n", m, n, k, lda, ldb, ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const float al = *(const float *)alpha, be = *(const float *)beta;
    const int bits = ct == CUBLAS_COMPUTE_32F_FAST_16BF ? 7 : ct == CUBLAS_COMPUTE_32F_FAST_TF32 ? 10 : 23;
    for (int b = 0; b < batch; b++) {
        const float *a = (const float *)A + b * sA, *bb = (const float *)B + b * sB;
        float *c = (float *)C + b * sC;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    float x = ta == CUBLAS_OP_N ? a[i + (size_t)p * lda] : a[p + (size_t)i * lda];
                    float y = tb == CUBLAS_OP_N ? bb[p + (size_t)j * ldb] : bb[j + (size_t)p * ldb];
                    if (bits < 23) x = t5p__emu_round(x, bits), y = t5p__emu_round(y, bits);
                    acc += (double)x * y;
                }
                float *ci = c + i + (size_t)j * ldc;
                *ci = be == 0.0f ? (float)(al * acc) : (float)(al * acc + be * *ci);
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}
static inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          const void *B, cudaDataType bt, int ldb, const void *beta, void *C,
                                          cudaDataType cty, int ldc, cublasComputeType_t ct, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, cty, ldc, 0, 1,
                                      ct, algo);
}

// --- fibers

#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, stores its pointer in *from, continues on `to`.
extern "C" void t5p__emu_switch(void **from, void *to);
__asm__(
    ".text\n"
    ".globl t5p__emu_switch\n"
    "t5p__emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n");
#else
#include <ucontext.h>
#endif

enum { T5P__EMU_STACK = 256 * 1024 };

struct t5p__emu_fiber {
    unsigned tid;
    int done;
    char *stack;
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t ctx;
#endif
};

static struct {
    std::vector<t5p__emu_fiber> f;
    int cur, fibers;                   // running fiber; 1 while threads run as fibers
    std::function<void()> *body;       // the kernel call of the current launch
    int barriers;                      // barriers reached in this launch
    unsigned block_gen, block_arrived, block_live;
    std::vector<unsigned> warp_gen, warp_arrived, warp_live;
    std::vector<uint64_t> xch;         // warp shuffle exchange, one slot per thread
    std::map<void *, int> plain;       // kernels that reached no barrier on their first launch
    void *smem;                        // dynamic shared memory
    size_t smem_cap;
#if defined(__x86_64__)
    void *main_sp;
#else
    ucontext_t main_ctx;
#endif
} t5p__emu;

static void t5p__emu_yield(void) {
    t5p__emu_fiber &f = t5p__emu.f[t5p__emu.cur];
#if defined(__x86_64__)
    t5p__emu_switch(&f.sp, t5p__emu.main_sp);
#else
    swapcontext(&f.ctx, &t5p__emu.main_ctx);
#endif
}

static void t5p__emu_release_check(unsigned w) {  // after an arrival or an exit
    if (t5p__emu.block_arrived && t5p__emu.block_arrived == t5p__emu.block_live)
        t5p__emu.block_gen++, t5p__emu.block_arrived = 0;
    if (t5p__emu.warp_arrived[w] && t5p__emu.warp_arrived[w] == t5p__emu.warp_live[w])
        t5p__emu.warp_gen[w]++, t5p__emu.warp_arrived[w] = 0;
}

static void t5p__emu_need_fibers(void) {
    if (t5p__emu.fibers) return;
    fprintf(stderr, "cuda_emu: a kernel reached a barrier after its first launch reached none\n");
    abort();
}

static inline void __syncthreads(void) {
    t5p__emu_need_fibers();
    t5p__emu.barriers++;
    unsigned g = t5p__emu.block_gen;
    t5p__emu.block_arrived++;
    t5p__emu_release_check(threadIdx.x / 32);
    while (t5p__emu.block_gen == g) t5p__emu_yield();
}

static inline void t5p__emu_warp_barrier(void) {
    t5p__emu_need_fibers();
    t5p__emu.barriers++;
    const unsigned w = threadIdx.x / 32, g = t5p__emu.warp_gen[w];
    t5p__emu.warp_arrived[w]++;
    t5p__emu_release_check(w);
    while (t5p__emu.warp_gen[w] == g) t5p__emu_yield();
}

template <typename T>
static inline T __shfl_xor_sync(unsigned, T v, int mask) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    const unsigned t = threadIdx.x;
    uint64_t slot = 0;
    memcpy(&slot, &v, sizeof v);
    t5p__emu.xch[t] = slot;
    t5p__emu_warp_barrier();
    const unsigned src = (t & ~31u) | ((t & 31u) ^ (unsigned)mask);
    T r;
    memcpy(&r, &t5p__emu.xch[src < t5p__emu.xch.size() ? src : t], sizeof r);
    t5p__emu_warp_barrier();
    return r;
}

static void t5p__emu_entry(void) {
    (*t5p__emu.body)();
    t5p__emu_fiber &f = t5p__emu.f[t5p__emu.cur];
    f.done = 1;
    t5p__emu.block_live--;
    t5p__emu.warp_live[f.tid / 32]--;
    t5p__emu_release_check(f.tid / 32);
#if defined(__x86_64__)
    void *dead;
    t5p__emu_switch(&dead, t5p__emu.main_sp);  // never resumed
#endif
}

static void t5p__emu_block(unsigned nthreads) {
    t5p__emu.f.resize(nthreads);
    const unsigned nw = (nthreads + 31) / 32;
    t5p__emu.warp_gen.assign(nw, 0), t5p__emu.warp_arrived.assign(nw, 0), t5p__emu.warp_live.assign(nw, 0);
    t5p__emu.xch.assign(nthreads, 0);
    t5p__emu.block_gen = 0, t5p__emu.block_arrived = 0, t5p__emu.block_live = nthreads;
    for (unsigned t = 0; t < nthreads; t++) {
        t5p__emu_fiber &f = t5p__emu.f[t];
        f.tid = t, f.done = 0;
        if (!f.stack) f.stack = (char *)malloc(T5P__EMU_STACK);
        t5p__emu.warp_live[t / 32]++;
#if defined(__x86_64__)
        // a frame that t5p__emu_switch "returns" into: six saved registers, then t5p__emu_entry
        uintptr_t top = ((uintptr_t)(f.stack + T5P__EMU_STACK) & ~(uintptr_t)15) - 16;
        void **sp = (void **)top;
        *sp = (void *)t5p__emu_entry;  // (sp + 8) % 16 == 8 at entry, as after a call
        for (int r = 0; r < 6; r++) *--sp = 0;
        f.sp = sp;
#else
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack, f.ctx.uc_stack.ss_size = T5P__EMU_STACK, f.ctx.uc_link = &t5p__emu.main_ctx;
        makecontext(&f.ctx, t5p__emu_entry, 0);
#endif
    }
    static const int reverse = getenv("T5P_EMU_REVERSE") != NULL;  // another order: races that depend on it show
    for (unsigned left = nthreads; left;) {
        for (unsigned k = 0; k < nthreads; k++) {
            const unsigned t = reverse ? nthreads - 1 - k : k;
            t5p__emu_fiber &f = t5p__emu.f[t];
            if (f.done) continue;
            t5p__emu.cur = (int)t;
            threadIdx.x = t, threadIdx.y = 0, threadIdx.z = 0;
#if defined(__x86_64__)
            t5p__emu_switch(&t5p__emu.main_sp, f.sp);
#else
            swapcontext(&t5p__emu.main_ctx, &f.ctx);
#endif
            if (f.done) left--;
        }
    }
}

static void t5p__emu_launch(void *kernel, dim3 g, dim3 b, size_t smem, std::function<void()> body) {
    if (b.x == 0 || b.x > 1024 || b.y != 1 || b.z != 1 || g.x == 0 || g.y == 0 || g.y > 65535 || g.z == 0 ||
        smem > 48 * 1024) {
        fprintf(stderr, "cuda_emu: bad launch grid (%u,%u,%u) block (%u,%u,%u) smem %zu\n", g.x, g.y, g.z, b.x, b.y,
                b.z, smem);
        t5p__emu_error = cudaErrorInvalidValue;
        return;
    }
    if (smem > t5p__emu.smem_cap) free(t5p__emu.smem), t5p__emu.smem = malloc(smem), t5p__emu.smem_cap = smem;
    if (smem) memset(t5p__emu.smem, 0xFF, smem);
    gridDim = g, blockDim = b;
    t5p__emu.body = &body;
    const int plain = t5p__emu.plain.count(kernel) && t5p__emu.plain[kernel];
    t5p__emu.barriers = 0;
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
                if (plain) {
                    static const int reverse = getenv("T5P_EMU_REVERSE") != NULL;
                    t5p__emu.fibers = 0;
                    for (unsigned k = 0; k < b.x; k++)
                        threadIdx.x = reverse ? b.x - 1 - k : k, threadIdx.y = 0, threadIdx.z = 0, body();
                } else {
                    t5p__emu.fibers = 1;
                    t5p__emu_block(b.x);
                }
            }
    t5p__emu.fibers = 0;
    if (!t5p__emu.plain.count(kernel)) t5p__emu.plain[kernel] = t5p__emu.barriers == 0;
}

template <typename... P>
struct t5p__emu_call {
    void (*k)(P...);
    dim3 g, b;
    size_t s;
    template <typename... A>
    void operator()(A... a) {
        void (*kk)(P...) = k;
        t5p__emu_launch((void *)kk, g, b, s, [&]() { kk(a...); });
    }
};
template <typename... P>
static t5p__emu_call<P...> t5p__emu_go(void (*k)(P...), dim3 g, dim3 b, size_t s) {
    return t5p__emu_call<P...>{k, g, b, s};
}
#define T5P__GO(kernel, grid, block, smem) t5p__emu_go(kernel, dim3(grid), dim3(block), (size_t)(smem))
#define T5P__DYNAMIC_SMEM(type, name) type *name = (type *)t5p__emu.smem
