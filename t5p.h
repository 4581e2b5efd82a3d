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
     6. model       mT5 v1.1 network on the CPU: config, parameter layout and HF names, layer
                    forward/backward pairs, encoder-decoder forward, backward, loss (two flavours)

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
// 6. model: declarations
//
// The mT5 v1.1 encoder-decoder of T5 PEGASUS on the CPU. Names and shapes follow Hugging Face's
// MT5ForConditionalGeneration so checkpoints map one to one (t5p_param_tensors). Dimensions:
//   V vocab, D d_model, F d_ff, H heads, Dk d_kv, HK = H*Dk, NB buckets, Le/Ld encoder/decoder layers,
//   B batch, S source length, T target length, Td = T-1 decoder positions.
// Matrices are row-major; every Linear weight is stored [out, in] like torch.nn.Linear, so y = x W^T.
//
// The forward (t5p_model_forward), pre-norm blocks as in the original (ORIGINAL.md section 3):
//   x = dropout(shared[src]); per encoder layer  x += dropout(SelfAttn(RMSNorm(x)))
//                                                x += dropout(FFN(RMSNorm(x)))
//   enc = dropout(RMSNorm(x))
//   y = dropout(shared[tgt[:, :-1]]); per decoder layer  y += dropout(CausalSelfAttn(RMSNorm(y)))
//                                                        y += dropout(CrossAttn(RMSNorm(y), enc))
//                                                        y += dropout(FFN(RMSNorm(y)))
//   out = dropout(RMSNorm(y)) [* D^-0.5, pegasus];  logits = out lm_head^T
//   loss = mean cross-entropy of the labels tgt[:, 1:] that are not pad; accuracy the same way.
// Attention is softmax(q k^T + bias + mask) v with no 1/sqrt(Dk) scaling. The encoder's position-bias
// table (bidirectional buckets) and the decoder's (causal) are expanded once per forward and added in
// every layer of their stack; pegasus adds the decoder table to cross-attention too, bucket of
// max(i - j, 0). Encoder self- and cross-attention mask pad source keys; decoder self-attention masks
// the future only (as transformers does without a decoder mask: pad positions carry no loss).
// Dropout (cfg.dropout, training only) is where the original has it, in both flavours: after the
// embeddings, every sublayer and the final norms. transformers also drops attention probabilities and
// the gated FFN hidden; t5p does not. Dropout masks come from a counter-based hash of (seed, step,
// site, index), so a training step is bitwise the same for any thread count, as is everything else.
// Activations kept for the backward, in floats: about Le*Ne*(4D + 4HK + 3F + H*S) +
// Ld*Nd*(6D + 6HK + 3F + H*(Td+S)) + 2*Ld*Ne*HK + Nd*V, plus backward scratch of max(Ne,Nd)*(3D+4HK+3F).
//
//   t5p_config c;
//   t5p_config_preset(&c, "small");                 // then c.vocab_size = ..., c.flavor = T5P_HF_MT5, ...
//   t5p_model *m = t5p_model_new(&c);
//   t5p_params_init(&c, m->params, seed);            // or load tensors by name (t5p_param_tensors)
//   t5p_model_zero_grad(m);
//   t5p_model_forward(m, src, tgt, B, S, T, 1);      // m->loss, m->acc, m->ntokens
//   t5p_model_backward(m);                           // m->grads += d loss / d params (same layout)
//   ...optimizer step over m->params and m->grads...
//   t5p_model_free(m);

typedef enum {
    T5P_PEGASUS = 0,  // the original (bert4keras): erf GELU, cross-attention position bias, d_model**-0.5 logits
    T5P_HF_MT5 = 1,   // transformers' MT5ForConditionalGeneration: tanh GELU ("gelu_new"), none of the above
} t5p_flavor;

typedef struct {
    int vocab_size;          // V                              (HF: vocab_size)
    int d_model;             // D                              (d_model)
    int d_ff;                // F                              (d_ff)
    int num_heads;           // H                              (num_heads)
    int d_kv;                // Dk, per-head width             (d_kv)
    int num_layers;          // Le, encoder layers             (num_layers)
    int num_decoder_layers;  // Ld                             (num_decoder_layers)
    int num_buckets;         // NB, relative position buckets  (relative_attention_num_buckets)
    int max_distance;        // relative_attention_max_distance
    float eps;               // RMSNorm epsilon                (layer_norm_epsilon)
    float dropout;           // dropout rate in training       (dropout_rate)
    int flavor;              // t5p_flavor                     (t5p_flavor)
    int pad_id;              // padding id of sources and targets (0)
} t5p_config;

// Fills *c with a preset: "base" (275.03 M parameters), "small" (95.26 M) or "tiny" (tests, demo);
// vocabulary 50000 (tiny: 1000), flavour pegasus. Returns 0 or T5P_ERR_ARG.
T5PDEF int t5p_config_preset(t5p_config *c, const char *name);
T5PDEF int t5p_config_check(const t5p_config *c);        // 0 or T5P_ERR_ARG naming the bad field
T5PDEF const char *t5p_flavor_name(int flavor);          // "pegasus" / "hf-mt5"
T5PDEF int t5p_flavor_parse(const char *name);           // flavour or T5P_ERR_ARG
T5PDEF size_t t5p_num_params(const t5p_config *c);       // floats in the parameter buffer

// Parameter layout: one float buffer, these pointers into it, in this order. Per-layer tensors hold all
// layers back to back (layer l of enc_q is enc_q + l*HK*D). Gradients use the same layout.
typedef struct {
    float *shared;                   // (V, D)        shared.weight: encoder and decoder input embedding
    float *enc_ln0;                  // (Le, D)       encoder.block.l.layer.0.layer_norm.weight
    float *enc_q, *enc_k, *enc_v;    // (Le, HK, D)   encoder.block.l.layer.0.SelfAttention.{q,k,v}.weight
    float *enc_o;                    // (Le, D, HK)   encoder.block.l.layer.0.SelfAttention.o.weight
    float *enc_ln1;                  // (Le, D)       encoder.block.l.layer.1.layer_norm.weight
    float *enc_wi0, *enc_wi1;        // (Le, F, D)    encoder.block.l.layer.1.DenseReluDense.wi_{0,1}.weight
    float *enc_wo;                   // (Le, D, F)    encoder.block.l.layer.1.DenseReluDense.wo.weight
    float *enc_bias;                 // (NB, H)       encoder.block.0.layer.0.SelfAttention.relative_attention_bias
    float *enc_norm;                 // (D)           encoder.final_layer_norm.weight
    float *dec_ln0;                  // (Ld, D)       decoder.block.l.layer.0.layer_norm.weight
    float *dec_q, *dec_k, *dec_v;    // (Ld, HK, D)   decoder.block.l.layer.0.SelfAttention.{q,k,v}.weight
    float *dec_o;                    // (Ld, D, HK)
    float *dec_ln1;                  // (Ld, D)       decoder.block.l.layer.1.layer_norm.weight
    float *dec_cq, *dec_ck, *dec_cv; // (Ld, HK, D)   decoder.block.l.layer.1.EncDecAttention.{q,k,v}.weight
    float *dec_co;                   // (Ld, D, HK)
    float *dec_ln2;                  // (Ld, D)       decoder.block.l.layer.2.layer_norm.weight
    float *dec_wi0, *dec_wi1;        // (Ld, F, D)    decoder.block.l.layer.2.DenseReluDense.wi_{0,1}.weight
    float *dec_wo;                   // (Ld, D, F)
    float *dec_bias;                 // (NB, H)       decoder.block.0.layer.0.SelfAttention.relative_attention_bias
    float *dec_norm;                 // (D)           decoder.final_layer_norm.weight
    float *lm_head;                  // (V, D)        lm_head.weight (untied)
} t5p_params;

// Points *p into buf (t5p_num_params floats) and returns that count.
T5PDEF size_t t5p_params_layout(const t5p_config *c, float *buf, t5p_params *p);

// The name table: one entry per Hugging Face tensor, in the order of MT5ForConditionalGeneration's
// named_parameters() (block by block); offsets point into the layout above.
typedef struct {
    char name[96];     // "encoder.block.3.layer.1.DenseReluDense.wi_0.weight"
    int ndim;          // 1 or 2
    int64_t shape[2];  // [out, in] for Linear weights, [NB, H] for the position tables
    size_t offset;     // in floats from the start of the buffer
    float *data;       // buf + offset
    int is_norm;       // RMSNorm weight (no weight decay in the original's AdamW)
} t5p_tensor;
// Fills out[0..n) (out may be NULL to count; buf may be NULL, leaving data NULL) and returns
// n = 9*Le + 14*Ld + 6.
T5PDEF int t5p_param_tensors(const t5p_config *c, float *buf, t5p_tensor *out);

// Hugging Face's initialisation (T5PreTrainedModel._init_weights, factor 1): embeddings and LM head
// N(0,1); q N(0,(D*Dk)^-1/2); k, v, wi_0, wi_1, position tables N(0,D^-1/2); o N(0,HK^-1/2);
// wo N(0,F^-1/2); norms 1. Deterministic in seed, whatever the thread count.
T5PDEF void t5p_params_init(const t5p_config *c, float *buf, uint64_t seed);

// Layer pairs. Row-major; N rows. Comments say whether outputs are overwritten (=) or accumulated (+=);
// parameter gradients always accumulate. In-place means the output may alias the named input.

// out (N,D) = table[ids]
T5PDEF void t5p_embedding_forward(float *out, const int *ids, const float *table, int N, int D);
// dtable (V,D) += scatter of dout rows by ids
T5PDEF void t5p_embedding_backward(float *dtable, const float *dout, const int *ids, int N, int D);

// out (N,D) = in * rstd * g, rstd (N) = 1/sqrt(mean(in^2) + eps)
T5PDEF void t5p_rmsnorm_forward(float *out, float *rstd, const float *in, const float *g, int N, int D, float eps);
// din (N,D) += ..., dg (D) += ...
T5PDEF void t5p_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in, const float *rstd,
                                 const float *g, int N, int D);

// y (N,O) = x (N,I) W^T, W (O,I)
T5PDEF void t5p_linear_forward(float *y, const float *x, const float *w, int N, int I, int O);
// dx (N,I) += dy W (skipped when dx is NULL); dw (O,I) += dy^T x
T5PDEF void t5p_linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int N,
                                int I, int O);

// T5's bucket of a relative position rel = key - query (ORIGINAL.md section 3; float32 like
// transformers and bert4keras). Bidirectional: half the buckets per side; causal: max(query-key, 0).
T5PDEF int t5p_relative_bucket(int rel, int bidirectional, int num_buckets, int max_distance);
// bias (H,Tq,Tk) = table[bucket(j - i), h] for query i, key j; table (NB,H)
T5PDEF void t5p_position_bias_forward(float *bias, const float *table, int H, int Tq, int Tk, int bidirectional,
                                      int num_buckets, int max_distance);
// dtable (NB,H) += sums of dbias (H,Tq,Tk) per bucket
T5PDEF void t5p_position_bias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk, int bidirectional,
                                       int num_buckets, int max_distance);

