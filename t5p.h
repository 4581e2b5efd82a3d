/* t5p.h - T5 PEGASUS in C: Chinese tokenization, pseudo-summary pretraining data,
   the mT5 encoder-decoder, training and generation.                 public domain / MIT

   An stb-style single-file library. Do this:
       #define T5P_IMPLEMENTATION
   before you include this file in *one* C file to create the implementation.
   Other files include it without the define and see only the declarations.

   Link with: -lutf8proc -lm (and -fopenmp for threads). Include path must find
   <stb_ds.h> (Debian: libstb-dev, -I/usr/include/stb).

   CONTENTS (sections in dependency order, each behind a "// ---" banner)
     1. base        errors, allocation, UTF-8, Unicode properties, files, lines
     2. jieba       dictionary, DAG, max-probability route, HMM, block rules: jieba 0.42.1
     3. tokenizer   vocabulary, lowercase/NFD/Mn, basic tokenizer, WordPiece, encode/decode,
                    vocabulary builder (bert4keras Tokenizer with jieba pre-tokenization)
     5. io          JSON reader/writer, float16/bfloat16, atomic files, safetensors (mmap),
                    training-state files
     7. optim       Adafactor (bert4keras and Hugging Face styles), Adam, AdamW, LR schedule,
                    optimizer state files

   OPTIONS (define before including with T5P_IMPLEMENTATION)
     T5P_STATIC                 make every function static
     T5P_MALLOC/T5P_REALLOC/T5P_FREE   your allocator (define all three or none)
     T5P_ASSERT(x)              invariant checks (default: assert)
     T5P_NO_STB_DS_IMPLEMENTATION   you compile stb_ds's implementation yourself

   USAGE
       t5p_jieba *jb = t5p_jieba_load("dict.txt", NULL);       // NULL hmm: no HMM tables
       t5p_vocab *vb = t5p_vocab_load("vocab.txt");
       t5p_tokenizer tk = { .jieba = jb, .vocab = vb };
       int *ids = NULL; int n = t5p_encode(&tk, "今天天气不错", -1, 0, &ids);
       if (n < 0) fprintf(stderr, "%s\n", t5p_last_error());
       ...
       t5p_free(ids); t5p_vocab_free(vb); t5p_jieba_free(jb);

   ERRORS
     The library never prints or exits. Functions return a negative value or NULL on failure
     and t5p_last_error() says what went wrong, naming the file, line and byte where it can.

   VERSION HISTORY
     0.1  tokenizer stack: jieba segmentation, bert4keras tokenizer, vocabulary builder
*/
#ifndef T5P_H
#define T5P_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef T5P_STATIC
#define T5PDEF static
#else
#define T5PDEF extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

// ----------------------------------------------------------------------------
// 1. base: declarations

#define T5P_VERSION "0.1"

enum {
    T5P_OK = 0,
    T5P_ERR_IO = -1,      // file could not be opened, read or written
    T5P_ERR_FORMAT = -2,  // malformed input file (names file, line, byte)
    T5P_ERR_ARG = -3,     // bad argument
    T5P_ERR_NOMEM = -4,   // allocation failed
};

T5PDEF const char *t5p_last_error(void);  // thread-local message of the last failure
T5PDEF void t5p_free(void *p);            // frees arrays the library hands out

// UTF-8. t5p_utf8_next decodes one code point at s[*i] (n bytes in all) and advances *i;
// an invalid or truncated sequence yields -1 and advances by one byte.
T5PDEF int32_t t5p_utf8_next(const char *s, size_t n, size_t *i);
T5PDEF int t5p_utf8_put(char *out, uint32_t cp);  // writes 1..4 bytes, returns the count
// Decodes s into code points (*out, t5p_free it), invalid bytes become U+FFFD and are counted
// in *nbad when it is not NULL. Returns the number of code points or T5P_ERR_NOMEM.
T5PDEF long t5p_utf8_decode(const char *s, size_t n, int32_t **out, long *nbad);

// Reads a whole file (NUL-terminated copy, *len without the NUL). NULL on failure.
T5PDEF char *t5p_read_file(const char *path, size_t *len);

// Line reader with Python's universal newlines: "\n", "\r\n" and a lone "\r" end a line;
// the terminator is not part of the line. Lines of any length.
typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap;
    long lineno;  // 1-based number of the line last returned
    int pending_cr;
} t5p_lines;
T5PDEF void t5p_lines_init(t5p_lines *r, FILE *f);
// Returns the line length (>= 0) with the line in r->buf (NUL-terminated), or -1 at the end.
T5PDEF long t5p_lines_next(t5p_lines *r);
T5PDEF void t5p_lines_free(t5p_lines *r);

// Unicode helpers over utf8proc.
T5PDEF int t5p_is_space(int32_t cp);  // Python str.isspace() / str.split() whitespace

// ----------------------------------------------------------------------------
// 5. io: declarations
//
// JSON. A strict RFC 8259 reader into a tree (plus Python's NaN/Infinity/-Infinity, which Python's json
// writes), and writers that produce what Python's json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
// produces: raw UTF-8, short escapes, and floats printed like Python's repr.
enum {
    T5P_JSON_NULL,
    T5P_JSON_FALSE,
    T5P_JSON_TRUE,
    T5P_JSON_NUMBER,
    T5P_JSON_STRING,
    T5P_JSON_ARRAY,
    T5P_JSON_OBJECT,
};
typedef struct t5p_json {
    int type;               // T5P_JSON_*
    int is_int;             // NUMBER written as an integer that fits in int64_t (then i is exact)
    int64_t i;              // NUMBER: exact value when is_int
    double num;             // NUMBER: value (nearest double)
    char *str;              // STRING: the decoded value, NUL-terminated (may also hold NUL bytes)
    size_t len;             // STRING: length in bytes
    char *key;              // member of an OBJECT: its decoded name (NUL-terminated), else NULL
    size_t klen;            // member of an OBJECT: name length in bytes
    long n;                 // ARRAY / OBJECT: number of members
    struct t5p_json *items; // ARRAY / OBJECT: the members, in input order (duplicate keys kept)
    size_t offset;          // byte offset of the value in the parsed text
} t5p_json;

// Parses one JSON value (with optional surrounding whitespace) from n bytes. `what` names the input in
// error messages, which give the byte offset ("config.json: byte 17: expected ':'"). NULL on failure.
// Strings must be valid UTF-8; \u escapes must pair surrogates; nesting deeper than 512 is refused.
T5PDEF t5p_json *t5p_json_parse(const char *s, size_t n, const char *what);
T5PDEF void t5p_json_free(t5p_json *j);  // accepts NULL
// The member `key` of an object (the last one if the key repeats, as Python keeps), or NULL.
T5PDEF const t5p_json *t5p_json_get(const t5p_json *obj, const char *key);
// Compact text of j, as Python's json.dumps(x, ensure_ascii=False, separators=(",", ":")) writes the
// Python value x = json.loads(text of j) (a repeated key keeps its first place and its last value).
// t5p_free the result; *len (if not NULL) gets its length. NULL on allocation failure.
T5PDEF char *t5p_json_dump(const t5p_json *j, size_t *len);

// Tensor element types, in the order of the safetensors library's Dtype (its files sort tensors by
// descending dtype, then by name; t5p writes the same order, so equal tensors give equal bytes).
enum {
    T5P_DT_BOOL,
    T5P_DT_U8,
    T5P_DT_I8,
    T5P_DT_F8_E5M2,
    T5P_DT_F8_E4M3,
    T5P_DT_I16,
    T5P_DT_U16,
    T5P_DT_F16,
    T5P_DT_BF16,
    T5P_DT_I32,
    T5P_DT_U32,
    T5P_DT_F32,
    T5P_DT_F64,
    T5P_DT_I64,
    T5P_DT_U64,
    T5P_DT_COUNT,
};
#define T5P_MAX_DIMS 8
typedef struct {
    const char *name;
    int dtype;                    // T5P_DT_*
    int ndim;                     // 0..T5P_MAX_DIMS (0: a scalar)
    int64_t shape[T5P_MAX_DIMS];
    const void *data;             // row-major, little-endian; t5p_tensor_nbytes bytes (maybe unaligned)
} t5p_tensor;
T5PDEF const char *t5p_dtype_name(int dtype);         // "F32", ...; NULL if unknown
T5PDEF int t5p_dtype_size(int dtype);                 // bytes per element; 0 if unknown
T5PDEF int t5p_dtype_parse(const char *name);         // T5P_DT_* or -1
T5PDEF int64_t t5p_tensor_numel(const t5p_tensor *t); // product of the shape (1 for a scalar)
T5PDEF int64_t t5p_tensor_nbytes(const t5p_tensor *t);
// Converts a F32, F16, BF16 or F64 tensor to float32 in dst (numel floats). T5P_ERR_ARG for other dtypes.
T5PDEF int t5p_tensor_to_f32(const t5p_tensor *t, float *dst);
// Scalar conversions: round to nearest even; NaN stays NaN, overflow gives infinity.
T5PDEF uint16_t t5p_f32_to_f16(float x);
T5PDEF float t5p_f16_to_f32(uint16_t h);
T5PDEF uint16_t t5p_f32_to_bf16(float x);
T5PDEF float t5p_bf16_to_f32(uint16_t h);

// Atomic files: bytes go to "PATH.tmp.PID", are flushed to disk (fsync), then renamed over PATH, and the
// directory is synced. Until commit succeeds the old PATH is untouched; on any failure the temporary
// file is removed. Every t5p saver writes this way.
typedef struct {
    int fd;
    int failed;  // a write failed: commit refuses and cleans up
    char *path, *tmp;
} t5p_atomic_file;
T5PDEF int t5p_atomic_open(t5p_atomic_file *a, const char *path);
T5PDEF int t5p_atomic_write(t5p_atomic_file *a, const void *data, size_t n);
T5PDEF int t5p_atomic_commit(t5p_atomic_file *a);  // fsync, close, rename; frees a
T5PDEF void t5p_atomic_abort(t5p_atomic_file *a);  // close, remove the temporary file; frees a
T5PDEF int t5p_write_atomic(const char *path, const void *data, size_t n);  // the three in one call

// safetensors (https://github.com/huggingface/safetensors): 8-byte little-endian header size N, N bytes
// of JSON header padded with spaces to a multiple of 8, then the tensors' bytes back to back.
// Writes tensors ts[0..n) atomically. meta: NULL (no "__metadata__") or key, value, ..., NULL (string
// pairs, e.g. {"format", "pt", NULL}). Data go in the library's order (dtype descending, then name), so
// the file is byte-identical to safetensors.torch.save_file for the same tensors and one metadata key.
T5PDEF int t5p_safetensors_save(const char *path, const t5p_tensor *ts, int n, const char *const *meta);

// A safetensors file opened for reading: memory-mapped when possible (else read into memory). The
// header is validated in full: size within the file, well-formed JSON, known dtypes, non-negative
// shapes, data_offsets consistent with dtype x shape, tensors contiguous and covering the data section.
typedef struct {
    char *path;
    int n;              // tensors
    t5p_tensor *t;      // in file order (ascending data offset); data point into the mapping
    int nmeta;
    char **meta;        // __metadata__ as key, value, key, value... (2 * nmeta strings)
    // private
    void *base;
    size_t size;
    int mapped;
} t5p_safetensors;
T5PDEF t5p_safetensors *t5p_safetensors_open(const char *path);  // NULL on failure
T5PDEF void t5p_safetensors_close(t5p_safetensors *st);          // accepts NULL
T5PDEF const t5p_tensor *t5p_safetensors_find(const t5p_safetensors *st, const char *name);
T5PDEF const char *t5p_safetensors_meta(const t5p_safetensors *st, const char *key);  // NULL if absent
// Copies tensor `name` into dst as float32 after checking it exists, has a float dtype and the expected
// shape (ndim dims); errors name the file, the tensor and both shapes.
T5PDEF int t5p_safetensors_read_f32(const t5p_safetensors *st, const char *name, float *dst, int ndim,
                                    const int64_t *shape);