// Attention core, no 1/sqrt(Dk) scaling (T5): q (B,Tq,HK), k and v (B,Tk,HK), head h in columns
// [h*Dk, (h+1)*Dk). scores = q k^T + bias (H,Tq,Tk; NULL for none); key j of row i is masked when
// kmask (B,Tk; NULL for none) is 0 or, when causal, j > i. Masked keys get probability exactly 0: what
// both HF's additive finfo.min and the original's "- 1e12" give in float32, since exp underflows;
// a row whose keys are all masked is uniform over all Tk keys, as it is in both (the huge negative
// number absorbs the scores). att (B,H,Tq,Tk) = softmax, ctx (B,Tq,HK) = att v.
T5PDEF void t5p_attention_forward(float *ctx, float *att, const float *q, const float *k, const float *v,
                                  const float *bias, const uint8_t *kmask, int causal, int B, int Tq, int Tk,
                                  int H, int Dk);
// dq, dk, dv (=), dbias (H,Tq,Tk) += (when not NULL). att is overwritten with the score gradient.
T5PDEF void t5p_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dctx, float *att,
                                   const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
                                   int Dk);

// Gated GELU: g (N) = gelu(u0) * u1; erf GELU (pegasus) or the tanh form (hf-mt5, "gelu_new")
T5PDEF void t5p_gelu_gate_forward(float *g, const float *u0, const float *u1, size_t n, int tanh_form);
// du0, du1 (=)
T5PDEF void t5p_gelu_gate_backward(float *du0, float *du1, const float *dg, const float *u0, const float *u1,
                                   size_t n, int tanh_form);

// Dropout: out = in * keep / (1 - p) * scale, keep drawn from a counter-based hash of (key, index):
// deterministic whatever the thread count. p = 0 is the identity times scale. In-place allowed.
T5PDEF void t5p_dropout_forward(float *out, const float *in, size_t n, float p, uint64_t key, float scale);
// din (=) dout * keep / (1 - p) * scale; in-place allowed
T5PDEF void t5p_dropout_backward(float *din, const float *dout, size_t n, float p, uint64_t key, float scale);

// Softmax cross-entropy with accuracy over rows whose label is >= 0 (others ignored). logits (N,V);
// lse (N) = log-sum-exp per row (saved for backward). Returns the summed loss; *correct counts rows whose
// first maximal logit is the label.
T5PDEF double t5p_xent_forward(float *lse, const float *logits, const int *labels, int N, int V, int *correct);
// dlogits (N,V) (=) (softmax - onehot) * scale on labelled rows, 0 on ignored ones; in-place allowed.
T5PDEF void t5p_xent_backward(float *dlogits, const float *logits, const float *lse, const int *labels, int N, int V,
                              float scale);

// The whole network. t5p_model_new allocates parameters (zeroed: load or t5p_params_init them);
// gradients are allocated by the first backward (or t5p_model_zero_grad); activations grow to the
// largest batch seen. t5p_model_free accepts NULL.
// Activations kept by the forward for the backward. Ne = B*S encoder rows, Nd = B*Td decoder rows;
// per-layer arrays hold all layers back to back. Attention probabilities are (B,H,Tq,Tk).
typedef struct {
    float *enc_pb;                          // (H, S, S)   encoder position bias, shared by all layers
    float *dec_pb;                          // (H, Td, Td) decoder position bias
    float *cross_pb;                        // (H, Td, S)  pegasus cross-attention bias (NULL for hf-mt5)
    float *enc_x;                           // (Le+1, Ne, D) residual stream: [0] dropout(embedding), [l+1] layer l
    float *enc_rstd0, *enc_rstd1;           // (Le, Ne)
    float *enc_h0, *enc_h1;                 // (Le, Ne, D)  normed sublayer inputs
    float *enc_q, *enc_k, *enc_v, *enc_ctx; // (Le, Ne, HK)
    float *enc_att;                         // (Le, B, H, S, S)
    float *enc_x1;                          // (Le, Ne, D)  after the attention sublayer
    float *enc_u0, *enc_u1, *enc_g;         // (Le, Ne, F)  wi_0 x, wi_1 x, gelu(wi_0 x) * wi_1 x
    float *enc_rstdf;                       // (Ne)
    float *enc_out;                         // (Ne, D)  dropout(final norm): what the decoder attends to
    float *dec_x;                           // (Ld+1, Nd, D)
    float *dec_rstd0, *dec_rstd1, *dec_rstd2; // (Ld, Nd)
    float *dec_h0, *dec_h1, *dec_h2;        // (Ld, Nd, D)
    float *dec_q, *dec_k, *dec_v, *dec_ctx; // (Ld, Nd, HK)
    float *dec_att;                         // (Ld, B, H, Td, Td)
    float *dec_x1, *dec_x2;                 // (Ld, Nd, D)  after self- and cross-attention
    float *dec_cq, *dec_cctx;               // (Ld, Nd, HK)
    float *dec_ck, *dec_cv;                 // (Ld, Ne, HK)
    float *dec_catt;                        // (Ld, B, H, Td, S)
    float *dec_u0, *dec_u1, *dec_g;         // (Ld, Nd, F)
    float *dec_rstdf;                       // (Nd)
    float *dec_out;                         // (Nd, D)  dropout(final norm) [* D^-0.5 for pegasus]
    float *logits;                          // (Nd, V)  the backward overwrites them with their gradient
    float *lse;                             // (Nd)     log-sum-exp per row
    int *src, *dec_in, *labels;             // (Ne), (Nd), (Nd): labels -1 where ignored
    uint8_t *src_mask;                      // (Ne)     1 for a real source token
} t5p_acts;

// Backward scratch; N = max(Ne, Nd) rows.
typedef struct {
    float *dres;                            // (N, D)  gradient of the residual stream
    float *dh;                              // (N, D)  gradient of a normed sublayer input
    float *dsub;                            // (N, D)  gradient of a sublayer output
    float *dq, *dk, *dv, *dctx;             // (N, HK)
    float *du0, *du1, *dg;                  // (N, F)
    float *denc;                            // (Ne, D) gradient of enc_out, summed over decoder layers
    float *denc_pb, *ddec_pb, *dcross_pb;   // like the biases, summed over layers and batch
} t5p_acts_grad;

typedef struct t5p_model t5p_model;
struct t5p_model {
    t5p_config cfg;
    size_t num_params;
    float *params;  // num_params floats
    float *grads;   // same layout; NULL until needed
    t5p_params w, g;
    uint64_t seed;  // dropout: keep masks are a function of (seed, step, site, index)
    uint64_t step;  // advanced by each training forward
    // results of the last forward
    float loss;     // mean cross-entropy per non-pad label
    float acc;      // fraction of non-pad labels predicted by the first maximal logit
    int ntokens;    // non-pad labels
    // activations of the last forward
    int B, S, T, training, has_acts;
    float *acts;     // one buffer for t5p_acts (floats) and its int/byte arrays
    size_t acts_cap; // in bytes
    t5p_acts a;
    t5p_acts_grad da;
};
T5PDEF t5p_model *t5p_model_new(const t5p_config *c);
T5PDEF void t5p_model_free(t5p_model *m);
T5PDEF int t5p_model_zero_grad(t5p_model *m);  // allocates gradients when needed; 0 or T5P_ERR_NOMEM
// src (B,S) and tgt (B,T) ids, pad_id where padded (T >= 2). Decoder input tgt[:, :-1], labels
// tgt[:, 1:] (pad labels ignored; ORIGINAL.md section 4). training != 0: dropout on, m->step += 1.
// Sets m->loss, m->acc, m->ntokens; keeps what backward needs. Returns 0 or a negative error.
T5PDEF int t5p_model_forward(t5p_model *m, const int *src, const int *tgt, int B, int S, int T, int training);
// grads += d(loss)/d(params) for the last forward (once per forward: it consumes activations).
T5PDEF int t5p_model_backward(t5p_model *m);
// The logits (B, T-1, V) of the last forward (valid until the next backward or forward).
T5PDEF const float *t5p_model_logits(const t5p_model *m);

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
// 6. model

// T5P__PRAGMA("omp ...") is an OpenMP pragma when OpenMP is on and nothing otherwise (no
// unknown-pragma warnings without -fopenmp).
#ifndef T5P__PRAGMA
#ifdef _OPENMP
#define T5P__PRAGMA(s) _Pragma(s)
#else
#define T5P__PRAGMA(s)
#endif
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define T5P__UNROLL(s) _Pragma(s)
#else
#define T5P__UNROLL(s)
#endif

// Work smaller than this runs on one thread: a parallel region costs microseconds on an idle machine
// and far more on a busy one, where every barrier waits for a descheduled thread. Overridable (the
// thread tests set 1 to run every parallel path on small shapes).
#ifndef T5P_PAR_MIN
#define T5P_PAR_MIN 131072  // elements of an elementwise loop (~0.1 ms)
#endif
#ifndef T5P_GEMM_PAR_MIN
#define T5P_GEMM_PAR_MIN 2097152.0  // multiply-adds of a matrix product (~0.1 ms)
#endif

static inline int t5p__imin(int a, int b) { return a < b ? a : b; }
static inline int t5p__cdiv(int a, int b) { return (a + b - 1) / b; }

// --- configuration

T5PDEF int t5p_config_preset(t5p_config *c, const char *name) {
    t5p_config base = {.vocab_size = 50000, .d_model = 768, .d_ff = 2048, .num_heads = 12, .d_kv = 64,
                       .num_layers = 12, .num_decoder_layers = 12, .num_buckets = 32, .max_distance = 128,
                       .eps = 1e-6f, .dropout = 0.1f, .flavor = T5P_PEGASUS, .pad_id = 0};
    if (!name || !strcmp(name, "base")) {
        *c = base;
    } else if (!strcmp(name, "small")) {
        *c = base;
        c->d_model = 512, c->d_ff = 1024, c->num_heads = 6, c->num_layers = c->num_decoder_layers = 8;
    } else if (!strcmp(name, "tiny")) {
        *c = base;
        c->vocab_size = 1000, c->d_model = 64, c->d_ff = 128, c->num_heads = 4, c->d_kv = 16;
        c->num_layers = c->num_decoder_layers = 2;
    } else {
        return t5p__err(T5P_ERR_ARG, "unknown model preset '%s' (base, small, tiny)", name);
    }
    return 0;
}

T5PDEF int t5p_config_check(const t5p_config *c) {
    const struct { const char *name; int v; } dims[] = {
        {"vocab_size", c->vocab_size}, {"d_model", c->d_model}, {"d_ff", c->d_ff}, {"num_heads", c->num_heads},
        {"d_kv", c->d_kv}, {"num_layers", c->num_layers}, {"num_decoder_layers", c->num_decoder_layers}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v <= 0) return t5p__err(T5P_ERR_ARG, "config: %s = %d must be positive", dims[i].name, dims[i].v);
    if (c->num_buckets < 4)
        return t5p__err(T5P_ERR_ARG, "config: relative_attention_num_buckets = %d must be >= 4", c->num_buckets);
    if (c->max_distance <= c->num_buckets / 2)
        return t5p__err(T5P_ERR_ARG, "config: relative_attention_max_distance = %d must exceed num_buckets/2 = %d",
                        c->max_distance, c->num_buckets / 2);
    if (!(c->eps > 0)) return t5p__err(T5P_ERR_ARG, "config: layer_norm_epsilon must be positive");
    if (!(c->dropout >= 0 && c->dropout < 1)) return t5p__err(T5P_ERR_ARG, "config: dropout_rate must be in [0, 1)");
    if (c->flavor != T5P_PEGASUS && c->flavor != T5P_HF_MT5)
        return t5p__err(T5P_ERR_ARG, "config: unknown flavour %d", c->flavor);
    if (c->pad_id < 0 || c->pad_id >= c->vocab_size)
        return t5p__err(T5P_ERR_ARG, "config: pad id %d outside the vocabulary", c->pad_id);
    if ((double)c->vocab_size * c->d_model > 2e9 || (double)c->num_heads * c->d_kv * c->d_model > 2e9 ||
        (double)c->d_ff * c->d_model > 2e9)
        return t5p__err(T5P_ERR_ARG, "config: a weight matrix has more than 2e9 elements");
    return 0;
}