// Training state beside a checkpoint: a small JSON file (written atomically) with what --resume needs
// besides weights and optimizer state.
typedef struct {
    int64_t step;      // optimizer steps completed
    uint64_t seed;     // the run's seed
    uint64_t rng[4];   // RNG state words (generator-defined; unused words 0), restored exactly
    int64_t epoch;     // data position: completed passes over the training data
    int64_t data_pos;  // data position inside the pass (example index or byte offset)
    char optim[16];    // optimizer name: "adafactor", "adam" or "adamw"
    double loss;       // last logged loss (information only)
} t5p_train_state;
T5PDEF int t5p_train_state_save(const char *path, const t5p_train_state *s);
T5PDEF int t5p_train_state_load(const char *path, t5p_train_state *s);

// ----------------------------------------------------------------------------
// 7. optim: declarations
//
// Optimizers over a list of parameter tensors (pointers into any layout), so they do not depend on the
// model. All state is float32; sums are taken in double in fixed blocks, so results do not depend on the
// thread count and a save/load/continue run is bitwise equal to an uninterrupted one.
//
//   Adam      torch.optim.Adam (= bert4keras Adam: eps added to sqrt of the bias-corrected v), or with
//             eps_hat = 1 the Keras 2.3 / transformers.AdamW form (eps added to sqrt(v), the bias
//             correction folded into the step size). weight_decay: L2 added to the gradient (torch).
//   AdamW     torch.optim.AdamW: w -= lr*wd*w (decoupled, skipped for is_norm parameters), then Adam.
//             Equal to bert4keras's extend_with_weight_decay(Adam) (decay of the pre-update weight).
//   Adafactor two styles. T5P_ADAFACTOR_BERT4KERAS (t5p's default; bert4keras AdaFactor 0.10): lr 1e-3
//             fixed, eps1 added to g^2 and again inside the sqrt, only the two dims of a matrix whose
//             smaller one is >= min_dim_size_to_factor (128) are factored, momentum (beta1) before the
//             parameter scale. T5P_ADAFACTOR_HF (transformers.optimization.Adafactor): relative step
//             min(1e-2, 1/sqrt(t)) x max(eps2, RMS(w)) by default, every matrix factored, no eps inside
//             the sqrt, momentum after the lr. Both: beta2_t = 1 - t^decay_rate, update clipping
//             by RMS, factored second moments O(n + m) for an n x m matrix. 1-D and 2-D parameters.
//
// Learning-rate schedule (all optimizers): multiplier for step t (1-based) is (t-1)/warmup_steps while
// t-1 < warmup_steps, then 1 (total_steps 0: bert4keras piecewise_linear {warmup: 1}) or a linear decay
// to 0 at total_steps (transformers get_linear_schedule_with_warmup). Both give 0 on the first step.
// It scales lr and the weight decay; an HF-style relative step ignores it (as transformers does), a
// bert4keras-style relative step (lr <= 0 there) is scaled by it (as bert4keras does).
enum { T5P_OPTIM_ADAFACTOR, T5P_OPTIM_ADAM, T5P_OPTIM_ADAMW };
enum { T5P_ADAFACTOR_BERT4KERAS, T5P_ADAFACTOR_HF };

typedef struct {
    const char *name;  // tensor name (state files use "<name>.m", "<name>.v", "<name>.v_row", "<name>.v_col")
    float *w;          // weights, row-major
    float *g;          // gradient of the loss, same layout (read only)
    int ndim;          // 1 or 2 (Adam/AdamW: up to T5P_MAX_DIMS)
    int64_t shape[T5P_MAX_DIMS];
    int is_norm;       // a norm's scale vector: no weight decay
} t5p_param;

typedef struct {
    int kind;             // T5P_OPTIM_*
    double lr;            // base learning rate (Adafactor with relative_step: unused)
    long warmup_steps;    // linear warm-up from 0 over this many steps (0: none)
    long total_steps;     // > 0: linear decay to 0 at this step after the warm-up; 0: constant
    double weight_decay;  // AdamW / Adafactor: decoupled; Adam: L2 on the gradient; never on is_norm
    double beta1;         // Adam: 0.9; Adafactor: momentum (0 = none)
    double beta2;         // Adam: 0.999
    double eps;           // Adam: 1e-6
    int bias_correction;  // Adam: 1
    int eps_hat;          // Adam: 1 = Keras/transformers.AdamW placement of eps (see above)
    int adafactor_style;  // T5P_ADAFACTOR_*
    double eps1, eps2;    // Adafactor: 1e-30 (added to g^2), 1e-3 (floor of RMS(w))
    double clip_threshold;  // Adafactor: 1.0 (<= 0: no update clipping)
    double decay_rate;    // Adafactor: -0.8
    int relative_step;    // Adafactor: step size from t instead of lr (HF default; bert4keras lr=None)
    int scale_parameter;  // Adafactor: multiply the step by max(eps2, RMS(w))
    int warmup_init;      // Adafactor HF: relative step min(1e-6 t, 1/sqrt(t))
    int min_dim_size_to_factor;  // Adafactor bert4keras: 128
} t5p_optim_config;

// Defaults: ADAFACTOR bert4keras style (lr 1e-3); ADAM as the original's fine-tuning (lr 2e-4, eps 1e-6,
// bias correction); ADAMW as the original's pretraining (lr 1e-4, wd 0.01, warm-up 10000 steps, then
// constant). For HF-style Adafactor defaults use t5p_optim_config_adafactor_hf().
T5PDEF t5p_optim_config t5p_optim_config_default(int kind);
T5PDEF t5p_optim_config t5p_optim_config_adafactor_hf(void);
T5PDEF const char *t5p_optim_name(int kind);  // "adafactor", "adam", "adamw"
T5PDEF int t5p_optim_kind(const char *name);  // T5P_OPTIM_* or -1

typedef struct t5p_optim t5p_optim;
// Keeps pointers to params[k].w/.g (the array itself and the names are copied). Zero state, step 0.
T5PDEF t5p_optim *t5p_optim_new(const t5p_optim_config *cfg, const t5p_param *params, int n);
T5PDEF void t5p_optim_free(t5p_optim *o);  // accepts NULL
// One update of every parameter from its gradient: step += 1, then w changes in place.
T5PDEF int t5p_optim_step(t5p_optim *o);
T5PDEF long t5p_optim_steps(const t5p_optim *o);  // steps done
// Learning rate the next step uses (lr x schedule; for a relative step its size before param scaling).
T5PDEF double t5p_optim_lr(const t5p_optim *o);
T5PDEF double t5p_optim_schedule(const t5p_optim_config *cfg, long t);  // multiplier for 1-based step t
// Bytes of optimizer state (moments and factors; not the parameters or gradients).
T5PDEF size_t t5p_optim_state_bytes(const t5p_optim *o);
// The same figure without allocating anything.
T5PDEF size_t t5p_optim_state_bytes_for(const t5p_optim_config *cfg, const t5p_param *params, int n);
// State as safetensors (atomic): F32 tensors "<name>.m/.v/.v_row/.v_col", metadata format "t5p-optim",
// optimizer, adafactor_style, step. Loading checks every tensor's presence and shape, refuses extras,
// another optimizer or style, and leaves the optimizer unchanged on any error.
T5PDEF int t5p_optim_save(const t5p_optim *o, const char *path);
T5PDEF int t5p_optim_load(t5p_optim *o, const char *path);

#ifdef __cplusplus
}
#endif
#endif  // T5P_H

// ============================================================================
#ifdef T5P_IMPLEMENTATION
#ifndef T5P_IMPLEMENTATION_DONE
#define T5P_IMPLEMENTATION_DONE

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#if defined(T5P_MALLOC) && defined(T5P_FREE) && defined(T5P_REALLOC)
// ok
#elif !defined(T5P_MALLOC) && !defined(T5P_FREE) && !defined(T5P_REALLOC)
#define T5P_MALLOC(sz) malloc(sz)
#define T5P_REALLOC(p, sz) realloc(p, sz)
#define T5P_FREE(p) free(p)
#else
#error "Must define all or none of T5P_MALLOC, T5P_FREE, and T5P_REALLOC."
#endif

#ifndef T5P_ASSERT
#define T5P_ASSERT(x) assert(x)
#endif

#ifndef T5P_NO_STB_DS_IMPLEMENTATION
#define STB_DS_IMPLEMENTATION
#endif
#include <stb_ds.h>

#ifdef _OPENMP
#include <omp.h>
#endif

// ----------------------------------------------------------------------------
// 1. base

static _Thread_local char t5p__errbuf[512];

T5PDEF const char *t5p_last_error(void) { return t5p__errbuf[0] ? t5p__errbuf : "no error"; }

// Records an error message; returns code so callers can `return t5p__err(T5P_ERR_IO, ...)`.
static inline int t5p__err(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t5p__errbuf, sizeof t5p__errbuf, fmt, ap);
    va_end(ap);
    return code;
}

T5PDEF void t5p_free(void *p) { T5P_FREE(p); }

// Growable byte buffer, used wherever text is assembled.
typedef struct {
    char *p;
    size_t n, cap;
} t5p__buf;

static inline void t5p__buf_reserve(t5p__buf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = (char *)T5P_REALLOC(b->p, cap);
    T5P_ASSERT(p);
    b->p = p;
    b->cap = cap;
}
static inline void t5p__buf_add(t5p__buf *b, const char *s, size_t n) {
    t5p__buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static inline void t5p__buf_cp(t5p__buf *b, int32_t cp) {
    t5p__buf_reserve(b, 4);
    b->n += t5p_utf8_put(b->p + b->n, (uint32_t)cp);
    b->p[b->n] = 0;
}

T5PDEF int32_t t5p_utf8_next(const char *str, size_t n, size_t *i) {
    const unsigned char *s = (const unsigned char *)str;
    size_t k = *i;
    unsigned c = s[k];
    if (c < 0x80) { *i = k + 1; return (int32_t)c; }
    int len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else { *i = k + 1; return -1; }
    if (k + (size_t)len > n) { *i = k + 1; return -1; }
    for (int j = 1; j < len; j++) {
        unsigned d = s[k + j];
        if ((d & 0xC0) != 0x80) { *i = k + 1; return -1; }
        cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { *i = k + 1; return -1; }
    *i = k + (size_t)len;
    return (int32_t)cp;
}

T5PDEF int t5p_utf8_put(char *out, uint32_t cp) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F);
    o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

T5PDEF long t5p_utf8_decode(const char *s, size_t n, int32_t **out, long *nbad) {
    int32_t *cps = (int32_t *)T5P_MALLOC((n + 1) * sizeof(int32_t));
    if (!cps) return t5p__err(T5P_ERR_NOMEM, "out of memory decoding %zu bytes", n);
    long m = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp = t5p_utf8_next(s, n, &i);
        if (cp < 0) { cp = 0xFFFD; bad++; }
        cps[m++] = cp;
    }
    *out = cps;
    if (nbad) *nbad = bad;
    return m;
}

T5PDEF char *t5p_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { t5p__err(T5P_ERR_IO, "%s: %s", path, strerror(errno)); return NULL; }
    t5p__buf b = {0};
    char chunk[1 << 16];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) t5p__buf_add(&b, chunk, k);
    int bad = ferror(f);
    fclose(f);
    if (bad) { T5P_FREE(b.p); t5p__err(T5P_ERR_IO, "%s: read error", path); return NULL; }
    if (!b.p) t5p__buf_reserve(&b, 0), b.p[0] = 0;
    if (len) *len = b.n;
    return b.p;
}

T5PDEF void t5p_lines_init(t5p_lines *r, FILE *f) {
    memset(r, 0, sizeof *r);
    r->f = f;
}

T5PDEF long t5p_lines_next(t5p_lines *r) {
    r->len = 0;
    int c, any = 0;
    if (r->pending_cr) {  // a lone '\r' ended the last line; swallow a following '\n'
        r->pending_cr = 0;
        c = getc(r->f);
        if (c != '\n' && c != EOF) ungetc(c, r->f);
    }
    while ((c = getc(r->f)) != EOF) {
        any = 1;
        if (c == '\n') break;
        if (c == '\r') { r->pending_cr = 1; break; }
        if (r->len + 2 > r->cap) {
            r->cap = r->cap ? r->cap * 2 : 256;
            r->buf = (char *)T5P_REALLOC(r->buf, r->cap);
            T5P_ASSERT(r->buf);
        }
        r->buf[r->len++] = (char)c;
    }
    if (!any) return -1;
    if (!r->buf) { r->cap = 256; r->buf = (char *)T5P_MALLOC(r->cap); T5P_ASSERT(r->buf); }
    r->buf[r->len] = 0;
    r->lineno++;
    return (long)r->len;
}