T5PDEF const char *t5p_flavor_name(int flavor) { return flavor == T5P_HF_MT5 ? "hf-mt5" : "pegasus"; }

T5PDEF int t5p_flavor_parse(const char *name) {
    if (!strcmp(name, "pegasus")) return T5P_PEGASUS;
    if (!strcmp(name, "hf-mt5")) return T5P_HF_MT5;
    return t5p__err(T5P_ERR_ARG, "unknown flavour '%s' (pegasus, hf-mt5)", name);
}

// --- parameter layout: X(field, number of floats) in buffer order

#define T5P__PARAM_FIELDS(X)                                                                                \
    X(shared, V * D) X(enc_ln0, Le * D) X(enc_q, Le * HK * D) X(enc_k, Le * HK * D) X(enc_v, Le * HK * D)   \
    X(enc_o, Le * D * HK) X(enc_ln1, Le * D) X(enc_wi0, Le * F * D) X(enc_wi1, Le * F * D)                  \
    X(enc_wo, Le * D * F) X(enc_bias, NB * H) X(enc_norm, D) X(dec_ln0, Ld * D) X(dec_q, Ld * HK * D)       \
    X(dec_k, Ld * HK * D) X(dec_v, Ld * HK * D) X(dec_o, Ld * D * HK) X(dec_ln1, Ld * D)                    \
    X(dec_cq, Ld * HK * D) X(dec_ck, Ld * HK * D) X(dec_cv, Ld * HK * D) X(dec_co, Ld * D * HK)             \
    X(dec_ln2, Ld * D) X(dec_wi0, Ld * F * D) X(dec_wi1, Ld * F * D) X(dec_wo, Ld * D * F)                  \
    X(dec_bias, NB * H) X(dec_norm, D) X(lm_head, V * D)

typedef struct {
#define T5P__X(f, n) size_t f;
    T5P__PARAM_FIELDS(T5P__X)
#undef T5P__X
} t5p__param_offsets;

static size_t t5p__param_offsets_of(const t5p_config *c, t5p__param_offsets *o) {
    const size_t V = (size_t)c->vocab_size, D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->num_heads;
    const size_t HK = H * (size_t)c->d_kv, NB = (size_t)c->num_buckets;
    const size_t Le = (size_t)c->num_layers, Ld = (size_t)c->num_decoder_layers;
    size_t off = 0;
#define T5P__X(f, n) o->f = off, off += (n);
    T5P__PARAM_FIELDS(T5P__X)
#undef T5P__X
    return off;
}

T5PDEF size_t t5p_num_params(const t5p_config *c) {
    t5p__param_offsets o;
    return t5p__param_offsets_of(c, &o);
}

T5PDEF size_t t5p_params_layout(const t5p_config *c, float *buf, t5p_params *p) {
    t5p__param_offsets o;
    size_t n = t5p__param_offsets_of(c, &o);
#define T5P__X(f, nn) p->f = buf ? buf + o.f : NULL;
    T5P__PARAM_FIELDS(T5P__X)
#undef T5P__X
    return n;
}

// Initialisation scale of each tensor kind (see t5p_params_init).
enum { T5P__INIT_ONE, T5P__INIT_EMBED, T5P__INIT_Q, T5P__INIT_D, T5P__INIT_HK, T5P__INIT_F };

static int t5p__tensor_add(t5p_tensor *out, int n, float *buf, size_t off, int ndim, int64_t s0, int64_t s1,
                           int is_norm, const char *fmt, int layer, const char *part) {
    if (out) {
        t5p_tensor *t = &out[n];
        snprintf(t->name, sizeof t->name, fmt, layer, part);
        t->ndim = ndim;
        t->shape[0] = s0;
        t->shape[1] = ndim > 1 ? s1 : 1;
        t->offset = off;
        t->data = buf ? buf + off : NULL;
        t->is_norm = is_norm;
    }
    return n + 1;
}

// Fills the table and, when kinds is not NULL, each tensor's initialisation kind.
static int t5p__tensors(const t5p_config *c, float *buf, t5p_tensor *out, int *kinds) {
    t5p__param_offsets o;
    t5p__param_offsets_of(c, &o);
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, HK = (size_t)c->num_heads * (size_t)c->d_kv;
    const size_t NB = (size_t)c->num_buckets, H = (size_t)c->num_heads;
    int n = 0;
#define T5P__T(off, nd, s0, s1, norm, kind, fmt, l, part)                                        \
    do {                                                                                           \
        if (kinds) kinds[n] = kind;                                                                \
        n = t5p__tensor_add(out, n, buf, off, nd, (int64_t)(s0), (int64_t)(s1), norm, fmt, l, part); \
    } while (0)
    T5P__T(o.shared, 2, c->vocab_size, D, 0, T5P__INIT_EMBED, "shared.weight%.0d%s", 0, "");
    const char *qkv[3] = {"q", "k", "v"};
    for (int l = 0; l < c->num_layers; l++) {
        const char *att = "encoder.block.%d.layer.0.SelfAttention.%s.weight";
        size_t offs[3] = {o.enc_q, o.enc_k, o.enc_v};
        for (int i = 0; i < 3; i++)
            T5P__T(offs[i] + l * HK * D, 2, HK, D, 0, i ? T5P__INIT_D : T5P__INIT_Q, att, l, qkv[i]);
        T5P__T(o.enc_o + l * D * HK, 2, D, HK, 0, T5P__INIT_HK, att, l, "o");
        if (l == 0)
            T5P__T(o.enc_bias, 2, NB, H, 0, T5P__INIT_D, "encoder.block.%d.layer.0.SelfAttention.%s.weight", 0,
                   "relative_attention_bias");
        T5P__T(o.enc_ln0 + l * D, 1, D, 1, 1, T5P__INIT_ONE, "encoder.block.%d.layer.0.%s.weight", l, "layer_norm");
        const char *ff = "encoder.block.%d.layer.1.DenseReluDense.%s.weight";
        T5P__T(o.enc_wi0 + l * F * D, 2, F, D, 0, T5P__INIT_D, ff, l, "wi_0");
        T5P__T(o.enc_wi1 + l * F * D, 2, F, D, 0, T5P__INIT_D, ff, l, "wi_1");
        T5P__T(o.enc_wo + l * D * F, 2, D, F, 0, T5P__INIT_F, ff, l, "wo");
        T5P__T(o.enc_ln1 + l * D, 1, D, 1, 1, T5P__INIT_ONE, "encoder.block.%d.layer.1.%s.weight", l, "layer_norm");
    }
    T5P__T(o.enc_norm, 1, D, 1, 1, T5P__INIT_ONE, "encoder.final_layer_norm.weight%.0d%s", 0, "");
    for (int l = 0; l < c->num_decoder_layers; l++) {
        const char *att = "decoder.block.%d.layer.0.SelfAttention.%s.weight";
        size_t offs[3] = {o.dec_q, o.dec_k, o.dec_v};
        for (int i = 0; i < 3; i++)
            T5P__T(offs[i] + l * HK * D, 2, HK, D, 0, i ? T5P__INIT_D : T5P__INIT_Q, att, l, qkv[i]);
        T5P__T(o.dec_o + l * D * HK, 2, D, HK, 0, T5P__INIT_HK, att, l, "o");
        if (l == 0)
            T5P__T(o.dec_bias, 2, NB, H, 0, T5P__INIT_D, "decoder.block.%d.layer.0.SelfAttention.%s.weight", 0,
                   "relative_attention_bias");
        T5P__T(o.dec_ln0 + l * D, 1, D, 1, 1, T5P__INIT_ONE, "decoder.block.%d.layer.0.%s.weight", l, "layer_norm");
        const char *cross = "decoder.block.%d.layer.1.EncDecAttention.%s.weight";
        size_t coffs[3] = {o.dec_cq, o.dec_ck, o.dec_cv};
        for (int i = 0; i < 3; i++)
            T5P__T(coffs[i] + l * HK * D, 2, HK, D, 0, i ? T5P__INIT_D : T5P__INIT_Q, cross, l, qkv[i]);
        T5P__T(o.dec_co + l * D * HK, 2, D, HK, 0, T5P__INIT_HK, cross, l, "o");
        T5P__T(o.dec_ln1 + l * D, 1, D, 1, 1, T5P__INIT_ONE, "decoder.block.%d.layer.1.%s.weight", l, "layer_norm");
        const char *ff = "decoder.block.%d.layer.2.DenseReluDense.%s.weight";
        T5P__T(o.dec_wi0 + l * F * D, 2, F, D, 0, T5P__INIT_D, ff, l, "wi_0");
        T5P__T(o.dec_wi1 + l * F * D, 2, F, D, 0, T5P__INIT_D, ff, l, "wi_1");
        T5P__T(o.dec_wo + l * D * F, 2, D, F, 0, T5P__INIT_F, ff, l, "wo");
        T5P__T(o.dec_ln2 + l * D, 1, D, 1, 1, T5P__INIT_ONE, "decoder.block.%d.layer.2.%s.weight", l, "layer_norm");
    }
    T5P__T(o.dec_norm, 1, D, 1, 1, T5P__INIT_ONE, "decoder.final_layer_norm.weight%.0d%s", 0, "");
    T5P__T(o.lm_head, 2, c->vocab_size, D, 0, T5P__INIT_EMBED, "lm_head.weight%.0d%s", 0, "");
#undef T5P__T
    return n;
}

T5PDEF int t5p_param_tensors(const t5p_config *c, float *buf, t5p_tensor *out) {
    return t5p__tensors(c, buf, out, NULL);
}

// --- counter-based random numbers (results never depend on the thread count)