T5PDEF void t5p_lines_free(t5p_lines *r) {
    T5P_FREE(r->buf);
    r->buf = NULL;
    r->cap = r->len = 0;
}

// Python's str.isspace(): bidirectional classes WS, B, S or category Zs.
T5PDEF int t5p_is_space(int32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
        cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return 1;
    return 0;
}

// ----------------------------------------------------------------------------
// 5. io
//
// JSON reader and writers, float16/bfloat16 conversions, atomic files, safetensors, training state.
// POSIX file calls (open/fsync/rename/mmap) are used directly: they are declared even under -std=c11,
// where stdio's fileno is not.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// Appends a string literal.
#define T5P__LIT(b, s) t5p__buf_add((b), (s), sizeof(s) - 1)

// OpenMP pragmas that vanish (without -Wunknown-pragmas warnings) when OpenMP is off.
#ifndef T5P__OMP
#define T5P__STR(x) #x
#ifdef _OPENMP
#define T5P__OMP(x) _Pragma(T5P__STR(omp x))
#else
#define T5P__OMP(x)
#endif
#endif

// --- JSON reader

typedef struct {
    const char *s;
    size_t n, i;
    const char *what;
    int depth;
} t5p__jp;

#define T5P__JSON_MAX_DEPTH 512

static int t5p__jp_fail(const t5p__jp *p, size_t at, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return t5p__err(T5P_ERR_FORMAT, "%s: byte %zu: %s", p->what ? p->what : "JSON", at, msg);
}

// Describes the byte at p->i for an error message.
static const char *t5p__jp_what_here(const t5p__jp *p, char *buf, size_t cap) {
    if (p->i >= p->n) return "end of input";
    unsigned char c = (unsigned char)p->s[p->i];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, cap, "'%c'", c);
    else snprintf(buf, cap, "byte 0x%02X", c);
    return buf;
}

static void t5p__jp_ws(t5p__jp *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static void t5p__json_free_node(t5p_json *j) {
    for (long k = 0; k < j->n; k++) t5p__json_free_node(&j->items[k]);
    T5P_FREE(j->items);
    T5P_FREE(j->str);
    T5P_FREE(j->key);
}

static int t5p__jp_hex4(const t5p__jp *p, size_t at, uint32_t *out) {
    if (at + 4 > p->n) return -1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[at + k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

// Parses the string starting at the '"' at p->i into *out (malloc'd, NUL-terminated).
static int t5p__jp_string(t5p__jp *p, char **out, size_t *len) {
    const char *s = p->s;
    size_t start = p->i++;
    t5p__buf b = {0};
    t5p__buf_reserve(&b, 0);
    for (;;) {
        size_t run = p->i;  // bytes that are copied as they are
        while (p->i < p->n) {
            unsigned char c = (unsigned char)s[p->i];
            if (c == '"' || c == '\\' || c < 0x20) break;
            if (c < 0x80) { p->i++; continue; }
            size_t k = p->i;
            if (t5p_utf8_next(s, p->n, &k) < 0) {
                T5P_FREE(b.p);
                return t5p__jp_fail(p, p->i, "invalid UTF-8 in string");
            }
            p->i = k;
        }
        if (p->i > run) t5p__buf_add(&b, s + run, p->i - run);
        if (p->i >= p->n) { T5P_FREE(b.p); return t5p__jp_fail(p, start, "unterminated string"); }
        unsigned char c = (unsigned char)s[p->i];
        if (c == '"') { p->i++; break; }
        if (c < 0x20) {
            T5P_FREE(b.p);
            return t5p__jp_fail(p, p->i, "control character 0x%02X in string (must be escaped)", c);
        }
        // backslash escape
        size_t at = p->i;
        if (p->i + 1 >= p->n) { T5P_FREE(b.p); return t5p__jp_fail(p, start, "unterminated string"); }
        char e = s[p->i + 1], lit = 0;
        switch (e) {
        case '"': lit = '"'; break;
        case '\\': lit = '\\'; break;
        case '/': lit = '/'; break;
        case 'b': lit = '\b'; break;
        case 'f': lit = '\f'; break;
        case 'n': lit = '\n'; break;
        case 'r': lit = '\r'; break;
        case 't': lit = '\t'; break;
        case 'u': break;
        default:
            T5P_FREE(b.p);
            if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7f) return t5p__jp_fail(p, at, "invalid escape '\\%c'", e);
            return t5p__jp_fail(p, at, "invalid escape");
        }
        if (e != 'u') {
            t5p__buf_add(&b, &lit, 1);
            p->i += 2;
            continue;
        }
        uint32_t cp, lo;
        if (t5p__jp_hex4(p, at + 2, &cp) < 0) { T5P_FREE(b.p); return t5p__jp_fail(p, at, "invalid \\u escape (needs 4 hex digits)"); }
        p->i = at + 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            T5P_FREE(b.p);
            return t5p__jp_fail(p, at, "unpaired low surrogate \\u%04X", (unsigned)cp);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->i + 1 < p->n && s[p->i] == '\\' && s[p->i + 1] == 'u' && t5p__jp_hex4(p, p->i + 2, &lo) == 0 &&
                lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->i += 6;
            } else {
                T5P_FREE(b.p);
                return t5p__jp_fail(p, at, "unpaired high surrogate \\u%04X", (unsigned)cp);
            }
        }
        t5p__buf_cp(&b, (int32_t)cp);
    }
    *out = b.p;
    *len = b.n;
    return 0;
}

static int t5p__jp_number(t5p__jp *p, t5p_json *v) {
    const char *s = p->s;
    size_t st = p->i, n = p->n;
    int isint = 1;
#define T5P__DIGIT(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
    if (p->i < n && s[p->i] == '-') p->i++;
    if (p->i < n && s[p->i] == '0') p->i++;
    else if (T5P__DIGIT(p->i)) while (T5P__DIGIT(p->i)) p->i++;
    else return t5p__jp_fail(p, st, "invalid number");
    if (p->i < n && s[p->i] == '.') {
        p->i++;
        if (!T5P__DIGIT(p->i)) return t5p__jp_fail(p, st, "invalid number (digits must follow '.')");
        while (T5P__DIGIT(p->i)) p->i++;
        isint = 0;
    }
    if (p->i < n && (s[p->i] == 'e' || s[p->i] == 'E')) {
        p->i++;
        if (p->i < n && (s[p->i] == '+' || s[p->i] == '-')) p->i++;
        if (!T5P__DIGIT(p->i)) return t5p__jp_fail(p, st, "invalid number (digits must follow the exponent)");
        while (T5P__DIGIT(p->i)) p->i++;
        isint = 0;
    }
#undef T5P__DIGIT
    size_t len = p->i - st;
    char small[64], *tmp = len < sizeof small ? small : (char *)T5P_MALLOC(len + 1);
    if (!tmp) return t5p__err(T5P_ERR_NOMEM, "out of memory");
    memcpy(tmp, s + st, len);
    tmp[len] = 0;
    v->type = T5P_JSON_NUMBER;
    v->num = strtod(tmp, NULL);
    if (tmp != small) T5P_FREE(tmp);
    if (isint) {  // exact int64 when it fits
        size_t k = st;
        int neg = s[k] == '-';
        if (neg) k++;
        uint64_t u = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int ok = 1;
        for (; k < p->i; k++) {
            uint64_t d = (uint64_t)(s[k] - '0');
            if (u > (lim - d) / 10) { ok = 0; break; }
            u = u * 10 + d;
        }
        if (ok) {
            v->is_int = 1;
            v->i = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
        }
    }
    return 0;
}

static int t5p__jp_literal(t5p__jp *p, const char *word, int type, double num, t5p_json *v) {
    size_t k = strlen(word);
    if (p->i + k > p->n || memcmp(p->s + p->i, word, k) != 0) {
        char buf[32];
        return t5p__jp_fail(p, p->i, "unexpected %s", t5p__jp_what_here(p, buf, sizeof buf));
    }
    p->i += k;
    v->type = type;
    v->num = num;
    return 0;
}

static int t5p__jp_value(t5p__jp *p, t5p_json *v);

// Parses members of an array or object after its opening bracket.
static int t5p__jp_members(t5p__jp *p, t5p_json *v, int object) {
    char close = object ? '}' : ']';
    long cap = 0;
    if (++p->depth > T5P__JSON_MAX_DEPTH) return t5p__jp_fail(p, p->i - 1, "nesting deeper than %d", T5P__JSON_MAX_DEPTH);
    t5p__jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; p->depth--; return 0; }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 4;
            t5p_json *it = (t5p_json *)T5P_REALLOC(v->items, (size_t)cap * sizeof *it);
            if (!it) return t5p__err(T5P_ERR_NOMEM, "out of memory parsing JSON");
            v->items = it;
        }
        t5p_json *m = &v->items[v->n];
        memset(m, 0, sizeof *m);
        v->n++;
        t5p__jp_ws(p);
        if (object) {
            char buf[32];
            if (p->i >= p->n || p->s[p->i] != '"')
                return t5p__jp_fail(p, p->i, "expected a string key, found %s", t5p__jp_what_here(p, buf, sizeof buf));
            int rc = t5p__jp_string(p, &m->key, &m->klen);
            if (rc < 0) return rc;
            t5p__jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':')
                return t5p__jp_fail(p, p->i, "expected ':', found %s", t5p__jp_what_here(p, buf, sizeof buf));
            p->i++;
        }
        int rc = t5p__jp_value(p, m);
        if (rc < 0) return rc;
        t5p__jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == close) { p->i++; break; }
        char buf[32];
        return t5p__jp_fail(p, p->i, "expected ',' or '%c', found %s", close, t5p__jp_what_here(p, buf, sizeof buf));
    }
    p->depth--;
    return 0;
}

static int t5p__jp_value(t5p__jp *p, t5p_json *v) {
    t5p__jp_ws(p);
    v->offset = p->i;
    if (p->i >= p->n) return t5p__jp_fail(p, p->i, "unexpected end of input, expected a value");
    char c = p->s[p->i];
    switch (c) {
    case '{': p->i++; v->type = T5P_JSON_OBJECT; return t5p__jp_members(p, v, 1);
    case '[': p->i++; v->type = T5P_JSON_ARRAY; return t5p__jp_members(p, v, 0);
    case '"': v->type = T5P_JSON_STRING; return t5p__jp_string(p, &v->str, &v->len);
    case 't': return t5p__jp_literal(p, "true", T5P_JSON_TRUE, 0, v);
    case 'f': return t5p__jp_literal(p, "false", T5P_JSON_FALSE, 0, v);
    case 'n': return t5p__jp_literal(p, "null", T5P_JSON_NULL, 0, v);
    case 'N': return t5p__jp_literal(p, "NaN", T5P_JSON_NUMBER, NAN, v);
    case 'I': return t5p__jp_literal(p, "Infinity", T5P_JSON_NUMBER, INFINITY, v);
    default:
        if (c == '-' && p->i + 1 < p->n && p->s[p->i + 1] == 'I')
            return t5p__jp_literal(p, "-Infinity", T5P_JSON_NUMBER, -INFINITY, v);
        if (c == '-' || (c >= '0' && c <= '9')) return t5p__jp_number(p, v);
        {
            char buf[32];
            return t5p__jp_fail(p, p->i, "unexpected %s, expected a value", t5p__jp_what_here(p, buf, sizeof buf));
        }
    }
}

T5PDEF t5p_json *t5p_json_parse(const char *s, size_t n, const char *what) {
    t5p__jp p = {s, n, 0, what, 0};
    t5p_json *root = (t5p_json *)T5P_MALLOC(sizeof *root);
    if (!root) { t5p__err(T5P_ERR_NOMEM, "out of memory parsing JSON"); return NULL; }
    memset(root, 0, sizeof *root);
    int rc = t5p__jp_value(&p, root);
    if (rc == 0) {
        t5p__jp_ws(&p);
        if (p.i != n) {
            char buf[32];
            rc = t5p__jp_fail(&p, p.i, "extra data after the JSON value (%s)", t5p__jp_what_here(&p, buf, sizeof buf));
        }
    }
    if (rc < 0) { t5p_json_free(root); return NULL; }
    return root;
}

T5PDEF void t5p_json_free(t5p_json *j) {
    if (!j) return;
    t5p__json_free_node(j);
    T5P_FREE(j);
}

T5PDEF const t5p_json *t5p_json_get(const t5p_json *obj, const char *key) {
    if (!obj || obj->type != T5P_JSON_OBJECT) return NULL;
    size_t k = strlen(key);
    for (long m = obj->n - 1; m >= 0; m--)
        if (obj->items[m].klen == k && memcmp(obj->items[m].key, key, k) == 0) return &obj->items[m];
    return NULL;
}

// --- JSON writers

// A JSON string literal: raw UTF-8, escapes as Python's json.dumps(ensure_ascii=False) and serde_json
// write them; invalid UTF-8 bytes become U+FFFD so the output is always valid.
static void t5p__json_write_string(t5p__buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    T5P__LIT(b, "\"");
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { i++; continue; }
        if (c >= 0x80) {
            size_t k = i;
            if (t5p_utf8_next(s, n, &k) >= 0) { i = k; continue; }
        }
        t5p__buf_add(b, s + run, i - run);
        char esc[8] = {'\\', 0};
        size_t en = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                en = 6;
            } else {  // invalid UTF-8 byte
                memcpy(esc, "\xEF\xBF\xBD", 3);
                en = 3;
            }
        }
        t5p__buf_add(b, esc, en);
        run = ++i;
    }
    t5p__buf_add(b, s + run, n - run);
    T5P__LIT(b, "\"");
}

static void t5p__json_write_int(t5p__buf *b, int64_t x) {
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%lld", (long long)x);
    t5p__buf_add(b, tmp, (size_t)k);
}

// A double as Python's repr writes it: the shortest digits that round-trip, fixed notation for
// decimal exponents -4..15 (with ".0" when integral), else d.ddde+XX; NaN, Infinity, -Infinity.
static void t5p__json_write_number(t5p__buf *b, double x) {
    if (isnan(x)) { T5P__LIT(b, "NaN"); return; }
    if (isinf(x)) { if (x < 0) T5P__LIT(b, "-Infinity"); else T5P__LIT(b, "Infinity"); return; }
    char tmp[40];
    for (int prec = 0; prec < 17; prec++) {  // shortest round trip; %e rounds correctly
        snprintf(tmp, sizeof tmp, "%.*e", prec, x);
        if (strtod(tmp, NULL) == x) break;
    }
    // tmp: [-]d[.ddd]e(+|-)XX
    char digits[24];
    int nd = 0, neg = 0;
    const char *q = tmp;
    if (*q == '-') { neg = 1; q++; }
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    int e = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char out[64];
    int k = 0;
    if (neg) out[k++] = '-';
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int d = 0; d <= e; d++) out[k++] = d < nd ? digits[d] : '0';
            out[k++] = '.';
            if (nd > e + 1) for (int d = e + 1; d < nd; d++) out[k++] = digits[d];
            else out[k++] = '0';
        } else {
            out[k++] = '0';
            out[k++] = '.';
            for (int d = 0; d < -e - 1; d++) out[k++] = '0';
            for (int d = 0; d < nd; d++) out[k++] = digits[d];
        }
    } else {
        out[k++] = digits[0];
        if (nd > 1) {
            out[k++] = '.';
            for (int d = 1; d < nd; d++) out[k++] = digits[d];
        }
        k += snprintf(out + k, sizeof out - (size_t)k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    t5p__buf_add(b, out, (size_t)k);
}

static void t5p__json_dump(t5p__buf *b, const t5p_json *j) {
    switch (j->type) {
    case T5P_JSON_NULL: T5P__LIT(b, "null"); break;
    case T5P_JSON_FALSE: T5P__LIT(b, "false"); break;
    case T5P_JSON_TRUE: T5P__LIT(b, "true"); break;
    case T5P_JSON_NUMBER:
        if (j->is_int) t5p__json_write_int(b, j->i);
        else t5p__json_write_number(b, j->num);
        break;
    case T5P_JSON_STRING: t5p__json_write_string(b, j->str, j->len); break;
    case T5P_JSON_ARRAY:
        T5P__LIT(b, "[");
        for (long k = 0; k < j->n; k++) {
            if (k) T5P__LIT(b, ",");
            t5p__json_dump(b, &j->items[k]);
        }
        T5P__LIT(b, "]");
        break;
    case T5P_JSON_OBJECT: {
        T5P__LIT(b, "{");
        int first = 1;
        for (long k = 0; k < j->n; k++) {
            const t5p_json *m = &j->items[k], *last = m;
            int seen = 0;
            for (long q = 0; q < k && !seen; q++)
                seen = j->items[q].klen == m->klen && memcmp(j->items[q].key, m->key, m->klen) == 0;
            if (seen) continue;  // a repeated key keeps its first place ...
            for (long q = k + 1; q < j->n; q++)  // ... and its last value
                if (j->items[q].klen == m->klen && memcmp(j->items[q].key, m->key, m->klen) == 0) last = &j->items[q];
            if (!first) T5P__LIT(b, ",");
            first = 0;
            t5p__json_write_string(b, m->key, m->klen);
            T5P__LIT(b, ":");
            t5p__json_dump(b, last);
        }
        T5P__LIT(b, "}");
        break;
    }
    }
}

T5PDEF char *t5p_json_dump(const t5p_json *j, size_t *len) {
    t5p__buf b = {0};
    t5p__buf_reserve(&b, 0);
    t5p__json_dump(&b, j);
    if (len) *len = b.n;
    return b.p;
}

// --- dtypes and conversions

static const char *const t5p__dtype_names[T5P_DT_COUNT] = {
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
};
static const int t5p__dtype_sizes[T5P_DT_COUNT] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

T5PDEF const char *t5p_dtype_name(int dt) { return dt >= 0 && dt < T5P_DT_COUNT ? t5p__dtype_names[dt] : NULL; }
T5PDEF int t5p_dtype_size(int dt) { return dt >= 0 && dt < T5P_DT_COUNT ? t5p__dtype_sizes[dt] : 0; }
T5PDEF int t5p_dtype_parse(const char *name) {
    for (int k = 0; k < T5P_DT_COUNT; k++)
        if (strcmp(name, t5p__dtype_names[k]) == 0) return k;
    return -1;
}

T5PDEF int64_t t5p_tensor_numel(const t5p_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}
T5PDEF int64_t t5p_tensor_nbytes(const t5p_tensor *t) { return t5p_tensor_numel(t) * t5p_dtype_size(t->dtype); }

T5PDEF uint16_t t5p_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)  // inf, or NaN kept quiet with the top payload bits
        return sign | 0x7c00 | (ax > 0x7f800000u ? (uint16_t)(0x200 | ((ax >> 13) & 0x3ff)) : 0);
    if (ax >= 0x477ff000u) return sign | 0x7c00;  // rounds to 65520 or more: infinity
    if (ax >= 0x38800000u) {                      // normal half: rebias, round 23 -> 10 mantissa bits
        uint32_t r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1);
        return sign | (uint16_t)(r >> 13);
    }
    if (ax <= 0x33000000u) return sign;  // at most 2^-25: rounds (ties to even) to zero
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;  // subnormal half
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return sign | (uint16_t)q;
}

T5PDEF float t5p_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
    if (e == 0) {
        float f = (float)m * 5.9604644775390625e-8f;  // m * 2^-24, exact
        return sign ? -f : f;
    }
    if (e == 31) x = sign | 0x7f800000u | (m << 13);
    else x = sign | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

T5PDEF uint16_t t5p_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);  // quiet NaN
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

T5PDEF float t5p_bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

T5PDEF int t5p_tensor_to_f32(const t5p_tensor *t, float *dst) {
    int64_t n = t5p_tensor_numel(t);
    const unsigned char *src = (const unsigned char *)t->data;
    switch (t->dtype) {
    case T5P_DT_F32: if (n) memcpy(dst, src, (size_t)n * 4); return 0;
    case T5P_DT_F16:
    case T5P_DT_BF16:
        for (int64_t k = 0; k < n; k++) {
            uint16_t h;
            memcpy(&h, src + 2 * k, 2);
            dst[k] = t->dtype == T5P_DT_F16 ? t5p_f16_to_f32(h) : t5p_bf16_to_f32(h);
        }
        return 0;
    case T5P_DT_F64:
        for (int64_t k = 0; k < n; k++) {
            double d;
            memcpy(&d, src + 8 * k, 8);
            dst[k] = (float)d;
        }
        return 0;
    default:
        return t5p__err(T5P_ERR_ARG, "tensor '%s': dtype %s cannot be read as float32", t->name ? t->name : "?",
                        t5p_dtype_name(t->dtype) ? t5p_dtype_name(t->dtype) : "?");
    }
}