static inline uint64_t t5p__mix64(uint64_t x) {  // splitmix64's finaliser
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
static inline uint32_t t5p__hash32(uint32_t x) {  // "lowbias32" (C. Wellons): vectorises with 32-bit multiplies
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

T5PDEF void t5p_params_init(const t5p_config *c, float *buf, uint64_t seed) {
    int n = t5p__tensors(c, buf, NULL, NULL);
    t5p_tensor *ts = (t5p_tensor *)T5P_MALLOC((size_t)n * sizeof *ts);
    int *kinds = (int *)T5P_MALLOC((size_t)n * sizeof *kinds);
    T5P_ASSERT(ts && kinds);
    t5p__tensors(c, buf, ts, kinds);
    const double D = c->d_model, F = c->d_ff, Dk = c->d_kv, HK = (double)c->num_heads * c->d_kv;
    for (int t = 0; t < n; t++) {
        double sd = kinds[t] == T5P__INIT_EMBED ? 1.0
                    : kinds[t] == T5P__INIT_Q   ? 1.0 / sqrt(D * Dk)
                    : kinds[t] == T5P__INIT_D   ? 1.0 / sqrt(D)
                    : kinds[t] == T5P__INIT_HK  ? 1.0 / sqrt(HK)
                    : kinds[t] == T5P__INIT_F   ? 1.0 / sqrt(F)
                                                : 0.0;
        float *x = ts[t].data;
        long count = (long)(ts[t].shape[0] * ts[t].shape[1]);
        if (kinds[t] == T5P__INIT_ONE) {
            for (long i = 0; i < count; i++) x[i] = 1.0f;
            continue;
        }
        uint64_t key = t5p__mix64(seed ^ t5p__mix64((uint64_t)t + 1));
        T5P__PRAGMA("omp parallel for schedule(static) if(count >= T5P_PAR_MIN)")
        for (long i = 0; i < count; i++) {  // Box-Muller on two 32-bit uniforms in (0, 1]
            uint64_t r = t5p__mix64(key + (uint64_t)i);
            double u1 = ((double)(r >> 32) + 1.0) / 4294967296.0, u2 = (double)(uint32_t)r / 4294967296.0;
            x[i] = (float)(sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
    }
    T5P_FREE(ts);
    T5P_FREE(kinds);
}

// --- matrix product
//
// C (M,N; row stride ldc) (= or +=) op(A) op(B), op(A) (M,K), op(B) (K,N); ta: A is stored (K,M),
// tb: B is stored (N,K). This covers y = x W^T (linear forward, tb), dx = dy W (nn) and dW = dy^T x (ta),
// and the per-head attention products. BLIS's scheme in plain C: op(B) is packed into KC x NR strips,
// op(A) into MC x KC blocks of MR-row strips, both zero-padded, and a MR x NR micro-kernel keeps its
// tile of C in registers (6 x 16 floats = 12 AVX2 registers), loading one strip element of A
// (broadcast) and one row of 16 of B per step: the compiler vectorises the inner j loop. A strip of B
// (KC x NR, 16 KB) stays in L1 while the kernel walks down the A block in L2; the B panel sits in L3.
// Threads split the M blocks (and the N strips when M is short) and never share a C element, so every
// element is summed in the same order whatever the thread count: results are bitwise independent of
// threads. Each task runs through all of K itself, so threads synchronise twice per B panel, not per
// K block: on a busy machine every barrier waits for the slowest thread.

#define T5P__MR 6
#define T5P__NR 16
#define T5P__KC 256
#define T5P__MC 96    // multiple of MR
#define T5P__PANEL (4u << 20)  // floats of packed op(B) at a time (16 MB, in L3 or close)

static void t5p__gemm_micro(int kc, const float *restrict a, const float *restrict b, float *restrict c, int ldc,
                            int m, int n, int acc) {
    float t[T5P__MR][T5P__NR];
    memset(t, 0, sizeof t);
    for (int p = 0; p < kc; p++, a += T5P__MR, b += T5P__NR) {
        T5P__UNROLL("GCC unroll 6")
        for (int i = 0; i < T5P__MR; i++) {
            const float ai = a[i];
            T5P__PRAGMA("omp simd")
            for (int j = 0; j < T5P__NR; j++) t[i][j] += ai * b[j];
        }
    }
    if (m == T5P__MR && n == T5P__NR) {
        for (int i = 0; i < T5P__MR; i++) {
            float *ci = c + (size_t)i * ldc;
            if (acc) {
                T5P__PRAGMA("omp simd")
                for (int j = 0; j < T5P__NR; j++) ci[j] += t[i][j];
            } else {
                T5P__PRAGMA("omp simd")
                for (int j = 0; j < T5P__NR; j++) ci[j] = t[i][j];
            }
        }
    } else {
        for (int i = 0; i < m; i++) {
            float *ci = c + (size_t)i * ldc;
            for (int j = 0; j < n; j++) ci[j] = acc ? ci[j] + t[i][j] : t[i][j];
        }
    }
}

// op(A)[i0:i0+mc, p0:p0+kc] -> MR-row strips: ap[ir*kc + p*MR + i]
static void t5p__pack_a(float *restrict ap, const float *A, int lda, int ta, int i0, int mc, int p0, int kc) {
    for (int ir = 0; ir < mc; ir += T5P__MR) {
        int m = t5p__imin(T5P__MR, mc - ir);
        float *dst = ap + (size_t)ir * kc;
        if (!ta) {
            for (int i = 0; i < m; i++) {
                const float *src = A + (size_t)(i0 + ir + i) * lda + p0;
                for (int p = 0; p < kc; p++) dst[p * T5P__MR + i] = src[p];
            }
            for (int i = m; i < T5P__MR; i++)
                for (int p = 0; p < kc; p++) dst[p * T5P__MR + i] = 0.0f;
        } else {
            for (int p = 0; p < kc; p++) {
                const float *src = A + (size_t)(p0 + p) * lda + i0 + ir;
                for (int i = 0; i < T5P__MR; i++) dst[p * T5P__MR + i] = i < m ? src[i] : 0.0f;
            }
        }
    }
}

// op(B)[p0:p0+kc, j0:j0+NR] -> one strip: bp[p*NR + j]
static void t5p__pack_b(float *restrict bp, const float *B, int ldb, int tb, int p0, int kc, int j0, int n) {
    if (!tb) {
        for (int p = 0; p < kc; p++) {
            const float *src = B + (size_t)(p0 + p) * ldb + j0;
            float *dst = bp + (size_t)p * T5P__NR;
            if (n == T5P__NR) {
                T5P__PRAGMA("omp simd")
                for (int j = 0; j < T5P__NR; j++) dst[j] = src[j];
            } else {
                for (int j = 0; j < T5P__NR; j++) dst[j] = j < n ? src[j] : 0.0f;
            }
        }
    } else {
        for (int j = 0; j < n; j++) {
            const float *src = B + (size_t)(j0 + j) * ldb + p0;
            for (int p = 0; p < kc; p++) bp[(size_t)p * T5P__NR + j] = src[p];
        }
        for (int j = n; j < T5P__NR; j++)
            for (int p = 0; p < kc; p++) bp[(size_t)p * T5P__NR + j] = 0.0f;
    }
}

static void t5p__gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, int acc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!acc)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    int nth = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && (double)M * N * K >= T5P_GEMM_PAR_MIN) nth = omp_get_max_threads();
#endif
    int mc = T5P__MC, mb = t5p__cdiv(M, mc);
    if (mb < nth) {  // short M: smaller blocks so every thread gets one
        mc = t5p__cdiv(t5p__cdiv(M, nth), T5P__MR) * T5P__MR;
        mb = t5p__cdiv(M, mc);
    }
    // op(B) is packed a panel of whole columns (all of K) at a time, as wide as T5P__PANEL floats allow,
    // so the threads meet only twice per panel: after packing it and after using it.
    const int np = t5p__cdiv(K, T5P__KC);  // K blocks
    int nc = (int)(T5P__PANEL / ((size_t)np * T5P__KC)) / T5P__NR * T5P__NR;
    nc = nc < T5P__NR ? T5P__NR : nc;
    nc = t5p__imin(nc, t5p__cdiv(N, T5P__NR) * T5P__NR);
    const int ns_max = nc / T5P__NR, kcap = t5p__imin(K, T5P__KC);
    float *bp = (float *)T5P_MALLOC(((size_t)ns_max * np * T5P__KC * T5P__NR + (size_t)nth * kcap * mc) * sizeof(float));
    T5P_ASSERT(bp);
    float *ap_all = bp + (size_t)ns_max * np * T5P__KC * T5P__NR;
    T5P__PRAGMA("omp parallel num_threads(nth) if(nth > 1)")
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *ap = ap_all + (size_t)tid * kcap * mc;
        for (int jc = 0; jc < N; jc += nc) {
            const int ncur = t5p__imin(nc, N - jc), ns = t5p__cdiv(ncur, T5P__NR);
            // strip s, K block pc lives at bp + (s*np + pc/KC) * KC*NR
            T5P__PRAGMA("omp for schedule(static)")
            for (int sp = 0; sp < ns * np; sp++) {
                const int s = sp / np, pc = (sp % np) * T5P__KC;
                t5p__pack_b(bp + (size_t)sp * T5P__KC * T5P__NR, B, ldb, tb, pc, t5p__imin(T5P__KC, K - pc),
                            jc + s * T5P__NR, t5p__imin(T5P__NR, ncur - s * T5P__NR));
            }
            // tasks: an M block times a range of strips (more than one range only when M is short)
            const int nsplit = mb >= nth ? 1 : t5p__imin(ns, t5p__cdiv(nth, mb));
            T5P__PRAGMA("omp for schedule(dynamic, 1)")
            for (int task = 0; task < mb * nsplit; task++) {
                const int ib = task / nsplit, js = task % nsplit;
                const int i0 = ib * mc, m = t5p__imin(mc, M - i0);
                const int s0 = ns * js / nsplit, s1 = ns * (js + 1) / nsplit;
                for (int pc = 0; pc < K; pc += T5P__KC) {
                    const int kc = t5p__imin(T5P__KC, K - pc), accum = acc || pc > 0;
                    t5p__pack_a(ap, A, lda, ta, i0, m, pc, kc);
                    for (int s = s0; s < s1; s++) {
                        const float *b = bp + ((size_t)s * np + pc / T5P__KC) * T5P__KC * T5P__NR;
                        for (int ir = 0; ir < m; ir += T5P__MR)
                            t5p__gemm_micro(kc, ap + (size_t)ir * kc, b, C + (size_t)(i0 + ir) * ldc + jc + s * T5P__NR,
                                            ldc, t5p__imin(T5P__MR, m - ir), t5p__imin(T5P__NR, ncur - s * T5P__NR),
                                            accum);
                    }
                }
            }
        }
    }
    T5P_FREE(bp);
}

// --- layers

T5PDEF void t5p_embedding_forward(float *out, const int *ids, const float *table, int N, int D) {
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN)")
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * D, table + (size_t)ids[n] * D, (size_t)D * sizeof(float));
}

T5PDEF void t5p_embedding_backward(float *dtable, const float *dout, const int *ids, int N, int D) {
    // threads own column blocks, so a repeated id is never written by two threads
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN)")
    for (int c0 = 0; c0 < D; c0 += 64) {
        int c1 = t5p__imin(D, c0 + 64);
        for (int n = 0; n < N; n++) {
            float *dst = dtable + (size_t)ids[n] * D;
            const float *src = dout + (size_t)n * D;
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

T5PDEF void t5p_rmsnorm_forward(float *out, float *rstd, const float *in, const float *g, int N, int D, float eps) {
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN)")
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D;
        float *y = out + (size_t)n * D;
        float ss = 0.0f;
        T5P__PRAGMA("omp simd reduction(+:ss)")
        for (int i = 0; i < D; i++) ss += x[i] * x[i];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        rstd[n] = r;
        for (int i = 0; i < D; i++) y[i] = g[i] * (x[i] * r);  // HF's order: weight * (x * rsqrt(var + eps))
    }
}