static int t5p__little_endian(void) {
    uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

// --- atomic files

T5PDEF int t5p_atomic_open(t5p_atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->fd = -1;
    size_t n = strlen(path);
    a->path = (char *)T5P_MALLOC(n + 1);
    a->tmp = (char *)T5P_MALLOC(n + 32);
    if (!a->path || !a->tmp) {
        T5P_FREE(a->path);
        T5P_FREE(a->tmp);
        a->path = a->tmp = NULL;
        return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(a->path, path, n + 1);
    snprintf(a->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (a->fd < 0) {
        int rc = t5p__err(T5P_ERR_IO, "%s: cannot create %s: %s", path, a->tmp, strerror(errno));
        T5P_FREE(a->path);
        T5P_FREE(a->tmp);
        a->path = a->tmp = NULL;
        return rc;
    }
    return 0;
}

T5PDEF int t5p_atomic_write(t5p_atomic_file *a, const void *data, size_t n) {
    if (a->failed) return T5P_ERR_IO;
    const char *p = (const char *)data;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = write(a->fd, p, chunk);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            a->failed = 1;
            return t5p__err(T5P_ERR_IO, "%s: write failed: %s", a->path, k < 0 ? strerror(errno) : "no progress");
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void t5p__atomic_release(t5p_atomic_file *a) {
    T5P_FREE(a->path);
    T5P_FREE(a->tmp);
    a->path = a->tmp = NULL;
    a->fd = -1;
}

T5PDEF void t5p_atomic_abort(t5p_atomic_file *a) {
    if (!a->tmp) return;
    if (a->fd >= 0) close(a->fd);
    unlink(a->tmp);
    t5p__atomic_release(a);
}

T5PDEF int t5p_atomic_commit(t5p_atomic_file *a) {
    if (!a->tmp) return t5p__err(T5P_ERR_ARG, "atomic file is not open");
    if (a->failed) {  // the message of the failed write stays
        t5p_atomic_abort(a);
        return T5P_ERR_IO;
    }
    int rc = 0;
    if (fsync(a->fd) != 0) rc = t5p__err(T5P_ERR_IO, "%s: fsync failed: %s", a->path, strerror(errno));
    if (close(a->fd) != 0 && rc == 0) rc = t5p__err(T5P_ERR_IO, "%s: close failed: %s", a->path, strerror(errno));
    a->fd = -1;
    if (rc == 0 && rename(a->tmp, a->path) != 0)
        rc = t5p__err(T5P_ERR_IO, "%s: cannot rename %s over it: %s", a->path, a->tmp, strerror(errno));
    if (rc < 0) {
        unlink(a->tmp);
        t5p__atomic_release(a);
        return rc;
    }
    // make the rename itself durable: sync the directory (best effort)
    char *slash = strrchr(a->path, '/');
    if (slash) *slash = 0;
    int dfd = open(slash ? (a->path[0] ? a->path : "/") : ".", O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    t5p__atomic_release(a);
    return 0;
}

T5PDEF int t5p_write_atomic(const char *path, const void *data, size_t n) {
    t5p_atomic_file a;
    int rc = t5p_atomic_open(&a, path);
    if (rc < 0) return rc;
    if ((rc = t5p_atomic_write(&a, data, n)) < 0) { t5p_atomic_abort(&a); return rc; }
    return t5p_atomic_commit(&a);
}

// --- safetensors

#define T5P__ST_MAX_HEADER 100000000ull  // the safetensors library's limit

static int t5p__st_cmp_write(const void *x, const void *y) {  // dtype descending, then name
    const t5p_tensor *a = *(const t5p_tensor *const *)x, *b = *(const t5p_tensor *const *)y;
    if (a->dtype != b->dtype) return a->dtype > b->dtype ? -1 : 1;
    return strcmp(a->name, b->name);
}

static void t5p__st_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

T5PDEF int t5p_safetensors_save(const char *path, const t5p_tensor *ts, int n, const char *const *meta) {
    if (!t5p__little_endian()) return t5p__err(T5P_ERR_ARG, "%s: safetensors writing needs a little-endian host", path);
    if (n < 0) return t5p__err(T5P_ERR_ARG, "%s: negative tensor count", path);
    const t5p_tensor **ord = (const t5p_tensor **)T5P_MALLOC(sizeof *ord * (size_t)(n ? n : 1));
    if (!ord) return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        const t5p_tensor *t = &ts[k];
        ord[k] = t;
        if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
            rc = t5p__err(T5P_ERR_ARG, "%s: tensor %d has an invalid name", path, k);
        else if (!t5p_dtype_name(t->dtype))
            rc = t5p__err(T5P_ERR_ARG, "%s: tensor '%s': unknown dtype %d", path, t->name, t->dtype);
        else if (t->ndim < 0 || t->ndim > T5P_MAX_DIMS)
            rc = t5p__err(T5P_ERR_ARG, "%s: tensor '%s': %d dimensions", path, t->name, t->ndim);
        for (int d = 0; rc == 0 && d < t->ndim; d++)
            if (t->shape[d] < 0) rc = t5p__err(T5P_ERR_ARG, "%s: tensor '%s': negative dimension", path, t->name);
        if (rc == 0 && !t->data && t5p_tensor_nbytes(t) > 0)
            rc = t5p__err(T5P_ERR_ARG, "%s: tensor '%s': no data", path, t->name);
    }
    if (rc == 0) qsort(ord, (size_t)n, sizeof *ord, t5p__st_cmp_write);
    for (int k = 1; k < n && rc == 0; k++)
        if (strcmp(ord[k - 1]->name, ord[k]->name) == 0)
            rc = t5p__err(T5P_ERR_ARG, "%s: tensor name '%s' appears twice", path, ord[k]->name);
    for (int k = 0; meta && meta[k] && rc == 0; k += 2)
        if (!meta[k + 1]) rc = t5p__err(T5P_ERR_ARG, "%s: metadata key '%s' has no value", path, meta[k]);
    if (rc < 0) { T5P_FREE(ord); return rc; }

    // header, exactly as the safetensors library serializes it
    t5p__buf h = {0};
    T5P__LIT(&h, "{");
    int first = 1;
    if (meta) {
        T5P__LIT(&h, "\"__metadata__\":{");
        for (int k = 0; meta[k]; k += 2) {
            if (k) T5P__LIT(&h, ",");
            t5p__json_write_string(&h, meta[k], strlen(meta[k]));
            T5P__LIT(&h, ":");
            t5p__json_write_string(&h, meta[k + 1], strlen(meta[k + 1]));
        }
        T5P__LIT(&h, "}");
        first = 0;
    }
    int64_t off = 0;
    for (int k = 0; k < n; k++) {
        const t5p_tensor *t = ord[k];
        if (!first) T5P__LIT(&h, ",");
        first = 0;
        t5p__json_write_string(&h, t->name, strlen(t->name));
        T5P__LIT(&h, ":{\"dtype\":");
        t5p__json_write_string(&h, t5p_dtype_name(t->dtype), strlen(t5p_dtype_name(t->dtype)));
        T5P__LIT(&h, ",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) T5P__LIT(&h, ",");
            t5p__json_write_int(&h, t->shape[d]);
        }
        T5P__LIT(&h, "],\"data_offsets\":[");
        t5p__json_write_int(&h, off);
        T5P__LIT(&h, ",");
        off += t5p_tensor_nbytes(t);
        t5p__json_write_int(&h, off);
        T5P__LIT(&h, "]}");
    }
    T5P__LIT(&h, "}");
    while (h.n % 8) T5P__LIT(&h, " ");
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)h.n >> (8 * k));

    t5p_atomic_file a;
    rc = t5p_atomic_open(&a, path);
    if (rc == 0) rc = t5p_atomic_write(&a, len8, 8);
    if (rc == 0) rc = t5p_atomic_write(&a, h.p, h.n);
    for (int k = 0; k < n && rc == 0; k++) rc = t5p_atomic_write(&a, ord[k]->data, (size_t)t5p_tensor_nbytes(ord[k]));
    if (rc == 0) rc = t5p_atomic_commit(&a);
    else if (a.tmp) t5p_atomic_abort(&a);
    T5P_FREE(h.p);
    T5P_FREE(ord);
    return rc;
}

T5PDEF void t5p_safetensors_close(t5p_safetensors *st) {
    if (!st) return;
    for (int k = 0; k < st->n; k++) T5P_FREE((char *)st->t[k].name);
    for (int k = 0; k < 2 * st->nmeta; k++) T5P_FREE(st->meta[k]);
    T5P_FREE(st->t);
    T5P_FREE(st->meta);
    if (st->mapped) munmap(st->base, st->size);
    else T5P_FREE(st->base);
    T5P_FREE(st->path);
    T5P_FREE(st);
}

typedef struct {
    int64_t begin, end;
    int idx;
} t5p__st_span;

static int t5p__st_cmp_span(const void *x, const void *y) {
    const t5p__st_span *a = (const t5p__st_span *)x, *b = (const t5p__st_span *)y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->idx - b->idx;
}

static int t5p__st_cmp_name(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

// Checks the parsed header and fills st->t / st->meta. data_size: bytes after the header.
static int t5p__st_load_header(t5p_safetensors *st, t5p_json *root, const unsigned char *data, uint64_t data_size) {
    const char *path = st->path;
    if (root->type != T5P_JSON_OBJECT) return t5p__err(T5P_ERR_FORMAT, "%s: header is not a JSON object", path);
    int nt = 0;
    for (long k = 0; k < root->n; k++) nt += strcmp(root->items[k].key, "__metadata__") != 0;
    st->t = (t5p_tensor *)T5P_MALLOC(sizeof *st->t * (size_t)(nt ? nt : 1));
    t5p__st_span *sp = (t5p__st_span *)T5P_MALLOC(sizeof *sp * (size_t)(nt ? nt : 1));
    if (!st->t || !sp) { T5P_FREE(sp); return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); }
    memset(st->t, 0, sizeof *st->t * (size_t)(nt ? nt : 1));
    int rc = 0;
    for (long k = 0; k < root->n && rc == 0; k++) {
        t5p_json *m = &root->items[k];
        if (strcmp(m->key, "__metadata__") == 0) {
            if (m->type != T5P_JSON_OBJECT) { rc = t5p__err(T5P_ERR_FORMAT, "%s: __metadata__ is not an object", path); break; }
            if (st->meta) { rc = t5p__err(T5P_ERR_FORMAT, "%s: __metadata__ appears twice", path); break; }
            st->meta = (char **)T5P_MALLOC(sizeof(char *) * (size_t)(2 * m->n + 1));
            if (!st->meta) { rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); break; }
            for (long q = 0; q < m->n; q++) {
                t5p_json *kv = &m->items[q];
                if (kv->type != T5P_JSON_STRING) {
                    rc = t5p__err(T5P_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", path, kv->key);
                    break;
                }
                st->meta[2 * st->nmeta] = kv->key;  // take ownership from the tree
                st->meta[2 * st->nmeta + 1] = kv->str;
                kv->key = kv->str = NULL;
                kv->klen = kv->len = 0;
                st->nmeta++;
            }
            continue;
        }
        const char *name = m->key;
        if (strlen(name) != m->klen) { rc = t5p__err(T5P_ERR_FORMAT, "%s: a tensor name holds a NUL byte", path); break; }
        if (m->type != T5P_JSON_OBJECT) { rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': entry is not an object", path, name); break; }
        const t5p_json *dt = t5p_json_get(m, "dtype"), *sh = t5p_json_get(m, "shape"), *of = t5p_json_get(m, "data_offsets");
        if (!dt || dt->type != T5P_JSON_STRING) { rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\" string", path, name); break; }
        if (!sh || sh->type != T5P_JSON_ARRAY) { rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': missing \"shape\" array", path, name); break; }
        if (!of || of->type != T5P_JSON_ARRAY || of->n != 2) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\" [begin, end]", path, name);
            break;
        }
        t5p_tensor *t = &st->t[st->n];
        t->dtype = t5p_dtype_parse(dt->str);
        if (t->dtype < 0) { rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name, dt->str); break; }
        if (sh->n > T5P_MAX_DIMS) { rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': %ld dimensions (at most %d)", path, name, sh->n, T5P_MAX_DIMS); break; }
        t->ndim = (int)sh->n;
        uint64_t numel = 1;
        int overflow = 0;
        for (int d = 0; d < t->ndim; d++) {
            const t5p_json *x = &sh->items[d];
            if (x->type != T5P_JSON_NUMBER || !x->is_int || x->i < 0) {
                rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': shape must hold non-negative integers", path, name);
                break;
            }
            t->shape[d] = x->i;
            if (x->i && numel > (uint64_t)INT64_MAX / (uint64_t)x->i) overflow = 1;
            else numel *= (uint64_t)x->i;
        }
        if (rc < 0) break;
        int64_t b = of->items[0].i, e = of->items[1].i;
        if (of->items[0].type != T5P_JSON_NUMBER || !of->items[0].is_int || of->items[1].type != T5P_JSON_NUMBER ||
            !of->items[1].is_int || b < 0 || e < b) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': data_offsets must be integers 0 <= begin <= end", path, name);
            break;
        }
        int size = t5p_dtype_size(t->dtype);
        if (overflow || numel > (uint64_t)INT64_MAX / (uint64_t)size || (int64_t)(numel * (uint64_t)size) != e - b) {
            char shs[160];
            t5p__st_shape_str(shs, sizeof shs, t->ndim, t->shape);
            rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes but %s %s needs %s%lld",
                          path, name, (long long)b, (long long)e, (long long)(e - b), dt->str, shs, overflow ? "more than " : "",
                          overflow ? (long long)INT64_MAX : (long long)(numel * (uint64_t)size));
            break;
        }
        t->name = m->key;  // take ownership
        m->key = NULL;
        m->klen = 0;
        sp[st->n].begin = b;
        sp[st->n].end = e;
        sp[st->n].idx = st->n;
        st->n++;
    }
    if (rc == 0) {  // names are unique
        const char **names = (const char **)T5P_MALLOC(sizeof(char *) * (size_t)(st->n ? st->n : 1));
        if (!names) rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
        for (int k = 0; rc == 0 && k < st->n; k++) names[k] = st->t[k].name;
        if (rc == 0) qsort(names, (size_t)st->n, sizeof *names, t5p__st_cmp_name);
        for (int k = 1; rc == 0 && k < st->n; k++)
            if (strcmp(names[k - 1], names[k]) == 0) rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' appears twice", path, names[k]);
        T5P_FREE(names);
    }
    if (rc == 0) {  // contiguous, non-overlapping, inside the file, covering the data section
        qsort(sp, (size_t)st->n, sizeof *sp, t5p__st_cmp_span);
        int64_t expect = 0;
        const char *prev = NULL;
        for (int k = 0; k < st->n && rc == 0; k++) {
            const char *name = st->t[sp[k].idx].name;
            if (sp[k].begin < expect)
                rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' (data bytes %lld..%lld) overlaps tensor '%s'", path, name,
                              (long long)sp[k].begin, (long long)sp[k].end, prev ? prev : "?");
            else if (sp[k].begin > expect)
                rc = t5p__err(T5P_ERR_FORMAT, "%s: data bytes %lld..%lld belong to no tensor (gap before tensor '%s')", path,
                              (long long)expect, (long long)sp[k].begin, name);
            else if ((uint64_t)sp[k].end > data_size)
                rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' needs data bytes %lld..%lld but the file holds only %llu: truncated file?",
                              path, name, (long long)sp[k].begin, (long long)sp[k].end, (unsigned long long)data_size);
            expect = sp[k].end;
            prev = name;
        }
        if (rc == 0 && (uint64_t)expect != data_size)
            rc = t5p__err(T5P_ERR_FORMAT, "%s: %llu bytes after the last tensor belong to no tensor", path,
                          (unsigned long long)(data_size - (uint64_t)expect));
        if (rc == 0) {  // file order
            t5p_tensor *ord = (t5p_tensor *)T5P_MALLOC(sizeof *ord * (size_t)(st->n ? st->n : 1));
            if (!ord) rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
            for (int k = 0; rc == 0 && k < st->n; k++) {
                ord[k] = st->t[sp[k].idx];
                ord[k].data = data + sp[k].begin;
            }
            if (rc == 0) { T5P_FREE(st->t); st->t = ord; }
        }
    }
    T5P_FREE(sp);
    return rc;
}