T5PDEF void t5p_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in, const float *rstd,
                                 const float *g, int N, int D) {
    // y = g x r, r = (mean(x^2) + eps)^-1/2:  dx = r g dy - x r^3 / D * sum(g dy x),  dg = sum_n dy x r
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN)")
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
        float *dx = din + (size_t)n * D;
        const float r = rstd[n];
        float dot = 0.0f;
        T5P__PRAGMA("omp simd reduction(+:dot)")
        for (int i = 0; i < D; i++) dot += g[i] * dy[i] * x[i];
        const float c = dot * r * r * r / (float)D;
        for (int i = 0; i < D; i++) dx[i] += r * g[i] * dy[i] - c * x[i];
    }
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN)")
    for (int c0 = 0; c0 < D; c0 += 64) {
        int c1 = t5p__imin(D, c0 + 64);
        for (int n = 0; n < N; n++) {
            const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
            const float r = rstd[n];
            for (int i = c0; i < c1; i++) dg[i] += dy[i] * x[i] * r;
        }
    }
}

T5PDEF void t5p_linear_forward(float *y, const float *x, const float *w, int N, int I, int O) {
    t5p__gemm(0, 1, N, O, I, x, I, w, I, y, O, 0);
}

T5PDEF void t5p_linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int N, int I,
                                int O) {
    if (dx) t5p__gemm(0, 0, N, I, O, dy, O, w, I, dx, I, 1);
    t5p__gemm(1, 0, O, I, N, dy, O, x, I, dw, I, 1);
}

T5PDEF int t5p_relative_bucket(int rel, int bidirectional, int num_buckets, int max_distance) {
    int ret = 0, n = -rel;  // n = query - key
    if (bidirectional) {
        num_buckets /= 2;
        if (n < 0) ret += num_buckets;
        n = n < 0 ? -n : n;
    } else if (n < 0) {
        n = 0;
    }
    const int max_exact = num_buckets / 2;
    if (n < max_exact) return ret + n;
    // float32, as transformers and bert4keras compute it, so boundary distances land in the same bucket
    float v = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) *
              (float)(num_buckets - max_exact);
    int large = max_exact + (int)v;
    return ret + (large < num_buckets - 1 ? large : num_buckets - 1);
}

T5PDEF void t5p_position_bias_forward(float *bias, const float *table, int H, int Tq, int Tk, int bidirectional,
                                      int num_buckets, int max_distance) {
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)H * Tq * Tk >= T5P_PAR_MIN)")
    for (int i = 0; i < Tq; i++)
        for (int j = 0; j < Tk; j++) {
            const float *row = table + (size_t)t5p_relative_bucket(j - i, bidirectional, num_buckets, max_distance) * H;
            for (int h = 0; h < H; h++) bias[((size_t)h * Tq + i) * Tk + j] = row[h];
        }
}

T5PDEF void t5p_position_bias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk, int bidirectional,
                                       int num_buckets, int max_distance) {
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)H * Tq * Tk >= T5P_PAR_MIN)")
    for (int h = 0; h < H; h++)  // a thread owns a column of the table
        for (int i = 0; i < Tq; i++)
            for (int j = 0; j < Tk; j++)
                dtable[(size_t)t5p_relative_bucket(j - i, bidirectional, num_buckets, max_distance) * H + h] +=
                    dbias[((size_t)h * Tq + i) * Tk + j];
}

T5PDEF void t5p_attention_forward(float *ctx, float *att, const float *q, const float *k, const float *v,
                                  const float *bias, const uint8_t *kmask, int causal, int B, int Tq, int Tk,
                                  int H, int Dk) {
    const int HK = H * Dk;
    T5P__PRAGMA("omp parallel for schedule(dynamic, 1) if((size_t)B * H * Tq * Tk * Dk >= T5P_PAR_MIN)")
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        const float *qb = q + (size_t)b * Tq * HK + h * Dk, *kb = k + (size_t)b * Tk * HK + h * Dk;
        const float *vb = v + (size_t)b * Tk * HK + h * Dk;
        float *P = att + (size_t)bh * Tq * Tk;
        const uint8_t *km = kmask ? kmask + (size_t)b * Tk : NULL;
        t5p__gemm(0, 1, Tq, Tk, Dk, qb, HK, kb, HK, P, Tk, 0);  // scores = q k^T, no 1/sqrt(Dk)
        for (int i = 0; i < Tq; i++) {
            float *row = P + (size_t)i * Tk;
            const float *brow = bias ? bias + ((size_t)h * Tq + i) * Tk : NULL;
            const int jend = causal ? t5p__imin(i + 1, Tk) : Tk;
            float mx = -INFINITY;
            for (int j = 0; j < jend; j++) {
                if (km && !km[j]) continue;
                if (brow) row[j] += brow[j];
                if (row[j] > mx) mx = row[j];
            }
            if (mx == -INFINITY) {  // every key masked: uniform, as both masking schemes give
                for (int j = 0; j < Tk; j++) row[j] = 1.0f / (float)Tk;
                continue;
            }
            float sum = 0.0f;
            for (int j = 0; j < Tk; j++) {
                float e = (j < jend && (!km || km[j])) ? expf(row[j] - mx) : 0.0f;
                row[j] = e;
                sum += e;
            }
            const float inv = 1.0f / sum;
            for (int j = 0; j < Tk; j++) row[j] *= inv;
        }
        t5p__gemm(0, 0, Tq, Dk, Tk, P, Tk, vb, HK, ctx + (size_t)b * Tq * HK + h * Dk, HK, 0);  // ctx = att v
    }
}

T5PDEF void t5p_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dctx, float *att,
                                   const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
                                   int Dk) {
    const int HK = H * Dk;
    T5P__PRAGMA("omp parallel if((size_t)B * H * Tq * Tk * Dk >= T5P_PAR_MIN)")
    {
        float *dP = (float *)T5P_MALLOC((size_t)Tq * Tk * sizeof(float));
        T5P_ASSERT(dP);
        T5P__PRAGMA("omp for schedule(dynamic, 1)")
        for (int bh = 0; bh < B * H; bh++) {
            const int b = bh / H, h = bh % H;
            const size_t oq = (size_t)b * Tq * HK + h * Dk, ok = (size_t)b * Tk * HK + h * Dk;
            float *P = att + (size_t)bh * Tq * Tk;
            t5p__gemm(0, 1, Tq, Tk, Dk, dctx + oq, HK, v + ok, HK, dP, Tk, 0);  // dP = dctx v^T
            t5p__gemm(1, 0, Tk, Dk, Tq, P, Tk, dctx + oq, HK, dv + ok, HK, 0);  // dv = P^T dctx
            for (int i = 0; i < Tq; i++) {  // dS = P (dP - sum_j P dP), in place of P
                float *p = P + (size_t)i * Tk;
                const float *dp = dP + (size_t)i * Tk;
                float dot = 0.0f;
                for (int j = 0; j < Tk; j++) dot += p[j] * dp[j];
                for (int j = 0; j < Tk; j++) p[j] *= dp[j] - dot;
            }
            t5p__gemm(0, 0, Tq, Dk, Tk, P, Tk, k + ok, HK, dq + oq, HK, 0);  // dq = dS k
            t5p__gemm(1, 0, Tk, Dk, Tq, P, Tk, q + oq, HK, dk + ok, HK, 0);  // dk = dS^T q
        }
        T5P_FREE(dP);
    }
    if (!dbias) return;
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)B * H * Tq * Tk >= T5P_PAR_MIN)")
    for (int hi = 0; hi < H * Tq; hi++) {  // the bias is shared by the batch: sum its rows in batch order
        const int h = hi / Tq, i = hi % Tq;
        float *db = dbias + (size_t)hi * Tk;
        for (int b = 0; b < B; b++) {
            const float *ds = att + (((size_t)b * H + h) * Tq + i) * Tk;
            for (int j = 0; j < Tk; j++) db[j] += ds[j];
        }
    }
}

// GELU: exact erf form (the original) or the tanh form ("gelu_new", HF MT5). tanh(u) is taken as
// 1 - 2/(exp(2u)+1): one expf instead of libm's slower tanhf; its absolute error (~1e-7) is what
// matters here, as t only enters through 1 + t and 1 - t^2.
#define T5P__SQRT_2_OVER_PI 0.7978845608028654f
static inline float t5p__tanh_inner(float x) {  // tanh(sqrt(2/pi) (x + 0.044715 x^3))
    float u = T5P__SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
    return 1.0f - 2.0f / (expf(2.0f * u) + 1.0f);
}

T5PDEF void t5p_gelu_gate_forward(float *g, const float *u0, const float *u1, size_t n, int tanh_form) {
    T5P__PRAGMA("omp parallel for schedule(static) if(n >= T5P_PAR_MIN)")
    for (size_t i = 0; i < n; i++) {
        const float x = u0[i];
        const float gelu = tanh_form ? 0.5f * x * (1.0f + t5p__tanh_inner(x))
                                     : 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
        g[i] = gelu * u1[i];
    }
}

T5PDEF void t5p_gelu_gate_backward(float *du0, float *du1, const float *dg, const float *u0, const float *u1,
                                   size_t n, int tanh_form) {
    T5P__PRAGMA("omp parallel for schedule(static) if(n >= T5P_PAR_MIN)")
    for (size_t i = 0; i < n; i++) {
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
        du0[i] = dg[i] * u1[i] * grad;
        du1[i] = dg[i] * gelu;
    }
}

// Dropout keep mask: element i of the stream `key` is kept when a 24-bit hash of (key, i) is at or above
// p * 2^24. Two rounds of a 32-bit hash keyed by both halves of key decorrelate the streams.
static void t5p__dropout(float *out, const float *in, size_t n, float p, uint64_t key, float scale) {
    if (!(p > 0.0f)) {
        if (scale == 1.0f) {
            if (out != in) memcpy(out, in, n * sizeof(float));
        } else {
            T5P__PRAGMA("omp parallel for schedule(static) if(n >= T5P_PAR_MIN)")
            for (size_t i = 0; i < n; i++) out[i] = in[i] * scale;
        }
        return;
    }
    T5P_ASSERT(n <= 0xFFFFFFFFu);
    const uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    const uint32_t thr = (uint32_t)(p * 16777216.0f);
    const float s = scale / (1.0f - p);
    T5P__PRAGMA("omp parallel for simd schedule(static) if(n >= T5P_PAR_MIN)")
    for (size_t i = 0; i < n; i++) {
        uint32_t h = t5p__hash32(t5p__hash32((uint32_t)i ^ k0) + k1) >> 8;
        out[i] = h >= thr ? in[i] * s : 0.0f;
    }
}

T5PDEF void t5p_dropout_forward(float *out, const float *in, size_t n, float p, uint64_t key, float scale) {
    t5p__dropout(out, in, n, p, key, scale);
}

T5PDEF void t5p_dropout_backward(float *din, const float *dout, size_t n, float p, uint64_t key, float scale) {
    t5p__dropout(din, dout, n, p, key, scale);  // the same mask and factor
}

T5PDEF double t5p_xent_forward(float *lse, const float *logits, const int *labels, int N, int V, int *correct) {
    int nc = 0;
    T5P__PRAGMA("omp parallel for schedule(static) reduction(+:nc) if((size_t)N * V >= T5P_PAR_MIN)")
    for (int r = 0; r < N; r++) {
        if (labels[r] < 0) {
            lse[r] = 0.0f;
            continue;
        }
        const float *x = logits + (size_t)r * V;
        float mx = x[0];
        int arg = 0;
        for (int j = 1; j < V; j++)
            if (x[j] > mx) mx = x[j], arg = j;
        float sum = 0.0f;
        for (int j = 0; j < V; j++) sum += expf(x[j] - mx);
        lse[r] = mx + logf(sum);
        nc += arg == labels[r];
    }
    double loss = 0.0;  // rows summed in order: the same total whatever the thread count
    for (int r = 0; r < N; r++)
        if (labels[r] >= 0) loss += (double)lse[r] - logits[(size_t)r * V + labels[r]];
    if (correct) *correct = nc;
    return loss;
}

T5PDEF void t5p_xent_backward(float *dlogits, const float *logits, const float *lse, const int *labels, int N, int V,
                              float scale) {
    T5P__PRAGMA("omp parallel for schedule(static) if((size_t)N * V >= T5P_PAR_MIN)")
    for (int r = 0; r < N; r++) {
        const float *x = logits + (size_t)r * V;
        float *d = dlogits + (size_t)r * V;
        if (labels[r] < 0) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        const float m = lse[r];
        for (int j = 0; j < V; j++) d[j] = expf(x[j] - m) * scale;
        d[labels[r]] -= scale;
    }
}

// --- the network

// Dropout sites: one stream per place, in forward order.
enum { T5P__SITE_ENC = 0, T5P__SITE_DEC = 1 << 20 };
static uint64_t t5p__drop_key(const t5p_model *m, int site) {
    return t5p__mix64(m->seed ^ t5p__mix64(m->step * 0x100000001B3ull + (uint64_t)site));
}