T5PDEF t5p_safetensors *t5p_safetensors_open(const char *path) {
    if (!t5p__little_endian()) { t5p__err(T5P_ERR_ARG, "%s: safetensors reading needs a little-endian host", path); return NULL; }
    t5p_safetensors *st = (t5p_safetensors *)T5P_MALLOC(sizeof *st);
    if (!st) { t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); return NULL; }
    memset(st, 0, sizeof *st);
    size_t pl = strlen(path);
    st->path = (char *)T5P_MALLOC(pl + 1);
    if (!st->path) { T5P_FREE(st); t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); return NULL; }
    memcpy(st->path, path, pl + 1);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        t5p__err(T5P_ERR_IO, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        t5p_safetensors_close(st);
        return NULL;
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        t5p__err(T5P_ERR_IO, "%s: is a directory", path);
        t5p_safetensors_close(st);
        return NULL;
    }
    st->size = (size_t)sb.st_size;
    if (st->size < 8) {
        close(fd);
        t5p__err(T5P_ERR_FORMAT, "%s: %zu bytes: too short for a safetensors file (truncated?)", path, st->size);
        t5p_safetensors_close(st);
        return NULL;
    }
    void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
        st->base = m;
        st->mapped = 1;
    } else {  // e.g. a pipe or a filesystem without mmap: read it
        st->base = T5P_MALLOC(st->size);
        size_t got = 0;
        while (st->base && got < st->size) {
            ssize_t k = read(fd, (char *)st->base + got, st->size - got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (!st->base || got != st->size) {
            close(fd);
            t5p__err(st->base ? T5P_ERR_IO : T5P_ERR_NOMEM, "%s: cannot read %zu bytes", path, st->size);
            t5p_safetensors_close(st);
            return NULL;
        }
    }
    close(fd);
    const unsigned char *b = (const unsigned char *)st->base;
    uint64_t hn = 0;
    for (int k = 0; k < 8; k++) hn |= (uint64_t)b[k] << (8 * k);
    if (hn > T5P__ST_MAX_HEADER) {
        t5p__err(T5P_ERR_FORMAT, "%s: header size %llu is implausible (limit %llu): not a safetensors file?", path,
                 (unsigned long long)hn, T5P__ST_MAX_HEADER);
        t5p_safetensors_close(st);
        return NULL;
    }
    if (8 + hn > st->size) {
        t5p__err(T5P_ERR_FORMAT, "%s: header size %llu exceeds the file size %zu: truncated file?", path,
                 (unsigned long long)hn, st->size);
        t5p_safetensors_close(st);
        return NULL;
    }
    if (hn == 0 || b[8] != '{') {
        t5p__err(T5P_ERR_FORMAT, "%s: header does not start with '{': not a safetensors file?", path);
        t5p_safetensors_close(st);
        return NULL;
    }
    char *what = (char *)T5P_MALLOC(pl + 16);
    if (!what) { t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); t5p_safetensors_close(st); return NULL; }
    snprintf(what, pl + 16, "%s: header", path);
    t5p_json *root = t5p_json_parse((const char *)b + 8, (size_t)hn, what);
    T5P_FREE(what);
    if (!root) { t5p_safetensors_close(st); return NULL; }
    int rc = t5p__st_load_header(st, root, b + 8 + hn, st->size - 8 - hn);
    t5p_json_free(root);
    if (rc < 0) { t5p_safetensors_close(st); return NULL; }
    return st;
}

T5PDEF const t5p_tensor *t5p_safetensors_find(const t5p_safetensors *st, const char *name) {
    for (int k = 0; k < st->n; k++)
        if (strcmp(st->t[k].name, name) == 0) return &st->t[k];
    return NULL;
}

T5PDEF const char *t5p_safetensors_meta(const t5p_safetensors *st, const char *key) {
    for (int k = st->nmeta - 1; k >= 0; k--)
        if (strcmp(st->meta[2 * k], key) == 0) return st->meta[2 * k + 1];
    return NULL;
}

T5PDEF int t5p_safetensors_read_f32(const t5p_safetensors *st, const char *name, float *dst, int ndim, const int64_t *shape) {
    const t5p_tensor *t = t5p_safetensors_find(st, name);
    if (!t) return t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' is missing", st->path, name);
    if (t->dtype != T5P_DT_F32 && t->dtype != T5P_DT_F16 && t->dtype != T5P_DT_BF16 && t->dtype != T5P_DT_F64)
        return t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16, BF16 or F64", st->path, name,
                        t5p_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char got[160], want[160];
        t5p__st_shape_str(got, sizeof got, t->ndim, t->shape);
        t5p__st_shape_str(want, sizeof want, ndim, shape);
        return t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", st->path, name, got, want);
    }
    return t5p_tensor_to_f32(t, dst);
}

// --- training state

static void t5p__json_write_hex64(t5p__buf *b, uint64_t x) {
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "\"0x%016llx\"", (unsigned long long)x);
    t5p__buf_add(b, tmp, (size_t)k);
}

static int t5p__json_hex64(const t5p_json *j, uint64_t *out) {
    if (!j || j->type != T5P_JSON_STRING || j->len < 3 || j->len > 18 || j->str[0] != '0' || (j->str[1] != 'x' && j->str[1] != 'X'))
        return -1;
    uint64_t v = 0;
    for (size_t k = 2; k < j->len; k++) {
        char c = j->str[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + (uint64_t)d;
    }
    *out = v;
    return 0;
}

T5PDEF int t5p_train_state_save(const char *path, const t5p_train_state *s) {
    const char *nul = (const char *)memchr(s->optim, 0, sizeof s->optim);
    if (!nul) return t5p__err(T5P_ERR_ARG, "%s: optimizer name is not terminated", path);
    t5p__buf b = {0};
    T5P__LIT(&b, "{\"format\":\"t5p-train-state\",\"version\":1,\"step\":");
    t5p__json_write_int(&b, s->step);
    T5P__LIT(&b, ",\"seed\":");
    t5p__json_write_hex64(&b, s->seed);
    T5P__LIT(&b, ",\"rng\":[");
    for (int k = 0; k < 4; k++) {
        if (k) T5P__LIT(&b, ",");
        t5p__json_write_hex64(&b, s->rng[k]);
    }
    T5P__LIT(&b, "],\"epoch\":");
    t5p__json_write_int(&b, s->epoch);
    T5P__LIT(&b, ",\"data_pos\":");
    t5p__json_write_int(&b, s->data_pos);
    T5P__LIT(&b, ",\"optimizer\":");
    t5p__json_write_string(&b, s->optim, (size_t)(nul - s->optim));
    T5P__LIT(&b, ",\"loss\":");
    t5p__json_write_number(&b, s->loss);
    T5P__LIT(&b, "}\n");
    int rc = t5p_write_atomic(path, b.p, b.n);
    T5P_FREE(b.p);
    return rc;
}

T5PDEF int t5p_train_state_load(const char *path, t5p_train_state *s) {
    size_t n;
    char *text = t5p_read_file(path, &n);
    if (!text) return T5P_ERR_IO;
    t5p_json *j = t5p_json_parse(text, n, path);
    T5P_FREE(text);
    if (!j) return T5P_ERR_FORMAT;
    t5p_train_state r;
    memset(&r, 0, sizeof r);
    int rc = 0;
    const t5p_json *f = t5p_json_get(j, "format"), *v = t5p_json_get(j, "version");
    const t5p_json *step = t5p_json_get(j, "step"), *seed = t5p_json_get(j, "seed"), *rng = t5p_json_get(j, "rng");
    const t5p_json *ep = t5p_json_get(j, "epoch"), *dp = t5p_json_get(j, "data_pos"), *op = t5p_json_get(j, "optimizer");
    const t5p_json *loss = t5p_json_get(j, "loss");
    if (!f || f->type != T5P_JSON_STRING || strcmp(f->str, "t5p-train-state") != 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: not a t5p training state (\"format\" is not \"t5p-train-state\")", path);
    else if (!v || !v->is_int || v->i != 1)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: unsupported training state version", path);
    else if (!step || !step->is_int || step->i < 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: \"step\" must be a non-negative integer", path);
    else if (t5p__json_hex64(seed, &r.seed) < 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: \"seed\" must be a hex string \"0x...\"", path);
    else if (!rng || rng->type != T5P_JSON_ARRAY || rng->n != 4)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: \"rng\" must be an array of 4 hex strings", path);
    else if (!ep || !ep->is_int || ep->i < 0 || !dp || !dp->is_int || dp->i < 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: \"epoch\" and \"data_pos\" must be non-negative integers", path);
    else if (!op || op->type != T5P_JSON_STRING || op->len >= sizeof r.optim || memchr(op->str, 0, op->len))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: \"optimizer\" must be a short string", path);
    else if (loss && loss->type != T5P_JSON_NUMBER)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: \"loss\" must be a number", path);
    for (int k = 0; rc == 0 && k < 4; k++)
        if (t5p__json_hex64(&rng->items[k], &r.rng[k]) < 0)
            rc = t5p__err(T5P_ERR_FORMAT, "%s: \"rng\" must be an array of 4 hex strings", path);
    if (rc == 0) {
        r.step = step->i;
        r.epoch = ep->i;
        r.data_pos = dp->i;
        memcpy(r.optim, op->str, op->len);
        r.loss = loss ? loss->num : 0;
        *s = r;
    }
    t5p_json_free(j);
    return rc;
}

// ----------------------------------------------------------------------------
// 7. optim

T5PDEF t5p_optim_config t5p_optim_config_default(int kind) {
    t5p_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.beta2 = 0.999;
    c.eps = 1e-6;
    c.bias_correction = 1;
    c.eps1 = 1e-30;
    c.eps2 = 1e-3;
    c.clip_threshold = 1.0;
    c.decay_rate = -0.8;
    c.scale_parameter = 1;
    c.min_dim_size_to_factor = 128;
    switch (kind) {
    case T5P_OPTIM_ADAFACTOR:  // bert4keras AdaFactor defaults
        c.lr = 1e-3;
        c.adafactor_style = T5P_ADAFACTOR_BERT4KERAS;
        break;
    case T5P_OPTIM_ADAM:  // the original's fine-tuning: bert4keras Adam(2e-4), eps 1e-6, bias correction
        c.lr = 2e-4;
        c.beta1 = 0.9;
        break;
    default:  // the original's pretraining: AdamW 1e-4, wd 0.01 (not norms), warm-up 10000 steps
        c.lr = 1e-4;
        c.beta1 = 0.9;
        c.weight_decay = 0.01;
        c.warmup_steps = 10000;
        break;
    }
    return c;
}

T5PDEF t5p_optim_config t5p_optim_config_adafactor_hf(void) {
    t5p_optim_config c = t5p_optim_config_default(T5P_OPTIM_ADAFACTOR);
    c.adafactor_style = T5P_ADAFACTOR_HF;
    c.lr = 0;  // transformers: lr=None, relative_step=True, scale_parameter=True, warmup_init=False
    c.relative_step = 1;
    c.min_dim_size_to_factor = 0;
    return c;
}

T5PDEF const char *t5p_optim_name(int kind) {
    return kind == T5P_OPTIM_ADAFACTOR ? "adafactor" : kind == T5P_OPTIM_ADAM ? "adam" : kind == T5P_OPTIM_ADAMW ? "adamw" : NULL;
}

T5PDEF int t5p_optim_kind(const char *name) {
    for (int k = 0; k < 3; k++)
        if (strcmp(name, t5p_optim_name(k)) == 0) return k;
    return -1;
}

typedef struct {
    float *m;             // first moment (Adam; Adafactor with beta1 > 0), numel
    float *v;             // second moment (Adam; unfactored Adafactor), numel
    float *vr, *vc;       // factored Adafactor: running means of g^2 + eps1 over each row / each column
    int64_t numel, rows, cols;  // 2-D: rows x cols; 1-D: 1 x numel
    int factored;
    int large_cols;       // bert4keras: the column axis is the largest (ties too, as numpy's argpartition)
} t5p__opt_slot;

struct t5p_optim {
    t5p_optim_config cfg;
    int n;
    t5p_param *p;
    t5p__opt_slot *s;
    long step;
    double *part;  // partial sums, one per row or per block: sums in a fixed order for any thread count
    float *rf, *cf;
};

#define T5P__OPT_BLOCK 4096

static int64_t t5p__param_numel(const t5p_param *p) {
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= p->shape[d];
    return n;
}

// Shapes and factoring of one parameter's state; returns the state floats.
static int64_t t5p__opt_layout(const t5p_optim_config *c, const t5p_param *p, t5p__opt_slot *s) {
    memset(s, 0, sizeof *s);
    s->numel = t5p__param_numel(p);
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

static int t5p__opt_check(const t5p_optim_config *c, const t5p_param *params, int n) {
    if (!c || c->kind < T5P_OPTIM_ADAFACTOR || c->kind > T5P_OPTIM_ADAMW) return t5p__err(T5P_ERR_ARG, "optimizer: unknown kind");
    if (c->kind == T5P_OPTIM_ADAFACTOR && c->adafactor_style != T5P_ADAFACTOR_BERT4KERAS && c->adafactor_style != T5P_ADAFACTOR_HF)
        return t5p__err(T5P_ERR_ARG, "optimizer: unknown Adafactor style %d", c->adafactor_style);
    if (n < 0 || (n > 0 && !params)) return t5p__err(T5P_ERR_ARG, "optimizer: no parameters");
    for (int k = 0; k < n; k++) {
        const t5p_param *p = &params[k];
        const char *nm = p->name ? p->name : "?";
        if (!p->name || !p->name[0]) return t5p__err(T5P_ERR_ARG, "optimizer: parameter %d has no name", k);
        if (!p->w || !p->g) return t5p__err(T5P_ERR_ARG, "optimizer: parameter '%s' has no weights or gradient", nm);
        if (p->ndim < 1 || p->ndim > T5P_MAX_DIMS || (c->kind == T5P_OPTIM_ADAFACTOR && p->ndim > 2))
            return t5p__err(T5P_ERR_ARG, "optimizer: parameter '%s' has %d dimensions (%s takes %s)", nm, p->ndim,
                            t5p_optim_name(c->kind), c->kind == T5P_OPTIM_ADAFACTOR ? "1 or 2" : "1 to 8");
        for (int d = 0; d < p->ndim; d++)
            if (p->shape[d] <= 0) return t5p__err(T5P_ERR_ARG, "optimizer: parameter '%s' has an empty dimension", nm);
        for (int q = 0; q < k; q++)
            if (strcmp(params[q].name, p->name) == 0) return t5p__err(T5P_ERR_ARG, "optimizer: parameter name '%s' repeats", nm);
    }
    return 0;
}

T5PDEF size_t t5p_optim_state_bytes_for(const t5p_optim_config *cfg, const t5p_param *params, int n) {
    size_t total = 0;
    t5p__opt_slot s;
    for (int k = 0; k < n; k++) total += (size_t)t5p__opt_layout(cfg, &params[k], &s) * sizeof(float);
    return total;
}

T5PDEF size_t t5p_optim_state_bytes(const t5p_optim *o) { return t5p_optim_state_bytes_for(&o->cfg, o->p, o->n); }

T5PDEF void t5p_optim_free(t5p_optim *o) {
    if (!o) return;
    for (int k = 0; k < o->n; k++) {
        T5P_FREE((char *)o->p[k].name);
        T5P_FREE(o->s[k].m);
        T5P_FREE(o->s[k].v);
        T5P_FREE(o->s[k].vr);
        T5P_FREE(o->s[k].vc);
    }
    T5P_FREE(o->p);
    T5P_FREE(o->s);
    T5P_FREE(o->part);
    T5P_FREE(o->rf);
    T5P_FREE(o->cf);
    T5P_FREE(o);
}

static float *t5p__zeros(int64_t n) {
    float *p = (float *)T5P_MALLOC((size_t)(n ? n : 1) * sizeof(float));
    if (p) memset(p, 0, (size_t)n * sizeof(float));
    return p;
}

T5PDEF t5p_optim *t5p_optim_new(const t5p_optim_config *cfg, const t5p_param *params, int n) {
    if (t5p__opt_check(cfg, params, n) < 0) return NULL;
    t5p_optim *o = (t5p_optim *)T5P_MALLOC(sizeof *o);
    if (!o) { t5p__err(T5P_ERR_NOMEM, "optimizer: out of memory"); return NULL; }
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->p = (t5p_param *)T5P_MALLOC(sizeof *o->p * (size_t)(n ? n : 1));
    o->s = (t5p__opt_slot *)T5P_MALLOC(sizeof *o->s * (size_t)(n ? n : 1));
    if (!o->p || !o->s) { T5P_FREE(o->p); T5P_FREE(o->s); T5P_FREE(o); t5p__err(T5P_ERR_NOMEM, "optimizer: out of memory"); return NULL; }
    int64_t maxpart = 1, maxrows = 1, maxcols = 1;
    int ok = 1;
    for (int k = 0; k < n; k++) {
        o->p[k] = params[k];
        size_t len = strlen(params[k].name);
        char *nm = (char *)T5P_MALLOC(len + 1);
        t5p__opt_slot *s = &o->s[k];
        t5p__opt_layout(cfg, &params[k], s);
        o->n = k + 1;
        o->p[k].name = nm;
        if (!nm) { ok = 0; break; }
        memcpy(nm, params[k].name, len + 1);
        int adam = cfg->kind != T5P_OPTIM_ADAFACTOR;
        if (adam || cfg->beta1 > 0) ok &= (s->m = t5p__zeros(s->numel)) != NULL;
        if (adam || !s->factored) ok &= (s->v = t5p__zeros(s->numel)) != NULL;
        else {
            ok &= (s->vr = t5p__zeros(s->rows)) != NULL;
            ok &= (s->vc = t5p__zeros(s->cols)) != NULL;
        }
        if (!ok) break;
        int64_t blocks = (s->numel + T5P__OPT_BLOCK - 1) / T5P__OPT_BLOCK;
        if (blocks > maxpart) maxpart = blocks;
        if (s->rows > maxpart) maxpart = s->rows;
        if (s->rows > maxrows) maxrows = s->rows;
        if (s->cols > maxcols) maxcols = s->cols;
    }
    if (ok) {
        o->part = (double *)T5P_MALLOC(sizeof(double) * (size_t)maxpart);
        o->rf = (float *)T5P_MALLOC(sizeof(float) * (size_t)maxrows);
        o->cf = (float *)T5P_MALLOC(sizeof(float) * (size_t)maxcols);
        ok = o->part && o->rf && o->cf;
    }
    if (!ok) {
        t5p_optim_free(o);
        t5p__err(T5P_ERR_NOMEM, "optimizer: out of memory for the state (%zu bytes)", t5p_optim_state_bytes_for(cfg, params, n));
        return NULL;
    }
    return o;
}

T5PDEF long t5p_optim_steps(const t5p_optim *o) { return o->step; }

T5PDEF double t5p_optim_schedule(const t5p_optim_config *c, long t) {
    long s = t > 0 ? t - 1 : 0;  // steps done before this one
    if (c->warmup_steps > 0 && s < c->warmup_steps) return (double)s / (double)c->warmup_steps;
    if (c->total_steps > 0) {
        long rest = c->total_steps - c->warmup_steps;
        double f = (double)(c->total_steps - s) / (double)(rest > 1 ? rest : 1);
        return f > 0 ? f : 0;
    }
    return 1.0;
}

// Step size of step t before any parameter scaling.
static double t5p__opt_rho(const t5p_optim_config *c, long t, double sched) {
    if (c->kind != T5P_OPTIM_ADAFACTOR || !c->relative_step) return c->lr * sched;
    double inv = 1.0 / sqrt((double)t);
    if (c->adafactor_style == T5P_ADAFACTOR_HF) {
        double cap = c->warmup_init ? 1e-6 * (double)t : 1e-2;
        return cap < inv ? cap : inv;
    }
    double r = inv < 0.01 ? inv : 0.01;
    return r * (c->scale_parameter ? 1.0 : 0.05) * sched;
}

T5PDEF double t5p_optim_lr(const t5p_optim *o) {
    long t = o->step + 1;
    return t5p__opt_rho(&o->cfg, t, t5p_optim_schedule(&o->cfg, t));
}

// Sum of x[k]^2 in double, in fixed blocks (same result for any thread count).
static double t5p__opt_sumsq(const float *x, int64_t n, double *part) {
    int64_t nb = (n + T5P__OPT_BLOCK - 1) / T5P__OPT_BLOCK;
T5P__OMP(parallel for schedule(static) if (n > 65536))
    for (int64_t b = 0; b < nb; b++) {
        int64_t e = (b + 1) * T5P__OPT_BLOCK < n ? (b + 1) * T5P__OPT_BLOCK : n;
        double s = 0;
        for (int64_t i = b * T5P__OPT_BLOCK; i < e; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    return s;
}

static void t5p__adam_param(t5p_optim *o, int k, double lr, long t) {
    const t5p_optim_config *c = &o->cfg;
    const t5p_param *p = &o->p[k];
    t5p__opt_slot *s = &o->s[k];
    double bc1 = c->bias_correction ? 1.0 - pow(c->beta1, (double)t) : 1.0;
    double bc2 = c->bias_correction ? 1.0 - pow(c->beta2, (double)t) : 1.0;
    float decay = 1.0f, l2 = 0.0f;
    if (!p->is_norm && c->weight_decay != 0) {
        if (c->kind == T5P_OPTIM_ADAMW) decay = (float)(1.0 - lr * c->weight_decay);
        else l2 = (float)c->weight_decay;
    }
    float step_size, bc2_sqrt;
    if (c->eps_hat) {  // Keras 2.3 / transformers.AdamW: lr_t = lr sqrt(bc2)/bc1, eps added to sqrt(v)
        step_size = (float)(lr * sqrt(bc2) / bc1);
        bc2_sqrt = 1.0f;
    } else {  // torch: eps added to sqrt(v / bc2)
        step_size = (float)(lr / bc1);
        bc2_sqrt = (float)sqrt(bc2);
    }
    float b1 = (float)c->beta1, b2 = (float)c->beta2, a1 = (float)(1.0 - c->beta1), a2 = (float)(1.0 - c->beta2);
    float eps = (float)c->eps;
    float *w = p->w, *m = s->m, *v = s->v;
    const float *g = p->g;
    int64_t n = s->numel;
T5P__OMP(parallel for schedule(static) if (n > 32768))
    for (int64_t i = 0; i < n; i++) {
        float gi = l2 != 0.0f ? g[i] + l2 * w[i] : g[i];
        float mi = m[i] * b1 + a1 * gi;
        float vi = v[i] * b2 + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float wi = decay != 1.0f ? w[i] * decay : w[i];
        w[i] = wi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

// Adafactor's update u before clipping, for rows [r0, r1) of a factored matrix or elements of block b.
enum { T5P__AF_HF_FACTORED, T5P__AF_HF_FULL, T5P__AF_B4K_FACTORED, T5P__AF_B4K_FULL };

static void t5p__adafactor_param(t5p_optim *o, int k, double sched, long t) {
    const t5p_optim_config *c = &o->cfg;
    const t5p_param *p = &o->p[k];
    t5p__opt_slot *s = &o->s[k];
    int hf = c->adafactor_style == T5P_ADAFACTOR_HF;
    int64_t n = s->numel, rows = s->rows, cols = s->cols;
    float *w = p->w, *m = s->m, *v = s->v, *vr = s->vr, *vc = s->vc, *rf = o->rf, *cf = o->cf;
    const float *g = p->g;
    double *part = o->part;
    double beta2t = 1.0 - pow((double)t, c->decay_rate);
    float b2 = (float)beta2t, a2 = (float)(1.0 - beta2t), eps1 = (float)c->eps1;
    double rho = t5p__opt_rho(c, t, sched);
    double scale = 1.0;
    if (c->scale_parameter) {
        double rms = sqrt(t5p__opt_sumsq(w, n, part) / (double)n);
        scale = rms > c->eps2 ? rms : c->eps2;
    }

    // second moments
    int mode;
    float norm = 1.0f;
    if (s->factored) {
T5P__OMP(parallel for schedule(static) if (n > 32768))
        for (int64_t r = 0; r < rows; r++) {
            const float *gr = g + r * cols;
            double acc = 0;
            for (int64_t j = 0; j < cols; j++) acc += (double)(gr[j] * gr[j] + eps1);
            vr[r] = vr[r] * b2 + a2 * (float)(acc / (double)cols);
        }
        int64_t ncb = (cols + 255) / 256;
T5P__OMP(parallel for schedule(static) if (n > 32768))
        for (int64_t cb = 0; cb < ncb; cb++) {
            double acc[256] = {0};
            int64_t j0 = cb * 256, j1 = j0 + 256 < cols ? j0 + 256 : cols;
            for (int64_t r = 0; r < rows; r++) {
                const float *gr = g + r * cols;
                for (int64_t j = j0; j < j1; j++) acc[j - j0] += (double)(gr[j] * gr[j] + eps1);
            }
            for (int64_t j = j0; j < j1; j++) vc[j] = vc[j] * b2 + a2 * (float)(acc[j - j0] / (double)rows);
        }
        if (hf) {  // r_factor = rsqrt(vr / mean(vr)), c_factor = rsqrt(vc)
            double sr = 0;
            for (int64_t r = 0; r < rows; r++) sr += vr[r];
            float mean = (float)(sr / (double)rows);
            for (int64_t r = 0; r < rows; r++) rf[r] = 1.0f / sqrtf(vr[r] / mean);
            for (int64_t j = 0; j < cols; j++) cf[j] = 1.0f / sqrtf(vc[j]);
            mode = T5P__AF_HF_FACTORED;
        } else {  // v = vr vc / mean(the factor along the smaller axis)
            const float *f = s->large_cols ? vr : vc;
            int64_t nf = s->large_cols ? rows : cols;
            double sf = 0;
            for (int64_t q = 0; q < nf; q++) sf += f[q];
            norm = (float)(sf / (double)nf);
            mode = T5P__AF_B4K_FACTORED;
        }
    } else {
T5P__OMP(parallel for schedule(static) if (n > 32768))
        for (int64_t i = 0; i < n; i++) v[i] = v[i] * b2 + a2 * (g[i] * g[i] + eps1);
        mode = hf ? T5P__AF_HF_FULL : T5P__AF_B4K_FULL;
        rows = (n + T5P__OPT_BLOCK - 1) / T5P__OPT_BLOCK;  // from here on: blocks
        cols = T5P__OPT_BLOCK;
    }

    // u = g / sqrt(v); two passes (RMS of u, then the update) so no n-sized scratch is needed
#define T5P__AF_U(r, j, i)                                                                     \
    (mode == T5P__AF_HF_FACTORED  ? (rf[r] * cf[j]) * g[i]                                       \
     : mode == T5P__AF_HF_FULL    ? (1.0f / sqrtf(v[i])) * g[i]                                  \
     : mode == T5P__AF_B4K_FACTORED ? g[i] / sqrtf(vr[r] * vc[j] / norm + eps1)                  \
                                  : g[i] / sqrtf(v[i] + eps1))
T5P__OMP(parallel for schedule(static) if (n > 32768))
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * cols, i1 = i0 + cols < n ? i0 + cols : n;
        double acc = 0;
        for (int64_t i = i0; i < i1; i++) {
            float u = T5P__AF_U(r, i - i0, i);
            acc += (double)u * u;
        }
        part[r] = acc;
    }
    double ss = 0;
    for (int64_t r = 0; r < rows; r++) ss += part[r];
    double d = c->clip_threshold > 0 ? sqrt(ss / (double)n) / c->clip_threshold : 0.0;
    float denom = (float)(d > 1.0 ? d : 1.0);
    float b1 = (float)c->beta1, a1 = (float)(1.0 - c->beta1);
    int momentum = c->beta1 > 0;
    int decay = c->weight_decay != 0 && !p->is_norm;
    if (hf) {  // u/denom * lr_t; momentum on that; w -= wd lr_t w; w -= u
        float lr_t = (float)(scale * rho), wdl = (float)(-c->weight_decay * scale * rho);
T5P__OMP(parallel for schedule(static) if (n > 32768))
        for (int64_t r = 0; r < rows; r++) {
            int64_t i0 = r * cols, i1 = i0 + cols < n ? i0 + cols : n;
            for (int64_t i = i0; i < i1; i++) {
                float u = T5P__AF_U(r, i - i0, i) / denom * lr_t;
                if (momentum) u = m[i] = m[i] * b1 + a1 * u;
                float wi = w[i];
                if (decay) wi = wi + wi * wdl;
                w[i] = wi - u;
            }
        }
    } else {  // bert4keras: u/denom; momentum; u *= scale; w - lr u - lr wd w
        float sc = (float)scale, lr = (float)rho, wdl = (float)(rho * c->weight_decay);
T5P__OMP(parallel for schedule(static) if (n > 32768))
        for (int64_t r = 0; r < rows; r++) {
            int64_t i0 = r * cols, i1 = i0 + cols < n ? i0 + cols : n;
            for (int64_t i = i0; i < i1; i++) {
                float u = T5P__AF_U(r, i - i0, i) / denom;
                if (momentum) u = m[i] = m[i] * b1 + a1 * u;
                u = u * sc;
                float wi = w[i] - lr * u;
                if (decay) wi -= wdl * w[i];
                w[i] = wi;
            }
        }
    }
#undef T5P__AF_U
}

T5PDEF int t5p_optim_step(t5p_optim *o) {
    long t = ++o->step;
    double sched = t5p_optim_schedule(&o->cfg, t);
    for (int k = 0; k < o->n; k++) {
        if (o->cfg.kind == T5P_OPTIM_ADAFACTOR) t5p__adafactor_param(o, k, sched, t);
        else t5p__adam_param(o, k, o->cfg.lr * sched, t);
    }
    return 0;
}

// --- optimizer state files

// The state tensors of parameter k: up to 4 (name suffix, data, shape).
static int t5p__opt_tensors(const t5p_optim *o, int k, t5p_tensor *out, char names[4][16]) {
    const t5p__opt_slot *s = &o->s[k];
    const t5p_param *p = &o->p[k];
    int nt = 0;
    struct { const char *suffix; float *data; int full; int64_t len; } parts[4] = {
        {".m", s->m, 1, 0}, {".v", s->v, 1, 0}, {".v_row", s->vr, 0, s->rows}, {".v_col", s->vc, 0, s->cols}};
    for (int q = 0; q < 4; q++) {
        if (!parts[q].data) continue;
        t5p_tensor *t = &out[nt];
        memset(t, 0, sizeof *t);
        t->dtype = T5P_DT_F32;
        t->data = parts[q].data;
        if (parts[q].full) {
            t->ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++) t->shape[d] = p->shape[d];
        } else {
            t->ndim = 1;
            t->shape[0] = parts[q].len;
        }
        snprintf(names[nt], 16, "%s", parts[q].suffix);
        nt++;
    }
    return nt;
}

static char *t5p__strcat2(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = (char *)T5P_MALLOC(na + nb + 1);
    if (s) { memcpy(s, a, na); memcpy(s + na, b, nb + 1); }
    return s;
}

T5PDEF int t5p_optim_save(const t5p_optim *o, const char *path) {
    t5p_tensor *ts = (t5p_tensor *)T5P_MALLOC(sizeof *ts * (size_t)(4 * o->n + 1));
    if (!ts) return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    int nt = 0, rc = 0;
    for (int k = 0; k < o->n && rc == 0; k++) {
        char suf[4][16];
        int c = t5p__opt_tensors(o, k, ts + nt, suf);
        for (int q = 0; q < c; q++) {
            ts[nt + q].name = t5p__strcat2(o->p[k].name, suf[q]);
            if (!ts[nt + q].name) rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
        }
        nt += c;
    }
    if (rc == 0) {
        char step[32];
        snprintf(step, sizeof step, "%ld", o->step);
        const char *style = o->cfg.adafactor_style == T5P_ADAFACTOR_HF ? "hf" : "bert4keras";
        const char *meta[] = {"format", "t5p-optim", "version", "1", "optimizer", t5p_optim_name(o->cfg.kind), "step", step,
                              o->cfg.kind == T5P_OPTIM_ADAFACTOR ? "adafactor_style" : NULL, style, NULL};
        rc = t5p_safetensors_save(path, ts, nt, meta);
    }
    for (int k = 0; k < nt; k++) T5P_FREE((char *)ts[k].name);
    T5P_FREE(ts);
    return rc;
}

T5PDEF int t5p_optim_load(t5p_optim *o, const char *path) {
    t5p_safetensors *st = t5p_safetensors_open(path);
    if (!st) return T5P_ERR_FORMAT;
    int rc = 0;
    const char *fmt = t5p_safetensors_meta(st, "format"), *opt = t5p_safetensors_meta(st, "optimizer");
    const char *style = t5p_safetensors_meta(st, "adafactor_style"), *step = t5p_safetensors_meta(st, "step");
    const char *want_style = o->cfg.adafactor_style == T5P_ADAFACTOR_HF ? "hf" : "bert4keras";
    char *end = NULL;
    long steps = step ? strtol(step, &end, 10) : -1;
    if (!fmt || strcmp(fmt, "t5p-optim") != 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: not a t5p optimizer state (metadata \"format\" is not \"t5p-optim\")", path);
    else if (!opt || strcmp(opt, t5p_optim_name(o->cfg.kind)) != 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: optimizer state of '%s', but the optimizer is '%s'", path, opt ? opt : "?",
                      t5p_optim_name(o->cfg.kind));
    else if (o->cfg.kind == T5P_OPTIM_ADAFACTOR && (!style || strcmp(style, want_style) != 0))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: Adafactor state of style '%s', but the optimizer's style is '%s'", path,
                      style ? style : "?", want_style);
    else if (!step || !end || *end || steps < 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: metadata \"step\" is not a non-negative integer", path);
    // pass 1: every expected tensor present with dtype F32 and its shape, and nothing else
    struct t5p__opt_copy { char *name; void *dst; const t5p_tensor *src; } *cp = NULL;
    int ncp = 0;
    if (rc == 0) {
        cp = (struct t5p__opt_copy *)T5P_MALLOC(sizeof *cp * (size_t)(4 * o->n + 1));
        if (!cp) rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int k = 0; k < o->n && rc == 0; k++) {
        t5p_tensor ts[4];
        char suf[4][16];
        int c = t5p__opt_tensors(o, k, ts, suf);
        for (int q = 0; q < c && rc == 0; q++) {
            char *name = t5p__strcat2(o->p[k].name, suf[q]);
            if (!name) { rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); break; }
            cp[ncp].name = name;
            cp[ncp].dst = (void *)ts[q].data;
            const t5p_tensor *t = cp[ncp].src = t5p_safetensors_find(st, name);
            ncp++;
            int same = t && t->ndim == ts[q].ndim;
            for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == ts[q].shape[d];
            if (!t) rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
            else if (t->dtype != T5P_DT_F32)
                rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32", path, name, t5p_dtype_name(t->dtype));
            else if (!same) {
                char got[160], want[160];
                t5p__st_shape_str(got, sizeof got, t->ndim, t->shape);
                t5p__st_shape_str(want, sizeof want, ts[q].ndim, ts[q].shape);
                rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", path, name, got, want);
            }
        }
    }
    if (rc == 0 && st->n != ncp)  // names are unique on both sides, so some tensor is unexpected: name it
        for (int q = 0; q < st->n && rc == 0; q++) {
            int known = 0;
            for (int k = 0; k < ncp && !known; k++) known = strcmp(st->t[q].name, cp[k].name) == 0;
            if (!known) rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' is not part of this optimizer's state", path, st->t[q].name);
        }
    // pass 2: copy (nothing can fail any more, so on error the optimizer is untouched)
    for (int k = 0; k < ncp && rc == 0; k++) memcpy(cp[k].dst, cp[k].src->data, (size_t)t5p_tensor_nbytes(cp[k].src));
    if (rc == 0) o->step = steps;
    for (int k = 0; k < ncp; k++) T5P_FREE(cp[k].name);
    T5P_FREE(cp);
    t5p_safetensors_close(st);
    return rc;
}

#endif  // T5P_IMPLEMENTATION_DONE
#endif  // T5P_IMPLEMENTATION