static void t5p__add(float *y, const float *x, size_t n) {  // y += x
    T5P__PRAGMA("omp parallel for simd schedule(static) if(n >= T5P_PAR_MIN)")
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

static void t5p__zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

// Lays the activations out for (B,S,T) in m->acts (when base is not NULL); returns the bytes needed.
static size_t t5p__acts_layout(t5p_model *m, char *base, int B, int S, int T) {
    const t5p_config *c = &m->cfg;
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->num_heads;
    const size_t HK = H * (size_t)c->d_kv, V = (size_t)c->vocab_size;
    const size_t Le = (size_t)c->num_layers, Ld = (size_t)c->num_decoder_layers;
    const size_t Td = (size_t)T - 1, Ne = (size_t)B * S, Nd = (size_t)B * Td, N = Ne > Nd ? Ne : Nd;
    size_t off = 0;
    t5p_acts *a = &m->a;
    t5p_acts_grad *g = &m->da;
#define T5P__TAKE(ptr, type, count)                                          \
    do {                                                                     \
        ptr = base ? (type *)(base + off) : NULL;                            \
        off += (((size_t)(count) * sizeof(type)) + 63) / 64 * 64;            \
    } while (0)
    T5P__TAKE(a->enc_pb, float, H * S * S);
    T5P__TAKE(a->dec_pb, float, H * Td * Td);
    a->cross_pb = NULL;
    if (c->flavor == T5P_PEGASUS) T5P__TAKE(a->cross_pb, float, H * Td * S);
    T5P__TAKE(a->enc_x, float, (Le + 1) * Ne * D);
    T5P__TAKE(a->enc_rstd0, float, Le * Ne);
    T5P__TAKE(a->enc_rstd1, float, Le * Ne);
    T5P__TAKE(a->enc_h0, float, Le * Ne * D);
    T5P__TAKE(a->enc_h1, float, Le * Ne * D);
    T5P__TAKE(a->enc_q, float, Le * Ne * HK);
    T5P__TAKE(a->enc_k, float, Le * Ne * HK);
    T5P__TAKE(a->enc_v, float, Le * Ne * HK);
    T5P__TAKE(a->enc_ctx, float, Le * Ne * HK);
    T5P__TAKE(a->enc_att, float, Le * B * H * S * S);
    T5P__TAKE(a->enc_x1, float, Le * Ne * D);
    T5P__TAKE(a->enc_u0, float, Le * Ne * F);
    T5P__TAKE(a->enc_u1, float, Le * Ne * F);
    T5P__TAKE(a->enc_g, float, Le * Ne * F);
    T5P__TAKE(a->enc_rstdf, float, Ne);
    T5P__TAKE(a->enc_out, float, Ne * D);
    T5P__TAKE(a->dec_x, float, (Ld + 1) * Nd * D);
    T5P__TAKE(a->dec_rstd0, float, Ld * Nd);
    T5P__TAKE(a->dec_rstd1, float, Ld * Nd);
    T5P__TAKE(a->dec_rstd2, float, Ld * Nd);
    T5P__TAKE(a->dec_h0, float, Ld * Nd * D);
    T5P__TAKE(a->dec_h1, float, Ld * Nd * D);
    T5P__TAKE(a->dec_h2, float, Ld * Nd * D);
    T5P__TAKE(a->dec_q, float, Ld * Nd * HK);
    T5P__TAKE(a->dec_k, float, Ld * Nd * HK);
    T5P__TAKE(a->dec_v, float, Ld * Nd * HK);
    T5P__TAKE(a->dec_ctx, float, Ld * Nd * HK);
    T5P__TAKE(a->dec_att, float, Ld * B * H * Td * Td);
    T5P__TAKE(a->dec_x1, float, Ld * Nd * D);
    T5P__TAKE(a->dec_x2, float, Ld * Nd * D);
    T5P__TAKE(a->dec_cq, float, Ld * Nd * HK);
    T5P__TAKE(a->dec_cctx, float, Ld * Nd * HK);
    T5P__TAKE(a->dec_ck, float, Ld * Ne * HK);
    T5P__TAKE(a->dec_cv, float, Ld * Ne * HK);
    T5P__TAKE(a->dec_catt, float, Ld * B * H * Td * S);
    T5P__TAKE(a->dec_u0, float, Ld * Nd * F);
    T5P__TAKE(a->dec_u1, float, Ld * Nd * F);
    T5P__TAKE(a->dec_g, float, Ld * Nd * F);
    T5P__TAKE(a->dec_rstdf, float, Nd);
    T5P__TAKE(a->dec_out, float, Nd * D);
    T5P__TAKE(a->logits, float, Nd * V);
    T5P__TAKE(a->lse, float, Nd);
    T5P__TAKE(a->src, int, Ne);
    T5P__TAKE(a->dec_in, int, Nd);
    T5P__TAKE(a->labels, int, Nd);
    T5P__TAKE(a->src_mask, uint8_t, Ne);
    T5P__TAKE(g->dres, float, N * D);
    T5P__TAKE(g->dh, float, N * D);
    T5P__TAKE(g->dsub, float, N * D);
    T5P__TAKE(g->dq, float, N * HK);
    T5P__TAKE(g->dk, float, N * HK);
    T5P__TAKE(g->dv, float, N * HK);
    T5P__TAKE(g->dctx, float, N * HK);
    T5P__TAKE(g->du0, float, N * F);
    T5P__TAKE(g->du1, float, N * F);
    T5P__TAKE(g->dg, float, N * F);
    T5P__TAKE(g->denc, float, Ne * D);
    T5P__TAKE(g->denc_pb, float, H * S * S);
    T5P__TAKE(g->ddec_pb, float, H * Td * Td);
    g->dcross_pb = NULL;
    if (c->flavor == T5P_PEGASUS) T5P__TAKE(g->dcross_pb, float, H * Td * S);
#undef T5P__TAKE
    return off;
}

T5PDEF t5p_model *t5p_model_new(const t5p_config *c) {
    if (t5p_config_check(c) < 0) return NULL;
    t5p_model *m = (t5p_model *)T5P_MALLOC(sizeof *m);
    if (!m) {
        t5p__err(T5P_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->num_params = t5p_num_params(c);
    m->params = (float *)T5P_MALLOC(m->num_params * sizeof(float));
    if (!m->params) {
        T5P_FREE(m);
        t5p__err(T5P_ERR_NOMEM, "out of memory for %zu parameters", t5p_num_params(c));
        return NULL;
    }
    memset(m->params, 0, m->num_params * sizeof(float));
    t5p_params_layout(c, m->params, &m->w);
    t5p_params_layout(c, NULL, &m->g);
    return m;
}

T5PDEF void t5p_model_free(t5p_model *m) {
    if (!m) return;
    T5P_FREE(m->params);
    T5P_FREE(m->grads);
    T5P_FREE(m->acts);
    T5P_FREE(m);
}

T5PDEF int t5p_model_zero_grad(t5p_model *m) {
    if (!m->grads) {
        m->grads = (float *)T5P_MALLOC(m->num_params * sizeof(float));
        if (!m->grads) return t5p__err(T5P_ERR_NOMEM, "out of memory for gradients");
        t5p_params_layout(&m->cfg, m->grads, &m->g);
    }
    memset(m->grads, 0, m->num_params * sizeof(float));
    return 0;
}

T5PDEF const float *t5p_model_logits(const t5p_model *m) { return m->has_acts ? m->a.logits : NULL; }

// One pre-norm attention sublayer, x_out = x + dropout(o(attention(norm(x)))); q from norm(x), k and v
// from kv_src (NULL: norm(x) itself, self-attention), whose k/v projections are written to k, v.
typedef struct {
    const float *ln, *wq, *wk, *wv, *wo;
    float *rstd, *h, *q, *k, *v, *ctx, *att;
    const float *bias;
    const uint8_t *kmask;
    int causal, Tk;
} t5p__attn_block;

static void t5p__attn_forward(t5p_model *m, float *x_out, const float *x, const float *kv_src, t5p__attn_block *s,
                              int B, int Tq, float p, uint64_t key) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, HK = c->num_heads * c->d_kv, N = B * Tq, Nk = B * s->Tk;
    t5p_rmsnorm_forward(s->h, s->rstd, x, s->ln, N, D, c->eps);
    if (!kv_src) kv_src = s->h;
    t5p_linear_forward(s->q, s->h, s->wq, N, D, HK);
    t5p_linear_forward(s->k, kv_src, s->wk, Nk, D, HK);
    t5p_linear_forward(s->v, kv_src, s->wv, Nk, D, HK);
    t5p_attention_forward(s->ctx, s->att, s->q, s->k, s->v, s->bias, s->kmask, s->causal, B, Tq, s->Tk,
                          c->num_heads, c->d_kv);
    t5p_linear_forward(x_out, s->ctx, s->wo, N, HK, D);
    t5p_dropout_forward(x_out, x_out, (size_t)N * D, p, key, 1.0f);
    t5p__add(x_out, x, (size_t)N * D);
}

// Backward of t5p__attn_forward: m->da.dres holds d(x_out) and becomes d(x); gradients of the k/v source
// go to dkv_src (+=; NULL for self-attention, where they join d(norm(x))); dbias (+=) may be NULL.
typedef struct {
    float *dln, *dwq, *dwk, *dwv, *dwo, *dbias;
} t5p__attn_grads;

static void t5p__attn_backward(t5p_model *m, const float *x, const float *kv_src, float *dkv_src,
                               const t5p__attn_block *s, const t5p__attn_grads *gs, int B, int Tq, float p,
                               uint64_t key) {
    const t5p_config *c = &m->cfg;
    t5p_acts_grad *g = &m->da;
    const int D = c->d_model, HK = c->num_heads * c->d_kv, N = B * Tq, Nk = B * s->Tk;
    t5p_dropout_backward(g->dsub, g->dres, (size_t)N * D, p, key, 1.0f);
    t5p__zero(g->dctx, (size_t)N * HK);
    t5p_linear_backward(g->dctx, gs->dwo, g->dsub, s->ctx, s->wo, N, HK, D);
    t5p_attention_backward(g->dq, g->dk, g->dv, gs->dbias, g->dctx, s->att, s->q, s->k, s->v, B, Tq, s->Tk,
                           c->num_heads, c->d_kv);
    t5p__zero(g->dh, (size_t)N * D);
    if (!kv_src) {
        kv_src = s->h;
        dkv_src = g->dh;
    }
    t5p_linear_backward(dkv_src, gs->dwv, g->dv, kv_src, s->wv, Nk, D, HK);
    t5p_linear_backward(dkv_src, gs->dwk, g->dk, kv_src, s->wk, Nk, D, HK);
    t5p_linear_backward(g->dh, gs->dwq, g->dq, s->h, s->wq, N, D, HK);
    t5p_rmsnorm_backward(g->dres, gs->dln, g->dh, x, s->rstd, s->ln, N, D);
}

// Pre-norm gated-GELU feed-forward sublayer: x_out = x + dropout(wo(gelu(wi_0 h) * wi_1 h)), h = norm(x).
typedef struct {
    const float *ln, *wi0, *wi1, *wo;
    float *rstd, *h, *u0, *u1, *gg;
} t5p__ffn_block;

static void t5p__ffn_forward(t5p_model *m, float *x_out, const float *x, t5p__ffn_block *s, int N, float p,
                             uint64_t key) {
    const t5p_config *c = &m->cfg;
    const int D = c->d_model, F = c->d_ff;
    t5p_rmsnorm_forward(s->h, s->rstd, x, s->ln, N, D, c->eps);
    t5p_linear_forward(s->u0, s->h, s->wi0, N, D, F);
    t5p_linear_forward(s->u1, s->h, s->wi1, N, D, F);
    t5p_gelu_gate_forward(s->gg, s->u0, s->u1, (size_t)N * F, c->flavor == T5P_HF_MT5);
    t5p_linear_forward(x_out, s->gg, s->wo, N, F, D);
    t5p_dropout_forward(x_out, x_out, (size_t)N * D, p, key, 1.0f);
    t5p__add(x_out, x, (size_t)N * D);
}

static void t5p__ffn_backward(t5p_model *m, const float *x, const t5p__ffn_block *s, float *dln, float *dwi0,
                              float *dwi1, float *dwo, int N, float p, uint64_t key) {
    const t5p_config *c = &m->cfg;
    t5p_acts_grad *g = &m->da;
    const int D = c->d_model, F = c->d_ff;
    t5p_dropout_backward(g->dsub, g->dres, (size_t)N * D, p, key, 1.0f);
    t5p__zero(g->dg, (size_t)N * F);
    t5p_linear_backward(g->dg, dwo, g->dsub, s->gg, s->wo, N, F, D);
    t5p_gelu_gate_backward(g->du0, g->du1, g->dg, s->u0, s->u1, (size_t)N * F, c->flavor == T5P_HF_MT5);
    t5p__zero(g->dh, (size_t)N * D);
    t5p_linear_backward(g->dh, dwi1, g->du1, s->h, s->wi1, N, D, F);
    t5p_linear_backward(g->dh, dwi0, g->du0, s->h, s->wi0, N, D, F);
    t5p_rmsnorm_backward(g->dres, dln, g->dh, x, s->rstd, s->ln, N, D);
}

// The blocks of layer l, pointing into parameters and activations.
static t5p__attn_block t5p__enc_attn(t5p_model *m, int l) {
    const t5p_config *c = &m->cfg;
    const size_t D = (size_t)c->d_model, HK = (size_t)c->num_heads * c->d_kv, Ne = (size_t)m->B * m->S;
    const t5p_params *w = &m->w;
    t5p_acts *a = &m->a;
    t5p__attn_block s = {w->enc_ln0 + l * D, w->enc_q + l * HK * D, w->enc_k + l * HK * D, w->enc_v + l * HK * D,
                         w->enc_o + l * D * HK, a->enc_rstd0 + l * Ne, a->enc_h0 + l * Ne * D,
                         a->enc_q + l * Ne * HK, a->enc_k + l * Ne * HK, a->enc_v + l * Ne * HK,
                         a->enc_ctx + l * Ne * HK, a->enc_att + l * (size_t)m->B * c->num_heads * m->S * m->S,
                         a->enc_pb, a->src_mask, 0, m->S};
    return s;
}
static t5p__attn_grads t5p__enc_attn_grads(t5p_model *m, int l) {
    const size_t D = (size_t)m->cfg.d_model, HK = (size_t)m->cfg.num_heads * m->cfg.d_kv;
    const t5p_params *g = &m->g;
    t5p__attn_grads s = {g->enc_ln0 + l * D, g->enc_q + l * HK * D, g->enc_k + l * HK * D, g->enc_v + l * HK * D,
                         g->enc_o + l * D * HK, m->da.denc_pb};
    return s;
}
static t5p__ffn_block t5p__enc_ffn(t5p_model *m, int l) {
    const size_t D = (size_t)m->cfg.d_model, F = (size_t)m->cfg.d_ff, Ne = (size_t)m->B * m->S;
    const t5p_params *w = &m->w;
    t5p_acts *a = &m->a;
    t5p__ffn_block s = {w->enc_ln1 + l * D, w->enc_wi0 + l * F * D, w->enc_wi1 + l * F * D, w->enc_wo + l * D * F,
                        a->enc_rstd1 + l * Ne, a->enc_h1 + l * Ne * D, a->enc_u0 + l * Ne * F,
                        a->enc_u1 + l * Ne * F, a->enc_g + l * Ne * F};
    return s;
}
static t5p__attn_block t5p__dec_self(t5p_model *m, int l) {
    const t5p_config *c = &m->cfg;
    const size_t D = (size_t)c->d_model, HK = (size_t)c->num_heads * c->d_kv, Td = (size_t)m->T - 1;
    const size_t Nd = (size_t)m->B * Td;
    const t5p_params *w = &m->w;
    t5p_acts *a = &m->a;
    t5p__attn_block s = {w->dec_ln0 + l * D, w->dec_q + l * HK * D, w->dec_k + l * HK * D, w->dec_v + l * HK * D,
                         w->dec_o + l * D * HK, a->dec_rstd0 + l * Nd, a->dec_h0 + l * Nd * D,
                         a->dec_q + l * Nd * HK, a->dec_k + l * Nd * HK, a->dec_v + l * Nd * HK,
                         a->dec_ctx + l * Nd * HK, a->dec_att + l * (size_t)m->B * c->num_heads * Td * Td,
                         a->dec_pb, NULL, 1, (int)Td};
    return s;
}
static t5p__attn_grads t5p__dec_self_grads(t5p_model *m, int l) {
    const size_t D = (size_t)m->cfg.d_model, HK = (size_t)m->cfg.num_heads * m->cfg.d_kv;
    const t5p_params *g = &m->g;
    t5p__attn_grads s = {g->dec_ln0 + l * D, g->dec_q + l * HK * D, g->dec_k + l * HK * D, g->dec_v + l * HK * D,
                         g->dec_o + l * D * HK, m->da.ddec_pb};
    return s;
}
static t5p__attn_block t5p__dec_cross(t5p_model *m, int l) {
    const t5p_config *c = &m->cfg;
    const size_t D = (size_t)c->d_model, HK = (size_t)c->num_heads * c->d_kv, Td = (size_t)m->T - 1;
    const size_t Nd = (size_t)m->B * Td, Ne = (size_t)m->B * m->S;
    const t5p_params *w = &m->w;
    t5p_acts *a = &m->a;
    t5p__attn_block s = {w->dec_ln1 + l * D, w->dec_cq + l * HK * D, w->dec_ck + l * HK * D,
                         w->dec_cv + l * HK * D, w->dec_co + l * D * HK, a->dec_rstd1 + l * Nd,
                         a->dec_h1 + l * Nd * D, a->dec_cq + l * Nd * HK, a->dec_ck + l * Ne * HK,
                         a->dec_cv + l * Ne * HK, a->dec_cctx + l * Nd * HK,
                         a->dec_catt + l * (size_t)m->B * c->num_heads * Td * m->S, a->cross_pb, a->src_mask, 0,
                         m->S};
    return s;
}
static t5p__attn_grads t5p__dec_cross_grads(t5p_model *m, int l) {
    const size_t D = (size_t)m->cfg.d_model, HK = (size_t)m->cfg.num_heads * m->cfg.d_kv;
    const t5p_params *g = &m->g;
    t5p__attn_grads s = {g->dec_ln1 + l * D, g->dec_cq + l * HK * D, g->dec_ck + l * HK * D,
                         g->dec_cv + l * HK * D, g->dec_co + l * D * HK, m->da.dcross_pb};
    return s;
}
static t5p__ffn_block t5p__dec_ffn(t5p_model *m, int l) {
    const size_t D = (size_t)m->cfg.d_model, F = (size_t)m->cfg.d_ff, Nd = (size_t)m->B * (m->T - 1);
    const t5p_params *w = &m->w;
    t5p_acts *a = &m->a;
    t5p__ffn_block s = {w->dec_ln2 + l * D, w->dec_wi0 + l * F * D, w->dec_wi1 + l * F * D, w->dec_wo + l * D * F,
                        a->dec_rstd2 + l * Nd, a->dec_h2 + l * Nd * D, a->dec_u0 + l * Nd * F,
                        a->dec_u1 + l * Nd * F, a->dec_g + l * Nd * F};
    return s;
}

T5PDEF int t5p_model_forward(t5p_model *m, const int *src, const int *tgt, int B, int S, int T, int training) {
    const t5p_config *c = &m->cfg;
    if (B <= 0 || S <= 0 || T < 2)
        return t5p__err(T5P_ERR_ARG, "model forward: batch %d, source length %d, target length %d (need >= 2)", B,
                        S, T);
    for (size_t i = 0; i < (size_t)B * S; i++)
        if (src[i] < 0 || src[i] >= c->vocab_size)
            return t5p__err(T5P_ERR_ARG, "model forward: source id %d at row %zu, position %zu outside [0, %d)",
                            src[i], i / S, i % S, c->vocab_size);
    for (size_t i = 0; i < (size_t)B * T; i++)
        if (tgt[i] < 0 || tgt[i] >= c->vocab_size)
            return t5p__err(T5P_ERR_ARG, "model forward: target id %d at row %zu, position %zu outside [0, %d)",
                            tgt[i], i / T, i % T, c->vocab_size);
    size_t need = t5p__acts_layout(m, NULL, B, S, T);
    if (need > m->acts_cap) {
        T5P_FREE(m->acts);
        m->acts = (float *)T5P_MALLOC(need);
        m->acts_cap = m->acts ? need : 0;
        if (!m->acts) {
            m->has_acts = 0;
            return t5p__err(T5P_ERR_NOMEM, "out of memory for activations (%zu MB)", need >> 20);
        }
    }
    t5p__acts_layout(m, (char *)m->acts, B, S, T);
    m->B = B, m->S = S, m->T = T, m->training = training != 0, m->has_acts = 1;
    if (training) m->step++;

    const int D = c->d_model, H = c->num_heads, V = c->vocab_size, Td = T - 1;
    const int Le = c->num_layers, Ld = c->num_decoder_layers, NB = c->num_buckets, MD = c->max_distance;
    const size_t Ne = (size_t)B * S, Nd = (size_t)B * Td;
    const float p = training ? c->dropout : 0.0f;
    t5p_acts *a = &m->a;
    const t5p_params *w = &m->w;

    for (size_t i = 0; i < Ne; i++) a->src[i] = src[i], a->src_mask[i] = src[i] != c->pad_id;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Td; t++) {  // decoder input tgt[:, :-1], labels tgt[:, 1:]
            a->dec_in[b * Td + t] = tgt[(size_t)b * T + t];
            int y = tgt[(size_t)b * T + t + 1];
            a->labels[b * Td + t] = y == c->pad_id ? -1 : y;
        }

    // one position-bias table per stack, computed once and added in every layer
    t5p_position_bias_forward(a->enc_pb, w->enc_bias, H, S, S, 1, NB, MD);
    t5p_position_bias_forward(a->dec_pb, w->dec_bias, H, Td, Td, 0, NB, MD);
    if (a->cross_pb) t5p_position_bias_forward(a->cross_pb, w->dec_bias, H, Td, S, 0, NB, MD);

    // encoder
    t5p_embedding_forward(a->enc_x, a->src, w->shared, (int)Ne, D);
    t5p_dropout_forward(a->enc_x, a->enc_x, Ne * D, p, t5p__drop_key(m, T5P__SITE_ENC), 1.0f);
    for (int l = 0; l < Le; l++) {
        float *x = a->enc_x + l * Ne * D, *x1 = a->enc_x1 + l * Ne * D, *x2 = x + Ne * D;
        t5p__attn_block at = t5p__enc_attn(m, l);
        t5p__attn_forward(m, x1, x, NULL, &at, B, S, p, t5p__drop_key(m, T5P__SITE_ENC + 1 + 2 * l));
        t5p__ffn_block ff = t5p__enc_ffn(m, l);
        t5p__ffn_forward(m, x2, x1, &ff, (int)Ne, p, t5p__drop_key(m, T5P__SITE_ENC + 2 + 2 * l));
    }
    t5p_rmsnorm_forward(a->enc_out, a->enc_rstdf, a->enc_x + Le * Ne * D, w->enc_norm, (int)Ne, D, c->eps);
    t5p_dropout_forward(a->enc_out, a->enc_out, Ne * D, p, t5p__drop_key(m, T5P__SITE_ENC + 1 + 2 * Le), 1.0f);

    // decoder
    t5p_embedding_forward(a->dec_x, a->dec_in, w->shared, (int)Nd, D);
    t5p_dropout_forward(a->dec_x, a->dec_x, Nd * D, p, t5p__drop_key(m, T5P__SITE_DEC), 1.0f);
    for (int l = 0; l < Ld; l++) {
        float *x = a->dec_x + l * Nd * D, *x1 = a->dec_x1 + l * Nd * D, *x2 = a->dec_x2 + l * Nd * D;
        t5p__attn_block sa = t5p__dec_self(m, l);
        t5p__attn_forward(m, x1, x, NULL, &sa, B, Td, p, t5p__drop_key(m, T5P__SITE_DEC + 1 + 3 * l));
        t5p__attn_block ca = t5p__dec_cross(m, l);
        t5p__attn_forward(m, x2, x1, a->enc_out, &ca, B, Td, p, t5p__drop_key(m, T5P__SITE_DEC + 2 + 3 * l));
        t5p__ffn_block ff = t5p__dec_ffn(m, l);
        t5p__ffn_forward(m, x + Nd * D, x2, &ff, (int)Nd, p, t5p__drop_key(m, T5P__SITE_DEC + 3 + 3 * l));
    }
    t5p_rmsnorm_forward(a->dec_out, a->dec_rstdf, a->dec_x + Ld * Nd * D, w->dec_norm, (int)Nd, D, c->eps);
    const float scale = c->flavor == T5P_PEGASUS ? 1.0f / sqrtf((float)D) : 1.0f;  // original: * d_model**-0.5
    t5p_dropout_forward(a->dec_out, a->dec_out, Nd * D, p, t5p__drop_key(m, T5P__SITE_DEC + 1 + 3 * Ld), scale);

    // untied LM head, loss and accuracy over non-pad labels
    t5p_linear_forward(a->logits, a->dec_out, w->lm_head, (int)Nd, D, V);
    int correct = 0, n = 0;
    for (size_t i = 0; i < Nd; i++) n += a->labels[i] >= 0;
    double loss = t5p_xent_forward(a->lse, a->logits, a->labels, (int)Nd, V, &correct);
    m->ntokens = n;
    m->loss = n ? (float)(loss / n) : 0.0f;
    m->acc = n ? (float)correct / (float)n : 0.0f;
    return 0;
}

T5PDEF int t5p_model_backward(t5p_model *m) {
    if (!m->has_acts) return t5p__err(T5P_ERR_ARG, "model backward: no forward to differentiate");
    if (!m->grads && t5p_model_zero_grad(m) < 0) return T5P_ERR_NOMEM;
    m->has_acts = 0;  // the backward overwrites logits and attention probabilities
    const t5p_config *c = &m->cfg;
    const int B = m->B, S = m->S, T = m->T, Td = T - 1;
    const int D = c->d_model, H = c->num_heads, V = c->vocab_size;
    const int Le = c->num_layers, Ld = c->num_decoder_layers, NB = c->num_buckets, MD = c->max_distance;
    const size_t Ne = (size_t)B * S, Nd = (size_t)B * Td;
    const float p = m->training ? c->dropout : 0.0f;
    t5p_acts *a = &m->a;
    t5p_acts_grad *g = &m->da;
    const t5p_params *w = &m->w, *dw = &m->g;

    // loss and LM head
    t5p_xent_backward(a->logits, a->logits, a->lse, a->labels, (int)Nd, V, m->ntokens ? 1.0f / m->ntokens : 0.0f);
    t5p__zero(g->dh, Nd * D);
    t5p_linear_backward(g->dh, dw->lm_head, a->logits, a->dec_out, w->lm_head, (int)Nd, D, V);
    const float scale = c->flavor == T5P_PEGASUS ? 1.0f / sqrtf((float)D) : 1.0f;
    t5p_dropout_backward(g->dh, g->dh, Nd * D, p, t5p__drop_key(m, T5P__SITE_DEC + 1 + 3 * Ld), scale);
    t5p__zero(g->dres, Nd * D);
    t5p_rmsnorm_backward(g->dres, dw->dec_norm, g->dh, a->dec_x + Ld * Nd * D, a->dec_rstdf, w->dec_norm, (int)Nd,
                         D);

    // decoder
    t5p__zero(g->denc, Ne * D);
    t5p__zero(g->ddec_pb, (size_t)H * Td * Td);
    if (g->dcross_pb) t5p__zero(g->dcross_pb, (size_t)H * Td * S);
    for (int l = Ld - 1; l >= 0; l--) {
        float *x = a->dec_x + l * Nd * D, *x1 = a->dec_x1 + l * Nd * D, *x2 = a->dec_x2 + l * Nd * D;
        const size_t DF = (size_t)D * c->d_ff;
        t5p__ffn_block ff = t5p__dec_ffn(m, l);
        t5p__ffn_backward(m, x2, &ff, dw->dec_ln2 + l * D, dw->dec_wi0 + l * DF, dw->dec_wi1 + l * DF,
                          dw->dec_wo + l * DF, (int)Nd, p, t5p__drop_key(m, T5P__SITE_DEC + 3 + 3 * l));
        t5p__attn_block ca = t5p__dec_cross(m, l);
        t5p__attn_grads cg = t5p__dec_cross_grads(m, l);
        t5p__attn_backward(m, x1, a->enc_out, g->denc, &ca, &cg, B, Td, p,
                           t5p__drop_key(m, T5P__SITE_DEC + 2 + 3 * l));
        t5p__attn_block sa = t5p__dec_self(m, l);
        t5p__attn_grads sg = t5p__dec_self_grads(m, l);
        t5p__attn_backward(m, x, NULL, NULL, &sa, &sg, B, Td, p, t5p__drop_key(m, T5P__SITE_DEC + 1 + 3 * l));
    }
    t5p_dropout_backward(g->dres, g->dres, Nd * D, p, t5p__drop_key(m, T5P__SITE_DEC), 1.0f);
    t5p_embedding_backward(dw->shared, g->dres, a->dec_in, (int)Nd, D);

    // encoder, from the gradient the cross-attentions left on its output
    t5p_dropout_backward(g->denc, g->denc, Ne * D, p, t5p__drop_key(m, T5P__SITE_ENC + 1 + 2 * Le), 1.0f);
    t5p__zero(g->dres, Ne * D);
    t5p_rmsnorm_backward(g->dres, dw->enc_norm, g->denc, a->enc_x + Le * Ne * D, a->enc_rstdf, w->enc_norm, (int)Ne,
                         D);
    t5p__zero(g->denc_pb, (size_t)H * S * S);
    for (int l = Le - 1; l >= 0; l--) {
        float *x = a->enc_x + l * Ne * D, *x1 = a->enc_x1 + l * Ne * D;
        const size_t DF = (size_t)D * c->d_ff;
        t5p__ffn_block ff = t5p__enc_ffn(m, l);
        t5p__ffn_backward(m, x1, &ff, dw->enc_ln1 + l * D, dw->enc_wi0 + l * DF, dw->enc_wi1 + l * DF,
                          dw->enc_wo + l * DF, (int)Ne, p, t5p__drop_key(m, T5P__SITE_ENC + 2 + 2 * l));
        t5p__attn_block at = t5p__enc_attn(m, l);
        t5p__attn_grads ag = t5p__enc_attn_grads(m, l);
        t5p__attn_backward(m, x, NULL, NULL, &at, &ag, B, S, p, t5p__drop_key(m, T5P__SITE_ENC + 1 + 2 * l));
    }
    t5p_dropout_backward(g->dres, g->dres, Ne * D, p, t5p__drop_key(m, T5P__SITE_ENC), 1.0f);
    t5p_embedding_backward(dw->shared, g->dres, a->src, (int)Ne, D);

    // position tables, computed first by the forward
    if (g->dcross_pb) t5p_position_bias_backward(dw->dec_bias, g->dcross_pb, H, Td, S, 0, NB, MD);
    t5p_position_bias_backward(dw->dec_bias, g->ddec_pb, H, Td, Td, 0, NB, MD);
    t5p_position_bias_backward(dw->enc_bias, g->denc_pb, H, S, S, 1, NB, MD);
    return 0;
}

#endif  // T5P_IMPLEMENTATION_DONE
#endif  // T5P_IMPLEMENTATION
