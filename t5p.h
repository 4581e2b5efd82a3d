/* t5p.h - T5 PEGASUS in C: Chinese tokenization, pseudo-summary pretraining data,
   the mT5 encoder-decoder, training and generation.                 public domain / MIT

   An stb-style single-file library. Do this:
       #define T5P_IMPLEMENTATION
   before you include this file in *one* C file to create the implementation.
   Other files include it without the define and see only the declarations.

   Link with: -lutf8proc -lm (and -fopenmp for threads). Include path must find
   <stb_ds.h> (Debian: libstb-dev, -I/usr/include/stb).

   CONTENTS (sections in dependency order, each behind a "// ---" banner)
     1. base        errors, allocation, UTF-8, Unicode properties, files, lines, JSON
     2. jieba       dictionary, DAG, max-probability route, HMM, block rules: jieba 0.42.1
     3. tokenizer   vocabulary, lowercase/NFD/Mn, basic tokenizer, WordPiece, encode/decode,
                    vocabulary builder (bert4keras Tokenizer with jieba pre-tokenization)
     4. pseudo      text_segmentate, groups, bit-parallel LCS, greedy pseudo-summary pairs (train.py)
     5. io          float16/bfloat16, atomic files, safetensors (mmap),
                    training-state files
     6. model       mT5 v1.1 network on the CPU: config, parameter layout and HF names, layer
                    forward/backward pairs, encoder-decoder forward, backward, loss (two flavours);
                    model directories (config.json, model.safetensors, vocab.txt) both ways with transformers
     7. optim       Adafactor (bert4keras and Hugging Face styles), Adam, AdamW, LR schedule,
                    optimizer state files
     8. data        training pairs (JSONL, CSL/LCSTS TSV) tokenized in parallel, pretokenized shards,
                    padded batches, seeded epoch order
     9. generate    encoder once, shared cross-attention keys/values, self-attention KV cache reordered by
                    parent beam without copying; greedy, beam search (bert4keras and transformers
                    semantics), top-k/top-p sampling; batched sources
    10. metrics     ROUGE-1/2/L F (rouge 1.0.0 / 1.0.1) and BLEU (nltk, method1) as finetune.py scored titles
    11. train       the training loop: steps, checkpoints (atomic), exact resume, non-finite stops, evaluation
    12. cuda        the CUDA backend's API (implemented in t5p_cuda.cu): device model, optimizers and
                    KV-cached decoding on the GPU, kernel-level twins of section 6; stand-ins without CUDA

   OPTIONS (define before including with T5P_IMPLEMENTATION)
     T5P_STATIC                 make every function static
     T5P_MALLOC/T5P_REALLOC/T5P_FREE   your allocator (define all three or none)
     T5P_ASSERT(x)              invariant checks (default: assert)
     T5P_NO_STB_DS_IMPLEMENTATION   you compile stb_ds's implementation yourself

   USAGE
       t5p_jieba *jb = t5p_jieba_load("dict.txt", NULL);       // NULL hmm: no HMM tables
       t5p_vocab *vb = t5p_vocab_load("vocab.txt");
       t5p_tokenizer tk;
       t5p_tokenizer_init(&tk, jb, vb);
       int *ids = NULL; int n = t5p_encode(&tk, "今天天气不错", -1, 0, &ids);
       if (n < 0) fprintf(stderr, "%s\n", t5p_last_error());
       ...
       t5p_free(ids); t5p_tokenizer_free(&tk); t5p_vocab_free(vb); t5p_jieba_free(jb);

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
    T5P_ERR_NONFINITE = -5,  // training: the loss or the gradient is NaN or infinite
    T5P_ERR_DEVICE = -6,  // a CUDA/cuBLAS call failed, no device, or built without CUDA
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
    char *buf;           // the current line (NUL-terminated)
    size_t len, cap;
    long lineno;         // 1-based number of the line last returned
    int pending_cr;      // the last line ended with '\r': a '\n' right after it belongs to it
    char *in;            // read buffer
    size_t in_pos, in_end;
} t5p_lines;
T5PDEF void t5p_lines_init(t5p_lines *r, FILE *f);
// Returns the line length (>= 0) with the line in r->buf (NUL-terminated), or -1 at the end.
T5PDEF long t5p_lines_next(t5p_lines *r);
T5PDEF void t5p_lines_free(t5p_lines *r);

// Unicode helpers over utf8proc.
T5PDEF int t5p_is_space(int32_t cp);  // Python str.isspace() / str.split() whitespace

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

// Python's repr() of a float (shortest digits that read back exactly): "0.5", "1e-05". Returns the length.
T5PDEF int t5p_repr_double(char *buf, size_t size, double x);

// ----------------------------------------------------------------------------
// 2. jieba: declarations
//
// Chinese word segmentation identical to jieba 0.42.1 (fxsjy/jieba): a prefix dictionary (a trie
// over code points), the DAG of dictionary words at each position, the max-probability route
// through it, an HMM (B/M/E/S Viterbi) for runs of single characters, and jieba's rules for
// splitting text into blocks. Words come out as code-point spans of the input.

typedef struct t5p_jieba t5p_jieba;

// Loads a jieba dictionary (dict.txt: "word freq [tag]" per line) and, when hmm_dir is not NULL,
// the HMM tables from that directory (jieba's finalseg/prob_{start,trans,emit}.py, or the same
// tables as .tsv files "state<TAB>[char<TAB>]logprob"). NULL on failure (t5p_last_error()).
T5PDEF t5p_jieba *t5p_jieba_load(const char *dict_path, const char *hmm_dir);
// Default locations: $T5P_JIEBA_DICT, else the installed jieba package (Debian python3-jieba);
// the HMM directory: $T5P_JIEBA_HMM, else "finalseg" beside the dictionary or in the package.
T5PDEF const char *t5p_jieba_default_dict(void);
T5PDEF const char *t5p_jieba_default_hmm(void);
// Adds user words the way jieba.load_userdict does ("word [freq] [tag]", a missing freq gets
// jieba's suggest_freq). Returns the number of words added or a negative error.
T5PDEF int t5p_jieba_load_userdict(t5p_jieba *jb, const char *path);
// jieba.add_word(word, freq): freq < 0 means "suggest one" (jieba's rule).
T5PDEF int t5p_jieba_add_word(t5p_jieba *jb, const char *word, long long freq);
T5PDEF void t5p_jieba_free(t5p_jieba *jb);
T5PDEF int t5p_jieba_has_hmm(const t5p_jieba *jb);
T5PDEF long long t5p_jieba_total(const t5p_jieba *jb);  // sum of frequencies
// Frequency of a word given as code points: -1 when it is not in the prefix dictionary,
// 0 when it is only a prefix of a word (jieba's FREQ table).
T5PDEF long long t5p_jieba_freq(const t5p_jieba *jb, const int32_t *cps, int n);

typedef struct {
    int32_t start, end;  // code points [start, end) of the input; cut-all mode can yield empty words
    int32_t join;        // 1: this span continues the previous word (only in cut-all mode, where
                         // jieba glues ASCII pieces that need not be adjacent)
    int32_t node;        // the word's node in the dictionary when the cut knows it (accurate mode
                         // without HMM), else -1: an opaque handle t5p_tokenizer uses to skip a look-up
} t5p_span;

enum { T5P_CUT_HMM = 1, T5P_CUT_ALL = 2 };

// The result of a cut plus scratch memory reused between calls: one per thread. Zero-initialise.
typedef struct {
    t5p_span *words;  // stb_ds array: the words of the last cut
    double *score;    // scratch: route scores
    int32_t *next;    // scratch: route ends
    int32_t *tmp;     // scratch: Viterbi back-pointers and HMM output
    int32_t *hnode;   // scratch: dictionary node of each route word
} t5p_cut;

// jieba.cut(text, cut_all=mode&T5P_CUT_ALL, HMM=mode&T5P_CUT_HMM) over n code points.
// Appends nothing to previous results: out->words holds exactly this cut. Returns the word count.
T5PDEF int t5p_jieba_cut(const t5p_jieba *jb, const int32_t *cps, int n, int mode, t5p_cut *out);
T5PDEF void t5p_cut_free(t5p_cut *c);

// ----------------------------------------------------------------------------
// 3. tokenizer: declarations
//
// The T5 PEGASUS tokenizer is bert4keras's Tokenizer(vocab, do_lower_case=True,
// pre_tokenize=lambda s: jieba.cut(s, HMM=False)): the text is lowercased, NFD-decomposed and
// stripped of combining marks (Mn); jieba cuts it into words; a word in the vocabulary is one
// token, any other goes through BERT's basic tokenizer (punctuation and CJK characters split
// off) and WordPiece ("##" continuation pieces). [CLS] ... [SEP] around it all.

typedef struct t5p_vocab t5p_vocab;

// Loads a vocabulary the way bert4keras's load_vocab does: Python text-mode lines (\n, \r, \r\n),
// invalid UTF-8 bytes ignored, token = first whitespace-separated field (or the stripped line when
// there is none), id = the number of distinct tokens seen before it (a repeated token takes that id
// without adding one, so it shares it with the next new token). NUL bytes stay inside tokens.
T5PDEF t5p_vocab *t5p_vocab_load(const char *path);
// Builds a vocabulary from n tokens in id order (duplicates handled as above).
T5PDEF t5p_vocab *t5p_vocab_new(const char *const *tokens, int n);
T5PDEF void t5p_vocab_free(t5p_vocab *v);
T5PDEF int t5p_vocab_size(const t5p_vocab *v);                  // len(token_dict)
T5PDEF int t5p_vocab_id(const t5p_vocab *v, const char *token);  // -1 when absent
T5PDEF int t5p_vocab_id_n(const t5p_vocab *v, const char *token, size_t n);  // token may hold NULs
T5PDEF const char *t5p_vocab_token(const t5p_vocab *v, int id); // NULL when no token has it
T5PDEF int t5p_vocab_unk(const t5p_vocab *v);                   // id of [UNK] (-1 if absent)

typedef struct {
    const t5p_jieba *jieba;   // pre-tokenizer (cut with HMM off); NULL: BERT basic tokenizer only
    const t5p_vocab *vocab;
    int keep_case;            // 0 (default): do_lower_case=True, as T5 PEGASUS
    int word_maxlen;          // 0: 200, bert4keras's default; longer words stay whole
    int32_t *node_ids;        // optional, from t5p_tokenizer_init: the vocabulary id of each jieba
    int node_gen;             //   dictionary node, so known words skip the hash look-up
} t5p_tokenizer;

// Fills tk for (jb, vb) and tabulates the vocabulary id of every dictionary prefix (about 50 ms for
// jieba's dictionary; makes t5p_tokenize faster). A tokenizer set up by hand works too, without the
// table; so does this one after the dictionary changes (the table is then ignored). 0 or an error.
T5PDEF int t5p_tokenizer_init(t5p_tokenizer *tk, const t5p_jieba *jb, const t5p_vocab *vb);
T5PDEF void t5p_tokenizer_free(t5p_tokenizer *tk);  // frees the table only

// Tokens of one text plus scratch memory reused between calls (one per thread; zero-initialise).
typedef struct {
    int n;              // number of tokens
    int *ids;           // stb_ds array: ids ([UNK] for tokens outside the vocabulary)
    int32_t *off;       // stb_ds array: token i is the NUL-terminated string text + off[i]
    char *text;         // stb_ds array of token bytes
    long nbad;          // invalid UTF-8 bytes read as U+FFFD in the last text
    int32_t *cps, *norm, *word;  // scratch
    t5p_cut cut;                 // scratch
    char *scratch;               // scratch
} t5p_tokens;

// bert4keras tokenize(text) then encode's truncation when maxlen > 0: while there are more than
// maxlen tokens, the token before [SEP] is dropped. Returns the token count or a negative error.
T5PDEF int t5p_tokenize(const t5p_tokenizer *tk, const char *text, size_t len, int maxlen, t5p_tokens *out);
T5PDEF const char *t5p_token_str(const t5p_tokens *t, int i);
T5PDEF void t5p_tokens_free(t5p_tokens *t);
// Convenience: the ids of encode(text, maxlen) in a new array (t5p_free it). len < 0: strlen.
T5PDEF int t5p_encode(const t5p_tokenizer *tk, const char *text, long len, int maxlen, int **ids);
// bert4keras decode(ids): special [..] tokens dropped, ## pieces glued, CJK and punctuation glued,
// its regex clean-ups. Returns a new NUL-terminated string (t5p_free it) or NULL (unknown id).
T5PDEF char *t5p_decode(const t5p_tokenizer *tk, const int *ids, int n);

// Vocabulary builder (the T5 PEGASUS blog's recipe): candidates are a base vocabulary plus the
// `nwords` most frequent jieba dictionary words; a corpus is tokenized with those candidates and
// counted; the result is the first 106 base tokens in order, then the most frequent other
// candidates (ties: lower candidate id first, i.e. base order, then word rank) up to the size.
// Without a base vocabulary the base is synthesised: BERT's 106 special tokens ([PAD], [unused1..99],
// [UNK], [CLS], [SEP], [MASK], <S>, <T>), then every character seen in the corpus and "##c" for each
// seen character that WordPiece can continue with (not CJK, not punctuation); those characters are
// always kept, so the corpus tokenizes without [UNK].
typedef struct t5p_vocab_builder t5p_vocab_builder;

// jb: jieba with the dictionary whose words are candidates; base may be NULL (then call
// t5p_vocab_builder_see before t5p_vocab_builder_start, over the whole corpus).
T5PDEF t5p_vocab_builder *t5p_vocab_builder_new(const t5p_jieba *jb, const t5p_vocab *base, int nwords);
// Pass 1 without a base: records the (normalised) characters of a text. Thread-safe per `seen`
// bitmap: pass NULL to record into the builder, or a thread's own bitmap of T5P_SEEN_WORDS words
// merged later with t5p_vocab_builder_see_merge.
#define T5P_SEEN_WORDS (0x110000 / 64)
T5PDEF void t5p_vocab_builder_see(t5p_vocab_builder *b, const char *text, size_t len, uint64_t *seen, t5p_tokens *scratch);
T5PDEF void t5p_vocab_builder_see_merge(t5p_vocab_builder *b, const uint64_t *seen);
// Fixes the candidates; returns their number or a negative error.
T5PDEF int t5p_vocab_builder_start(t5p_vocab_builder *b);
T5PDEF const t5p_tokenizer *t5p_vocab_builder_tokenizer(const t5p_vocab_builder *b);
// Pass 2: tokenizes one text with the candidates and adds its token counts to counts[] (one array
// of t5p_vocab_size(candidates) per thread), then t5p_vocab_builder_add merges an array.
T5PDEF void t5p_vocab_builder_count(const t5p_vocab_builder *b, const char *text, size_t len, long long *counts, t5p_tokens *scratch);
T5PDEF void t5p_vocab_builder_add(t5p_vocab_builder *b, const long long *counts);
// The chosen tokens (at most `size`, fewer when the corpus has fewer tokens with a count > 0), in
// vocabulary order; *n gets their number. Pointers stay valid until the builder is freed.
T5PDEF const char **t5p_vocab_builder_result(t5p_vocab_builder *b, int size, int *n);
T5PDEF long long t5p_vocab_builder_count_of(const t5p_vocab_builder *b, int candidate_id);
T5PDEF void t5p_vocab_builder_free(t5p_vocab_builder *b);
// Every dictionary word (UTF-8) with its frequency, in no particular order.
T5PDEF void t5p_jieba_foreach_word(const t5p_jieba *jb, void (*fn)(const char *word, long long freq, void *ctx), void *ctx);

// ----------------------------------------------------------------------------
// 4. pseudo: declarations
// PEGASUS pseudo-summary pairs as t5-pegasus train.py builds them: text_segmentate, groups of pieces,
// greedy selection of the pieces that best "summarize" the rest by longest common subsequence. One input
// document (in train.py one corpus line, the "text" field of its JSON) gives 0..k groups of pieces, and
// each group one (source, target) pair. Same pairs as the original, far faster (bit-parallel LCS, bounds
// that skip candidates that cannot win); see the implementation notes.

typedef struct {
    int maxlen;            // 512: a group closes before a piece that takes it past maxlen*1.5 characters
    int piece_len;         // 32: text_segmentate's maxlen (pieces merge while shorter than piece_len)
    const char *seps;      // "\n。": separators, one code point each, in order of use (UTF-8)
    double rate;           // 0.25: stop once target/source characters > rate
    long max_group_chars;  // 32768: groups longer than this are skipped and counted (0: no limit); only
                           // hostile input gets there: it bounds time and memory
} t5p_pseudo_params;

typedef struct {
    long long docs, groups, pairs;  // documents seen, groups formed, pairs made
    long long skipped_long;         // groups over max_group_chars
    long long skipped_empty;        // groups whose source ran out of characters (train.py divides by zero)
    long long bad_utf8;             // invalid UTF-8 bytes replaced by U+FFFD
    long long candidates, lcs_runs; // candidates considered, of which scored by a full LCS run
} t5p_pseudo_stats;

typedef struct {
    const char *source, *target;    // UTF-8, NUL-terminated
    size_t source_len, target_len;  // bytes
} t5p_pseudo_pair;

typedef struct t5p_pseudo t5p_pseudo;  // workspace; one per thread

T5PDEF t5p_pseudo_params t5p_pseudo_defaults(void);
T5PDEF t5p_pseudo *t5p_pseudo_new(const t5p_pseudo_params *p);  // NULL p: defaults. NULL on failure
T5PDEF void t5p_pseudo_free(t5p_pseudo *ps);
// Pairs of one document (UTF-8 text of n bytes): returns their number (>= 0) or a negative error; *pairs
// points into ps and stays valid until the next call on ps.
T5PDEF int t5p_pseudo_summary(t5p_pseudo *ps, const char *text, size_t n, const t5p_pseudo_pair **pairs);
// The last call's pairs as JSONL lines {"source": "...", "target": "..."} (json.dumps, ensure_ascii=False).
T5PDEF const char *t5p_pseudo_jsonl(t5p_pseudo *ps, size_t *len);
T5PDEF t5p_pseudo_stats t5p_pseudo_get_stats(const t5p_pseudo *ps);

// The steps, on code points. text_segmentate (bert4keras): pieces as (start, length) pairs in *spans
// (t5p_free it); returns the number of pieces or a negative error.
T5PDEF long t5p_text_segmentate(const int32_t *text, long n, long maxlen, const int32_t *seps, int nseps,
                                long **spans);
// Greedy selection on one group of npieces pieces (spans into text): side[k] = 0 for source pieces, 1 for
// target pieces (after train.py's swap). Returns 1, or 0 when the source runs out of characters (no pair),
// or a negative error. ps may be NULL (a temporary workspace is used).
T5PDEF int t5p_pseudo_select(t5p_pseudo *ps, const int32_t *text, const long *spans, int npieces, double rate,
                             unsigned char *side);
// Length of the longest common subsequence of a and b (bit-parallel, Hyyro 2004). Negative on failure.
T5PDEF long t5p_lcs(const int32_t *a, long na, const int32_t *b, long nb);
// Value of the string field key of the JSON object in json[0..n): decoded UTF-8 in *out (grown with
// T5P_REALLOC, capacity *cap). Returns its length in bytes, or T5P_ERR_FORMAT (malformed JSON, no such
// field, not a string; t5p_last_error() says which byte).
T5PDEF long t5p_json_string_field(const char *json, size_t n, const char *key, char **out, size_t *cap);

// ----------------------------------------------------------------------------
// 5. io: declarations
//
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
} t5p_param_tensor;
// Fills out[0..n) (out may be NULL to count; buf may be NULL, leaving data NULL) and returns
// n = 9*Le + 14*Ld + 6.
T5PDEF int t5p_param_tensors(const t5p_config *c, float *buf, t5p_param_tensor *out);

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
    char *vocab;     // vocab.txt bytes saved with the model (NULL: none; t5p_model_set_vocab / _load)
    size_t vocab_len;
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

// --- model directories, Hugging Face style
//
//   DIR/config.json        MT5 keys (d_model, d_ff, num_heads, d_kv, num_layers, num_decoder_layers, vocab_size,
//                          relative_attention_num_buckets/_max_distance, dropout_rate, layer_norm_epsilon,
//                          feed_forward_proj "gated-gelu", tie_word_embeddings false, model_type "mt5", ...) plus
//                          "t5p_flavor" ("pegasus" or "hf-mt5"; a config without it is Hugging Face's: hf-mt5)
//   DIR/model.safetensors  float32 tensors under Hugging Face names (t5p_param_tensors), metadata {"format":"pt"}
//   DIR/vocab.txt          the vocabulary the model was trained with (when the model has one)
// A t5p directory loads in transformers (MT5ForConditionalGeneration.from_pretrained(DIR); the hf-mt5 flavour
// computes the same logits there) and a transformers MT5 directory with model.safetensors loads here.
//
// Loading accepts F32, F16, BF16 and F64 tensors (converted to float32) and Hugging Face's duplicates
// encoder.embed_tokens.weight / decoder.embed_tokens.weight when they equal shared.weight. It refuses, naming
// the file and tensor: a missing or unexpected tensor, a wrong shape or dtype, a truncated or corrupt file,
// a config t5p cannot compute (feed_forward_proj other than gated-gelu, tied embeddings, erf GELU without
// t5p_flavor), and a vocab.txt whose size differs from vocab_size. A directory without config.json but with a
// file "latest" (a training output directory) loads the checkpoint that file names.
//
// Saving: into a directory that does not exist yet, everything is written into DIR.tmp.PID and that directory
// is renamed to DIR (all or nothing). Into an existing directory, each file is replaced atomically on its own
// (model.safetensors, vocab.txt, then config.json; other files in DIR are left alone).

// Reads config.json (Hugging Face MT5/T5 keys, defaults as transformers' MT5Config for absent ones).
T5PDEF int t5p_config_load(t5p_config *c, const char *path);
// Writes config.json atomically. decoder_start_id / eos_id: the ids to record (T5 PEGASUS: [CLS], [SEP]).
T5PDEF int t5p_config_save(const t5p_config *c, const char *path, int decoder_start_id, int eos_id);
// Sets the vocabulary saved with the model: reads path, which must hold exactly cfg.vocab_size tokens.
T5PDEF int t5p_model_set_vocab(t5p_model *m, const char *path);
// Loads config.json + model.safetensors (+ vocab.txt) from dir. NULL on failure (t5p_last_error()).
T5PDEF t5p_model *t5p_model_load(const char *dir);
// Loads weights from a safetensors file into an existing model whose config they must fit (all or nothing:
// on error the model is unchanged).
T5PDEF int t5p_model_load_weights(t5p_model *m, const char *path);
// Saves config.json, model.safetensors and (when set) vocab.txt into dir (see above). 0 or an error.
T5PDEF int t5p_model_save(const t5p_model *m, const char *dir);

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

// ----------------------------------------------------------------------------
// 8. data: declarations
//
// Training pairs (source, target) as token ids: read from text and tokenized, or memory-mapped from
// pretokenized shards; then cut into padded batches in a seeded order.
//
// Text inputs, one pair per line (blank lines skipped; UTF-8):
//   T5P_PAIRS_JSONL  {"source": "...", "target": "..."}: what `t5p pseudo` writes (other keys ignored)
//   T5P_PAIRS_TSV    target<TAB>source after stripping the line (Python str.strip()): CSL `title<TAB>abstract`
//                    (what finetune.py reads with `title, content = l.strip().split('\t')`) and LCSTS
//                    `summary<TAB>text`; exactly two fields
// Each text is encoded as the original did: tokenizer.encode(text, maxlen) = [CLS] tokens [SEP], too long a
// sequence keeping its first maxlen-1 tokens and its final [SEP].
//
// Shard file (little-endian; offsets 8-aligned):
//   0   char[8]  magic "T5PSHARD"
//   8   u32      version (1)
//   12  u32      flags: bit 0 jieba pre-tokenization off, bit 1 cased (no lowercasing)
//   16  u64      vocabulary hash (t5p_vocab_hash)
//   24  u64      jieba dictionary fingerprint: the sum of its frequencies (0 without jieba)
//   32  u32      vocabulary size
//   36  u32      max source length the texts were encoded with (0: none)
//   40  u32      max target length (0: none)
//   44  u32      reserved (0)
//   48  u64      n, the number of pairs
//   56  u64      m, the number of ids
//   64  u64      checksum of bytes 72.. to the end: h = 0xcbf29ce484222325, then for each 8-byte little-endian
//                word w (the last one zero-padded) h = (h ^ w) * 0x100000001b3
//   72  u64[2n+1] offsets: source k = ids[off[2k], off[2k+1]), target k = ids[off[2k+1], off[2k+2]); off[0] = 0,
//                non-decreasing, off[2n] = m
//   ..  i32[m]   ids, each in [0, vocabulary size)
// File size is exactly 72 + 8(2n+1) + 4m. Loading checks all of it and names the file and the pair at fault.

enum { T5P_PAIRS_AUTO, T5P_PAIRS_JSONL, T5P_PAIRS_TSV, T5P_PAIRS_SHARD };

typedef struct t5p_pairs t5p_pairs;

T5PDEF t5p_pairs *t5p_pairs_new(void);
T5PDEF void t5p_pairs_free(t5p_pairs *p);  // accepts NULL
T5PDEF int64_t t5p_pairs_count(const t5p_pairs *p);
T5PDEF int64_t t5p_pairs_tokens(const t5p_pairs *p);  // ids of all sources and targets
// Appends a copy of one pair. 0 or T5P_ERR_NOMEM.
T5PDEF int t5p_pairs_add(t5p_pairs *p, const int32_t *src, int ns, const int32_t *tgt, int nt);
// Pair k (0 <= k < count): pointers stay valid until p is freed.
T5PDEF void t5p_pairs_get(const t5p_pairs *p, int64_t k, const int32_t **src, int *ns, const int32_t **tgt, int *nt);
// Content hash of every pair in order (lengths and ids): identifies a dataset.
T5PDEF uint64_t t5p_pairs_hash(const t5p_pairs *p);

// The format of a file: T5P_PAIRS_SHARD by its magic, JSONL for *.jsonl / *.json or a first line starting
// with '{', else TSV. Returns the format or a negative error (unreadable file).
T5PDEF int t5p_pairs_detect(const char *path);

// Identity of a tokenizer for shards: FNV-1a 64 over (id, length, bytes) of every distinct vocabulary token.
T5PDEF uint64_t t5p_vocab_hash(const t5p_vocab *v);

typedef struct {
    int format;              // T5P_PAIRS_JSONL or T5P_PAIRS_TSV
    int max_src, max_tgt;    // encode maxlen (0: no limit)
    const char *src_key;     // JSONL field names (NULL: "source", "target")
    const char *tgt_key;
    int threads;             // 0: OpenMP's default
    void (*progress)(void *ctx, int64_t pairs, int64_t bytes);  // called now and then (may be NULL)
    void *ctx;
} t5p_pairs_read_opts;

typedef struct {
    int64_t lines, pairs, blank;             // lines read, pairs added, blank lines skipped
    int64_t src_truncated, tgt_truncated;    // texts cut to maxlen
    int64_t src_tokens, tgt_tokens;          // ids added (after truncation)
    int64_t unk;                             // [UNK] ids among them
    long nbad;                               // invalid UTF-8 bytes read as U+FFFD
} t5p_pairs_read_stats;

// Reads text pairs from f (name for messages), tokenizes them (in parallel) and appends them in input
// order. A malformed line stops the read with T5P_ERR_FORMAT naming file and line (pairs before it stay).
T5PDEF int t5p_pairs_read_text(t5p_pairs *p, FILE *f, const char *name, const t5p_tokenizer *tk,
                               const t5p_pairs_read_opts *o, t5p_pairs_read_stats *stats);

typedef struct {
    uint64_t vocab_hash;     // t5p_vocab_hash of the tokenizer's vocabulary
    uint64_t jieba_total;    // t5p_jieba_total of its dictionary (0: no jieba)
    uint32_t flags;          // T5P_SHARD_NO_JIEBA | T5P_SHARD_CASED
    int vocab_size;
    int max_src, max_tgt;
} t5p_shard_info;
enum { T5P_SHARD_NO_JIEBA = 1, T5P_SHARD_CASED = 2 };
// The info that describes tokenizer tk with these maxlens.
T5PDEF t5p_shard_info t5p_shard_info_of(const t5p_tokenizer *tk, int max_src, int max_tgt);

// Writes every pair of p as one shard (atomically).
T5PDEF int t5p_shard_save(const t5p_pairs *p, const char *path, const t5p_shard_info *info);
// Memory-maps a shard and appends its pairs to p (no copy); *info (may be NULL) gets its header.
T5PDEF int t5p_shard_load(t5p_pairs *p, const char *path, t5p_shard_info *info);

// A padded batch: rows of pairs, sources and targets padded with pad_id to the longest in the batch.
typedef struct {
    int B, S, T;             // rows, source length, target length (T >= 2)
    int *src, *tgt;          // (B,S), (B,T)
    int64_t src_tokens, tgt_tokens;  // non-pad ids
    int cap_src, cap_tgt;    // private: allocated sizes
} t5p_batch;
// Fills b with pairs idx[0..n) of p, each truncated to max_src / max_tgt (0: no limit) the way encode
// truncates (first max-1 ids and the last). 0 or T5P_ERR_NOMEM.
T5PDEF int t5p_batch_make(t5p_batch *b, const t5p_pairs *p, const int64_t *idx, int n, int max_src, int max_tgt,
                          int pad_id);
T5PDEF void t5p_batch_free(t5p_batch *b);
// order (n) = the pairs of epoch `epoch`: a seeded Fisher-Yates permutation (shuffle != 0) or 0..n-1.
T5PDEF void t5p_pairs_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch, int shuffle);

// ----------------------------------------------------------------------------
// 9. generate: declarations
//
// Decoding with a t5p_model, which generation only reads: any number of threads may generate with one
// model at once. The encoder runs once per input, and each decoder layer's cross-attention keys and
// values are computed once per input and shared by all of its beams. The decoder's self-attention keys
// and values are cached per step and never copied when beams are reordered: every beam keeps, per
// position, the cache slot of its ancestor at that position, so reordering by parent beam moves a few
// ints per beam, not vectors. The inputs of a batch decode together, each step running the decoder once
// over the live beams of all inputs. Both flavours (the model's cfg.flavor): pegasus adds the decoder's
// position bias to cross-attention and scales the decoder output by d_model**-0.5; hf-mt5 does neither.
//
// Modes (t5p_gen_config.mode):
//   T5P_GEN_GREEDY         the largest logit each step, as transformers' greedy_search.
//   T5P_GEN_BEAM_ORIGINAL  bert4keras 0.10.0 AutoRegressiveDecoder.beam_search, as T5 PEGASUS's
//                          finetune.py used it (ORIGINAL.md section 5): a beam's score is the sum of
//                          log(p + 1e-12) of its tokens, p the float32 softmax probability, summed in double;
//                          each step keeps the `beam` best (beam, token) pairs over all live beams; if the
//                          best of them ends with end_id it is the result; otherwise beams that ended are
//                          dropped and the beam shrinks to those left; after max_len steps the best live beam
//                          is the result. No length normalisation.
//   T5P_GEN_BEAM_HF        transformers 4.30 generate(num_beams=beam, length_penalty, early_stopping) for an
//                          encoder-decoder: float32 beam scores summing log_softmax; each step ranks 2*beam
//                          candidates; an end_id among the first `beam` of them makes a finished hypothesis
//                          scored sum / (length ** length_penalty), length counting the start token but not
//                          end_id; at most `beam` hypotheses kept; done when early_stopping and `beam`
//                          hypotheses exist, or else when the worst kept >= best candidate / cur_len **
//                          length_penalty; at max_len the live beams join the hypotheses. beam 1 is greedy.
//   T5P_GEN_SAMPLE         transformers' sample(): logits / temperature, then top_k (tokens below the k-th
//                          largest logit removed, ties kept), then top_p (ascending cumulative probability
//                          <= 1 - top_p removed, the best token always kept), one token drawn from the
//                          softmax with a counter-based generator of (seed, the source's ids, step):
//                          reproducible whatever the batch or thread count, but not torch's random stream.
// Ties are broken deterministically: candidates rank by score, then by logit (so that beam 1 of
// beam_original equals greedy even where two logits round to the same probability), then by the lower
// index beam * vocab + token. (torch.topk and numpy.argpartition leave the order of equal values
// unspecified: torch.topk returned equal values as indices 16, 19, 18, 17, 20; torch.argmax returns the
// first maximum, as here.) Beam 1 equals greedy in all beam modes.
//
// Output: the ids generated after start_id, end_id included when it was generated (an output without it
// stopped at max_len).
//
//   t5p_gen_config g;
//   t5p_gen_config_init(&g);                    // beam_original, beam 1, max_len 32, [CLS] 101, [SEP] 102
//   g.beam = 3;
//   int out[32], n = t5p_generate(model, src_ids, src_len, &g, out, 32);  // n < 0: t5p_last_error()

typedef enum {
    T5P_GEN_GREEDY = 0,
    T5P_GEN_BEAM_ORIGINAL = 1,
    T5P_GEN_BEAM_HF = 2,
    T5P_GEN_SAMPLE = 3,
} t5p_gen_mode;

typedef struct {
    int mode;              // t5p_gen_mode                                     (T5P_GEN_BEAM_ORIGINAL)
    int beam;              // beams of the beam modes; 1 is greedy             (1, the original's evaluation)
    int max_len;           // most ids generated, end_id included              (32, the original's maxlen)
    float length_penalty;  // beam_hf: exponent of the length                  (1.0, transformers' default)
    int early_stopping;    // beam_hf: stop at `beam` finished hypotheses      (0, transformers' default)
    int top_k;             // sample: keep the top_k largest logits, 0 all     (0)
    float top_p;           // sample: nucleus mass, 1 all                      (1.0)
    float temperature;     // sample: logits / temperature                     (1.0)
    uint64_t seed;         // sample                                           (0)
    int start_id, end_id;  // decoder start and end ids                        (101 [CLS], 102 [SEP])
    int use_cache;         // 1: KV cache; 0: the decoder re-run over the whole prefix each step, as the
                           // original did (same ids, much slower; tests and comparisons)   (1)
} t5p_gen_config;

T5PDEF void t5p_gen_config_init(t5p_gen_config *g);  // the defaults above
T5PDEF int t5p_gen_mode_parse(const char *name);     // "greedy", "original", "hf", "sample" or T5P_ERR_ARG
T5PDEF const char *t5p_gen_mode_name(int mode);

// Generates for one source (src_len >= 1 ids; ids equal to the model's pad_id are masked, as in
// t5p_model_forward). Writes at most max_out ids to out_ids and returns how many were generated (which
// may exceed max_out, like snprintf), or a negative error.
T5PDEF int t5p_generate(const t5p_model *m, const int *src_ids, int src_len, const t5p_gen_config *cfg, int *out_ids,
                        int max_out);
// n sources decoded together: source i is src_ids[i][0..src_lens[i]). Output i goes to
// out_ids + i*max_out (at most max_out ids), its full length to out_lens[i] and, when out_scores is not
// NULL, its score to out_scores[i]: beam_original the summed log(p + 1e-12), beam_hf the length-penalised
// score (sequences_scores), greedy and sample the summed log-softmax of the chosen ids. Each output is the
// one t5p_generate gives for that source alone. Returns 0 or a negative error. Memory: about
// 2*Ld*HK floats per source token (cross-attention keys and values) plus 2*Ld*HK*max_len per beam.
T5PDEF int t5p_generate_batch(const t5p_model *m, const int *const *src_ids, const int *src_lens, int n,
                              const t5p_gen_config *cfg, int *out_ids, int max_out, int *out_lens,
                              double *out_scores);

// ----------------------------------------------------------------------------
// 10. metrics: declarations
//
// ROUGE-1/2/L F and BLEU exactly as T5 PEGASUS's finetune.py computed them: the `rouge` package
// (pltrdy; 1.0.0 was current in March 2021, 1.0.1 changed ROUGE-N to unique n-grams) and nltk's
// sentence_bleu with SmoothingFunction().method1 (nltk 3.5 to 3.10 give the same numbers here).
// The doubles equal Python's bit for bit on x86-64 glibc (tests/test_metrics.c).

enum { T5P_ROUGE_1_0_0 = 0, T5P_ROUGE_1_0_1 = 1 };

typedef struct {
    double rouge1, rouge2, rougel, bleu;  // F scores and BLEU in [0, 1]
} t5p_scores;

// Package level, texts used as they are (UTF-8; a negative length means NUL-terminated).
// t5p_rouge: f[0..2] = Rouge().get_scores(hyps=hyp, refs=ref)[0]['rouge-1' | 'rouge-2' | 'rouge-l']['f'].
// Returns 0, T5P_ERR_ARG where the package raises ValueError (hyp or ref has no text between its
// '.'s, e.g. "" or "."), or T5P_ERR_NOMEM.
T5PDEF int t5p_rouge(const char *hyp, long nhyp, const char *ref, long nref, int version, double f[3]);
// *bleu = sentence_bleu([ref.split(' ')], hyp.split(' '), smoothing_function=SmoothingFunction().method1).
// Returns 0 or T5P_ERR_NOMEM.
T5PDEF int t5p_bleu(const char *hyp, long nhyp, const char *ref, long nref, double *bleu);

// finetune.py level: one generated title against its reference. Both are joined character by
// character with spaces and lowercased (Python's str.lower(): 'İ' becomes "i̇"), then scored as above.
// Returns 0 (scored), 1 (the prediction is empty or whitespace: all scores 0, and the pair still
// counts), T5P_ERR_ARG where finetune.py stops with rouge's ValueError (pred "." or title "" / "."),
// or T5P_ERR_NOMEM.
T5PDEF int t5p_metrics_score(const char *pred, long npred, const char *title, long ntitle, int version,
                             t5p_scores *out);

// Corpus averages like finetune.py's evaluate(): per-pair scores summed in input order, then divided
// by the number of pairs.
typedef struct {
    int version;        // T5P_ROUGE_1_0_0 or T5P_ROUGE_1_0_1
    int zero_on_raise;  // pairs where rouge raises: 0 = return the error and add nothing, 1 = count as 0
    long count;         // pairs counted (the denominator)
    long empty;         // of which empty predictions
    long raised;        // of which pairs where rouge raised (zero_on_raise only)
    t5p_scores sum;
} t5p_metrics;
T5PDEF void t5p_metrics_init(t5p_metrics *m, int version);
// Scores and adds one pair; *line (may be NULL) receives its scores. Returns t5p_metrics_score's code.
T5PDEF int t5p_metrics_add(t5p_metrics *m, const char *pred, long npred, const char *title, long ntitle,
                           t5p_scores *line);
T5PDEF t5p_scores t5p_metrics_mean(const t5p_metrics *m);  // all 0 when nothing was counted


// ----------------------------------------------------------------------------
// 11. train: declarations
//
// The training loop behind `t5p train`, one optimizer step per call:
//   batch   the next `batch` pairs of this epoch's seeded order (the last batch of an epoch may be smaller,
//           as bert4keras's DataGenerator), truncated to max_src / max_tgt and padded to the longest row
//   step    zero gradients, forward with dropout, loss = mean cross-entropy over the non-pad target tokens
//           ([CLS] t ... [SEP] as decoder input, ORIGINAL.md section 4), backward, gradient norm, optimizer step
// Everything is a function of (seed, step): the data order of epoch e is a permutation seeded by (seed, e) and
// dropout masks are keyed by (seed, step), so a run that is saved, stopped and resumed computes bitwise the same
// losses and weights as one that never stopped.
// A non-finite loss or gradient stops the step before the optimizer touches the weights (T5P_ERR_NONFINITE),
// so the weights stay those of the last good step.
//
// Checkpoint directory (t5p_trainer_save): the model directory files (config.json, model.safetensors,
// vocab.txt) plus optimizer.safetensors (t5p_optim_save) and train_state.json (t5p_train_state_save: step, seed,
// rng = {dropout counter, 0, 0, 0}, epoch, data_pos = the next position in the epoch's order, optimizer, loss).
// It is written into DIR.tmp.PID and renamed to DIR, so a crash never leaves a partial checkpoint under DIR.
//
//   t5p_trainer *tr = t5p_trainer_new(model, &optim_cfg, pairs, &train_cfg);
//   t5p_train_step s;
//   while (s.step < 1000 && t5p_trainer_step(tr, &s) == 0) printf("%lld %f\n", (long long)s.step, s.loss);
//   t5p_trainer_save(tr, "run/checkpoint-00001000");
//   t5p_trainer_free(tr);


typedef struct {
    int batch;               // pairs per step (32: the original's fine-tuning)
    int max_src, max_tgt;    // truncation when batching (0: none)
    uint64_t seed;           // data order and dropout
    int shuffle;             // 1: a new seeded permutation every epoch; 0: input order
} t5p_train_config;
T5PDEF t5p_train_config t5p_train_config_default(void);  // 32, 384, 128, seed 1, shuffle

typedef struct {
    int64_t step;            // optimizer steps done, this one included
    int64_t epoch;           // completed passes over the data
    int64_t pos;             // position of the next batch in the epoch's order
    int epoch_done;          // this step finished an epoch
    float loss, acc;         // this batch: mean loss and accuracy per non-pad target token
    int ntokens;             // non-pad target tokens (labels)
    int B, S, T;             // batch shape
    int64_t src_tokens, tgt_tokens;  // non-pad ids of the batch
    double grad_norm;        // L2 norm of the gradient
    double lr;               // learning rate of this step
} t5p_train_step;

typedef struct t5p_trainer t5p_trainer;
// Borrows model and data (both must outlive the trainer); owns an optimizer over every parameter (names from
// t5p_param_tensors, norm weights marked). Sets model->seed = cfg->seed and model->step = 0.
T5PDEF t5p_trainer *t5p_trainer_new(t5p_model *model, const t5p_optim_config *ocfg, const t5p_pairs *data,
                                    const t5p_train_config *cfg);
T5PDEF void t5p_trainer_free(t5p_trainer *t);  // accepts NULL
// One step; fills *out. 0, T5P_ERR_NONFINITE (nothing updated; the step counter stays) or another error.
T5PDEF int t5p_trainer_step(t5p_trainer *t, t5p_train_step *out);
T5PDEF int64_t t5p_trainer_steps_per_epoch(const t5p_trainer *t);
T5PDEF const t5p_optim *t5p_trainer_optim(const t5p_trainer *t);
// Writes a checkpoint directory (see above); an existing DIR is replaced (renamed aside, then removed).
T5PDEF int t5p_trainer_save(const t5p_trainer *t, const char *dir);
// Restores weights, optimizer state and position from a checkpoint directory. The checkpoint must match the
// model's config, the optimizer kind and the seed. On error the trainer must not be stepped again.
T5PDEF int t5p_trainer_load(t5p_trainer *t, const char *dir);
// Teacher-forced loss and accuracy over every pair of dev (in order, batches of `batch`, no dropout), averaged
// per non-pad target token. Does not change the training position or the dropout counter.
T5PDEF int t5p_trainer_eval(t5p_trainer *t, const t5p_pairs *dev, int batch, double *loss, double *acc);

// ----------------------------------------------------------------------------
// 12. cuda (declarations)
//
// The CUDA backend is t5p_cuda.cu, compiled by nvcc (build.sh does it when nvcc exists). A program that
// uses it compiles its T5P_IMPLEMENTATION file with -DT5P_CUDA and links t5p_cuda.o with
// -lcublas -lcudart -lstdc++. Without T5P_CUDA the device-level API below still links: every call
// fails with T5P_ERR_DEVICE ("built without CUDA") and t5p_cuda_device_count() is 0, so a program can
// offer --device cuda and say why it cannot run. The kernel-level functions (device pointers, last
// block) exist only in t5p_cuda.o.
//
// The device model keeps the parameters in the t5p_params layout (float32 master weights), gradients in
// the same layout, optimizer state and activations in a few device allocations; only batches and
// results cross to the host. It computes what t5p_model_forward/_backward compute, within float
// rounding, with the same dropout masks. Precision: T5P_CUDA_FP32 (float32 products), T5P_CUDA_TF32, or
// T5P_CUDA_BF16 (bf16 tensor-core products with float32 accumulation; storage stays float32).
//
//   if (t5p_cuda_device_count() <= 0) ... t5p_last_error() says why
//   t5p_cuda_model *g = t5p_cuda_model_new(&cfg, T5P_CUDA_BF16);
//   t5p_cuda_model_set_params(g, m->params);                   // a host buffer in the t5p_params layout
//   t5p_cuda_optim *o = t5p_cuda_model_optim_new(g, &ocfg);    // over t5p_param_tensors' list and names
//   for (...) {
//       t5p_cuda_model_zero_grad(g);
//       t5p_cuda_model_forward(g, src, tgt, B, S, T, 1, &st);  // st.loss, st.acc, st.ntokens
//       t5p_cuda_model_backward(g);
//       t5p_cuda_optim_step(o);
//   }
//   t5p_cuda_model_get_params(g, m->params);                   // checkpoint: weights back to the host,
//   t5p_cuda_optim_sync(o, cpu_optim, 0);                      // state into a CPU optimizer of the same
//   t5p_optim_save(cpu_optim, path);                           // config and list: one file format

enum { T5P_DEVICE_CPU = 0, T5P_DEVICE_CUDA = 1 };
enum { T5P_CUDA_FP32 = 0, T5P_CUDA_TF32 = 1, T5P_CUDA_BF16 = 2 };

// Stores the message t5p_last_error() returns; returns code. For code compiled apart (t5p_cuda.cu).
T5PDEF int t5p_error_set(int code, const char *fmt, ...);
T5PDEF int t5p_device_parse(const char *name);           // "cpu" / "cuda" -> T5P_DEVICE_*, or T5P_ERR_ARG
T5PDEF const char *t5p_device_name(int device);          // "cpu" / "cuda"
T5PDEF int t5p_cuda_precision_parse(const char *name);   // "fp32" / "tf32" / "bf16" -> T5P_CUDA_*, or T5P_ERR_ARG
T5PDEF const char *t5p_cuda_precision_name(int precision);

// Devices: the count (0 when there is none or no driver: t5p_last_error() says why); t5p_cuda_init
// selects one (the first call of anything below selects device 0); info: "NVIDIA H200, 139.8 GiB,
// 132 SMs, sm_90". All return 0 or a negative error.
T5PDEF int t5p_cuda_device_count(void);
T5PDEF int t5p_cuda_init(int device);
T5PDEF int t5p_cuda_device_info(char *buf, size_t size);

// The model on the device. Parameters start at zero: set them from a host buffer. The forward checks
// ids like t5p_model_forward and sets *st (may be NULL). A training forward (training != 0: dropout on,
// step += 1) computes the logit gradient in the same pass as the loss (fused classifier), so its logits
// are gone; an evaluation forward keeps them (t5p_cuda_model_get_logits, (B, T-1, V)). The backward
// accumulates into the gradients (+=), once per forward. set_rng sets the dropout seed and step
// (t5p_model's seed and step give the same masks). device_bytes: device memory held.
typedef struct t5p_cuda_model t5p_cuda_model;
typedef struct {
    float loss;   // mean cross-entropy per non-pad label
    float acc;    // fraction of non-pad labels predicted by the first maximal logit
    int ntokens;  // non-pad labels
} t5p_cuda_stats;
T5PDEF t5p_cuda_model *t5p_cuda_model_new(const t5p_config *c, int precision);  // NULL on failure
T5PDEF void t5p_cuda_model_free(t5p_cuda_model *g);                             // accepts NULL
T5PDEF int t5p_cuda_model_set_params(t5p_cuda_model *g, const float *params);   // t5p_num_params floats
T5PDEF int t5p_cuda_model_get_params(t5p_cuda_model *g, float *params);
T5PDEF int t5p_cuda_model_get_grads(t5p_cuda_model *g, float *grads);
T5PDEF int t5p_cuda_model_zero_grad(t5p_cuda_model *g);
T5PDEF int t5p_cuda_model_set_rng(t5p_cuda_model *g, uint64_t seed, uint64_t step);
T5PDEF int t5p_cuda_model_forward(t5p_cuda_model *g, const int *src, const int *tgt, int B, int S, int T,
                                  int training, t5p_cuda_stats *st);
T5PDEF int t5p_cuda_model_backward(t5p_cuda_model *g);
T5PDEF int t5p_cuda_model_get_logits(t5p_cuda_model *g, float *logits);
T5PDEF size_t t5p_cuda_model_device_bytes(const t5p_cuda_model *g);

// Optimizer on the device over every tensor of t5p_param_tensors (names, shapes and is_norm as the CPU
// trainer lists them), with t5p_optim's arithmetic. sync copies the state and step count to (to_device
// = 0) or from (1) a CPU t5p_optim made with the same config over the same tensor list, so
// t5p_optim_save/_load keep one file format for both backends.
typedef struct t5p_cuda_optim t5p_cuda_optim;
T5PDEF t5p_cuda_optim *t5p_cuda_model_optim_new(t5p_cuda_model *g, const t5p_optim_config *cfg);
T5PDEF void t5p_cuda_optim_free(t5p_cuda_optim *o);  // accepts NULL
T5PDEF int t5p_cuda_optim_step(t5p_cuda_optim *o);
T5PDEF long t5p_cuda_optim_steps(const t5p_cuda_optim *o);
T5PDEF int t5p_cuda_optim_sync(t5p_cuda_optim *go, t5p_optim *co, int to_device);

// Decoding with KV caches. gen_begin encodes B sources (B, S) once, computes every layer's cross-
// attention K/V once (shared by the beams of a source) and prepares R = B*nbeams rows of self-attention
// cache for max_len positions. Each gen_step feeds ids (R, host) at the next position: parents (R or
// NULL) first reorders the self-attention cache (row r continues row parents[r]); then per row the k
// best candidates go to vals, idx (R, k, host) in the order (value descending, index ascending), value
// = the logit (add NULL) or add[r] + log-softmax (beam scores). generate_greedy: out (B, max_len) holds
// the ids after start_id up to and including eos_id, then pad_id; lens (B, may be NULL) their counts.
T5PDEF int t5p_cuda_gen_begin(t5p_cuda_model *g, const int *src, int B, int S, int nbeams, int max_len);
T5PDEF int t5p_cuda_gen_step(t5p_cuda_model *g, const int *ids, const int *parents, const float *add, int k,
                             float *vals, int *idx);
T5PDEF int t5p_cuda_generate_greedy(t5p_cuda_model *g, const int *src, int B, int S, int start_id, int eos_id,
                                    int max_len, int *out, int *lens);

// Kernel level, device pointers (only in t5p_cuda.o). Each op takes the arguments of its C twin in
// section 6 and computes the same (= / +=) within float rounding; the xent functions return the summed
// loss through *loss. Matrix products use the precision set by t5p_cuda_set_precision (FP32 default).
T5PDEF int t5p_cuda_malloc(void **p, size_t bytes);
T5PDEF int t5p_cuda_free(void *p);
T5PDEF int t5p_cuda_upload(void *dst, const void *src, size_t bytes);
T5PDEF int t5p_cuda_download(void *dst, const void *src, size_t bytes);
T5PDEF int t5p_cuda_memset(void *p, int byte, size_t bytes);
T5PDEF int t5p_cuda_sync(void);
T5PDEF int t5p_cuda_set_precision(int precision);
T5PDEF int t5p_cuda_embedding_forward(float *out, const int *ids, const float *table, int N, int D);
T5PDEF int t5p_cuda_embedding_backward(float *dtable, const float *dout, const int *ids, int N, int D);
T5PDEF int t5p_cuda_rmsnorm_forward(float *out, float *rstd, const float *in, const float *g, int N, int D,
                                    float eps);
T5PDEF int t5p_cuda_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in, const float *rstd,
                                     const float *g, int N, int D);
// Fused residual + RMSNorm: xout = x + dropout(sub; p, key), out = rmsnorm(xout) (rstd saved).
// Backward: dres += rmsnorm backward of dh (dg +=), then dsub (=) dropout backward of dres (p, key; the
// dropout of the sublayer before) unless dsub is NULL. Twins: compositions of section 6's pairs.
T5PDEF int t5p_cuda_residual_rmsnorm_forward(float *xout, float *out, float *rstd, const float *x, const float *sub,
                                             const float *g, int N, int D, float eps, float p, uint64_t key);
T5PDEF int t5p_cuda_residual_rmsnorm_backward(float *dres, float *dsub, float *dg, const float *dh, const float *in,
                                              const float *rstd, const float *g, int N, int D, float p,
                                              uint64_t key);
T5PDEF int t5p_cuda_linear_forward(float *y, const float *x, const float *w, int N, int I, int O);
T5PDEF int t5p_cuda_linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w, int N,
                                    int I, int O);
T5PDEF int t5p_cuda_position_bias_forward(float *bias, const float *table, int H, int Tq, int Tk, int bidirectional,
                                          int num_buckets, int max_distance);
T5PDEF int t5p_cuda_position_bias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk,
                                           int bidirectional, int num_buckets, int max_distance);
T5PDEF int t5p_cuda_attention_forward(float *ctx, float *att, const float *q, const float *k, const float *v,
                                      const float *bias, const uint8_t *kmask, int causal, int B, int Tq, int Tk,
                                      int H, int Dk);
T5PDEF int t5p_cuda_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dctx, float *att,
                                       const float *q, const float *k, const float *v, int B, int Tq, int Tk, int H,
                                       int Dk);
T5PDEF int t5p_cuda_gelu_gate_forward(float *g, const float *u0, const float *u1, size_t n, int tanh_form);
T5PDEF int t5p_cuda_gelu_gate_backward(float *du0, float *du1, const float *dg, const float *u0, const float *u1,
                                       size_t n, int tanh_form);
T5PDEF int t5p_cuda_dropout_forward(float *out, const float *in, size_t n, float p, uint64_t key, float scale);
T5PDEF int t5p_cuda_dropout_backward(float *din, const float *dout, size_t n, float p, uint64_t key, float scale);
T5PDEF int t5p_cuda_xent_forward(double *loss, float *lse, const float *logits, const int *labels, int N, int V,
                                 int *correct);
T5PDEF int t5p_cuda_xent_backward(float *dlogits, const float *logits, const float *lse, const int *labels, int N,
                                  int V, float scale);
// Forward and backward in one pass (llm.c's fused classifier): logits become their gradient.
T5PDEF int t5p_cuda_xent_fused(double *loss, int *correct, float *logits, float *lse, const int *labels, int N,
                               int V, float scale);
// Per row r of x (R, V): the k best (value descending, index ascending) into vals, idx (R, k); value =
// x, or add[r] + x - logsumexp(row) when add (R, device) is not NULL. 1 <= k <= min(V, 64).
T5PDEF int t5p_cuda_topk(float *vals, int *idx, const float *x, const float *add, int R, int V, int k);
// KV-cache reordering: dst row r (=) src row idx[r], rows of row_floats floats; dst != src.
T5PDEF int t5p_cuda_gather_rows(float *dst, const float *src, const int *idx, int R, size_t row_floats);
// Optimizer over any parameter list whose w and g are device pointers (t5p_optim_new's contract).
T5PDEF t5p_cuda_optim *t5p_cuda_optim_new(const t5p_optim_config *cfg, const t5p_param *params, int n);
T5PDEF int t5p_cuda_optim_nparams(const t5p_cuda_optim *o);
// State array `which` (0 m, 1 v, 2 v_row, 3 v_col) of parameter k: device pointer and length, NULL when
// absent; *name (may be NULL) gets the parameter's name.
T5PDEF float *t5p_cuda_optim_state(t5p_cuda_optim *o, int k, int which, int64_t *count, const char **name);
T5PDEF void t5p_cuda_optim_set_steps(t5p_cuda_optim *o, long steps);

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
#include <limits.h>
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

// Empties an stb_ds array, keeping its memory.
#define t5p__arrclear(a) ((a) ? (void)(stbds_header(a)->length = 0) : (void)0)

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
    b->p[b->n] = 0;  // always a NUL-terminated string
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

#define T5P__LINES_CHUNK (1 << 16)

T5PDEF long t5p_lines_next(t5p_lines *r) {
    if (!r->in) {
        r->in = (char *)T5P_MALLOC(T5P__LINES_CHUNK);
        T5P_ASSERT(r->in);
    }
    r->len = 0;
    int any = 0;
    for (;;) {
        if (r->in_pos == r->in_end) {
            r->in_pos = 0;
            r->in_end = fread(r->in, 1, T5P__LINES_CHUNK, r->f);
            if (r->in_end == 0) break;
        }
        if (r->pending_cr) {  // "\r\n" is one line ending
            r->pending_cr = 0;
            if (r->in[r->in_pos] == '\n') r->in_pos++;
            continue;
        }
        const char *s0 = r->in + r->in_pos, *nl = (const char *)memchr(s0, '\n', r->in_end - r->in_pos);
        const char *cr = (const char *)memchr(s0, '\r', (size_t)((nl ? nl : r->in + r->in_end) - s0));
        size_t p = (size_t)((cr ? cr : nl ? nl : r->in + r->in_end) - r->in);
        size_t k = p - r->in_pos;
        if (r->len + k + 1 > r->cap) {
            while (r->len + k + 1 > r->cap) r->cap = r->cap ? r->cap * 2 : 256;
            r->buf = (char *)T5P_REALLOC(r->buf, r->cap);
            T5P_ASSERT(r->buf);
        }
        memcpy(r->buf + r->len, r->in + r->in_pos, k);
        r->len += k;
        any = 1;
        if (p < r->in_end) {
            r->pending_cr = r->in[p] == '\r';
            r->in_pos = p + 1;
            break;
        }
        r->in_pos = p;
    }
    if (!any) return -1;
    if (!r->buf) {
        r->cap = 256;
        r->buf = (char *)T5P_MALLOC(r->cap);
        T5P_ASSERT(r->buf);
    }
    r->buf[r->len] = 0;
    r->lineno++;
    return (long)r->len;
}

T5PDEF void t5p_lines_free(t5p_lines *r) {
    T5P_FREE(r->buf);
    T5P_FREE(r->in);
    r->buf = r->in = NULL;
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

// Appends s[0..n) as a JSON string the way Python's json.dumps(s, ensure_ascii=False) writes it:
// raw UTF-8, \" \\ \n \r \t \b \f, \u00XX for other control characters. Invalid UTF-8 bytes become
// U+FFFD unless the caller promises valid UTF-8 (then runs of 8 plain bytes are copied at once).
static void t5p__json_write_str(t5p__buf *b, const char *s, size_t n, int valid_utf8) {
    static const char hex[] = "0123456789abcdef";
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    t5p__buf_reserve(b, n + 2);
    T5P__LIT(b, "\"");
    size_t i = 0, run = 0;  // bytes from run on are copied as they are
    while (i < n) {
        if (valid_utf8 && i + 8 <= n) {  // 8 bytes at a time while none is a control character, '"' or '\\'
            uint64_t x, q, e;
            memcpy(&x, s + i, 8);
            q = x ^ (ones * '"'), e = x ^ (ones * '\\');
            if (!((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((e - ones) & ~e)) & high)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || valid_utf8)) { i++; continue; }
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

static inline void t5p__json_write_string(t5p__buf *b, const char *s, size_t n) { t5p__json_write_str(b, s, n, 0); }
static inline void t5p__json_write_utf8(t5p__buf *b, const char *s, size_t n) { t5p__json_write_str(b, s, n, 1); }

static void t5p__json_write_int(t5p__buf *b, int64_t x) {
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%lld", (long long)x);
    t5p__buf_add(b, tmp, (size_t)k);
}

// Python's repr of a double: the fewest significant digits that read back to x, in fixed notation
// for decimal exponents -4..15 (with ".0" when integral), else d.ddde+XX; nan, inf, -inf.
T5PDEF int t5p_repr_double(char *buf, size_t size, double x) {
    char tmp[40];
    if (isnan(x)) return snprintf(buf, size, "nan");
    if (isinf(x)) return snprintf(buf, size, x > 0 ? "inf" : "-inf");
    if (x == 0.0) return snprintf(buf, size, signbit(x) ? "-0.0" : "0.0");
    int p = 1;
    // Fewest significant digits that read back to x, correctly rounded (like Python's dtoa mode 0;
    // at an exact power of two Python may pick a neighbouring last digit that this misses).
    for (; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
    char digits[24];
    int nd = 0, neg = tmp[0] == '-';
    const char *q = tmp + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = atoi(q + 1) + 1;  // x = 0.d1d2... * 10^decpt
    char o[64];
    int k = 0;
    if (neg) o[k++] = '-';
    if (decpt <= -4 || decpt > 16) {  // Python's repr switches to exponent notation here
        o[k++] = digits[0];
        if (nd > 1) { o[k++] = '.'; for (int i = 1; i < nd; i++) o[k++] = digits[i]; }
        k += snprintf(o + k, sizeof o - (size_t)k, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    } else if (decpt <= 0) {
        o[k++] = '0', o[k++] = '.';
        for (int i = 0; i < -decpt; i++) o[k++] = '0';
        for (int i = 0; i < nd; i++) o[k++] = digits[i];
    } else {
        for (int i = 0; i < decpt; i++) o[k++] = i < nd ? digits[i] : '0';
        o[k++] = '.';
        if (nd > decpt) for (int i = decpt; i < nd; i++) o[k++] = digits[i];
        else o[k++] = '0';
    }
    o[k] = 0;
    return snprintf(buf, size, "%s", o);
}

// A JSON number as Python's json.dumps writes a float: its repr, with NaN / Infinity / -Infinity.
static void t5p__json_write_number(t5p__buf *b, double x) {
    if (isnan(x)) { T5P__LIT(b, "NaN"); return; }
    if (isinf(x)) { if (x < 0) T5P__LIT(b, "-Infinity"); else T5P__LIT(b, "Infinity"); return; }
    char out[64];
    int k = t5p_repr_double(out, sizeof out, x);
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

// ----------------------------------------------------------------------------
// 2. jieba
//
// The prefix dictionary is a trie over code points. Node 0 is the root. While a dictionary is being
// built, an edge (node, cp) -> child lives in an open-addressing hash table keyed by node<<21 | cp
// (the root's edges for the Basic Multilingual Plane in a direct table); every edge carries what
// the route needs about its child. Every prefix of every word is a node (jieba's FREQ holds 0
// for prefixes), so "frag in FREQ" is "the trie walk is still alive".
//
// For cutting, the trie is then frozen: renumbered breadth-first so the children of a node are
// contiguous and sorted by code point. A walk from a common character then stays within a few
// cache lines instead of probing a large hash table (measured: about 2x faster cutting).

#define T5P__MIN_FLOAT (-3.14e100)  // jieba's "impossible" log probability

typedef struct {
    long long freq;   // FREQ[word]: 0 for a prefix that is not a word
    int force_split;  // user word added with freq 0: the HMM may not produce it
} t5p__jnode;

typedef struct {
    uint64_t key;   // (node<<21 | cp) + 1; 0 marks an empty slot
    int32_t child;
    int32_t word;   // FREQ[child] != 0: a word ends here
    double logf;    // log(FREQ[child] or 1); the route adds (logf - log(total))
} t5p__jedge;

typedef struct {
    int32_t cp;            // code point on the edge into this node
    int32_t first, count;  // its children: indices first .. first+count-1, sorted by code point; or,
                           // count < 0, a hash table of -count slots at first (empty: cp -1)
    int32_t lf;            // index of log(freq) in logtab when a word ends here, else -1
} t5p__jcsr;

struct t5p_jieba {
    t5p__jnode *nodes;   // stb_ds array, node 0 = root
    t5p__jedge *root;    // root edges for cp < 0x10000, indexed by cp
    t5p__jedge *edges;   // hash table of all other edges
    size_t cap, used;    // its power-of-two capacity and fill
    t5p__jcsr *csr;      // the frozen trie, index 0 = root (16-byte records searched in place)
    int32_t *csr_node;   // node id of each frozen node
    int32_t *csr_root;   // frozen child of the root for cp < 0x10000, or -1
    double *logtab;      // stb_ds array: the distinct log(freq) values of the words
    int frozen;          // csr is up to date (else walks use the hash table)
    int generation;      // counts freezes: frozen node handles are valid within one generation
    int32_t csr_total;   // frozen records (empty slots included)
    long long total;
    int has_hmm;
    double start[4], trans[4][4];  // states B, E, M, S (jieba's order for ties: B < E < M < S)
    double *emit;                  // emit[(cp - 0x4E00) * 4 + state] for U+4E00..U+9FD5
};

enum { T5P__B = 0, T5P__E = 1, T5P__M = 2, T5P__S = 3 };
#define T5P__HAN_LO 0x4E00
#define T5P__HAN_HI 0x9FD5
#define T5P__ROOT_DIRECT 0x10000

static inline uint64_t t5p__edge_key(int32_t node, int32_t cp) { return (((uint64_t)node << 21) | (uint32_t)cp) + 1; }

static inline size_t t5p__edge_slot(uint64_t key, size_t cap) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

// The edge from node along cp in the hash trie, or NULL.
static inline const t5p__jedge *t5p__jstep(const t5p_jieba *jb, int32_t node, int32_t cp) {
    if (node == 0 && cp < T5P__ROOT_DIRECT) return jb->root[cp].key ? &jb->root[cp] : NULL;
    uint64_t key = t5p__edge_key(node, cp);
    for (size_t i = t5p__edge_slot(key, jb->cap);; i = (i + 1) & (jb->cap - 1)) {
        const t5p__jedge *e = &jb->edges[i];
        if (e->key == key) return e;
        if (e->key == 0) return NULL;
    }
}

static void t5p__jgrow(t5p_jieba *jb) {
    size_t oldcap = jb->cap;
    t5p__jedge *old = jb->edges;
    jb->cap = oldcap ? oldcap * 2 : 1 << 16;
    jb->edges = (t5p__jedge *)T5P_MALLOC(jb->cap * sizeof(t5p__jedge));
    T5P_ASSERT(jb->edges);
    memset(jb->edges, 0, jb->cap * sizeof(t5p__jedge));
    for (size_t j = 0; j < oldcap; j++) {
        if (!old[j].key) continue;
        size_t i = t5p__edge_slot(old[j].key, jb->cap);
        while (jb->edges[i].key) i = (i + 1) & (jb->cap - 1);
        jb->edges[i] = old[j];
    }
    T5P_FREE(old);
}

// The edge from node along cp, created (to a new prefix node with freq 0) when missing.
static t5p__jedge *t5p__jstep_add(t5p_jieba *jb, int32_t node, int32_t cp) {
    t5p__jedge *e = (t5p__jedge *)t5p__jstep(jb, node, cp);
    if (e) return e;
    if (node == 0 && cp < T5P__ROOT_DIRECT) {
        e = &jb->root[cp];
    } else {
        if ((jb->used + 1) * 2 > jb->cap) t5p__jgrow(jb);
        uint64_t key = t5p__edge_key(node, cp);
        size_t i = t5p__edge_slot(key, jb->cap);
        while (jb->edges[i].key) i = (i + 1) & (jb->cap - 1);
        e = &jb->edges[i];
        jb->used++;
    }
    t5p__jnode nn = {0, 0};
    e->key = t5p__edge_key(node, cp);
    e->child = (int32_t)arrlen(jb->nodes);
    e->word = 0;
    e->logf = 0.0;  // log(0 or 1)
    arrput(jb->nodes, nn);
    return e;
}

#define T5P__JSMALL 8  // frozen nodes with more children than this get a hashed child block
static inline uint32_t t5p__child_hash(int32_t cp) { return (uint32_t)cp * 0x9E3779B1u; }

// One step of a DAG walk from handle h (0 = root) along cp: the next handle, or -1 when the walk
// ends. Sets *word (a word ends here) and *logf. Handles are frozen indices when jb->frozen.
static inline int32_t t5p__jwalk(const t5p_jieba *jb, int32_t h, int32_t cp, int *word, double *logf) {
    if (!jb->frozen) {
        const t5p__jedge *e = t5p__jstep(jb, h, cp);
        if (!e) return -1;
        *word = e->word;
        *logf = e->logf;
        return e->child;
    }
    int32_t c = -1;
    const t5p__jcsr *t = jb->csr;
    if (h == 0 && cp < T5P__ROOT_DIRECT) {
        c = jb->csr_root[cp];
    } else if (t[h].count < 0) {  // hashed child block
        int32_t first = t[h].first;
        uint32_t mask = (uint32_t)(-t[h].count) - 1;
        for (uint32_t i = t5p__child_hash(cp) & mask;; i = (i + 1) & mask) {
            int32_t x = t[first + (int32_t)i].cp;
            if (x == cp) { c = first + (int32_t)i; break; }
            if (x < 0) break;
        }
    } else {  // few children (or the root's astral ones): sorted, searched
        int32_t lo = t[h].first, hi = lo + t[h].count;  // search [lo, hi)
        while (hi - lo > 8) {
            int32_t mid = lo + (hi - lo) / 2;
            if (t[mid].cp <= cp) lo = mid;
            else hi = mid;
        }
        for (; lo < hi; lo++)
            if (t[lo].cp == cp) { c = lo; break; }
    }
    if (c < 0) return -1;
    *word = t[c].lf >= 0;
    if (*word) *logf = jb->logtab[t[c].lf];
    return c;
}

// Node id (index into jb->nodes) of a walk handle.
static inline int32_t t5p__jnode_of(const t5p_jieba *jb, int32_t h) { return jb->frozen ? jb->csr_node[h] : h; }

// Node of a word given as code points, or -1 when it is not in the prefix dictionary.
static int32_t t5p__jfind(const t5p_jieba *jb, const int32_t *cps, int n) {
    int32_t h = 0;
    int word;
    double logf;
    for (int i = 0; i < n && h >= 0; i++) h = t5p__jwalk(jb, h, cps[i], &word, &logf);
    return n > 0 && h >= 0 ? t5p__jnode_of(jb, h) : -1;
}

T5PDEF long long t5p_jieba_freq(const t5p_jieba *jb, const int32_t *cps, int n) {
    int32_t node = t5p__jfind(jb, cps, n);
    return node < 0 ? -1 : jb->nodes[node].freq;
}

typedef struct { int32_t parent, cp, child; } t5p__jtriple;

static int t5p__jtriple_cmp(const void *a, const void *b) {
    const t5p__jtriple *x = (const t5p__jtriple *)a, *y = (const t5p__jtriple *)b;
    return x->cp < y->cp ? -1 : x->cp > y->cp;
}

// Distinct word frequencies -> index into jb->logtab (open addressing; frequencies are few).
typedef struct {
    long long *key;
    int32_t *val;
    size_t cap, used;
} t5p__lfmap;

static size_t t5p__lf_slot(const t5p__lfmap *m, long long f) {
    size_t i = (size_t)((uint64_t)f * 0x9E3779B97F4A7C15ull >> 40) & (m->cap - 1);
    while (m->key[i] != -1 && m->key[i] != f) i = (i + 1) & (m->cap - 1);
    return i;
}

static void t5p__lf_init(t5p__lfmap *m, size_t cap) {
    m->cap = cap;
    m->used = 0;
    m->key = (long long *)T5P_MALLOC(sizeof(long long) * cap);
    m->val = (int32_t *)T5P_MALLOC(sizeof(int32_t) * cap);
    T5P_ASSERT(m->key && m->val);
    for (size_t i = 0; i < cap; i++) m->key[i] = -1;
}

static int32_t t5p__lf_index(t5p_jieba *jb, t5p__lfmap *m, long long f, double logf) {
    size_t i = t5p__lf_slot(m, f);
    if (m->key[i] == f) return m->val[i];
    if ((m->used + 1) * 2 > m->cap) {  // grow, re-insert, find the slot again
        t5p__lfmap n;
        t5p__lf_init(&n, m->cap * 2);
        for (size_t q = 0; q < m->cap; q++)
            if (m->key[q] != -1) {
                size_t r = t5p__lf_slot(&n, m->key[q]);
                n.key[r] = m->key[q];
                n.val[r] = m->val[q];
            }
        n.used = m->used;
        T5P_FREE(m->key);
        T5P_FREE(m->val);
        *m = n;
        i = t5p__lf_slot(m, f);
    }
    m->key[i] = f;
    m->val[i] = (int32_t)arrlen(jb->logtab);
    arrput(jb->logtab, logf);
    m->used++;
    return m->val[i];
}

static int32_t t5p__block_cap(int32_t nk) {  // slots of a hashed child block: load <= 1/2
    int32_t cap = 16;
    while (cap < 2 * nk) cap *= 2;
    return cap;
}

// Builds the frozen copy of the trie: nodes numbered breadth-first, the children of a node in one
// contiguous block, sorted by code point for small nodes, an open-addressing table (empty slots
// have cp -1) for nodes with many children, so a step costs about one cache line.
static void t5p__jfreeze(t5p_jieba *jb) {
    int32_t nn = (int32_t)arrlen(jb->nodes);
    t5p__jtriple *e = (t5p__jtriple *)T5P_MALLOC(sizeof(t5p__jtriple) * (size_t)nn);
    t5p__jtriple *sorted = (t5p__jtriple *)T5P_MALLOC(sizeof(t5p__jtriple) * (size_t)nn);
    int32_t *start = (int32_t *)T5P_MALLOC(sizeof(int32_t) * (size_t)(nn + 1));
    t5p__jedge **into = (t5p__jedge **)T5P_MALLOC(sizeof(t5p__jedge *) * (size_t)nn);  // edge into node
    T5P_ASSERT(e && sorted && start && into);
    // every edge as (parent, cp, child)
    int32_t ne = 0;
    for (int32_t cp = 0; cp < T5P__ROOT_DIRECT; cp++)
        if (jb->root[cp].key) {
            e[ne++] = (t5p__jtriple){0, cp, jb->root[cp].child};
            into[jb->root[cp].child] = &jb->root[cp];
        }
    for (size_t i = 0; i < jb->cap; i++)
        if (jb->edges[i].key) {
            uint64_t k = jb->edges[i].key - 1;
            e[ne++] = (t5p__jtriple){(int32_t)(k >> 21), (int32_t)(k & 0x1FFFFF), jb->edges[i].child};
            into[jb->edges[i].child] = &jb->edges[i];
        }
    // counting sort by parent, then each node's children by code point
    memset(start, 0, sizeof(int32_t) * (size_t)(nn + 1));
    for (int32_t i = 0; i < ne; i++) start[e[i].parent + 1]++;
    for (int32_t i = 0; i < nn; i++) start[i + 1] += start[i];
    for (int32_t i = 0; i < ne; i++) sorted[start[e[i].parent]++] = e[i];
    for (int32_t i = nn; i > 0; i--) start[i] = start[i - 1];
    start[0] = 0;
    for (int32_t i = 0; i < nn; i++)
        if (start[i + 1] - start[i] > 1)
            qsort(sorted + start[i], (size_t)(start[i + 1] - start[i]), sizeof *sorted, t5p__jtriple_cmp);
    // size of the frozen array: every block, hashed ones with their empty slots
    int32_t total = 1;
    for (int32_t i = 0; i < nn; i++) {
        int32_t nk = start[i + 1] - start[i];
        total += (i == 0 || nk <= T5P__JSMALL) ? nk : t5p__block_cap(nk);
    }
    T5P_FREE(jb->csr);
    T5P_FREE(jb->csr_node);
    jb->csr = (t5p__jcsr *)T5P_MALLOC(sizeof(t5p__jcsr) * (size_t)total);
    jb->csr_node = (int32_t *)T5P_MALLOC(sizeof(int32_t) * (size_t)total);  // also the BFS queue
    if (!jb->csr_root) jb->csr_root = (int32_t *)T5P_MALLOC(sizeof(int32_t) * T5P__ROOT_DIRECT);
    T5P_ASSERT(jb->csr && jb->csr_node && jb->csr_root);
    t5p__arrclear(jb->logtab);
    t5p__lfmap lf;
    t5p__lf_init(&lf, 1 << 12);
    int32_t tail = 1;
    jb->csr[0] = (t5p__jcsr){-1, 0, 0, -1};
    jb->csr_node[0] = 0;
    for (int32_t b = 0; b < tail; b++) {
        int32_t id = jb->csr_node[b];
        if (id < 0) continue;  // an empty slot of a hashed block
        int32_t nk = start[id + 1] - start[id];
        int hashed = b > 0 && nk > T5P__JSMALL;
        int32_t cap = hashed ? t5p__block_cap(nk) : nk;
        jb->csr[b].first = tail;
        jb->csr[b].count = hashed ? -cap : nk;  // negative: a hashed block of -count slots
        for (int32_t k = 0; k < cap; k++) {
            jb->csr[tail + k] = (t5p__jcsr){-1, 0, 0, -1};
            jb->csr_node[tail + k] = -1;
        }
        for (int32_t k = start[id]; k < start[id + 1]; k++) {
            int32_t c = sorted[k].child, at = k - start[id];
            if (hashed) {
                at = (int32_t)(t5p__child_hash(sorted[k].cp) & (uint32_t)(cap - 1));
                while (jb->csr[tail + at].cp >= 0) at = (at + 1) & (cap - 1);
            }
            int32_t lfi = into[c]->word ? t5p__lf_index(jb, &lf, jb->nodes[c].freq, into[c]->logf) : -1;
            jb->csr[tail + at] = (t5p__jcsr){sorted[k].cp, 0, 0, lfi};
            jb->csr_node[tail + at] = c;
        }
        tail += cap;
    }
    T5P_ASSERT(tail == total);
    jb->csr_total = total;
    T5P_FREE(lf.key);
    T5P_FREE(lf.val);
    for (int32_t cp = 0; cp < T5P__ROOT_DIRECT; cp++) jb->csr_root[cp] = -1;
    for (int32_t k = 0; k < jb->csr[0].count; k++) {
        int32_t b = jb->csr[0].first + k;
        if (jb->csr[b].cp < T5P__ROOT_DIRECT) jb->csr_root[jb->csr[b].cp] = b;
    }
    T5P_FREE(e);
    T5P_FREE(sorted);
    T5P_FREE(start);
    T5P_FREE(into);
    jb->frozen = 1;
    jb->generation++;
}

// Python bytes.strip() whitespace.
static inline int t5p__ascii_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Parses an optionally signed decimal integer occupying all of s[0..n). Returns 0 on success.
static int t5p__parse_ll(const char *s, size_t n, long long *out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return -1;
    long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (v > (LLONG_MAX - 9) / 10) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

// Inserts a word (code points) with its frequency: FREQ[word] = freq, prefixes get 0 if new.
// The frozen trie is out of date afterwards until t5p__jfreeze runs again.
static int32_t t5p__jinsert(t5p_jieba *jb, const int32_t *cps, int n, long long freq) {
    jb->frozen = 0;
    int32_t node = 0;
    t5p__jedge *e = NULL;
    for (int i = 0; i < n; i++) {
        e = t5p__jstep_add(jb, node, cps[i]);
        node = e->child;
    }
    jb->nodes[node].freq = freq;
    e->word = freq != 0;
    e->logf = log((double)(freq ? freq : 1));
    return node;
}

// Decodes strict UTF-8 into a reusable code point buffer; -1 on invalid UTF-8 (byte offset in *bad).
static int t5p__utf8_strict(const char *s, size_t n, int32_t **cps, size_t *bad) {
    t5p__arrclear(*cps);
    for (size_t i = 0; i < n;) {
        size_t at = i;
        int32_t cp = t5p_utf8_next(s, n, &i);
        if (cp < 0) { *bad = at; return -1; }
        arrput(*cps, cp);
    }
    return (int)arrlen(*cps);
}

static void t5p__jieba_init(t5p_jieba *jb) {
    memset(jb, 0, sizeof *jb);
    t5p__jnode root = {0, 0};
    arrput(jb->nodes, root);
    jb->root = (t5p__jedge *)T5P_MALLOC(T5P__ROOT_DIRECT * sizeof(t5p__jedge));
    T5P_ASSERT(jb->root);
    memset(jb->root, 0, T5P__ROOT_DIRECT * sizeof(t5p__jedge));
    t5p__jgrow(jb);
}

// jieba's gen_pfdict: each line stripped, split on ' ', word = first field, freq = int(second).
static int t5p__jieba_load_dict(t5p_jieba *jb, const char *path) {
    size_t len;
    char *data = t5p_read_file(path, &len);
    if (!data) return T5P_ERR_IO;
    int32_t *cps = NULL;
    int rc = 0;
    long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && data[end] != '\n') end++;
        lineno++;
        size_t a = pos, b = end;
        size_t next = end < len ? end + 1 : end;
        while (a < b && t5p__ascii_space((unsigned char)data[a])) a++;
        while (b > a && t5p__ascii_space((unsigned char)data[b - 1])) b--;
        const char *sp1 = (const char *)memchr(data + a, ' ', b - a);
        if (!sp1) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s:%ld: invalid dictionary entry (expected 'word freq [tag]'): '%.*s'",
                          path, lineno, (int)(b - a > 60 ? 60 : b - a), data + a);
            break;
        }
        const char *f0 = sp1 + 1;
        const char *sp2 = (const char *)memchr(f0, ' ', (size_t)(data + b - f0));
        const char *f1 = sp2 ? sp2 : data + b;
        long long freq;
        size_t bad;
        if (t5p__parse_ll(f0, (size_t)(f1 - f0), &freq) != 0 || freq < 0) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s:%ld: invalid frequency '%.*s' (expected a non-negative integer)",
                          path, lineno, (int)(f1 - f0 > 30 ? 30 : f1 - f0), f0);
            break;
        }
        int n = t5p__utf8_strict(data + a, (size_t)(sp1 - (data + a)), &cps, &bad);
        if (n < 0) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s:%ld: invalid UTF-8 at byte %zu", path, lineno, a + bad);
            break;
        }
        if (n == 0) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s:%ld: empty word", path, lineno);
            break;
        }
        t5p__jinsert(jb, cps, n, freq);
        jb->total += freq;
        pos = next;
    }
    arrfree(cps);
    T5P_FREE(data);
    return rc;
}

static int t5p__jieba_load_hmm(t5p_jieba *jb, const char *dir);

T5PDEF t5p_jieba *t5p_jieba_load(const char *dict_path, const char *hmm_dir) {
    if (!dict_path) dict_path = t5p_jieba_default_dict();
    t5p_jieba *jb = (t5p_jieba *)T5P_MALLOC(sizeof *jb);
    if (!jb) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    t5p__jieba_init(jb);
    if (t5p__jieba_load_dict(jb, dict_path) != 0 || (hmm_dir && t5p__jieba_load_hmm(jb, hmm_dir) != 0)) {
        t5p_jieba_free(jb);
        return NULL;
    }
    if (jb->total <= 0) {
        t5p__err(T5P_ERR_FORMAT, "%s: dictionary has no words with a positive frequency", dict_path);
        t5p_jieba_free(jb);
        return NULL;
    }
    t5p__jfreeze(jb);
    return jb;
}

T5PDEF void t5p_jieba_free(t5p_jieba *jb) {
    if (!jb) return;
    arrfree(jb->nodes);
    T5P_FREE(jb->root);
    T5P_FREE(jb->edges);
    T5P_FREE(jb->csr);
    T5P_FREE(jb->csr_node);
    T5P_FREE(jb->csr_root);
    arrfree(jb->logtab);
    T5P_FREE(jb->emit);
    T5P_FREE(jb);
}

T5PDEF int t5p_jieba_has_hmm(const t5p_jieba *jb) { return jb->has_hmm; }
T5PDEF long long t5p_jieba_total(const t5p_jieba *jb) { return jb->total; }

static int t5p__file_exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

#define T5P__JIEBA_PKG "/usr/lib/python3/dist-packages/jieba"

T5PDEF const char *t5p_jieba_default_dict(void) {
    const char *e = getenv("T5P_JIEBA_DICT");
    return e && *e ? e : T5P__JIEBA_PKG "/dict.txt";
}

T5PDEF const char *t5p_jieba_default_hmm(void) {
    static _Thread_local char buf[4096];
    const char *e = getenv("T5P_JIEBA_HMM");
    if (e && *e) return e;
    const char *d = t5p_jieba_default_dict();
    const char *slash = strrchr(d, '/');
    int dl = slash ? (int)(slash - d) : 1;
    const char *dir = slash ? d : ".";
    snprintf(buf, sizeof buf, "%.*s/finalseg/prob_emit.py", dl, dir);
    if (t5p__file_exists(buf)) { snprintf(buf, sizeof buf, "%.*s/finalseg", dl, dir); return buf; }
    snprintf(buf, sizeof buf, "%.*s/finalseg_hmm/prob_emit.tsv", dl, dir);
    if (t5p__file_exists(buf)) { snprintf(buf, sizeof buf, "%.*s/finalseg_hmm", dl, dir); return buf; }
    return T5P__JIEBA_PKG "/finalseg";
}

// --- HMM tables. jieba ships them as Python dict literals (prob_*.py); we read that literal
// (strings with \u escapes, floats, nested dicts) without executing anything. Also accepted: the
// same numbers as TSV ("state<TAB>logprob", "from<TAB>to<TAB>logprob", "state<TAB>char<TAB>logprob").

typedef struct {
    const char *s, *path;
    size_t n, i;
} t5p__lit;

static void t5p__lit_ws(t5p__lit *p) {
    for (;;) {
        while (p->i < p->n && (t5p__ascii_space((unsigned char)p->s[p->i]))) p->i++;
        if (p->i < p->n && p->s[p->i] == '#') {
            while (p->i < p->n && p->s[p->i] != '\n') p->i++;
            continue;
        }
        return;
    }
}

static int t5p__lit_line(const t5p__lit *p) {
    int line = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++) line += p->s[k] == '\n';
    return line;
}

static int t5p__lit_fail(const t5p__lit *p, const char *what) {
    return t5p__err(T5P_ERR_FORMAT, "%s:%d: byte %zu: %s", p->path, t5p__lit_line(p), p->i, what);
}

static int t5p__hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// A Python string literal holding one code point ('\u4e00', 'B', u'x'); returns it or -1.
static int32_t t5p__lit_char(t5p__lit *p) {
    t5p__lit_ws(p);
    if (p->i < p->n && (p->s[p->i] == 'u' || p->s[p->i] == 'U')) p->i++;
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"')) return t5p__lit_fail(p, "expected a string"), -1;
    char q = p->s[p->i++];
    int32_t cp = -1;
    int count = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        if (p->s[p->i] == '\\' && p->i + 1 < p->n) {
            char e = p->s[p->i + 1];
            int digits = e == 'u' ? 4 : e == 'U' ? 8 : e == 'x' ? 2 : 0;
            p->i += 2;
            if (digits) {
                cp = 0;
                for (int k = 0; k < digits; k++) {
                    int h = p->i < p->n ? t5p__hexval((unsigned char)p->s[p->i]) : -1;
                    if (h < 0) return t5p__lit_fail(p, "bad escape"), -1;
                    cp = cp * 16 + h;
                    p->i++;
                }
            } else {
                cp = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? 0 : (unsigned char)e;
            }
        } else {
            cp = t5p_utf8_next(p->s, p->n, &p->i);
            if (cp < 0) return t5p__lit_fail(p, "invalid UTF-8"), -1;
        }
        count++;
    }
    if (p->i >= p->n) return t5p__lit_fail(p, "unterminated string"), -1;
    p->i++;
    if (count != 1) return t5p__lit_fail(p, "expected a one-character string"), -1;
    return cp;
}

static int t5p__lit_number(t5p__lit *p, double *v) {
    t5p__lit_ws(p);
    char *end;
    errno = 0;
    *v = strtod(p->s + p->i, &end);
    if (end == p->s + p->i) return t5p__lit_fail(p, "expected a number");
    p->i = (size_t)(end - p->s);
    return 0;
}

static int t5p__lit_expect(t5p__lit *p, char c) {
    t5p__lit_ws(p);
    if (p->i < p->n && p->s[p->i] == c) { p->i++; return 0; }
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return t5p__lit_fail(p, msg);
}

// After a dict item: ',' then maybe '}' (returns 1 when the dict ended), or '}' (1).
static int t5p__lit_sep(t5p__lit *p) {
    t5p__lit_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') { p->i++; return 1; }
    if (t5p__lit_expect(p, ',')) return -1;
    t5p__lit_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') { p->i++; return 1; }
    return 0;
}

static int t5p__state_index(int32_t c) {
    return c == 'B' ? T5P__B : c == 'E' ? T5P__E : c == 'M' ? T5P__M : c == 'S' ? T5P__S : -1;
}

// Stores one table entry. table: 0 start, 1 trans, 2 emit.
static void t5p__hmm_set(t5p_jieba *jb, int table, int s, int32_t key, double v) {
    if (table == 0) jb->start[s] = v;
    else if (table == 1) jb->trans[s][t5p__state_index(key)] = v;
    else if (key >= T5P__HAN_LO && key <= T5P__HAN_HI) jb->emit[(key - T5P__HAN_LO) * 4 + s] = v;
    // emission of characters outside U+4E00..U+9FD5 is never looked up: jieba's HMM runs on Han only
}

// Parses "P = {'B': v, ...}" (table 0) or "P = {'B': {'x': v, ...}, ...}" (tables 1, 2).
static int t5p__hmm_parse_py(t5p_jieba *jb, t5p__lit *p, int table) {
    const char *eq = NULL;
    for (size_t k = 0; k + 1 < p->n; k++)
        if (p->s[k] == 'P' && (k == 0 || p->s[k - 1] == '\n')) { eq = p->s + k; break; }
    if (!eq) return t5p__lit_fail(p, "no 'P = {' assignment");
    p->i = (size_t)(eq - p->s) + 1;
    if (t5p__lit_expect(p, '=') || t5p__lit_expect(p, '{')) return -1;
    t5p__lit_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') return t5p__lit_fail(p, "empty table");
    for (;;) {
        int32_t st = t5p__lit_char(p);
        if (st < 0) return -1;
        int s = t5p__state_index(st);
        if (s < 0) return t5p__lit_fail(p, "unknown state (expected B, E, M or S)");
        if (t5p__lit_expect(p, ':')) return -1;
        if (table == 0) {
            double v;
            if (t5p__lit_number(p, &v)) return -1;
            t5p__hmm_set(jb, table, s, 0, v);
        } else {
            if (t5p__lit_expect(p, '{')) return -1;
            for (;;) {
                int32_t key = t5p__lit_char(p);
                double v;
                if (key < 0 || t5p__lit_expect(p, ':') || t5p__lit_number(p, &v)) return -1;
                if (table == 1 && t5p__state_index(key) < 0) return t5p__lit_fail(p, "unknown state");
                t5p__hmm_set(jb, table, s, key, v);
                int e = t5p__lit_sep(p);
                if (e < 0) return -1;
                if (e == 1) break;
            }
        }
        int e = t5p__lit_sep(p);
        if (e < 0) return -1;
        if (e == 1) return 0;
    }
}

static int t5p__hmm_parse_tsv(t5p_jieba *jb, t5p__lit *p, int table) {
    int line = 0;
    for (size_t pos = 0; pos < p->n;) {
        size_t end = pos;
        while (end < p->n && p->s[end] != '\n') end++;
        line++;
        if (end > pos) {
            const char *f[3];
            size_t fl[3];
            int nf = 0;
            size_t a = pos;
            for (size_t k = pos; k <= end && nf < 3; k++)
                if (k == end || p->s[k] == '\t') { f[nf] = p->s + a; fl[nf++] = k - a; a = k + 1; }
            int want = table == 0 ? 2 : 3;
            size_t i0 = 0;
            int32_t st = fl[0] == 1 ? t5p__state_index(f[0][0]) : -1;
            int32_t key = nf >= 2 ? t5p_utf8_next(f[1], fl[1], &i0) : -1;
            if (nf != want || st < 0 || (table > 0 && (key < 0 || i0 != fl[1])) ||
                (table == 1 && t5p__state_index(key) < 0))
                return t5p__err(T5P_ERR_FORMAT, "%s:%d: expected %d tab-separated fields (state%s, log prob)",
                                p->path, line, want, table == 0 ? "" : table == 1 ? ", state" : ", char");
            char num[64];
            size_t nl = fl[want - 1] < 63 ? fl[want - 1] : 63;
            memcpy(num, f[want - 1], nl);
            num[nl] = 0;
            char *e;
            double v = strtod(num, &e);
            if (e == num || *e) return t5p__err(T5P_ERR_FORMAT, "%s:%d: bad number '%s'", p->path, line, num);
            t5p__hmm_set(jb, table, st, key, v);
        }
        pos = end + 1;
    }
    return 0;
}

static int t5p__jieba_load_hmm(t5p_jieba *jb, const char *dir) {
    static const char *names[3] = {"prob_start", "prob_trans", "prob_emit"};
    for (int s = 0; s < 4; s++) {
        jb->start[s] = T5P__MIN_FLOAT;
        for (int t = 0; t < 4; t++) jb->trans[s][t] = T5P__MIN_FLOAT;
    }
    size_t ne = (size_t)(T5P__HAN_HI - T5P__HAN_LO + 1) * 4;
    jb->emit = (double *)T5P_MALLOC(ne * sizeof(double));
    if (!jb->emit) return t5p__err(T5P_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < ne; k++) jb->emit[k] = T5P__MIN_FLOAT;
    for (int table = 0; table < 3; table++) {
        char path[4096];
        int tsv = 0;
        snprintf(path, sizeof path, "%s/%s.py", dir, names[table]);
        if (!t5p__file_exists(path)) {
            snprintf(path, sizeof path, "%s/%s.tsv", dir, names[table]);
            tsv = 1;
        }
        size_t len;
        char *data = t5p_read_file(path, &len);
        if (!data) return t5p__err(T5P_ERR_IO, "%s: cannot read HMM table %s.py or .tsv", dir, names[table]);
        t5p__lit p = {data, path, len, 0};
        int rc = tsv ? t5p__hmm_parse_tsv(jb, &p, table) : t5p__hmm_parse_py(jb, &p, table);
        T5P_FREE(data);
        if (rc) return rc;
    }
    jb->has_hmm = 1;
    return 0;
}

// --- cutting

static inline int t5p__is_ascii_alnum(int32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
// re_han_default = [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]
static inline int t5p__is_han_block(int32_t c) {
    return (c >= T5P__HAN_LO && c <= T5P__HAN_HI) || t5p__is_ascii_alnum(c) || c == '+' || c == '#' ||
           c == '&' || c == '.' || c == '_' || c == '%' || c == '-';
}
static inline int t5p__is_han(int32_t c) { return c >= T5P__HAN_LO && c <= T5P__HAN_HI; }

static inline void t5p__emit(t5p_cut *out, int32_t a, int32_t b) {
    t5p_span w = {a, b, 0, -1};
    arrput(out->words, w);
}

// jieba's calc(): route[i] = max over DAG successors x of (logp(s[i..x]) + route[x+1], x), taken
// from the right; equal scores go to the larger x. out->next[i] = x + 1 (end of the chosen word).
static void t5p__jroute(const t5p_jieba *jb, const int32_t *s, int n, t5p_cut *out) {
    arrsetlen(out->score, n + 1);
    arrsetlen(out->next, n + 1);
    arrsetlen(out->hnode, n + 1);
    out->score[n] = 0.0;
    double logtotal = log((double)jb->total);
    for (int i = n - 1; i >= 0; i--) {
        double best = 0;
        int bx = -1;
        int32_t node = 0, bnode = -1;
        for (int x = i; x < n; x++) {  // the DAG: walk the trie while "frag in FREQ"
            int word;
            double logf;
            if ((node = t5p__jwalk(jb, node, s[x], &word, &logf)) < 0) break;
            if (word) {
                double sc = (logf - logtotal) + out->score[x + 1];
                if (bx < 0 || sc >= best) { best = sc; bx = x; bnode = node; }
            }
        }
        if (bx < 0) {  // no word starts here: the single character, log(FREQ.get(c) or 1)
            bx = i;
            best = (0.0 - logtotal) + out->score[i + 1];
        }
        out->score[i] = best;
        out->next[i] = bx + 1;
        out->hnode[i] = jb->frozen ? bnode : -1;
    }
}

// __cut_DAG_NO_HMM: follow the route; runs of single ASCII letters/digits are glued.
static void t5p__cut_dag_nohmm(const t5p_jieba *jb, const int32_t *s, int n, int base, t5p_cut *out) {
    t5p__jroute(jb, s, n, out);
    int buf = -1;  // start of the pending run of single ASCII alphanumerics
    for (int x = 0; x < n;) {
        int y = out->next[x];
        if (y - x == 1 && t5p__is_ascii_alnum(s[x])) {
            if (buf < 0) buf = x;
        } else {
            if (buf >= 0) { t5p__emit(out, base + buf, base + x); buf = -1; }
            t5p__emit(out, base + x, base + y);
            out->words[arrlen(out->words) - 1].node = out->hnode[x];
        }
        x = y;
    }
    if (buf >= 0) t5p__emit(out, base + buf, base + n);
}

// finalseg's Viterbi over a run of Han characters s[0..n); emits B..E / S words.
static void t5p__hmm_viterbi(const t5p_jieba *jb, const int32_t *s, int n, int base, t5p_cut *out) {
    static const int prev[4][2] = {
        [T5P__B] = {T5P__E, T5P__S}, [T5P__M] = {T5P__M, T5P__B},
        [T5P__S] = {T5P__S, T5P__E}, [T5P__E] = {T5P__B, T5P__M}};
    double v[2][4];
    arrsetlen(out->tmp, (size_t)n * 4 + n);
    int32_t *bp = out->tmp;  // bp[t*4 + y] = best previous state
    for (int y = 0; y < 4; y++) v[0][y] = jb->start[y] + jb->emit[(s[0] - T5P__HAN_LO) * 4 + y];
    for (int t = 1; t < n; t++) {
        double *pv = v[(t - 1) & 1], *cv = v[t & 1];
        for (int y = 0; y < 4; y++) {
            double em = jb->emit[(s[t] - T5P__HAN_LO) * 4 + y];
            int a = prev[y][0], b = prev[y][1];
            double pa = pv[a] + jb->trans[a][y] + em, pb = pv[b] + jb->trans[b][y] + em;
            // max((prob, state)): larger prob, then the later state letter (B < E < M < S)
            int take_a = pa > pb || (pa == pb && a > b);
            cv[y] = take_a ? pa : pb;
            bp[t * 4 + y] = take_a ? a : b;
        }
    }
    double *lv = v[(n - 1) & 1];
    int state = lv[T5P__S] >= lv[T5P__E] ? T5P__S : T5P__E;  // ties go to 'S'
    int32_t *pos = out->tmp + (size_t)n * 4;
    for (int t = n - 1; t >= 0; t--) {
        pos[t] = state;
        if (t > 0) state = bp[t * 4 + state];
    }
    int begin = 0, nexti = 0;
    for (int i = 0; i < n; i++) {
        int p = pos[i];
        if (p == T5P__B) begin = i;
        else if (p == T5P__E || p == T5P__S) {
            int a = p == T5P__E ? begin : i;
            int32_t node = t5p__jfind(jb, s + a, i + 1 - a);
            if (node >= 0 && jb->nodes[node].force_split) {
                for (int k = a; k <= i; k++) t5p__emit(out, base + k, base + k + 1);
            } else {
                t5p__emit(out, base + a, base + i + 1);
            }
            nexti = i + 1;
        }
    }
    if (nexti < n) t5p__emit(out, base + nexti, base + n);
}

// finalseg.cut(): Han runs through Viterbi; other text split by [a-zA-Z0-9]+(?:\.\d+)?%? with the
// matches and the (non-empty) text between them as words.
static void t5p__hmm_cut(const t5p_jieba *jb, const int32_t *s, int n, int base, t5p_cut *out) {
    for (int i = 0; i < n;) {
        int j = i;
        if (t5p__is_han(s[i])) {
            while (j < n && t5p__is_han(s[j])) j++;
            // Viterbi needs its back-pointer scratch; words are appended after it returns
            t5p__hmm_viterbi(jb, s + i, j - i, base + i, out);
            i = j;
            continue;
        }
        int lit = i;  // start of pending non-matching text
        while (j < n && !t5p__is_han(s[j])) {
            if (t5p__is_ascii_alnum(s[j])) {
                int k = j;
                while (k < n && t5p__is_ascii_alnum(s[k])) k++;
                if (k + 1 < n && s[k] == '.' && utf8proc_category(s[k + 1]) == UTF8PROC_CATEGORY_ND) {
                    k += 2;
                    while (k < n && utf8proc_category(s[k]) == UTF8PROC_CATEGORY_ND) k++;
                }
                if (k < n && s[k] == '%') k++;
                if (lit < j) t5p__emit(out, base + lit, base + j);
                t5p__emit(out, base + j, base + k);
                j = lit = k;
            } else {
                j++;
            }
        }
        if (lit < j) t5p__emit(out, base + lit, base + j);
        i = j;
    }
}

// __cut_DAG: the route, with runs of single characters that are not a dictionary word re-cut by
// the HMM.
static void t5p__cut_dag_hmm(const t5p_jieba *jb, const int32_t *s, int n, int base, t5p_cut *out) {
    t5p__jroute(jb, s, n, out);
    // the route lives in out->next, which the HMM does not touch; copy what we need as we go
    int buf = -1;
    for (int x = 0; x < n;) {
        int y = out->next[x];
        if (y - x == 1) {
            if (buf < 0) buf = x;
        } else {
            if (buf >= 0) {
                int len = x - buf;
                long long f = len == 1 ? 1 : t5p_jieba_freq(jb, s + buf, len);
                if (len == 1) t5p__emit(out, base + buf, base + x);
                else if (f <= 0) t5p__hmm_cut(jb, s + buf, len, base + buf, out);
                else for (int k = buf; k < x; k++) t5p__emit(out, base + k, base + k + 1);
                buf = -1;
            }
            t5p__emit(out, base + x, base + y);
        }
        x = y;
    }
    if (buf >= 0) {
        int len = n - buf;
        long long f = len == 1 ? 1 : t5p_jieba_freq(jb, s + buf, len);
        if (len == 1) t5p__emit(out, base + buf, base + n);
        else if (f <= 0) t5p__hmm_cut(jb, s + buf, len, base + buf, out);
        else for (int k = buf; k < n; k++) t5p__emit(out, base + k, base + k + 1);
    }
}

// __cut_all: every dictionary word of the DAG; where a position has only its single word and is
// past the last word emitted, that word is emitted, except that such words starting with an ASCII
// letter or digit are glued into one "English" word (eng_buf), emitted when the scan reaches a
// character that is not one. The glued pieces need not be adjacent: they become spans with .join.
static void t5p__cut_all_block(const t5p_jieba *jb, const int32_t *s, int n, int base, t5p_cut *out) {
    int old_j = -1;
    t5p_span *eng = NULL;  // pending pieces of eng_buf
    for (int k = 0; k < n; k++) {
        if (arrlen(eng) && !t5p__is_ascii_alnum(s[k])) {
            for (ptrdiff_t e = 0; e < arrlen(eng); e++) arrput(out->words, eng[e]);
            t5p__arrclear(eng);
        }
        // DAG[k]: ends of dictionary words starting at k (or just k)
        int32_t node = 0;
        int count = 0, first = -1;
        for (int x = k; x < n; x++) {
            int word;
            double logf;
            if ((node = t5p__jwalk(jb, node, s[x], &word, &logf)) < 0) break;
            if (word) {
                if (count == 0) first = x;
                count++;
            }
        }
        if (count == 0) { first = k; count = 1; }
        if (count == 1 && k > old_j) {
            t5p_span w = {base + k, base + first + 1, 0, -1};
            if (t5p__is_ascii_alnum(s[k])) {
                w.join = arrlen(eng) > 0;
                arrput(eng, w);
            } else if (!arrlen(eng)) {
                arrput(out->words, w);
            }
            old_j = first;
        } else {
            node = 0;
            for (int x = k; x < n; x++) {
                int word;
                double logf;
                if ((node = t5p__jwalk(jb, node, s[x], &word, &logf)) < 0) break;
                if (word && x > k) {
                    t5p__emit(out, base + k, base + x + 1);
                    old_j = x;
                }
            }
        }
    }
    for (ptrdiff_t e = 0; e < arrlen(eng); e++) arrput(out->words, eng[e]);
    arrfree(eng);
}

// Text between separators outside the Han blocks: one word per character, or (cut-all) one word.
static void t5p__emit_skip_piece(t5p_cut *out, int a, int b, int all) {
    if (all) t5p__emit(out, a, b);
    else for (int c = a; c < b; c++) t5p__emit(out, c, c + 1);
}

T5PDEF int t5p_jieba_cut(const t5p_jieba *jb, const int32_t *s, int n, int mode, t5p_cut *out) {
    t5p__arrclear(out->words);
    int all = (mode & T5P_CUT_ALL) != 0, hmm = (mode & T5P_CUT_HMM) && jb->has_hmm;
    for (int i = 0; i < n;) {
        int j = i;
        if (t5p__is_han_block(s[i])) {
            while (j < n && t5p__is_han_block(s[j])) j++;
            if (all) t5p__cut_all_block(jb, s + i, j - i, i, out);
            else if (hmm) t5p__cut_dag_hmm(jb, s + i, j - i, i, out);
            else t5p__cut_dag_nohmm(jb, s + i, j - i, i, out);
        } else {
            // re_skip_default.split(block) with (\r\n|\s): separators are words; the text between
            // them is one word per character, or in cut-all mode one word (empty ones included)
            while (j < n && !t5p__is_han_block(s[j])) j++;
            int a = i;  // start of the text since the last separator
            for (int k = i; k < j;) {
                int w = (s[k] == '\r' && k + 1 < j && s[k + 1] == '\n') ? 2 : t5p_is_space(s[k]) ? 1 : 0;
                if (!w) { k++; continue; }
                t5p__emit_skip_piece(out, a, k, all);
                t5p__emit(out, k, k + w);
                k += w;
                a = k;
            }
            t5p__emit_skip_piece(out, a, j, all);
        }
        i = j;
    }
    return (int)arrlen(out->words);
}
T5PDEF void t5p_cut_free(t5p_cut *c) {
    if (!c) return;
    arrfree(c->words);
    arrfree(c->score);
    arrfree(c->next);
    arrfree(c->tmp);
    arrfree(c->hnode);
}

// --- user dictionaries

// jieba.suggest_freq(word, tune=False): product of FREQ.get(seg, 1)/total over its HMM-free cut.
static long long t5p__suggest_freq(t5p_jieba *jb, const int32_t *cps, int n) {
    t5p_cut c = {0};
    double ftotal = (double)jb->total, freq = 1;
    int nw = t5p_jieba_cut(jb, cps, n, 0, &c);
    for (int k = 0; k < nw; k++) {
        long long f = t5p_jieba_freq(jb, cps + c.words[k].start, c.words[k].end - c.words[k].start);
        freq *= (double)(f < 0 ? 1 : f) / ftotal;
    }
    t5p_cut_free(&c);
    long long cur = t5p_jieba_freq(jb, cps, n);
    long long sug = (long long)(freq * (double)jb->total) + 1;
    if (cur < 0) cur = 1;
    return sug > cur ? sug : cur;
}

static int t5p__add_word_cps(t5p_jieba *jb, const int32_t *cps, int n, long long freq) {
    if (n <= 0) return t5p__err(T5P_ERR_ARG, "empty word");
    if (freq < 0) freq = t5p__suggest_freq(jb, cps, n);
    int32_t node = t5p__jinsert(jb, cps, n, freq);
    jb->total += freq;
    if (freq == 0) jb->nodes[node].force_split = 1;
    return 0;
}

T5PDEF int t5p_jieba_add_word(t5p_jieba *jb, const char *word, long long freq) {
    int32_t *cps = NULL;
    size_t bad;
    int n = t5p__utf8_strict(word, strlen(word), &cps, &bad);
    int rc = n < 0 ? t5p__err(T5P_ERR_ARG, "word is not valid UTF-8 (byte %zu)", bad) : t5p__add_word_cps(jb, cps, n, freq);
    arrfree(cps);
    t5p__jfreeze(jb);  // O(dictionary): add many words with t5p_jieba_load_userdict
    return rc;
}

// load_userdict: each line stripped (bytes.strip), a BOM dropped, then
// ^(.+?)( [0-9]+)?( [a-z]+)?$ : the shortest word after which " freq" and/or " tag" end the line.
T5PDEF int t5p_jieba_load_userdict(t5p_jieba *jb, const char *path) {
    size_t len;
    char *data = t5p_read_file(path, &len);
    if (!data) return T5P_ERR_IO;
    int32_t *cps = NULL;
    int rc = 0, added = 0;
    long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && data[end] != '\n') end++;
        lineno++;
        size_t a = pos, b = end, bad;
        pos = end < len ? end + 1 : end;
        while (a < b && t5p__ascii_space((unsigned char)data[a])) a++;
        while (b > a && t5p__ascii_space((unsigned char)data[b - 1])) b--;
        int n = t5p__utf8_strict(data + a, b - a, &cps, &bad);
        if (n < 0) { rc = t5p__err(T5P_ERR_FORMAT, "%s:%ld: invalid UTF-8 at byte %zu (dictionary must be UTF-8)", path, lineno, a + bad); break; }
        int s0 = 0;
        while (s0 < n && cps[s0] == 0xFEFF) s0++;  // .lstrip('\ufeff')
        if (s0 == n) continue;
        int w = -1;
        long long freq = -1;
        for (int L = s0 + 1; L <= n && w < 0; L++) {  // lazy (.+?): the shortest word that works
            int k = L;
            long long f = -1;
            if (k + 1 < n && cps[k] == ' ' && cps[k + 1] >= '0' && cps[k + 1] <= '9') {
                f = 0;
                k++;
                while (k < n && cps[k] >= '0' && cps[k] <= '9') {
                    f = f < (LLONG_MAX - 9) / 10 ? f * 10 + (cps[k] - '0') : f;
                    k++;
                }
            }
            if (k + 1 < n && cps[k] == ' ' && cps[k + 1] >= 'a' && cps[k + 1] <= 'z') {
                int t = k + 1;
                while (t < n && cps[t] >= 'a' && cps[t] <= 'z') t++;
                if (t == n) k = n;
            }
            if (k == n) { w = L; freq = f; }
        }
        // '.' does not match a newline: a word containing '\r' ... cannot reach here ('\n' split)
        if ((rc = t5p__add_word_cps(jb, cps + s0, w - s0, freq)) != 0) break;
        added++;
    }
    arrfree(cps);
    T5P_FREE(data);
    t5p__jfreeze(jb);
    return rc ? rc : added;
}

// Depth-first over the frozen trie: fn(handle, UTF-8 of the path, its length, ctx) for every node.
static void t5p__jieba_walk_all(const t5p_jieba *jb, void (*fn)(int32_t, const char *, size_t, void *), void *ctx) {
    typedef struct { int32_t b, depth; } item;  // explicit stack of (frozen index, depth)
    item *stack = NULL;
    char *word = NULL;     // UTF-8 of the current path
    int32_t *ends = NULL;  // byte length of the path at each depth
    item root = {0, 0};
    arrput(stack, root);
    while (arrlen(stack)) {
        item it = arrpop(stack);
        if (it.depth > 0) {
            arrsetlen(ends, it.depth);
            size_t at = it.depth > 1 ? (size_t)ends[it.depth - 2] : 0;
            arrsetlen(word, at + 5);
            int k = t5p_utf8_put(word + at, (uint32_t)jb->csr[it.b].cp);
            ends[it.depth - 1] = (int32_t)(at + (size_t)k);
            word[at + (size_t)k] = 0;
            fn(it.b, word, at + (size_t)k, ctx);
        }
        int32_t slots = jb->csr[it.b].count < 0 ? -jb->csr[it.b].count : jb->csr[it.b].count;
        for (int32_t c = slots - 1; c >= 0; c--) {
            item ch = {jb->csr[it.b].first + c, it.depth + 1};
            if (jb->csr[ch.b].cp >= 0) arrput(stack, ch);  // skip empty slots of hashed blocks
        }
    }
    arrfree(stack);
    arrfree(word);
    arrfree(ends);
}

typedef struct {
    const t5p_jieba *jb;
    void (*fn)(const char *, long long, void *);
    void *ctx;
} t5p__foreach_ctx;

static void t5p__foreach_word_fn(int32_t h, const char *w, size_t n, void *ctx) {
    t5p__foreach_ctx *c = (t5p__foreach_ctx *)ctx;
    long long f = c->jb->nodes[c->jb->csr_node[h]].freq;
    (void)n;
    if (f) c->fn(w, f, c->ctx);
}

T5PDEF void t5p_jieba_foreach_word(const t5p_jieba *jb, void (*fn)(const char *, long long, void *), void *ctx) {
    t5p__foreach_ctx c = {jb, fn, ctx};
    t5p__jieba_walk_all(jb, t5p__foreach_word_fn, &c);
}

// ----------------------------------------------------------------------------
// 3. tokenizer

// The vocabulary is a hash table from token bytes to an entry (open addressing). A slot holds a
// 32-bit hash tag and, for tokens up to 19 bytes (six Chinese characters), the token itself, so a
// look-up usually touches one cache line. Entries are kept in first-insertion order with their
// token in one byte arena.
#define T5P__VINLINE 19
typedef struct {
    uint32_t tag;  // 0: empty slot
    int32_t e;     // entry index
    uint8_t len;   // token length when inline, else 255
    char key[T5P__VINLINE];
    uint32_t pad;
} t5p__vslot;
struct t5p_vocab {
    char *arena;        // stb_ds array: every distinct token, NUL-terminated
    uint32_t *tok_off;  // stb_ds arrays, per distinct token in first-seen order: offset in arena,
    uint32_t *tok_len;  //   length,
    int32_t *tok_id;    //   and current id
    t5p__vslot *slots;  // hash table
    size_t cap;
    const char **by_id; // id -> token (NULL where no token has the id)
    int size;           // distinct tokens, len(token_dict)
    int nid;            // number of id slots
    int unk;
};

static inline uint64_t t5p__hash_bytes(const char *s, size_t n) {  // FNV-1a, 64-bit
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static inline uint32_t t5p__hash_tag(uint64_t h) {
    uint32_t t = (uint32_t)(h >> 32);
    return t ? t : 1;
}

// Entry index of the token s[0..n), or -1.
static int32_t t5p__vocab_find(const t5p_vocab *v, const char *s, size_t n) {
    uint64_t h = t5p__hash_bytes(s, n);
    uint32_t tag = t5p__hash_tag(h);
    for (size_t i = (size_t)h & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
        const t5p__vslot *sl = &v->slots[i];
        if (sl->tag == 0) return -1;
        if (sl->tag != tag) continue;
        if (n <= T5P__VINLINE ? sl->len == n && memcmp(sl->key, s, n) == 0
                              : v->tok_len[sl->e] == n && memcmp(v->arena + v->tok_off[sl->e], s, n) == 0)
            return sl->e;
    }
}

static void t5p__vocab_insert_slot(t5p_vocab *v, int32_t e) {
    const char *tok = v->arena + v->tok_off[e];
    size_t n = v->tok_len[e];
    uint64_t h = t5p__hash_bytes(tok, n);
    size_t i = (size_t)h & (v->cap - 1);
    while (v->slots[i].tag) i = (i + 1) & (v->cap - 1);
    t5p__vslot *sl = &v->slots[i];
    sl->tag = t5p__hash_tag(h);
    sl->e = e;
    sl->len = n <= T5P__VINLINE ? (uint8_t)n : 255;
    if (n <= T5P__VINLINE) memcpy(sl->key, tok, n);
}

static void t5p__vocab_rehash(t5p_vocab *v, size_t cap) {
    T5P_FREE(v->slots);
    v->cap = cap;
    v->slots = (t5p__vslot *)T5P_MALLOC(sizeof(t5p__vslot) * cap);
    T5P_ASSERT(v->slots);
    memset(v->slots, 0, sizeof(t5p__vslot) * cap);
    for (ptrdiff_t e = 0; e < arrlen(v->tok_off); e++) t5p__vocab_insert_slot(v, (int32_t)e);
}

static t5p_vocab *t5p__vocab_alloc(void) {
    t5p_vocab *v = (t5p_vocab *)T5P_MALLOC(sizeof *v);
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    t5p__vocab_rehash(v, 1024);
    return v;
}

// token_dict[token] = len(token_dict)
static void t5p__vocab_add(t5p_vocab *v, const char *tok, size_t n) {
    int32_t e = t5p__vocab_find(v, tok, n);
    if (e >= 0) {  // a repeated token moves to the id the next new token will get
        v->tok_id[e] = v->size;
        return;
    }
    arrput(v->tok_off, (uint32_t)arrlen(v->arena));
    arrput(v->tok_len, (uint32_t)n);
    arrput(v->tok_id, v->size);
    char *dst = arraddnptr(v->arena, n + 1);
    memcpy(dst, tok, n);
    dst[n] = 0;
    v->size++;
    if ((size_t)arrlen(v->tok_off) * 2 > v->cap) t5p__vocab_rehash(v, v->cap * 2);
    else t5p__vocab_insert_slot(v, (int32_t)arrlen(v->tok_off) - 1);
}

// _token_dict_inv = {v: k for k, v in token_dict.items()}: in first-insertion order, later wins.
static void t5p__vocab_finish(t5p_vocab *v) {
    v->nid = v->size + 1;
    v->by_id = (const char **)T5P_MALLOC(sizeof(char *) * (size_t)v->nid);
    T5P_ASSERT(v->by_id);
    for (int i = 0; i < v->nid; i++) v->by_id[i] = NULL;
    for (ptrdiff_t e = 0; e < arrlen(v->tok_off); e++) v->by_id[v->tok_id[e]] = v->arena + v->tok_off[e];
    v->unk = t5p_vocab_id(v, "[UNK]");
}

T5PDEF t5p_vocab *t5p_vocab_new(const char *const *tokens, int n) {
    t5p_vocab *v = t5p__vocab_alloc();
    if (!v) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    for (int i = 0; i < n; i++) t5p__vocab_add(v, tokens[i], strlen(tokens[i]));
    t5p__vocab_finish(v);
    return v;
}

T5PDEF t5p_vocab *t5p_vocab_load(const char *path) {
    size_t len;
    char *data = t5p_read_file(path, &len);
    if (!data) return NULL;
    t5p_vocab *v = t5p__vocab_alloc();
    t5p__buf tok = {0};
    long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;  // Python universal newlines: \n, \r, \r\n
        while (end < len && data[end] != '\n' && data[end] != '\r') end++;
        size_t next = end;
        if (next < len) next += (data[next] == '\r' && next + 1 < len && data[next + 1] == '\n') ? 2 : 1;
        lineno++;
        // bert4keras opens the file with errors='ignore': invalid UTF-8 bytes vanish. Then
        // token = line.split()[0], or line.strip() (the empty token) when the line is all whitespace.
        tok.n = 0;
        t5p__buf_reserve(&tok, 0);
        int in_token = 0;
        for (size_t i = pos; i < end;) {
            int32_t cp = t5p_utf8_next(data, end, &i);
            if (cp < 0) continue;
            if (t5p_is_space(cp)) {
                if (in_token) break;
                continue;
            }
            in_token = 1;
            t5p__buf_cp(&tok, cp);  // NUL included: Python keeps it
        }
        t5p__vocab_add(v, tok.p, tok.n);
        pos = next;
    }
    T5P_FREE(data);
    T5P_FREE(tok.p);
    t5p__vocab_finish(v);
    return v;
}

T5PDEF void t5p_vocab_free(t5p_vocab *v) {
    if (!v) return;
    arrfree(v->arena);
    arrfree(v->tok_off);
    arrfree(v->tok_len);
    arrfree(v->tok_id);
    T5P_FREE(v->slots);
    T5P_FREE(v->by_id);
    T5P_FREE(v);
}

T5PDEF int t5p_vocab_size(const t5p_vocab *v) { return v->size; }
T5PDEF int t5p_vocab_unk(const t5p_vocab *v) { return v->unk; }

static void t5p__node_id_fn(int32_t h, const char *w, size_t n, void *ctx) {
    t5p_tokenizer *tk = (t5p_tokenizer *)ctx;
    tk->node_ids[h] = t5p_vocab_id_n(tk->vocab, w, n);
}

T5PDEF int t5p_tokenizer_init(t5p_tokenizer *tk, const t5p_jieba *jb, const t5p_vocab *vb) {
    memset(tk, 0, sizeof *tk);
    tk->jieba = jb;
    tk->vocab = vb;
    if (!jb || !jb->frozen) return 0;
    tk->node_ids = (int32_t *)T5P_MALLOC(sizeof(int32_t) * (size_t)jb->csr_total);
    if (!tk->node_ids) return t5p__err(T5P_ERR_NOMEM, "out of memory");
    for (int32_t h = 0; h < jb->csr_total; h++) tk->node_ids[h] = -1;
    t5p__jieba_walk_all(jb, t5p__node_id_fn, tk);
    tk->node_gen = jb->generation;
    return 0;
}

T5PDEF void t5p_tokenizer_free(t5p_tokenizer *tk) {
    if (!tk) return;
    T5P_FREE(tk->node_ids);
    tk->node_ids = NULL;
}

T5PDEF int t5p_vocab_id(const t5p_vocab *v, const char *token) { return t5p_vocab_id_n(v, token, strlen(token)); }

T5PDEF int t5p_vocab_id_n(const t5p_vocab *v, const char *token, size_t n) {
    int32_t e = t5p__vocab_find(v, token, n);
    return e < 0 ? -1 : v->tok_id[e];
}

T5PDEF const char *t5p_vocab_token(const t5p_vocab *v, int id) {
    return id >= 0 && id < v->nid ? v->by_id[id] : NULL;
}

// --- character classes of bert4keras's Tokenizer

static inline int t5p__is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static inline int t5p__is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    if (c < 128) return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

// _is_space: ' ', \n, \r, \t or category Zs
static inline int t5p__bert_space(int32_t c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t' || (c >= 128 && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS);
}

// dropped by the basic tokenizer: U+0000, U+FFFD, categories Cc and Cf
static inline int t5p__bert_drop(int32_t c) {
    if (c == 0 || c == 0xFFFD) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

// --- lowercase (Python str.lower), NFD, drop Mn

static int t5p__case_ignorable(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
        k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return 1;
    switch (c) {  // Word_Break MidLetter, MidNumLet, Single_Quote
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    }
    return 0;
}

static int t5p__cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_toupper(c) != c || utf8proc_tolower(c) != c;
}

// Python's Final_Sigma rule for U+03A3 at position i of s[0..n).
static int32_t t5p__lower_sigma(const int32_t *s, int n, int i) {
    int j = i - 1;
    while (j >= 0 && t5p__case_ignorable(s[j])) j--;
    int final = j >= 0 && t5p__cased(s[j]);
    if (final) {
        j = i + 1;
        while (j < n && t5p__case_ignorable(s[j])) j++;
        final = j == n || !t5p__cased(s[j]);
    }
    return final ? 0x3C2 : 0x3C3;
}

// text.lower() -> unicodedata.normalize('NFD') -> drop category Mn, into *out (stb_ds array).
static void t5p__bert_normalize(const int32_t *s, int n, int32_t **out) {
    t5p__arrclear(*out);
    for (int i = 0; i < n; i++) {
        int32_t c = s[i];
        if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)) {  // no case, no decomposition
            arrput(*out, c);
            continue;
        }
        if (c < 128) {
            arrput(*out, (c >= 'A' && c <= 'Z') ? c + 32 : c);
            continue;
        }
        int32_t low[2];
        int nl = 1;
        if (c == 0x130) { low[0] = 'i'; low[1] = 0x307; nl = 2; }  // the one multi-character lowercase
        else if (c == 0x3A3) low[0] = t5p__lower_sigma(s, n, i);
        else low[0] = utf8proc_tolower(c);
        for (int k = 0; k < nl; k++) {
            utf8proc_int32_t d[8];
            int bound = 0;
            utf8proc_ssize_t nd = utf8proc_decompose_char(low[k], d, 8, UTF8PROC_DECOMPOSE, &bound);
            if (nd < 0 || nd > 8) { d[0] = low[k]; nd = 1; }
            for (int q = 0; q < nd; q++) {
                // canonical ordering: move a mark left past marks of higher combining class
                ptrdiff_t at = arrlen(*out);
                arrput(*out, d[q]);
                int cc = utf8proc_get_property(d[q])->combining_class;
                while (cc && at > 0) {
                    int pc = utf8proc_get_property((*out)[at - 1])->combining_class;
                    if (pc <= cc) break;
                    int32_t t = (*out)[at - 1];
                    (*out)[at - 1] = (*out)[at];
                    (*out)[at] = t;
                    at--;
                }
            }
        }
    }
    // drop Mn (after ordering, as Python does it on the normalised string)
    ptrdiff_t m = 0;
    for (ptrdiff_t i = 0; i < arrlen(*out); i++)
        if ((*out)[i] < 0x300 || utf8proc_category((*out)[i]) != UTF8PROC_CATEGORY_MN) (*out)[m++] = (*out)[i];
    arrsetlen(*out, m);
}

// --- tokens

static void t5p__tok_push(t5p_tokens *t, const char *s, size_t n, int id) {
    arrput(t->off, (int32_t)arrlen(t->text));
    memcpy(arraddnptr(t->text, n + 1), s, n);
    t->text[arrlen(t->text) - 1] = 0;
    arrput(t->ids, id);
    t->n++;
}

// Encodes cps into t->scratch (NUL-terminated, with an optional "##" prefix); returns its length.
static int t5p__tok_utf8(t5p_tokens *t, const int32_t *cps, int n, int hashes) {
    t5p__arrclear(t->scratch);
    if (hashes) { arrput(t->scratch, '#'); arrput(t->scratch, '#'); }
    for (int i = 0; i < n; i++) {
        char *p = arraddnptr(t->scratch, 4);
        int k = t5p_utf8_put(p, (uint32_t)cps[i]);
        arrsetlen(t->scratch, arrlen(t->scratch) - 4 + k);
    }
    arrput(t->scratch, 0);
    return (int)arrlen(t->scratch) - 1;
}

static int t5p__lookup(const t5p_tokenizer *tk, t5p_tokens *t, const int32_t *cps, int n, int hashes) {
    int len = t5p__tok_utf8(t, cps, n, hashes);
    if (len < 0) return -1;
    int32_t e = t5p__vocab_find(tk->vocab, t->scratch, (size_t)len);
    return e < 0 ? -1 : tk->vocab->tok_id[e];
}

// _word_piece_tokenize: greedy longest match from the left, "##" on continuation pieces; a word
// longer than word_maxlen, or with a position no piece matches, is one token (unknown).
static void t5p__wordpiece(const t5p_tokenizer *tk, t5p_tokens *t, const int32_t *w, int n) {
    int maxlen = tk->word_maxlen > 0 ? tk->word_maxlen : 200;
    int n0 = t->n;
    ptrdiff_t text0 = arrlen(t->text);
    if (n <= maxlen) {
        for (int start = 0; start < n;) {
            int end = n, id = -1;
            for (; end > start; end--)
                if ((id = t5p__lookup(tk, t, w + start, end - start, start > 0)) >= 0) break;
            if (end == start) goto whole;
            t5p__tok_push(t, t->scratch, (size_t)arrlen(t->scratch) - 1, id);
            start = end;
        }
        return;
    }
whole:
    t->n = n0;  // drop the pieces of this word
    arrsetlen(t->ids, n0);
    arrsetlen(t->off, n0);
    arrsetlen(t->text, text0);
    t5p__tok_utf8(t, w, n, 0);
    int len = (int)arrlen(t->scratch) - 1;
    int id = t5p_vocab_id_n(tk->vocab, t->scratch, (size_t)len);
    t5p__tok_push(t, t->scratch, (size_t)len, id < 0 ? tk->vocab->unk : id);
}

// BERT's basic tokenizer on s[0..n): punctuation and CJK characters become single words, spaces
// separate, NUL/U+FFFD/Cc/Cf vanish; every word then goes through WordPiece.
static void t5p__basic_tokenize(const t5p_tokenizer *tk, t5p_tokens *t, const int32_t *s, int n) {
    t5p__arrclear(t->word);
    for (int i = 0; i <= n; i++) {
        int32_t c = i < n ? s[i] : ' ';
        int alone = i < n && (t5p__is_punct(c) || t5p__is_cjk(c));
        if (alone || t5p__bert_space(c) || t5p_is_space(c)) {  // spaced.split() also splits on isspace
            if (arrlen(t->word)) {
                int32_t *w = t->word;
                t->word = NULL;  // t5p__wordpiece does not use t->word; keep ownership simple
                t5p__wordpiece(tk, t, w, (int)arrlen(w));
                t->word = w;
                t5p__arrclear(t->word);
            }
            if (alone) t5p__wordpiece(tk, t, &c, 1);
        } else if (!t5p__bert_drop(c)) {
            arrput(t->word, c);
        }
    }
}

T5PDEF int t5p_tokenize(const t5p_tokenizer *tk, const char *text, size_t len, int maxlen, t5p_tokens *t) {
    if (!tk || !tk->vocab) return t5p__err(T5P_ERR_ARG, "tokenizer without a vocabulary");
    t->n = 0;
    t5p__arrclear(t->ids);
    t5p__arrclear(t->off);
    t5p__arrclear(t->text);
    // decode (invalid bytes -> U+FFFD), then lower/NFD/Mn on the whole text
    t5p__arrclear(t->cps);
    t->nbad = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp = t5p_utf8_next(text, len, &i);
        if (cp < 0) { cp = 0xFFFD; t->nbad++; }
        arrput(t->cps, cp);
    }
    const int32_t *s = t->cps;
    int n = (int)arrlen(t->cps);
    if (!tk->keep_case) {
        t5p__bert_normalize(t->cps, n, &t->norm);
        s = t->norm;
        n = (int)arrlen(t->norm);
    }
    t5p__tok_push(t, "[CLS]", 5, t5p_vocab_id(tk->vocab, "[CLS]"));
    if (tk->jieba) {
        // pre_tokenize: jieba words in the vocabulary are tokens; others go through the basic
        // tokenizer (bert4keras normalises them again, which changes nothing: it is idempotent)
        int nw = t5p_jieba_cut(tk->jieba, s, n, 0, &t->cut);
        int known = tk->node_ids && tk->node_gen == tk->jieba->generation;  // the table is current
        for (int k = 0; k < nw; k++) {
            const int32_t *w = s + t->cut.words[k].start;
            int wl = t->cut.words[k].end - t->cut.words[k].start;
            int32_t h = t->cut.words[k].node;
            int id;
            if (known && h >= 0) {  // a dictionary word: its id (or -1) is in the table
                id = tk->node_ids[h];
                if (id >= 0) t5p__tok_utf8(t, w, wl, 0);
            } else {
                id = t5p__lookup(tk, t, w, wl, 0);
            }
            if (id >= 0) t5p__tok_push(t, t->scratch, (size_t)arrlen(t->scratch) - 1, id);
            else t5p__basic_tokenize(tk, t, w, wl);
        }
    } else {
        t5p__basic_tokenize(tk, t, s, n);
    }
    t5p__tok_push(t, "[SEP]", 5, t5p_vocab_id(tk->vocab, "[SEP]"));
    for (int i = 0; i < t->n; i++)
        if (t->ids[i] < 0) t->ids[i] = tk->vocab->unk;
    if (maxlen > 0 && t->n > maxlen) {  // truncate_sequences(maxlen, -2, tokens): keep the last token
        t->off[maxlen - 1] = t->off[t->n - 1];
        t->ids[maxlen - 1] = t->ids[t->n - 1];
        t->n = maxlen;
        arrsetlen(t->off, maxlen);
        arrsetlen(t->ids, maxlen);
    }
    return t->n;
}

T5PDEF const char *t5p_token_str(const t5p_tokens *t, int i) { return t->text + t->off[i]; }

T5PDEF void t5p_tokens_free(t5p_tokens *t) {
    if (!t) return;
    arrfree(t->ids);
    arrfree(t->off);
    arrfree(t->text);
    arrfree(t->cps);
    arrfree(t->norm);
    arrfree(t->word);
    arrfree(t->scratch);
    t5p_cut_free(&t->cut);
    memset(t, 0, sizeof *t);
}

T5PDEF int t5p_encode(const t5p_tokenizer *tk, const char *text, long len, int maxlen, int **ids) {
    t5p_tokens t = {0};
    int n = t5p_tokenize(tk, text, len < 0 ? strlen(text) : (size_t)len, maxlen, &t);
    if (n >= 0) {
        for (int i = 0; i < n; i++)
            if (t.ids[i] < 0) { n = t5p__err(T5P_ERR_ARG, "token '%s' is not in the vocabulary and it has no [UNK]", t5p_token_str(&t, i)); break; }
    }
    if (n >= 0) {
        *ids = (int *)T5P_MALLOC(sizeof(int) * (size_t)(n ? n : 1));
        if (!*ids) n = t5p__err(T5P_ERR_NOMEM, "out of memory");
        else memcpy(*ids, t.ids, sizeof(int) * (size_t)n);
    }
    t5p_tokens_free(&t);
    return n;
}

// --- decode

static int t5p__is_cjk_punct(int32_t c) {
    static const uint16_t p[] = {  // bert4keras _cjk_punctuation() + '+-/={(<['
        0xff02, 0xff03, 0xff04, 0xff05, 0xff06, 0xff07, 0xff08, 0xff09, 0xff0a, 0xff0b, 0xff0c, 0xff0d, 0xff0f,
        0xff1a, 0xff1b, 0xff1c, 0xff1d, 0xff1e, 0xff20, 0xff3b, 0xff3c, 0xff3d, 0xff3e, 0xff3f, 0xff40, 0xff5b,
        0xff5c, 0xff5d, 0xff5e, 0xff5f, 0xff60, 0xff62, 0xff63, 0xff64, 0x3000, 0x3001, 0x3003, 0x3008, 0x3009,
        0x300a, 0x300b, 0x300c, 0x300d, 0x300e, 0x300f, 0x3010, 0x3011, 0x3014, 0x3015, 0x3016, 0x3017, 0x3018,
        0x3019, 0x301a, 0x301b, 0x301c, 0x301d, 0x301e, 0x301f, 0x3030, 0x303e, 0x303f, 0x2013, 0x2014, 0x2018,
        0x2019, 0x201b, 0x201c, 0x201d, 0x201e, 0x201f, 0x2026, 0x2027, 0xfe4f, 0xfe51, 0xfe54, 0x00b7, 0xff01,
        0xff1f, 0xff61, 0x3002, '+', '-', '/', '=', '{', '(', '<', '['};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if (p[i] == c) return 1;
    return 0;
}

static int t5p__is_digit(int32_t c) {
    return (c >= '0' && c <= '9') || (c >= 128 && utf8proc_category(c) == UTF8PROC_CATEGORY_ND);
}

T5PDEF char *t5p_decode(const t5p_tokenizer *tk, const int *ids, int n) {
    int32_t *a = NULL, *b = NULL, *tc = NULL;
    int i = 0;  // index among the non-special tokens
    for (int k = 0; k < n; k++) {
        const char *tok = t5p_vocab_token(tk->vocab, ids[k]);
        if (!tok) {
            arrfree(a); arrfree(tc);
            t5p__err(T5P_ERR_ARG, "id %d has no token in the vocabulary", ids[k]);
            return NULL;
        }
        size_t tl = strlen(tok);
        if (tl && tok[0] == '[' && tok[tl - 1] == ']') continue;  // _is_special
        t5p__arrclear(tc);
        for (size_t q = 0; q < tl;) {
            int32_t cp = t5p_utf8_next(tok, tl, &q);
            arrput(tc, cp < 0 ? 0xFFFD : cp);
        }
        int m = (int)arrlen(tc);
        if (tl >= 2 && tok[0] == '#' && tok[1] == '#') {
            for (int q = 2; q < m; q++) arrput(a, tc[q]);
        } else if (m == 1 && t5p__is_cjk(tc[0])) {
            arrput(a, tc[0]);
        } else if (m == 1 && t5p__is_punct(tc[0])) {
            arrput(a, tc[0]);
            arrput(a, ' ');
        } else if (i > 0 && arrlen(a) && t5p__is_cjk(a[arrlen(a) - 1])) {
            for (int q = 0; q < m; q++) arrput(a, tc[q]);
        } else {
            arrput(a, ' ');
            for (int q = 0; q < m; q++) arrput(a, tc[q]);
        }
        i++;
    }
    arrfree(tc);
    int len = (int)arrlen(a);
    // re.sub(' +', ' ', text)
    for (int k = 0; k < len; k++)
        if (!(a[k] == ' ' && k > 0 && a[k - 1] == ' ')) arrput(b, a[k]);
    // re.sub("' (re|m|s|t|ve|d|ll) ", "'\\1 ", text)
    t5p__arrclear(a);
    len = (int)arrlen(b);
    static const char *const contr[] = {"re", "m", "s", "t", "ve", "d", "ll"};
    for (int k = 0; k < len;) {
        int hit = 0;
        if (b[k] == '\'' && k + 1 < len && b[k + 1] == ' ') {
            for (int c = 0; c < 7 && !hit; c++) {
                int cl = (int)strlen(contr[c]), ok = k + 2 + cl < len && b[k + 2 + cl] == ' ';
                for (int q = 0; ok && q < cl; q++) ok = b[k + 2 + q] == contr[c][q];
                if (ok) {
                    arrput(a, '\'');
                    for (int q = 0; q < cl; q++) arrput(a, contr[c][q]);
                    arrput(a, ' ');
                    k += 3 + cl;
                    hit = 1;
                }
            }
        }
        if (!hit) arrput(a, b[k++]);
    }
    // re.sub('(P) ', '\\1', text) for the CJK punctuation and '+-/={(<['
    t5p__arrclear(b);
    len = (int)arrlen(a);
    for (int k = 0; k < len; k++) {
        arrput(b, a[k]);
        if (t5p__is_cjk_punct(a[k]) && k + 1 < len && a[k + 1] == ' ') k++;
    }
    // re.sub('(\\d\\.) (\\d)', '\\1\\2', text)
    t5p__arrclear(a);
    len = (int)arrlen(b);
    for (int k = 0; k < len;) {
        if (k + 3 < len && t5p__is_digit(b[k]) && b[k + 1] == '.' && b[k + 2] == ' ' && t5p__is_digit(b[k + 3])) {
            arrput(a, b[k]);
            arrput(a, '.');
            arrput(a, b[k + 3]);
            k += 4;
        } else {
            arrput(a, b[k++]);
        }
    }
    // .strip()
    int lo = 0, hi = (int)arrlen(a);
    while (lo < hi && t5p_is_space(a[lo])) lo++;
    while (hi > lo && t5p_is_space(a[hi - 1])) hi--;
    t5p__buf out = {0};
    t5p__buf_reserve(&out, (size_t)(hi - lo) * 4);
    for (int k = lo; k < hi; k++) t5p__buf_cp(&out, a[k]);
    arrfree(a);
    arrfree(b);
    return out.p;
}

// --- vocabulary builder


struct t5p_vocab_builder {
    const t5p_jieba *jb;
    const t5p_vocab *base;
    int nwords;
    uint64_t *seen;          // characters seen (no base)
    char **cand;             // stb_ds array of candidate token strings (owned)
    t5p_vocab *vocab;        // the candidates as a vocabulary
    t5p_tokenizer tk;
    long long *counts;
    int nbase;               // candidates that always come first (the 106 specials) ...
    int nkeep;               // ... or are always kept (synthesised characters)
    const char **result;
    struct { char *key; int value; } *dedup;  // candidates so far
};

T5PDEF t5p_vocab_builder *t5p_vocab_builder_new(const t5p_jieba *jb, const t5p_vocab *base, int nwords) {
    t5p_vocab_builder *b = (t5p_vocab_builder *)T5P_MALLOC(sizeof *b);
    if (!b) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    memset(b, 0, sizeof *b);
    b->jb = jb;
    b->base = base;
    b->nwords = nwords;
    sh_new_strdup(b->dedup);
    if (!base) {
        b->seen = (uint64_t *)T5P_MALLOC(sizeof(uint64_t) * T5P_SEEN_WORDS);
        T5P_ASSERT(b->seen);
        memset(b->seen, 0, sizeof(uint64_t) * T5P_SEEN_WORDS);
    }
    return b;
}

T5PDEF void t5p_vocab_builder_see(t5p_vocab_builder *b, const char *text, size_t len, uint64_t *seen, t5p_tokens *t) {
    if (!seen) seen = b->seen;
    t5p__arrclear(t->cps);
    for (size_t i = 0; i < len;) {
        int32_t cp = t5p_utf8_next(text, len, &i);
        arrput(t->cps, cp < 0 ? 0xFFFD : cp);
    }
    t5p__bert_normalize(t->cps, (int)arrlen(t->cps), &t->norm);
    for (ptrdiff_t i = 0; i < arrlen(t->norm); i++) {
        int32_t c = t->norm[i];
        if (!t5p__bert_space(c) && !t5p_is_space(c) && !t5p__bert_drop(c)) seen[c >> 6] |= 1ull << (c & 63);
    }
}

T5PDEF void t5p_vocab_builder_see_merge(t5p_vocab_builder *b, const uint64_t *seen) {
    for (int i = 0; i < T5P_SEEN_WORDS; i++) b->seen[i] |= seen[i];
}

typedef struct { char *word; long long freq; } t5p__wf;

static void t5p__collect_word(const char *w, long long f, void *ctx) {
    t5p__wf x = {NULL, f};
    size_t n = strlen(w);
    x.word = (char *)T5P_MALLOC(n + 1);
    memcpy(x.word, w, n + 1);
    arrput(*(t5p__wf **)ctx, x);
}

static int t5p__wf_cmp(const void *a, const void *b) {  // frequency descending, then bytes
    const t5p__wf *x = (const t5p__wf *)a, *y = (const t5p__wf *)b;
    if (x->freq != y->freq) return x->freq > y->freq ? -1 : 1;
    return strcmp(x->word, y->word);
}

// Adds a candidate unless it is one already (a repeated token would shift ids, see load_vocab).
static void t5p__cand_add(t5p_vocab_builder *b, const char *s) {
    if (shgeti(b->dedup, s) >= 0) return;
    shput(b->dedup, s, 1);
    size_t n = strlen(s);
    char *c = (char *)T5P_MALLOC(n + 1);
    memcpy(c, s, n + 1);
    arrput(b->cand, c);
}

T5PDEF int t5p_vocab_builder_start(t5p_vocab_builder *b) {
    char tmp[32];
    if (b->base) {
        for (int i = 0; i < b->base->nid; i++)
            if (b->base->by_id[i]) t5p__cand_add(b, b->base->by_id[i]);
        b->nbase = arrlen(b->cand) < 106 ? (int)arrlen(b->cand) : 106;
        b->nkeep = b->nbase;
    } else {
        t5p__cand_add(b, "[PAD]");
        for (int i = 1; i <= 99; i++) { snprintf(tmp, sizeof tmp, "[unused%d]", i); t5p__cand_add(b, tmp); }
        static const char *sp[] = {"[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"};
        for (int i = 0; i < 6; i++) t5p__cand_add(b, sp[i]);
        b->nbase = 106;
        for (int32_t c = 0; c < 0x110000; c++)
            if (b->seen[c >> 6] >> (c & 63) & 1) { tmp[t5p_utf8_put(tmp, (uint32_t)c)] = 0; t5p__cand_add(b, tmp); }
        for (int32_t c = 0; c < 0x110000; c++)
            if ((b->seen[c >> 6] >> (c & 63) & 1) && !t5p__is_cjk(c) && !t5p__is_punct(c)) {
                tmp[0] = tmp[1] = '#';
                tmp[2 + t5p_utf8_put(tmp + 2, (uint32_t)c)] = 0;
                t5p__cand_add(b, tmp);
            }
        b->nkeep = (int)arrlen(b->cand);
    }
    t5p__wf *words = NULL;
    t5p_jieba_foreach_word(b->jb, t5p__collect_word, &words);
    qsort(words, (size_t)arrlen(words), sizeof *words, t5p__wf_cmp);
    for (ptrdiff_t i = 0; i < arrlen(words); i++) {
        if (i < b->nwords) t5p__cand_add(b, words[i].word);
        T5P_FREE(words[i].word);
    }
    arrfree(words);
    t5p_vocab_free(b->vocab);
    b->vocab = t5p_vocab_new((const char *const *)b->cand, (int)arrlen(b->cand));
    if (!b->vocab) return T5P_ERR_NOMEM;
    if (t5p_tokenizer_init(&b->tk, b->jb, b->vocab) < 0) return T5P_ERR_NOMEM;
    int n = t5p_vocab_size(b->vocab);
    b->counts = (long long *)T5P_MALLOC(sizeof(long long) * (size_t)(n ? n : 1));
    if (!b->counts) return t5p__err(T5P_ERR_NOMEM, "out of memory");
    memset(b->counts, 0, sizeof(long long) * (size_t)n);
    return n;
}

T5PDEF const t5p_tokenizer *t5p_vocab_builder_tokenizer(const t5p_vocab_builder *b) { return &b->tk; }

T5PDEF void t5p_vocab_builder_count(const t5p_vocab_builder *b, const char *text, size_t len, long long *counts, t5p_tokens *t) {
    int n = t5p_tokenize(&b->tk, text, len, 0, t);
    for (int i = 1; i < n - 1; i++) {  // [CLS] and [SEP] are not counted
        int id = t5p_vocab_id(b->vocab, t5p_token_str(t, i));  // unknown words count for nothing
        if (id >= 0) counts[id]++;
    }
}

T5PDEF void t5p_vocab_builder_add(t5p_vocab_builder *b, const long long *counts) {
    int n = t5p_vocab_size(b->vocab);
    for (int i = 0; i < n; i++) b->counts[i] += counts[i];
}

T5PDEF long long t5p_vocab_builder_count_of(const t5p_vocab_builder *b, int id) {
    return id >= 0 && id < t5p_vocab_size(b->vocab) ? b->counts[id] : 0;
}

static const long long *t5p__sort_counts;
static int t5p__count_cmp(const void *a, const void *b) {  // count descending, then id ascending
    int x = *(const int *)a, y = *(const int *)b;
    if (t5p__sort_counts[x] != t5p__sort_counts[y]) return t5p__sort_counts[x] > t5p__sort_counts[y] ? -1 : 1;
    return (x > y) - (x < y);
}

T5PDEF const char **t5p_vocab_builder_result(t5p_vocab_builder *b, int size, int *nout) {
    int n = t5p_vocab_size(b->vocab);
    t5p__arrclear(b->result);
    // the first nbase candidates in order, then the always-kept ones, then the most frequent others
    for (int id = 0; id < b->nkeep && id < n; id++) arrput(b->result, b->vocab->by_id[id]);
    int *order = NULL;
    for (int id = b->nkeep; id < n; id++)
        if (b->counts[id] > 0 && b->vocab->by_id[id]) arrput(order, id);
    t5p__sort_counts = b->counts;  // qsort has no context argument; the builder is not reentrant here
    qsort(order, (size_t)arrlen(order), sizeof(int), t5p__count_cmp);
    for (ptrdiff_t i = 0; i < arrlen(order) && arrlen(b->result) < size; i++) arrput(b->result, b->vocab->by_id[order[i]]);
    arrfree(order);
    *nout = (int)arrlen(b->result);
    return (const char **)b->result;
}

T5PDEF void t5p_vocab_builder_free(t5p_vocab_builder *b) {
    if (!b) return;
    for (ptrdiff_t i = 0; i < arrlen(b->cand); i++) T5P_FREE(b->cand[i]);
    arrfree(b->cand);
    arrfree(b->result);
    shfree(b->dedup);
    t5p_tokenizer_free(&b->tk);
    t5p_vocab_free(b->vocab);
    T5P_FREE(b->seen);
    T5P_FREE(b->counts);
    T5P_FREE(b);
}

// ----------------------------------------------------------------------------
// 4. pseudo
//
// The recipe (t5-pegasus train.py with bert4keras 0.10.0's text_segmentate), per document:
//   pieces = text_segmentate(text, 32, "\n。"); groups of >= 3 pieces, closed before a piece that takes
//   them past 512*1.5 characters (a short tail group is dropped); per group, S = all pieces, T = {}:
//   repeat: score of each i in S = LCS(join(S - i), join(T + i)) (pieces joined in document order), the
//   first maximum moves to T; stop at one piece left in S or len(T)/len(S) > rate; swap if S is shorter.
// Where train.py divides by zero (every piece left in S is empty) the group gives no pair.
//
// Made fast without changing a result:
//   - Hyyro's bit-parallel LCS: V all ones, per text character u = V & M[c], V = (V + u) | (V - u), the
//     addition carrying from word to word; O(n * ceil(m/64)) word operations. Characters of a group get
//     dense ids, so match masks are rows of a flat table.
//   - One match table per group (ML): a bit for every position of the group. Positions of target pieces
//     are cleared as pieces move, and a candidate clears its own piece for its run: a cleared position is
//     the same as a deleted one (its bit stays 1 and passes carries on). The text is then join(T + i), the
//     short side, without the characters that no longer occur in S - i (they leave V unchanged). When that
//     would cost more (target side long, or a huge alphabet), a run builds a pattern of the shorter side.
//   - Upper bounds on a candidate's score s_i = LCS(S-i, T+i), where s1_i = LCS(S0-i, p_i) is its score
//     in the first round (S0 all pieces, T empty; or a bound on it), X = LCS(S,T) the last winner's score,
//     b that winner: s_i <= min(|T|+|p_i|, |S|-|p_i|); after the first round s_i <= X + s1_i (split a
//     common subsequence where p_i sits in T+i; S-i is a subsequence of S0-i) and s_i <= (i's score or
//     bound in the round before) + s1_b.
//     Candidates are scored in order of falling bound; once a bound cannot beat the best so far (ties go
//     to the lower index, as np.argmax) the rest are settled. A run stops as soon as the LCS so far plus
//     the text left cannot reach the score it needs (the carry out of the top word is exactly a step where
//     the LCS grows).
//   - Every empty piece scores LCS(S,T), so only the first one counts, and moving one changes no text:
//     the next round's scores are the same and are not recomputed.
//   - Big groups (past maxlen*1.5) hold at most 3 non-empty pieces; max_group_chars caps their length.
// tests/test_pseudo.c checks all of it against the recipe as written (a plain O(n*m) LCS table per
// candidate) and against goldens from tests/ref/ref_pseudo.py (the recipe with pylcs).

typedef struct {
    long bound;
    int k;
} t5p__cand;

typedef struct {
    int32_t key;
    uint32_t stamp, val;
} t5p__hent;

struct t5p_pseudo {
    t5p_pseudo_params p;
    int32_t seps[16];
    int nseps;
    t5p_pseudo_stats st;
    // document: code points, byte offset of each (and of the end), pieces
    const char *doc;
    int32_t *cps;
    long cps_cap, *boff, boff_cap, doc_bad;
    long *spans, spans_cap;
    // group: dense ids of its characters, pieces in order; per piece offset/length/state
    uint32_t *ids;
    long ids_cap;
    long *off, *len, *sc, *s1;  // sc: score (or bound) in the last round scored, s1: in the first
    t5p__cand *cand;
    int *ne, nne;  // the non-empty pieces, in order
    unsigned char *side;
    long pieces_cap;
    uint64_t *bmp;    // BMP code point -> gen << 32 | dense id
    t5p__hent *hash;  // other code points -> dense id, open addressing, entries live when stamp == gen
    uint32_t gen, nalpha;
    long hcap;
    int hshift;
    uint32_t *cntS;               // per dense id: count in join(S)
    long cnt_cap;
    uint64_t *ML;                 // the group's match table: a bit for every source position
    uint32_t *fidx;               // word of ML holding position j's bit
    long ML_cap, fidx_cap, WL, gtotal;  // words per row, group length
    uint32_t *ttxt;               // join(T) as rows of ML, characters still in S only; T piece q from tcut[q]
    long *tcut, ttxt_cap, tcut_cap;
    int *tidx, tidx_cap, nT, ttxt_ok;
    int ML_built, swapped;
    // one LCS run
    int32_t *rowof;  // dense id -> row of M, or -1
    long rowof_cap;
    uint64_t *M, *V;
    long M_cap, V_cap;
    uint32_t *txt, *distinct;
    long txt_cap, distinct_cap;
    // output: pair texts (offsets while the buffer grows), pairs, JSONL
    t5p__buf out;
    size_t *pair_off;
    long pair_off_cap;
    t5p_pseudo_pair *pairs;
    long pairs_cap;
    int npairs;
    t5p__buf json;
};

// Grows *p (elements of size elem) to hold need elements. 0 or T5P_ERR_NOMEM.
static int t5p__grow(void **p, long *cap, long need, size_t elem) {
    if (need <= *cap) return 0;
    long c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = T5P_REALLOC(*p, (size_t)c * elem);
    if (!q) return t5p__err(T5P_ERR_NOMEM, "out of memory (%ld elements of %zu bytes)", c, elem);
    *p = q;
    *cap = c;
    return 0;
}
#define T5P__GROW(ptr, cap, need) t5p__grow((void **)&(ptr), &(cap), (need), sizeof *(ptr))

T5PDEF t5p_pseudo_params t5p_pseudo_defaults(void) {
    t5p_pseudo_params p = {512, 32, "\n\xe3\x80\x82", 0.25, 32768};
    return p;
}

T5PDEF t5p_pseudo *t5p_pseudo_new(const t5p_pseudo_params *p) {
    t5p_pseudo *ps = (t5p_pseudo *)T5P_MALLOC(sizeof *ps);
    if (!ps) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    memset(ps, 0, sizeof *ps);
    ps->p = p ? *p : t5p_pseudo_defaults();
    const char *s = ps->p.seps ? ps->p.seps : "";
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int32_t cp = t5p_utf8_next(s, n, &i);
        if (cp < 0 || ps->nseps == 16) {
            T5P_FREE(ps);
            t5p__err(T5P_ERR_ARG, "separators: %s", cp < 0 ? "invalid UTF-8" : "more than 16");
            return NULL;
        }
        ps->seps[ps->nseps++] = cp;
    }
    if (ps->p.piece_len < 1 || ps->p.maxlen < 1 || !(ps->p.rate >= 0) || ps->p.max_group_chars < 0) {
        T5P_FREE(ps);
        t5p__err(T5P_ERR_ARG, "pseudo: piece_len and maxlen must be >= 1, rate and max_group_chars >= 0");
        return NULL;
    }
    ps->p.seps = NULL;  // the caller's string need not outlive ps
    return ps;
}

T5PDEF void t5p_pseudo_free(t5p_pseudo *ps) {
    if (!ps) return;
    void *bufs[] = {ps->cps, ps->boff, ps->spans, ps->ids, ps->off, ps->len, ps->sc, ps->s1, ps->cand,
                    ps->ne, ps->side, ps->bmp, ps->hash, ps->cntS, ps->ML, ps->fidx, ps->ttxt, ps->tcut, ps->tidx, ps->rowof, ps->M, ps->V,
                    ps->txt, ps->distinct, ps->out.p, ps->pair_off, ps->pairs, ps->json.p};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) T5P_FREE(bufs[i]);
    T5P_FREE(ps);
}

T5PDEF t5p_pseudo_stats t5p_pseudo_get_stats(const t5p_pseudo *ps) { return ps->st; }

// text_segmentate(text[a:b], maxlen, seps): strip, keep whole if short or no separator left, else split
// on seps[0] (separator kept at the end of every part but the last), merge parts while the merged length
// plus the next non-empty part stays <= maxlen-1, and recurse with the remaining separators on each chunk.
// Chunks are contiguous in text, so pieces are (start, length) spans.
static int t5p__segmentate(long **spans, long *cap, long *count, const int32_t *t, long a, long b,
                           long maxlen, const int32_t *seps, int nseps) {
    while (a < b && t5p_is_space(t[a])) a++;
    while (b > a && t5p_is_space(t[b - 1])) b--;
    if (nseps == 0 || b - a <= maxlen) {
        if (T5P__GROW(*spans, *cap, 2 * (*count + 1))) return T5P_ERR_NOMEM;
        (*spans)[2 * *count] = a;
        (*spans)[2 * *count + 1] = b - a;
        ++*count;
        return 0;
    }
    int32_t sep = seps[0];
    long cur = a, curlen = 0, part = a;  // current chunk text[cur .. cur+curlen), next part starts at part
    for (long k = a;; k++) {
        if (k < b && t[k] != sep) continue;
        long plen = k - part;
        int last = k == b;
        if (curlen > 0 && plen > 0 && curlen + plen > maxlen - 1) {
            int e = t5p__segmentate(spans, cap, count, t, cur, cur + curlen, maxlen, seps + 1, nseps - 1);
            if (e) return e;
            curlen = 0;
        }
        if (curlen == 0) cur = part;
        curlen += plen + (last ? 0 : 1);
        if (last) break;
        part = k + 1;
    }
    if (curlen > 0) return t5p__segmentate(spans, cap, count, t, cur, cur + curlen, maxlen, seps + 1, nseps - 1);
    return 0;
}

T5PDEF long t5p_text_segmentate(const int32_t *text, long n, long maxlen, const int32_t *seps, int nseps,
                                long **spans) {
    long cap = 0, count = 0;
    *spans = NULL;
    int e = t5p__segmentate(spans, &cap, &count, text, 0, n, maxlen, seps, nseps);
    if (e) { T5P_FREE(*spans); *spans = NULL; return e; }
    return count;
}

// Dense id of code point cp in the current group (ids count up from 0 in order of first appearance).
static inline uint32_t t5p__pseudo_id(t5p_pseudo *ps, int32_t cp) {
    if (cp < 0x10000) {  // branch-free: about half the characters of a group are new
        uint64_t *bmp = ps->bmp, e = bmp[cp];
        uint32_t gen = ps->gen, na = ps->nalpha, fresh = (e >> 32) != gen, id = fresh ? na : (uint32_t)e;
        bmp[cp] = (uint64_t)gen << 32 | id;
        ps->nalpha = na + fresh;
        return id;
    }
    uint32_t mask = (uint32_t)ps->hcap - 1, i = ((uint32_t)cp * 2654435761u) >> ps->hshift;
    for (;; i = (i + 1) & mask) {
        t5p__hent *e = ps->hash + i;
        if (e->stamp != ps->gen) {
            e->stamp = ps->gen, e->key = cp;
            return e->val = ps->nalpha++;
        }
        if (e->key == cp) return e->val;
    }
}

// Starts a new id space able to hold n distinct characters.
static int t5p__pseudo_ids_begin(t5p_pseudo *ps, long n) {
    long want = 64;
    while (want < 2 * n) want *= 2;
    if (want > ps->hcap) {
        t5p__hent *h = (t5p__hent *)T5P_REALLOC(ps->hash, (size_t)want * sizeof *h);
        if (!h) return t5p__err(T5P_ERR_NOMEM, "out of memory");
        ps->hash = h;
        memset(h, 0, (size_t)want * sizeof *h);
        ps->hcap = want;
        ps->gen = 0;
        ps->hshift = 32;
        for (long c2 = want; c2 > 1; c2 /= 2) ps->hshift--;
    }
    if (!ps->bmp && !(ps->bmp = (uint64_t *)T5P_MALLOC(0x10000 * sizeof(uint64_t))))
        return t5p__err(T5P_ERR_NOMEM, "out of memory");
    if (ps->gen == 0) memset(ps->bmp, 0, 0x10000 * sizeof(uint64_t));
    if (++ps->gen == 0) {  // stamps wrapped: forget them all
        memset(ps->bmp, 0, 0x10000 * sizeof(uint64_t));
        memset(ps->hash, 0, (size_t)ps->hcap * sizeof *ps->hash);
        ps->gen = 1;
    }
    ps->nalpha = 0;
    return 0;
}

// Makes rowof[] cover the alphabet (all -1) and M zero; call after the ids are assigned.
static int t5p__pseudo_ids_end(t5p_pseudo *ps) {
    long old = ps->rowof_cap;
    if (T5P__GROW(ps->rowof, ps->rowof_cap, (long)ps->nalpha + 1)) return T5P_ERR_NOMEM;
    for (long i = old; i < ps->rowof_cap; i++) ps->rowof[i] = -1;
    return 0;
}

// a + b + c (carry in 0 or 1) into *s; returns the carry out.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <x86intrin.h>
static inline unsigned char t5p__addc(unsigned char c, uint64_t a, uint64_t b, uint64_t *s) {
    unsigned long long r;
    c = _addcarry_u64(c, a, b, &r);
    *s = r;
    return c;
}
#else
static inline unsigned char t5p__addc(unsigned char c, uint64_t a, uint64_t b, uint64_t *s) {
    uint64_t x = a + c;
    unsigned char c1 = x < a;
    *s = x + b;
    return c1 | (*s < x);
}
#endif

// Number of zero bits among the first m bits of v (W words).
static inline long t5p__lcs_zeros(const uint64_t *v, long W, long m) {
    long z = 0;
    for (long w = 0; w < W; w++)
        z += __builtin_popcountll(~v[w] & ((w == W - 1 && m % 64) ? (1ull << (m % 64)) - 1 : ~0ull));
    return z;
}

// Hyyro's bit-parallel LCS over a prepared match table: M holds W words per row, txt the text as row
// offsets (row * W) of its characters that occur in the pattern (the others leave V unchanged). V starts
// all ones; per text character u = V & M[c], V = (V + u) | (V - u), the addition carrying from word to
// word; LCS = zero bits among the m pattern positions.
static long t5p__lcs_k1(const uint64_t *M, long m, const uint32_t *txt, long n) {
    uint64_t v = ~0ull;
    for (long k = 0; k < n; k++) {
        uint64_t u = v & M[txt[k]];
        v = (v + u) | (v - u);
    }
    return t5p__lcs_zeros(&v, 1, m);
}

// Straight-line kernels for 2..16 words: V in registers and the add-with-carry chain unbroken (the
// compiler keeps the carry in the flags; 14% faster than a loop over the words), with the early stop of
// t5p__lcs_kernel.
#define T5P__R2(X) X(0) X(1)
#define T5P__R3(X) T5P__R2(X) X(2)
#define T5P__R4(X) T5P__R3(X) X(3)
#define T5P__R5(X) T5P__R4(X) X(4)
#define T5P__R6(X) T5P__R5(X) X(5)
#define T5P__R7(X) T5P__R6(X) X(6)
#define T5P__R8(X) T5P__R7(X) X(7)
#define T5P__R9(X) T5P__R8(X) X(8)
#define T5P__R10(X) T5P__R9(X) X(9)
#define T5P__R11(X) T5P__R10(X) X(10)
#define T5P__R12(X) T5P__R11(X) X(11)
#define T5P__R13(X) T5P__R12(X) X(12)
#define T5P__R14(X) T5P__R13(X) X(13)
#define T5P__R15(X) T5P__R14(X) X(14)
#define T5P__R16(X) T5P__R15(X) X(15)
#define T5P__V_DECL(i) uint64_t v##i = ~0ull;
#define T5P__V_AND(i) uint64_t u##i = v##i & r[i];
#define T5P__V_ADD(i) uint64_t s##i; c = t5p__addc(c, v##i, u##i, &s##i);
#define T5P__V_OR(i) v##i = s##i | (v##i & ~u##i);
#define T5P__V_STORE(i) V[i] = v##i;
#define T5P__LCS_LINE(W)                                                                            \
    static long t5p__lcs_s##W(const uint64_t *M, long m, const uint32_t *txt, long n, uint64_t *V,  \
                              long need) {                                                          \
        long lcs = 0;                                                                               \
        T5P__R##W(T5P__V_DECL)                                                                      \
        for (long k = 0; k < n; k++) {                                                              \
            const uint64_t *r = M + txt[k];                                                         \
            unsigned char c = 0;                                                                    \
            T5P__R##W(T5P__V_AND) T5P__R##W(T5P__V_ADD) T5P__R##W(T5P__V_OR) lcs += c;              \
            if (lcs + (n - 1 - k) < need) return lcs + (n - 1 - k);                                 \
        }                                                                                           \
        T5P__R##W(T5P__V_STORE)(void) m;                                                            \
        return lcs;                                                                                 \
    }
T5P__LCS_LINE(2) T5P__LCS_LINE(3) T5P__LCS_LINE(4) T5P__LCS_LINE(5) T5P__LCS_LINE(6) T5P__LCS_LINE(7) T5P__LCS_LINE(8) T5P__LCS_LINE(9) T5P__LCS_LINE(10)
T5P__LCS_LINE(11) T5P__LCS_LINE(12) T5P__LCS_LINE(13) T5P__LCS_LINE(14) T5P__LCS_LINE(15) T5P__LCS_LINE(16)

// need > 0: the caller only wants to know whether the LCS reaches need; the run stops, returning a value
// below need, once the characters left cannot make up the difference. The bits above the m pattern
// positions start as ones and never match, so a carry out of the top word is exactly a step where the LCS
// grows by one.
static long t5p__lcs_kernel(const uint64_t *M, long W, long m, const uint32_t *txt, long n, uint64_t *V, long need) {
    switch (W) {
    case 1: return t5p__lcs_k1(M, m, txt, n);
    case 2: return t5p__lcs_s2(M, m, txt, n, V, need);
    case 3: return t5p__lcs_s3(M, m, txt, n, V, need);
    case 4: return t5p__lcs_s4(M, m, txt, n, V, need);
    case 5: return t5p__lcs_s5(M, m, txt, n, V, need);
    case 6: return t5p__lcs_s6(M, m, txt, n, V, need);
    case 7: return t5p__lcs_s7(M, m, txt, n, V, need);
    case 8: return t5p__lcs_s8(M, m, txt, n, V, need);
    case 9: return t5p__lcs_s9(M, m, txt, n, V, need);
    case 10: return t5p__lcs_s10(M, m, txt, n, V, need);
    case 11: return t5p__lcs_s11(M, m, txt, n, V, need);
    case 12: return t5p__lcs_s12(M, m, txt, n, V, need);
    case 13: return t5p__lcs_s13(M, m, txt, n, V, need);
    case 14: return t5p__lcs_s14(M, m, txt, n, V, need);
    case 15: return t5p__lcs_s15(M, m, txt, n, V, need);
    case 16: return t5p__lcs_s16(M, m, txt, n, V, need);
    }
    long lcs = 0;
    for (long w = 0; w < W; w++) V[w] = ~0ull;
    for (long k = 0; k < n; k++) {
        const uint64_t *r = M + txt[k];
        unsigned char c = 0;
        for (long w = 0; w < W; w++) {
            uint64_t u = V[w] & r[w], s;
            c = t5p__addc(c, V[w], u, &s);
            V[w] = s | (V[w] - u);
        }
        lcs += c;
        if (lcs + (n - 1 - k) < need) return lcs + (n - 1 - k);
    }
    T5P_ASSERT(lcs == t5p__lcs_zeros(V, W, m));
    return lcs;
}

// Room for one LCS run with a pattern of m characters (at most nd distinct) and a text of n.
static int t5p__lcs_reserve(t5p_pseudo *ps, long m, long nd, long n) {
    long W = (m + 63) / 64;
    if (T5P__GROW(ps->distinct, ps->distinct_cap, nd) || T5P__GROW(ps->V, ps->V_cap, W) ||
        T5P__GROW(ps->txt, ps->txt_cap, n))
        return T5P_ERR_NOMEM;
    if (nd * W > ps->M_cap) {  // M is kept all zero between runs
        long old = ps->M_cap;
        if (nd * W > (long)UINT32_MAX) return t5p__err(T5P_ERR_NOMEM, "LCS pattern too large (%ld)", m);
        if (T5P__GROW(ps->M, ps->M_cap, nd * W)) return T5P_ERR_NOMEM;
        memset(ps->M + old, 0, (size_t)(ps->M_cap - old) * sizeof(uint64_t));
    }
    return 0;
}

// Pattern character id at position pos: its row of M (a new one for a new character) gets the bit.
static inline void t5p__lcs_pat(t5p_pseudo *ps, uint32_t id, long pos, long W, long *nd) {
    int32_t r = ps->rowof[id];
    if (r < 0) r = ps->rowof[id] = (int32_t)*nd, ps->distinct[(*nd)++] = id;
    ps->M[r * W + pos / 64] |= 1ull << (pos % 64);
}

// Text characters ids[0..n) as row offsets into ps->txt + nt, leaving out those not in the pattern.
static inline long t5p__lcs_txt(t5p_pseudo *ps, const uint32_t *ids, long n, long W, long nt) {
    uint32_t *t = ps->txt;
    const int32_t *rowof = ps->rowof;
    for (long k = 0; k < n; k++) {
        int32_t r = rowof[ids[k]];
        t[nt] = (uint32_t)(r * W);
        nt += r >= 0;
    }
    return nt;
}

// Clears the rows of M and rowof[] that the last run used.
static void t5p__lcs_clear(t5p_pseudo *ps, long nd, long W) {
    for (long d = 0; d < nd; d++) {
        memset(ps->M + ps->rowof[ps->distinct[d]] * W, 0, (size_t)W * sizeof(uint64_t));
        ps->rowof[ps->distinct[d]] = -1;
    }
}

// LCS of pattern pat[0..m) and text txt[0..n) (dense ids).
static long t5p__lcs_ids(t5p_pseudo *ps, const uint32_t *pat, long m, const uint32_t *txt, long n) {
    if (m == 0 || n == 0) return 0;
    long W = (m + 63) / 64, nd = 0;
    if (t5p__lcs_reserve(ps, m, m < (long)ps->nalpha ? m : (long)ps->nalpha, n)) return T5P_ERR_NOMEM;
    for (long k = 0; k < m; k++) t5p__lcs_pat(ps, pat[k], k, W, &nd);
    long nt = t5p__lcs_txt(ps, txt, n, W, 0);
    long lcs = t5p__lcs_kernel(ps->M, W, m, ps->txt, nt, ps->V, 0);
    t5p__lcs_clear(ps, nd, W);
    return lcs;
}

T5PDEF long t5p_lcs(const int32_t *a, long na, const int32_t *b, long nb) {
    if (na < 0 || nb < 0) return t5p__err(T5P_ERR_ARG, "t5p_lcs: negative length");
    t5p_pseudo *ps = t5p_pseudo_new(NULL);
    if (!ps) return T5P_ERR_NOMEM;
    long r = T5P_ERR_NOMEM;
    if (na > nb) { const int32_t *t = a; a = b; b = t; long tn = na; na = nb; nb = tn; }  // a: pattern
    if (t5p__pseudo_ids_begin(ps, na + nb) == 0 && T5P__GROW(ps->ids, ps->ids_cap, na + nb + 1) == 0) {
        for (long k = 0; k < na; k++) ps->ids[k] = t5p__pseudo_id(ps, a[k]);
        for (long k = 0; k < nb; k++) ps->ids[na + k] = t5p__pseudo_id(ps, b[k]);
        if (t5p__pseudo_ids_end(ps) == 0) r = t5p__lcs_ids(ps, ps->ids, na, ps->ids + na, nb);
    }
    t5p_pseudo_free(ps);
    return r;
}

// Score of candidate i: LCS(join(S - i), join(T + i)), the shorter side as the bit pattern. A piece k is
// in S - i or T + i as (side[k] == 0) != (k == i) or (side[k] == 1) != (k == i).
static long t5p__pseudo_score(t5p_pseudo *ps, int i, long lenS, long lenT, long need) {
    long mt = lenT + ps->len[i], ms = lenS - ps->len[i];
    if (mt == 0 || ms == 0) return 0;
    int ps_side = mt <= ms;  // the pattern's side
    long m = ps_side ? mt : ms, n = ps_side ? ms : mt, W = (m + 63) / 64, nd = 0, pos = 0, nt = 0;
    if (t5p__lcs_reserve(ps, m, m < (long)ps->nalpha ? m : (long)ps->nalpha, n)) return T5P_ERR_NOMEM;
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if ((ps->side[k] == ps_side) == (k == i)) continue;
        const uint32_t *id = ps->ids + ps->off[k];
        for (long j = 0; j < ps->len[k]; j++) t5p__lcs_pat(ps, id[j], pos++, W, &nd);
    }
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if ((ps->side[k] == ps_side) != (k == i)) continue;
        nt = t5p__lcs_txt(ps, ps->ids + ps->off[k], ps->len[k], W, nt);
    }
    ps->st.lcs_runs++;
    long lcs = t5p__lcs_kernel(ps->M, W, m, ps->txt, nt, ps->V, need);
    t5p__lcs_clear(ps, nd, W);
    return lcs;
}

// The other way to score: the group's match table ML has a bit for every position of every source piece
// (target pieces' bits are cleared as they move; clearing a position is the same as deleting it from the
// pattern: its bit stays 1 and passes carries on). Candidate i clears its own bits for the run, and the
// text is join(T + i): one table for all candidates, no per-candidate pattern. Cost |T+i| * ceil(L/64).
static int t5p__pseudo_ml_build(t5p_pseudo *ps) {
    long W = ps->WL = (ps->gtotal + 63) / 64, need = (long)ps->nalpha * W;
    long old = ps->ML_cap;
    if (T5P__GROW(ps->ML, ps->ML_cap, need) || T5P__GROW(ps->txt, ps->txt_cap, ps->gtotal) ||
        T5P__GROW(ps->V, ps->V_cap, W) || T5P__GROW(ps->fidx, ps->fidx_cap, ps->gtotal))
        return T5P_ERR_NOMEM;
    if (ps->ML_cap > old) memset(ps->ML + old, 0, (size_t)(ps->ML_cap - old) * sizeof(uint64_t));  // kept zero
    uint64_t *ML = ps->ML;
    uint32_t *fidx = ps->fidx;
    const uint32_t *ids = ps->ids;
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        long j = ps->off[k], e = j + ps->len[k];
        if (ps->side[k])
            for (; j < e; j++) fidx[j] = (uint32_t)(ids[j] * W + j / 64);
        else
            for (; j < e; j++) ML[fidx[j] = (uint32_t)(ids[j] * W + j / 64)] |= 1ull << (j % 64);
    }
    ps->ML_built = 1;
    return 0;
}

// Clears what is left of ML after a group (the source pieces' bits), keeping it all zero.
static void t5p__pseudo_ml_clear(t5p_pseudo *ps) {
    if (!ps->ML_built) return;
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if (ps->side[k] == ps->swapped) {  // the source pieces: side 0, or 1 after the swap
            uint64_t *ML = ps->ML;
            const uint32_t *f = ps->fidx;
            for (long j = ps->off[k], e = j + ps->len[k]; j < e; j++) ML[f[j]] = 0;
        }
    }
    ps->ML_built = 0;
}

// Flips the bits of piece k in ML (they are all set while k is a live source piece).
static void t5p__pseudo_ml_flip(t5p_pseudo *ps, int k) {
    uint64_t *ML = ps->ML;
    const uint32_t *f = ps->fidx;
    for (long j = ps->off[k], e = j + ps->len[k]; j < e; j++) ML[f[j]] ^= 1ull << (j % 64);
}

// join(T) for this round, as rows of ML, leaving out characters with no position left in S.
static int t5p__pseudo_ttxt(t5p_pseudo *ps) {
    long W = ps->WL, n = 0;
    int nT = 0;
    if (T5P__GROW(ps->ttxt, ps->ttxt_cap, ps->gtotal) || T5P__GROW(ps->tcut, ps->tcut_cap, ps->nne + 1)) return T5P_ERR_NOMEM;
    if (ps->nne > ps->tidx_cap) {
        long c = ps->tidx_cap;
        if (T5P__GROW(ps->tidx, c, ps->nne)) return T5P_ERR_NOMEM;
        ps->tidx_cap = (int)c;
    }
    for (int q = 0; q < ps->nne; q++) {
        int k = ps->ne[q];
        if (!ps->side[k]) continue;
        ps->tidx[nT] = k, ps->tcut[nT++] = n;
        const uint32_t *id = ps->ids + ps->off[k];
        for (long j = 0; j < ps->len[k]; j++) {
            ps->ttxt[n] = (uint32_t)(id[j] * W);
            n += ps->cntS[id[j]] > 0;
        }
    }
    ps->tcut[nT] = n, ps->nT = nT, ps->ttxt_ok = 1;
    return 0;
}

static long t5p__pseudo_score_ml(t5p_pseudo *ps, int i, long need) {
    if (!ps->ML_built && t5p__pseudo_ml_build(ps)) return T5P_ERR_NOMEM;
    if (!ps->ttxt_ok && t5p__pseudo_ttxt(ps)) return T5P_ERR_NOMEM;
    long W = ps->WL, nt = 0, n = ps->len[i];
    const uint32_t *pi = ps->ids + ps->off[i], *cS = ps->cntS;
    uint32_t *t = ps->txt;
    int q = 0;  // text: join(T + i) without characters that have no position in S (their rows are zero)
    while (q < ps->nT && ps->tidx[q] < i) q++;
    memcpy(t, ps->ttxt, (size_t)ps->tcut[q] * sizeof *t), nt = ps->tcut[q];
    for (long j = 0; j < n; j++) {  // a character only in p_i (once) has no position left in S - i
        uint32_t c = pi[j];
        t[nt] = (uint32_t)(c * W);
        nt += cS[c] > 1;
    }
    memcpy(t + nt, ps->ttxt + ps->tcut[q], (size_t)(ps->tcut[ps->nT] - ps->tcut[q]) * sizeof *t);
    nt += ps->tcut[ps->nT] - ps->tcut[q];
    ps->st.lcs_runs++;
    t5p__pseudo_ml_flip(ps, i);
    // Only the words from the first to the last live position of S - i can change: the words before hold
    // no live bit and get no carry, the words after are all ones and pass carries through to the top.
    int a = 0, z = ps->nne - 1;
    while (ps->side[ps->ne[a]] || ps->ne[a] == i) a++;
    while (ps->side[ps->ne[z]] || ps->ne[z] == i) z--;
    long lo = ps->off[ps->ne[a]] / 64, hi = (ps->off[ps->ne[z]] + ps->len[ps->ne[z]] - 1) / 64;
    long lcs = t5p__lcs_kernel(ps->ML + lo, hi - lo + 1, 64 * (hi - lo + 1), t, nt, ps->V, need);
    t5p__pseudo_ml_flip(ps, i);
    return lcs;
}

// Moves piece w from S to T in the character counts and ML.
static void t5p__pseudo_move(t5p_pseudo *ps, int w) {
    const uint32_t *p = ps->ids + ps->off[w];
    ps->ttxt_ok = 0;
    if (ps->ML_built) t5p__pseudo_ml_flip(ps, w);
    for (long k = 0; k < ps->len[w]; k++) ps->cntS[p[k]]--;
}

// Scores candidate i the cheaper way (measured on THUCNews: the group table nearly always, by 20-30%);
// a separate pattern when join(T + i) is the longer side or the group table would be large.
// need > 0: a result below need is the score or a bound on it, and says the candidate cannot win.
static long t5p__pseudo_pick(t5p_pseudo *ps, int i, long lenS, long lenT, long need) {
    long mt = lenT + ps->len[i], ms = lenS - ps->len[i];
    if (mt == 0 || ms == 0) return 0;
    long wa = ((mt < ms ? mt : ms) + 63) / 64, costA = (mt > ms ? mt : ms) * (1 + wa), costB = mt * ps->WL;
    if (costB <= costA && (long)ps->nalpha * ps->WL <= (1L << 22)) return t5p__pseudo_score_ml(ps, i, need);
    return t5p__pseudo_score(ps, i, lenS, lenT, need);
}

static int t5p__cand_cmp(const void *x, const void *y) {
    const t5p__cand *a = (const t5p__cand *)x, *b = (const t5p__cand *)y;
    if (a->bound != b->bound) return a->bound > b->bound ? -1 : 1;
    return a->k - b->k;
}

// The greedy selection on the prepared group (ids, off, len of P pieces). side[] is the result.
static int t5p__pseudo_greedy_run(t5p_pseudo *ps, int P, double rate) {
    unsigned char *side = ps->side;
    long *len = ps->len, *sc = ps->sc, *s1 = ps->s1;
    long lenS = 0, lenT = 0, X = 0;  // X = LCS(join(S), join(T))
    int nS = P, ep = 0, N = -1, cached = 0, first = 1, lastb = -1;
    long sN = -1;
    t5p__cand *cand = ps->cand;
    for (int k = 0; k < P; k++) side[k] = 0, lenS += len[k];
    for (;;) {
        if (!cached) {  // first maximum among the non-empty source pieces
            int nc = 0;
            for (int q = 0; q < ps->nne; q++) {
                int k = ps->ne[q];
                if (side[k]) continue;
                long b = lenT + len[k] < lenS - len[k] ? lenT + len[k] : lenS - len[k];
                if (!first) {
                    if (X + s1[k] < b) b = X + s1[k];
                    if (sc[k] + s1[lastb] < b) b = sc[k] + s1[lastb];
                }
                cand[nc].bound = b, cand[nc].k = k, nc++;
            }
            ps->st.candidates += nc;
            if (nc > 32) qsort(cand, (size_t)nc, sizeof *cand, t5p__cand_cmp);
            else
                for (int a = 1; a < nc; a++)  // insertion sort: a group has a few dozen pieces
                    for (int z = a; z > 0 && t5p__cand_cmp(&cand[z - 1], &cand[z]) > 0; z--) {
                        t5p__cand x = cand[z];
                        cand[z] = cand[z - 1], cand[z - 1] = x;
                    }
            N = -1, sN = -1;
            int j = 0;
            for (; j < nc; j++) {
                int k = cand[j].k;
                if (cand[j].bound < sN || (cand[j].bound == sN && k > N)) break;  // nothing later can win
                long need = N < 0 ? 0 : k < N ? sN : sN + 1;  // what k must score to win
                long s = cand[j].bound == 0 ? 0 : t5p__pseudo_pick(ps, k, lenS, lenT, need);
                if (s < 0) return (int)s;
                if (s < need) {  // k cannot win; s is its score or (run stopped early) a bound on it
                    sc[k] = s < cand[j].bound ? s : cand[j].bound;
                    continue;
                }
                sc[k] = s;
                if (s > sN || (s == sN && k < N)) sN = s, N = k;
            }
            for (; j < nc; j++) sc[cand[j].k] = cand[j].bound;
            if (first)
                for (j = 0; j < nc; j++) s1[cand[j].k] = sc[cand[j].k];
            first = 0;
        }
        while (ep < P && (side[ep] || len[ep] > 0)) ep++;  // first empty source piece: scores X
        int w = N;
        if (N < 0 || (ep < P && (X > sN || (X == sN && ep < N)))) w = ep;
        T5P_ASSERT(w >= 0 && w < P && !side[w]);
        side[w] = 1, nS--, lenS -= len[w], lenT += len[w];
        if (len[w] > 0) X = sN, lastb = w, cached = 0, t5p__pseudo_move(ps, w);
        else cached = N >= 0;  // no text changed: the same scores next round
        if (nS == 1) break;
        if (lenS == 0) return 0;  // train.py: ZeroDivisionError
        if ((double)lenT / (double)lenS > rate) break;
    }
    ps->swapped = lenS < lenT;
    if (ps->swapped)
        for (int k = 0; k < P; k++) side[k] = !side[k];
    return 1;
}

static int t5p__pseudo_greedy(t5p_pseudo *ps, int P, double rate) {
    ps->swapped = 0;
    int r = t5p__pseudo_greedy_run(ps, P, rate);
    if (r < 0) ps->swapped = 0;  // side[] may be anything: clear every row
    if (r < 0)
        for (int k = 0; k < P; k++) ps->side[k] = 0;
    t5p__pseudo_ml_clear(ps);
    return r;
}

// Prepares group pieces spans[2k], spans[2k+1] (k < P) of text: dense ids, offsets, lengths, counts.
static int t5p__pseudo_group(t5p_pseudo *ps, const int32_t *text, const long *spans, int P, long total) {
    if (T5P__GROW(ps->ids, ps->ids_cap, total + 1)) return T5P_ERR_NOMEM;
    if (P > ps->pieces_cap) {  // per-piece arrays share one capacity
        long c0 = ps->pieces_cap, c;
        if ((c = c0, T5P__GROW(ps->off, c, P)) || (c = c0, T5P__GROW(ps->len, c, P)) ||
            (c = c0, T5P__GROW(ps->sc, c, P)) || (c = c0, T5P__GROW(ps->s1, c, P)) ||
            (c = c0, T5P__GROW(ps->cand, c, P)) || (c = c0, T5P__GROW(ps->ne, c, P)) ||
            (c = c0, T5P__GROW(ps->side, c, P)))
            return T5P_ERR_NOMEM;
        ps->pieces_cap = c;
    }
    if (t5p__pseudo_ids_begin(ps, total)) return T5P_ERR_NOMEM;
    long o = 0;
    ps->nne = 0;
    for (int k = 0; k < P; k++) {
        const int32_t *t = text + spans[2 * k];
        ps->off[k] = o, ps->len[k] = spans[2 * k + 1];
        if (ps->len[k] > 0) ps->ne[ps->nne++] = k;
        for (long j = 0; j < ps->len[k]; j++) ps->ids[o++] = t5p__pseudo_id(ps, t[j]);
    }
    long na = (long)ps->nalpha + 1;
    if (T5P__GROW(ps->cntS, ps->cnt_cap, na)) return T5P_ERR_NOMEM;
    memset(ps->cntS, 0, (size_t)na * sizeof *ps->cntS);
    for (long k = 0; k < o; k++) ps->cntS[ps->ids[k]]++;
    ps->gtotal = total, ps->WL = (total + 63) / 64, ps->ML_built = 0, ps->ttxt_ok = 0;
    return t5p__pseudo_ids_end(ps);
}

T5PDEF int t5p_pseudo_select(t5p_pseudo *ps, const int32_t *text, const long *spans, int npieces, double rate,
                             unsigned char *side) {
    if (npieces < 1) return t5p__err(T5P_ERR_ARG, "t5p_pseudo_select: no pieces");
    t5p_pseudo *own = ps ? NULL : (ps = t5p_pseudo_new(NULL));
    if (!ps) return T5P_ERR_NOMEM;
    long total = 0;
    for (int k = 0; k < npieces; k++) total += spans[2 * k + 1];
    int r = t5p__pseudo_group(ps, text, spans, npieces, total);
    if (r == 0) r = t5p__pseudo_greedy(ps, npieces, rate);
    if (r >= 0) memcpy(side, ps->side, (size_t)npieces);
    t5p_pseudo_free(own);
    return r;
}

// Appends the group's pieces on one side to ps->out as UTF-8 (NUL-terminated): the document's own bytes
// when it was valid UTF-8, else re-encoded (invalid bytes became U+FFFD).
static void t5p__pseudo_emit(t5p_pseudo *ps, const long *spans, int P, int want) {
    for (int k = 0; k < P; k++) {
        if (ps->side[k] != want) continue;
        long a = spans[2 * k], n = spans[2 * k + 1];
        if (!ps->doc_bad) t5p__buf_add(&ps->out, ps->doc + ps->boff[a], (size_t)(ps->boff[a + n] - ps->boff[a]));
        else
            for (long j = 0; j < n; j++) t5p__buf_cp(&ps->out, ps->cps[a + j]);
    }
    t5p__buf_add(&ps->out, "", 1);  // keeps the NUL inside the buffer
}

static int t5p__pseudo_do_group(t5p_pseudo *ps, const long *spans, int P) {
    long total = 0;
    for (int k = 0; k < P; k++) total += spans[2 * k + 1];
    ps->st.groups++;
    if (ps->p.max_group_chars > 0 && total > ps->p.max_group_chars) { ps->st.skipped_long++; return 0; }
    int r = t5p__pseudo_group(ps, ps->cps, spans, P, total);
    if (r == 0) r = t5p__pseudo_greedy(ps, P, ps->p.rate);
    if (r <= 0) { ps->st.skipped_empty += r == 0; return r; }
    if (T5P__GROW(ps->pairs, ps->pairs_cap, ps->npairs + 1) ||
        T5P__GROW(ps->pair_off, ps->pair_off_cap, 2 * (ps->npairs + 1)))
        return T5P_ERR_NOMEM;
    size_t o0 = ps->out.n;
    t5p__pseudo_emit(ps, spans, P, 0);
    size_t o1 = ps->out.n;
    t5p__pseudo_emit(ps, spans, P, 1);
    ps->pair_off[2 * ps->npairs] = o0, ps->pair_off[2 * ps->npairs + 1] = o1;
    ps->pairs[ps->npairs].source_len = o1 - o0 - 1;
    ps->pairs[ps->npairs].target_len = ps->out.n - o1 - 1;
    ps->npairs++;
    ps->st.pairs++;
    return 0;
}

// Decodes text into ps->cps with the byte offset of each code point in ps->boff (and of the end), as
// t5p_utf8_next does (an invalid byte becomes U+FFFD). Returns the number of code points.
static long t5p__pseudo_decode(t5p_pseudo *ps, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    int32_t *cp = ps->cps;
    long *bo = ps->boff, m = 0;
    size_t i = 0;
    ps->doc_bad = 0;
    while (i < n) {
        unsigned c = s[i];
        bo[m] = (long)i;
        if (c < 0x80) { cp[m++] = (int32_t)c, i++; continue; }
        if (i + 2 < n) {  // three bytes 1110xxxx 10xxxxxx 10xxxxxx, one test
            uint32_t x = (uint32_t)c | (uint32_t)s[i + 1] << 8 | (uint32_t)s[i + 2] << 16;
            int32_t v = (int32_t)((x & 0x0F) << 12 | (x & 0x3F00) >> 2 | (x & 0x3F0000) >> 16);
            if ((x & 0xC0C0F0) == 0x8080E0 && v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) {
                cp[m++] = v, i += 3;
                continue;
            }
        }
        int32_t v = t5p_utf8_next(text, n, &i);
        if (v < 0) v = 0xFFFD, ps->doc_bad++;
        cp[m++] = v;
    }
    bo[m] = (long)n;
    return m;
}

T5PDEF int t5p_pseudo_summary(t5p_pseudo *ps, const char *text, size_t n, const t5p_pseudo_pair **pairs) {
    ps->npairs = 0;
    ps->out.n = 0;
    ps->json.n = 0;
    ps->st.docs++;
    if (T5P__GROW(ps->cps, ps->cps_cap, (long)n + 1) || T5P__GROW(ps->boff, ps->boff_cap, (long)n + 1))
        return T5P_ERR_NOMEM;
    ps->doc = text;
    long m = t5p__pseudo_decode(ps, text, n), np = 0;
    ps->st.bad_utf8 += ps->doc_bad;
    int r = t5p__segmentate(&ps->spans, &ps->spans_cap, &np, ps->cps, 0, m, ps->p.piece_len, ps->seps, ps->nseps);
    double limit = ps->p.maxlen * 1.5;
    long g0 = 0, glen = 0;  // current group: pieces g0..k-1, glen characters
    for (long k = 0; r == 0 && k < np; k++) {
        long l = ps->spans[2 * k + 1];
        if ((double)(glen + l) > limit && k - g0 >= 3) {
            r = t5p__pseudo_do_group(ps, ps->spans + 2 * g0, (int)(k - g0));
            g0 = k, glen = 0;
        }
        glen += l;
    }
    if (r == 0 && np - g0 >= 3) r = t5p__pseudo_do_group(ps, ps->spans + 2 * g0, (int)(np - g0));
    ps->doc = NULL;
    if (r < 0) return r;
    for (int k = 0; k < ps->npairs; k++) {
        ps->pairs[k].source = ps->out.p + ps->pair_off[2 * k];
        ps->pairs[k].target = ps->out.p + ps->pair_off[2 * k + 1];
    }
    if (pairs) *pairs = ps->pairs;
    return ps->npairs;
}

T5PDEF const char *t5p_pseudo_jsonl(t5p_pseudo *ps, size_t *len) {
    ps->json.n = 0;
    t5p__buf_reserve(&ps->json, 0);
    ps->json.p[0] = 0;
    for (int k = 0; k < ps->npairs; k++) {
        t5p__buf_add(&ps->json, "{\"source\": ", 11);
        t5p__json_write_utf8(&ps->json, ps->pairs[k].source, ps->pairs[k].source_len);
        t5p__buf_add(&ps->json, ", \"target\": ", 12);
        t5p__json_write_utf8(&ps->json, ps->pairs[k].target, ps->pairs[k].target_len);
        t5p__buf_add(&ps->json, "}\n", 2);
    }
    if (len) *len = ps->json.n;
    return ps->json.p;
}

T5PDEF long t5p_json_string_field(const char *json, size_t n, const char *key, char **out, size_t *cap) {
    t5p_json *j = t5p_json_parse(json, n, "JSON");
    if (!j) return T5P_ERR_FORMAT;
    const t5p_json *v = j->type == T5P_JSON_OBJECT ? t5p_json_get(j, key) : NULL;
    long r;
    if (j->type != T5P_JSON_OBJECT) r = t5p__err(T5P_ERR_FORMAT, "JSON: expected an object");
    else if (!v) r = t5p__err(T5P_ERR_FORMAT, "JSON: no field \"%s\"", key);
    else if (v->type != T5P_JSON_STRING) r = t5p__err(T5P_ERR_FORMAT, "JSON: field \"%s\" is not a string", key);
    else {
        if (v->len + 1 > *cap) {
            char *p = (char *)T5P_REALLOC(*out, v->len + 1);
            if (!p) { t5p_json_free(j); return t5p__err(T5P_ERR_NOMEM, "out of memory"); }
            *out = p;
            *cap = v->len + 1;
        }
        memcpy(*out, v->str, v->len + 1);
        r = (long)v->len;
    }
    t5p_json_free(j);
    return r;
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
// 6. model

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

static int t5p__tensor_add(t5p_param_tensor *out, int n, float *buf, size_t off, int ndim, int64_t s0, int64_t s1,
                           int is_norm, const char *fmt, int layer, const char *part) {
    if (out) {
        t5p_param_tensor *t = &out[n];
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
static int t5p__tensors(const t5p_config *c, float *buf, t5p_param_tensor *out, int *kinds) {
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

T5PDEF int t5p_param_tensors(const t5p_config *c, float *buf, t5p_param_tensor *out) {
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
    t5p_param_tensor *ts = (t5p_param_tensor *)T5P_MALLOC((size_t)n * sizeof *ts);
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
        T5P__OMP(parallel for schedule(static) if(count >= T5P_PAR_MIN))
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
            T5P__OMP(simd)
            for (int j = 0; j < T5P__NR; j++) t[i][j] += ai * b[j];
        }
    }
    if (m == T5P__MR && n == T5P__NR) {
        for (int i = 0; i < T5P__MR; i++) {
            float *ci = c + (size_t)i * ldc;
            if (acc) {
                T5P__OMP(simd)
                for (int j = 0; j < T5P__NR; j++) ci[j] += t[i][j];
            } else {
                T5P__OMP(simd)
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
                T5P__OMP(simd)
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
    T5P__OMP(parallel num_threads(nth) if(nth > 1))
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *ap = ap_all + (size_t)tid * kcap * mc;
        for (int jc = 0; jc < N; jc += nc) {
            const int ncur = t5p__imin(nc, N - jc), ns = t5p__cdiv(ncur, T5P__NR);
            // strip s, K block pc lives at bp + (s*np + pc/KC) * KC*NR
            T5P__OMP(for schedule(static))
            for (int sp = 0; sp < ns * np; sp++) {
                const int s = sp / np, pc = (sp % np) * T5P__KC;
                t5p__pack_b(bp + (size_t)sp * T5P__KC * T5P__NR, B, ldb, tb, pc, t5p__imin(T5P__KC, K - pc),
                            jc + s * T5P__NR, t5p__imin(T5P__NR, ncur - s * T5P__NR));
            }
            // tasks: an M block times a range of strips (more than one range only when M is short)
            const int nsplit = mb >= nth ? 1 : t5p__imin(ns, t5p__cdiv(nth, mb));
            T5P__OMP(for schedule(dynamic, 1))
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
    T5P__OMP(parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN))
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * D, table + (size_t)ids[n] * D, (size_t)D * sizeof(float));
}

T5PDEF void t5p_embedding_backward(float *dtable, const float *dout, const int *ids, int N, int D) {
    // threads own column blocks, so a repeated id is never written by two threads
    T5P__OMP(parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN))
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D;
        float *y = out + (size_t)n * D;
        float ss = 0.0f;
        T5P__OMP(simd reduction(+:ss))
        for (int i = 0; i < D; i++) ss += x[i] * x[i];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        rstd[n] = r;
        for (int i = 0; i < D; i++) y[i] = g[i] * (x[i] * r);  // HF's order: weight * (x * rsqrt(var + eps))
    }
}

T5PDEF void t5p_rmsnorm_backward(float *din, float *dg, const float *dout, const float *in, const float *rstd,
                                 const float *g, int N, int D) {
    // y = g x r, r = (mean(x^2) + eps)^-1/2:  dx = r g dy - x r^3 / D * sum(g dy x),  dg = sum_n dy x r
    T5P__OMP(parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN))
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * D, *dy = dout + (size_t)n * D;
        float *dx = din + (size_t)n * D;
        const float r = rstd[n];
        float dot = 0.0f;
        T5P__OMP(simd reduction(+:dot))
        for (int i = 0; i < D; i++) dot += g[i] * dy[i] * x[i];
        const float c = dot * r * r * r / (float)D;
        for (int i = 0; i < D; i++) dx[i] += r * g[i] * dy[i] - c * x[i];
    }
    T5P__OMP(parallel for schedule(static) if((size_t)N * D >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for schedule(static) if((size_t)H * Tq * Tk >= T5P_PAR_MIN))
    for (int i = 0; i < Tq; i++)
        for (int j = 0; j < Tk; j++) {
            const float *row = table + (size_t)t5p_relative_bucket(j - i, bidirectional, num_buckets, max_distance) * H;
            for (int h = 0; h < H; h++) bias[((size_t)h * Tq + i) * Tk + j] = row[h];
        }
}

T5PDEF void t5p_position_bias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk, int bidirectional,
                                       int num_buckets, int max_distance) {
    T5P__OMP(parallel for schedule(static) if((size_t)H * Tq * Tk >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for schedule(dynamic, 1) if((size_t)B * H * Tq * Tk * Dk >= T5P_PAR_MIN))
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
    T5P__OMP(parallel if((size_t)B * H * Tq * Tk * Dk >= T5P_PAR_MIN))
    {
        float *dP = (float *)T5P_MALLOC((size_t)Tq * Tk * sizeof(float));
        T5P_ASSERT(dP);
        T5P__OMP(for schedule(dynamic, 1))
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
    T5P__OMP(parallel for schedule(static) if((size_t)B * H * Tq * Tk >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for schedule(static) if(n >= T5P_PAR_MIN))
    for (size_t i = 0; i < n; i++) {
        const float x = u0[i];
        const float gelu = tanh_form ? 0.5f * x * (1.0f + t5p__tanh_inner(x))
                                     : 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
        g[i] = gelu * u1[i];
    }
}

T5PDEF void t5p_gelu_gate_backward(float *du0, float *du1, const float *dg, const float *u0, const float *u1,
                                   size_t n, int tanh_form) {
    T5P__OMP(parallel for schedule(static) if(n >= T5P_PAR_MIN))
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
            T5P__OMP(parallel for schedule(static) if(n >= T5P_PAR_MIN))
            for (size_t i = 0; i < n; i++) out[i] = in[i] * scale;
        }
        return;
    }
    T5P_ASSERT(n <= 0xFFFFFFFFu);
    const uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    const uint32_t thr = (uint32_t)(p * 16777216.0f);
    const float s = scale / (1.0f - p);
    T5P__OMP(parallel for simd schedule(static) if(n >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for schedule(static) reduction(+:nc) if((size_t)N * V >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for schedule(static) if((size_t)N * V >= T5P_PAR_MIN))
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
    T5P__OMP(parallel for simd schedule(static) if(n >= T5P_PAR_MIN))
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
    T5P_FREE(m->vocab);
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

// --- model directories (config.json, model.safetensors, vocab.txt)

static char *t5p__path_join(const char *dir, const char *name) {
    size_t nd = strlen(dir), nn = strlen(name);
    char *p = (char *)T5P_MALLOC(nd + nn + 2);
    if (!p) return NULL;
    memcpy(p, dir, nd);
    size_t k = nd;
    if (nd && dir[nd - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, nn + 1);
    return p;
}

static int t5p__exists(const char *path) {  // 1 file, 2 directory, 0 absent
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    return S_ISDIR(sb.st_mode) ? 2 : 1;
}

// A float as the shortest decimal that reads back as the same float, written like Python's repr of it.
static void t5p__json_write_float(t5p__buf *b, float x) {
    char tmp[40];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)x);
        if (strtof(tmp, NULL) == x) break;
    }
    t5p__json_write_number(b, strtod(tmp, NULL));
}

T5PDEF int t5p_config_save(const t5p_config *c, const char *path, int decoder_start_id, int eos_id) {
    int rc = t5p_config_check(c);
    if (rc < 0) return rc;
    // keys sorted, two-space indent: what transformers' save_pretrained writes
    t5p__buf b = {0};
    T5P__LIT(&b, "{\n  \"architectures\": [\n    \"MT5ForConditionalGeneration\"\n  ],\n  \"d_ff\": ");
    t5p__json_write_int(&b, c->d_ff);
    T5P__LIT(&b, ",\n  \"d_kv\": ");
    t5p__json_write_int(&b, c->d_kv);
    T5P__LIT(&b, ",\n  \"d_model\": ");
    t5p__json_write_int(&b, c->d_model);
    T5P__LIT(&b, ",\n  \"decoder_start_token_id\": ");
    t5p__json_write_int(&b, decoder_start_id);
    // transformers reads dense_act_fn: the pegasus flavour's erf GELU is "gelu" (its other two differences
    // have no MT5Config key; only t5p computes them)
    if (c->flavor == T5P_PEGASUS) T5P__LIT(&b, ",\n  \"dense_act_fn\": \"gelu\"");
    else T5P__LIT(&b, ",\n  \"dense_act_fn\": \"gelu_new\"");
    T5P__LIT(&b, ",\n  \"dropout_rate\": ");
    t5p__json_write_float(&b, c->dropout);
    T5P__LIT(&b, ",\n  \"eos_token_id\": ");
    t5p__json_write_int(&b, eos_id);
    T5P__LIT(&b, ",\n  \"feed_forward_proj\": \"gated-gelu\",\n  \"initializer_factor\": 1.0,\n"
                 "  \"is_encoder_decoder\": true,\n  \"is_gated_act\": true,\n  \"layer_norm_epsilon\": ");
    t5p__json_write_float(&b, c->eps);
    T5P__LIT(&b, ",\n  \"model_type\": \"mt5\",\n  \"num_decoder_layers\": ");
    t5p__json_write_int(&b, c->num_decoder_layers);
    T5P__LIT(&b, ",\n  \"num_heads\": ");
    t5p__json_write_int(&b, c->num_heads);
    T5P__LIT(&b, ",\n  \"num_layers\": ");
    t5p__json_write_int(&b, c->num_layers);
    T5P__LIT(&b, ",\n  \"pad_token_id\": ");
    t5p__json_write_int(&b, c->pad_id);
    T5P__LIT(&b, ",\n  \"relative_attention_max_distance\": ");
    t5p__json_write_int(&b, c->max_distance);
    T5P__LIT(&b, ",\n  \"relative_attention_num_buckets\": ");
    t5p__json_write_int(&b, c->num_buckets);
    T5P__LIT(&b, ",\n  \"t5p_flavor\": ");
    const char *fl = t5p_flavor_name(c->flavor);
    t5p__json_write_string(&b, fl, strlen(fl));
    T5P__LIT(&b, ",\n  \"t5p_version\": \"" T5P_VERSION "\",\n  \"tie_word_embeddings\": false,\n"
                 "  \"torch_dtype\": \"float32\",\n  \"use_cache\": true,\n  \"vocab_size\": ");
    t5p__json_write_int(&b, c->vocab_size);
    T5P__LIT(&b, "\n}\n");
    rc = t5p_write_atomic(path, b.p, b.n);
    T5P_FREE(b.p);
    return rc;
}

// An integer member of a config: absent -> *out unchanged (0), wrong type -> error naming the key.
static int t5p__cfg_int(const t5p_json *j, const char *key, int *out, int required, const char *path) {
    const t5p_json *v = t5p_json_get(j, key);
    if (!v || v->type == T5P_JSON_NULL) {
        if (required) return t5p__err(T5P_ERR_FORMAT, "%s: \"%s\" is missing", path, key);
        return 0;
    }
    if (v->type != T5P_JSON_NUMBER || !v->is_int || v->i < INT_MIN || v->i > INT_MAX)
        return t5p__err(T5P_ERR_FORMAT, "%s: byte %zu: \"%s\" must be an integer", path, v->offset, key);
    *out = (int)v->i;
    return 0;
}

static int t5p__cfg_float(const t5p_json *j, const char *key, float *out, const char *path) {
    const t5p_json *v = t5p_json_get(j, key);
    if (!v || v->type == T5P_JSON_NULL) return 0;
    if (v->type != T5P_JSON_NUMBER) return t5p__err(T5P_ERR_FORMAT, "%s: byte %zu: \"%s\" must be a number", path, v->offset, key);
    *out = (float)v->num;
    return 0;
}

static const char *t5p__cfg_str(const t5p_json *j, const char *key) {
    const t5p_json *v = t5p_json_get(j, key);
    return v && v->type == T5P_JSON_STRING ? v->str : NULL;
}

T5PDEF int t5p_config_load(t5p_config *out, const char *path) {
    size_t n;
    char *text = t5p_read_file(path, &n);
    if (!text) return T5P_ERR_IO;
    t5p_json *j = t5p_json_parse(text, n, path);
    T5P_FREE(text);
    if (!j) return T5P_ERR_FORMAT;
    int rc = 0;
    t5p_config c;
    t5p_config_preset(&c, "base");  // MT5Config's defaults are mt5-small's; every dimension below is required
    c.num_buckets = 32, c.max_distance = 128, c.eps = 1e-6f, c.dropout = 0.1f, c.pad_id = 0;
    c.num_decoder_layers = -1;
    const char *type = t5p__cfg_str(j, "model_type");
    const char *ffp = t5p__cfg_str(j, "feed_forward_proj");
    const char *act = t5p__cfg_str(j, "dense_act_fn");
    const char *fl = t5p__cfg_str(j, "t5p_flavor");
    const t5p_json *tie = t5p_json_get(j, "tie_word_embeddings");
    if (j->type != T5P_JSON_OBJECT) rc = t5p__err(T5P_ERR_FORMAT, "%s: not a JSON object", path);
    else if (type && strcmp(type, "mt5") != 0 && strcmp(type, "t5") != 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: model_type \"%s\" is not an MT5/T5 model", path, type);
    if (rc == 0) rc = t5p__cfg_int(j, "vocab_size", &c.vocab_size, 1, path);
    if (rc == 0) rc = t5p__cfg_int(j, "d_model", &c.d_model, 1, path);
    if (rc == 0) rc = t5p__cfg_int(j, "d_ff", &c.d_ff, 1, path);
    if (rc == 0) rc = t5p__cfg_int(j, "num_heads", &c.num_heads, 1, path);
    if (rc == 0) rc = t5p__cfg_int(j, "d_kv", &c.d_kv, 1, path);
    if (rc == 0) rc = t5p__cfg_int(j, "num_layers", &c.num_layers, 1, path);
    if (rc == 0) rc = t5p__cfg_int(j, "num_decoder_layers", &c.num_decoder_layers, 0, path);
    if (rc == 0) rc = t5p__cfg_int(j, "relative_attention_num_buckets", &c.num_buckets, 0, path);
    if (rc == 0) rc = t5p__cfg_int(j, "relative_attention_max_distance", &c.max_distance, 0, path);
    if (rc == 0) rc = t5p__cfg_int(j, "pad_token_id", &c.pad_id, 0, path);
    if (rc == 0) rc = t5p__cfg_float(j, "dropout_rate", &c.dropout, path);
    if (rc == 0) rc = t5p__cfg_float(j, "layer_norm_epsilon", &c.eps, path);
    if (rc == 0 && c.num_decoder_layers < 0) c.num_decoder_layers = c.num_layers;  // transformers' default
    // t5p computes gated-GELU feed-forward blocks and an untied LM head (mT5 / T5 v1.1) only
    if (rc == 0 && !ffp && !(type && strcmp(type, "mt5") == 0))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: no \"feed_forward_proj\" (T5's default is \"relu\", T5 v1.0); t5p computes "
                      "\"gated-gelu\" models (mT5, T5 v1.1)", path);
    if (rc == 0 && ffp && strcmp(ffp, "gated-gelu") != 0)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: feed_forward_proj \"%s\" is not supported (t5p computes \"gated-gelu\")", path, ffp);
    if (rc == 0 && tie && tie->type != T5P_JSON_FALSE && !(tie->type == T5P_JSON_NULL))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: tie_word_embeddings must be false (t5p's LM head is untied, as mT5's)", path);
    if (rc == 0 && !tie && !(type && strcmp(type, "mt5") == 0))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: no \"tie_word_embeddings\" (transformers' default is true for T5); t5p needs "
                      "it false", path);
    if (rc == 0) {
        if (fl) {
            c.flavor = t5p_flavor_parse(fl);
            if (c.flavor < 0) rc = t5p__err(T5P_ERR_FORMAT, "%s: t5p_flavor \"%s\" is neither \"pegasus\" nor \"hf-mt5\"", path, fl);
        } else {
            c.flavor = T5P_HF_MT5;  // written by transformers: compute what transformers computes
            if (act && strcmp(act, "gelu_new") != 0)
                rc = t5p__err(T5P_ERR_FORMAT, "%s: dense_act_fn \"%s\" without \"t5p_flavor\": the hf-mt5 flavour computes "
                              "\"gelu_new\" (add \"t5p_flavor\": \"pegasus\" for the original's erf GELU)", path, act);
        }
    }
    if (rc == 0 && t5p_config_check(&c) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", t5p_last_error());
        rc = t5p__err(T5P_ERR_FORMAT, "%s: %s", path, msg);
    }
    if (rc == 0) *out = c;
    t5p_json_free(j);
    return rc;
}

T5PDEF int t5p_model_set_vocab(t5p_model *m, const char *path) {
    t5p_vocab *v = t5p_vocab_load(path);
    if (!v) return T5P_ERR_FORMAT;
    int n = t5p_vocab_size(v);
    t5p_vocab_free(v);
    if (n != m->cfg.vocab_size)
        return t5p__err(T5P_ERR_FORMAT, "%s: %d tokens, but the model's vocab_size is %d", path, n, m->cfg.vocab_size);
    size_t len;
    char *text = t5p_read_file(path, &len);
    if (!text) return T5P_ERR_IO;
    T5P_FREE(m->vocab);
    m->vocab = text;
    m->vocab_len = len;
    return 0;
}

static int t5p__is_embed_dup(const char *name) {
    return !strcmp(name, "encoder.embed_tokens.weight") || !strcmp(name, "decoder.embed_tokens.weight");
}

// Reads every parameter of m's config from path into dst (num_params floats, m's layout). Checks names,
// dtypes and shapes; accepts equal embed_tokens duplicates of shared.weight.
static int t5p__read_weights(const t5p_model *m, const char *path, float *dst) {
    const t5p_config *c = &m->cfg;
    int n = t5p_param_tensors(c, NULL, NULL);
    t5p_param_tensor *tab = (t5p_param_tensor *)T5P_MALLOC(sizeof *tab * (size_t)n);
    if (!tab) return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    t5p_param_tensors(c, dst, tab);
    t5p_safetensors *st = t5p_safetensors_open(path);
    if (!st) { T5P_FREE(tab); return T5P_ERR_FORMAT; }
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        const char *name = tab[k].name;
        if (!t5p_safetensors_find(st, name) && !strcmp(name, "shared.weight") &&
            t5p_safetensors_find(st, "encoder.embed_tokens.weight"))
            name = "encoder.embed_tokens.weight";  // some exports keep only the encoder's copy
        if (!t5p_safetensors_find(st, name)) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' is missing (config: %d encoder + %d decoder layers)", path,
                          name, c->num_layers, c->num_decoder_layers);
            break;
        }
        rc = t5p_safetensors_read_f32(st, name, tab[k].data, tab[k].ndim, tab[k].shape);
    }
    // anything else in the file is an error, except embedding duplicates equal to shared.weight
    float *row = NULL;
    for (int q = 0; q < st->n && rc == 0; q++) {
        const t5p_tensor *t = &st->t[q];
        int known = 0;
        for (int k = 0; k < n && !known; k++) known = !strcmp(t->name, tab[k].name);
        if (known) continue;
        if (!t5p__is_embed_dup(t->name)) {
            rc = t5p__err(T5P_ERR_FORMAT, "%s: unexpected tensor '%s' (not part of an mT5 model with %d encoder and %d "
                          "decoder layers)", path, t->name, c->num_layers, c->num_decoder_layers);
            break;
        }
        int64_t shape[2] = {c->vocab_size, c->d_model};
        size_t numel = (size_t)c->vocab_size * (size_t)c->d_model;
        if (!row) row = (float *)T5P_MALLOC(numel * sizeof(float));
        if (!row) { rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path); break; }
        rc = t5p_safetensors_read_f32(st, t->name, row, 2, shape);
        if (rc == 0 && memcmp(row, tab[0].data, numel * sizeof(float)) != 0)
            rc = t5p__err(T5P_ERR_FORMAT, "%s: tensor '%s' differs from shared.weight (t5p shares one embedding between "
                          "encoder and decoder)", path, t->name);
    }
    T5P_FREE(row);
    t5p_safetensors_close(st);
    T5P_FREE(tab);
    return rc;
}

T5PDEF int t5p_model_load_weights(t5p_model *m, const char *path) {
    float *tmp = (float *)T5P_MALLOC(m->num_params * sizeof(float));
    if (!tmp) return t5p__err(T5P_ERR_NOMEM, "%s: out of memory for %zu parameters", path, m->num_params);
    int rc = t5p__read_weights(m, path, tmp);
    if (rc == 0) memcpy(m->params, tmp, m->num_params * sizeof(float));
    T5P_FREE(tmp);
    return rc;
}

// A training directory names its checkpoint in a file "latest": the directory it names, or NULL.
static char *t5p__latest_dir(const char *dir) {
    char *lp = t5p__path_join(dir, "latest");
    if (!lp) return NULL;
    size_t n;
    char *text = t5p__exists(lp) == 1 ? t5p_read_file(lp, &n) : NULL;
    T5P_FREE(lp);
    if (!text) return NULL;
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = 0;
    char *p = n && !strchr(text, '/') ? t5p__path_join(dir, text) : NULL;
    T5P_FREE(text);
    return p;
}

T5PDEF t5p_model *t5p_model_load(const char *dir) {
    char *cp = t5p__path_join(dir, "config.json");
    if (!cp) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    if (!t5p__exists(cp)) {
        char *latest = t5p__latest_dir(dir);
        if (latest) {
            T5P_FREE(cp);
            t5p_model *m = t5p_model_load(latest);
            T5P_FREE(latest);
            return m;
        }
        t5p__err(T5P_ERR_IO, "%s: no config.json in this directory (not a model directory?)", dir);
        T5P_FREE(cp);
        return NULL;
    }
    t5p_config c;
    int rc = t5p_config_load(&c, cp);
    T5P_FREE(cp);
    if (rc < 0) return NULL;
    t5p_model *m = t5p_model_new(&c);
    if (!m) return NULL;
    char *wp = t5p__path_join(dir, "model.safetensors"), *vp = t5p__path_join(dir, "vocab.txt");
    if (!wp || !vp) rc = t5p__err(T5P_ERR_NOMEM, "out of memory");
    else if (!t5p__exists(wp)) {
        char *bin = t5p__path_join(dir, "pytorch_model.bin");
        if (bin && t5p__exists(bin))
            rc = t5p__err(T5P_ERR_FORMAT, "%s: only pytorch_model.bin here; t5p reads model.safetensors (convert with "
                          "transformers: model.save_pretrained(DIR, safe_serialization=True))", dir);
        else rc = t5p__err(T5P_ERR_IO, "%s: no model.safetensors", dir);
        T5P_FREE(bin);
    } else rc = t5p__read_weights(m, wp, m->params);  // a fresh model: read in place
    if (rc == 0 && t5p__exists(vp)) rc = t5p_model_set_vocab(m, vp);
    T5P_FREE(wp);
    T5P_FREE(vp);
    if (rc < 0) { t5p_model_free(m); return NULL; }
    return m;
}

// Writes model.safetensors, vocab.txt (when m has one) and config.json into an existing directory, each file
// atomically, config.json last.
static int t5p__model_write_files(const t5p_model *m, const char *dir) {
    const t5p_config *c = &m->cfg;
    int n = t5p_param_tensors(c, NULL, NULL);
    t5p_param_tensor *tab = (t5p_param_tensor *)T5P_MALLOC(sizeof *tab * (size_t)n);
    t5p_tensor *ts = (t5p_tensor *)T5P_MALLOC(sizeof *ts * (size_t)n);
    char *wp = t5p__path_join(dir, "model.safetensors"), *vp = t5p__path_join(dir, "vocab.txt");
    char *cp = t5p__path_join(dir, "config.json");
    int rc = 0;
    if (!tab || !ts || !wp || !vp || !cp) rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", dir);
    if (rc == 0) {
        t5p_param_tensors(c, m->params, tab);
        for (int k = 0; k < n; k++) {
            memset(&ts[k], 0, sizeof ts[k]);
            ts[k].name = tab[k].name;
            ts[k].dtype = T5P_DT_F32;
            ts[k].ndim = tab[k].ndim;
            ts[k].shape[0] = tab[k].shape[0];
            ts[k].shape[1] = tab[k].shape[1];
            ts[k].data = tab[k].data;
        }
        const char *meta[] = {"format", "pt", NULL};
        rc = t5p_safetensors_save(wp, ts, n, meta);
    }
    int start = 0, eos = 1;  // transformers' MT5 defaults, when the model has no vocabulary
    if (rc == 0 && m->vocab) {
        rc = t5p_write_atomic(vp, m->vocab, m->vocab_len);
        t5p_vocab *v = rc == 0 ? t5p_vocab_load(vp) : NULL;
        if (rc == 0 && !v) rc = T5P_ERR_FORMAT;
        if (v) {  // T5 PEGASUS decodes from [CLS] and stops at [SEP]
            int cls = t5p_vocab_id(v, "[CLS]"), sep = t5p_vocab_id(v, "[SEP]");
            if (cls >= 0 && sep >= 0) start = cls, eos = sep;
            t5p_vocab_free(v);
        }
    }
    if (rc == 0) rc = t5p_config_save(c, cp, start, eos);
    T5P_FREE(tab);
    T5P_FREE(ts);
    T5P_FREE(wp);
    T5P_FREE(vp);
    T5P_FREE(cp);
    return rc;
}

static void t5p__remove_files(const char *dir, const char *const *names) {
    for (int k = 0; names[k]; k++) {
        char *p = t5p__path_join(dir, names[k]);
        if (p) unlink(p);
        T5P_FREE(p);
    }
}

static const char *const t5p__model_files[] = {"model.safetensors", "vocab.txt", "config.json", NULL};

// "DIR.tmp.PID", created empty (a stale one from an earlier process with the same PID is emptied first).
static char *t5p__dir_tmp(const char *dir, const char *const *names) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    char *tmp = (char *)T5P_MALLOC(n + 32);
    if (!tmp) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    snprintf(tmp, n + 32, "%.*s.tmp.%ld", (int)n, dir, (long)getpid());
    if (t5p__exists(tmp) == 2) {
        t5p__remove_files(tmp, names);
        rmdir(tmp);
    }
    if (mkdir(tmp, 0755) != 0) {
        t5p__err(T5P_ERR_IO, "%s: cannot create %s: %s", dir, tmp, strerror(errno));
        T5P_FREE(tmp);
        return NULL;
    }
    return tmp;
}

// Renames the finished temporary directory to dir (which must not exist) and syncs the parent.
static int t5p__dir_commit(const char *tmp, const char *dir, const char *const *names) {
    if (rename(tmp, dir) != 0) {
        int rc = t5p__err(T5P_ERR_IO, "%s: cannot rename %s to it: %s", dir, tmp, strerror(errno));
        t5p__remove_files(tmp, names);
        rmdir(tmp);
        return rc;
    }
    size_t n = strlen(dir);
    char *parent = (char *)T5P_MALLOC(n + 2);
    if (parent) {
        memcpy(parent, dir, n + 1);
        while (n > 1 && parent[n - 1] == '/') parent[--n] = 0;
        char *slash = strrchr(parent, '/');
        if (slash) *slash = 0;
        int dfd = open(slash ? (parent[0] ? parent : "/") : ".", O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        T5P_FREE(parent);
    }
    return 0;
}

T5PDEF int t5p_model_save(const t5p_model *m, const char *dir) {
    int kind = t5p__exists(dir);
    if (kind == 1) return t5p__err(T5P_ERR_IO, "%s: exists and is not a directory", dir);
    if (kind == 2) return t5p__model_write_files(m, dir);
    char *tmp = t5p__dir_tmp(dir, t5p__model_files);
    if (!tmp) return T5P_ERR_IO;
    int rc = t5p__model_write_files(m, tmp);
    if (rc == 0) rc = t5p__dir_commit(tmp, dir, t5p__model_files);
    else {
        t5p__remove_files(tmp, t5p__model_files);
        rmdir(tmp);
    }
    T5P_FREE(tmp);
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

// ----------------------------------------------------------------------------
// 8. data

// Pairs live in parts: in-memory ones that t5p_pairs_add grows, and memory-mapped shards.
typedef struct {
    int64_t first;        // global index of the part's first pair
    int64_t n;            // pairs
    int64_t *off;         // 2n+1 offsets into ids
    int32_t *ids;
    int64_t off_cap, ids_cap, nids;  // owned parts: allocated and used sizes
    int owned;
    void *map;            // shards: the mapping (or a malloc'd copy when mapped == 0)
    size_t map_size;
    int mapped;
} t5p__pairs_part;

struct t5p_pairs {
    t5p__pairs_part *parts;
    int nparts, cap;
    int64_t n, ntok;
};

T5PDEF t5p_pairs *t5p_pairs_new(void) {
    t5p_pairs *p = (t5p_pairs *)T5P_MALLOC(sizeof *p);
    if (!p) { t5p__err(T5P_ERR_NOMEM, "out of memory"); return NULL; }
    memset(p, 0, sizeof *p);
    return p;
}

T5PDEF void t5p_pairs_free(t5p_pairs *p) {
    if (!p) return;
    for (int k = 0; k < p->nparts; k++) {
        t5p__pairs_part *q = &p->parts[k];
        if (q->owned) { T5P_FREE(q->off); T5P_FREE(q->ids); }
        else if (q->mapped) munmap(q->map, q->map_size);
        else T5P_FREE(q->map);
    }
    T5P_FREE(p->parts);
    T5P_FREE(p);
}

T5PDEF int64_t t5p_pairs_count(const t5p_pairs *p) { return p->n; }
T5PDEF int64_t t5p_pairs_tokens(const t5p_pairs *p) { return p->ntok; }

static t5p__pairs_part *t5p__pairs_push(t5p_pairs *p) {
    if (p->nparts == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        t5p__pairs_part *np = (t5p__pairs_part *)T5P_REALLOC(p->parts, sizeof *np * (size_t)cap);
        if (!np) return NULL;
        p->parts = np;
        p->cap = cap;
    }
    t5p__pairs_part *q = &p->parts[p->nparts++];
    memset(q, 0, sizeof *q);
    q->first = p->n;
    return q;
}

static int t5p__pairs_grow(void **ptr, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *np = T5P_REALLOC(*ptr, (size_t)c * elem);
    if (!np) return T5P_ERR_NOMEM;
    *ptr = np;
    *cap = c;
    return 0;
}

T5PDEF int t5p_pairs_add(t5p_pairs *p, const int32_t *src, int ns, const int32_t *tgt, int nt) {
    if (ns < 0 || nt < 0) return t5p__err(T5P_ERR_ARG, "pairs: negative length");
    t5p__pairs_part *q = p->nparts ? &p->parts[p->nparts - 1] : NULL;
    if (!q || !q->owned) {
        q = t5p__pairs_push(p);
        if (!q) return t5p__err(T5P_ERR_NOMEM, "pairs: out of memory");
        q->owned = 1;
        if (t5p__pairs_grow((void **)&q->off, &q->off_cap, 1, sizeof(int64_t)) < 0) {
            p->nparts--;
            return t5p__err(T5P_ERR_NOMEM, "pairs: out of memory");
        }
        q->off[0] = 0;
    }
    if (t5p__pairs_grow((void **)&q->off, &q->off_cap, 2 * q->n + 3, sizeof(int64_t)) < 0 ||
        t5p__pairs_grow((void **)&q->ids, &q->ids_cap, q->nids + ns + nt, sizeof(int32_t)) < 0)
        return t5p__err(T5P_ERR_NOMEM, "pairs: out of memory for %lld ids", (long long)(q->nids + ns + nt));
    if (ns) memcpy(q->ids + q->nids, src, sizeof(int32_t) * (size_t)ns);
    if (nt) memcpy(q->ids + q->nids + ns, tgt, sizeof(int32_t) * (size_t)nt);
    q->off[2 * q->n + 1] = q->nids + ns;
    q->off[2 * q->n + 2] = q->nids + ns + nt;
    q->nids += ns + nt;
    q->n++;
    p->n++;
    p->ntok += ns + nt;
    return 0;
}

T5PDEF void t5p_pairs_get(const t5p_pairs *p, int64_t k, const int32_t **src, int *ns, const int32_t **tgt, int *nt) {
    T5P_ASSERT(k >= 0 && k < p->n);
    int lo = 0, hi = p->nparts - 1;
    while (lo < hi) {  // the last part whose first pair is <= k
        int mid = (lo + hi + 1) / 2;
        if (p->parts[mid].first <= k) lo = mid;
        else hi = mid - 1;
    }
    const t5p__pairs_part *q = &p->parts[lo];
    int64_t i = k - q->first;
    const int64_t *o = q->off + 2 * i;
    *src = q->ids + o[0];
    *ns = (int)(o[1] - o[0]);
    *tgt = q->ids + o[1];
    *nt = (int)(o[2] - o[1]);
}

#define T5P__FNV_OFFSET 0xcbf29ce484222325ull
#define T5P__FNV_PRIME 0x100000001b3ull

T5PDEF uint64_t t5p_pairs_hash(const t5p_pairs *p) {
    uint64_t h = T5P__FNV_OFFSET;
    for (int64_t k = 0; k < p->n; k++) {
        const int32_t *s, *t;
        int ns, nt;
        t5p_pairs_get(p, k, &s, &ns, &t, &nt);
        h = (h ^ (uint64_t)(uint32_t)ns) * T5P__FNV_PRIME;
        for (int i = 0; i < ns; i++) h = (h ^ (uint64_t)(uint32_t)s[i]) * T5P__FNV_PRIME;
        h = (h ^ (uint64_t)(uint32_t)nt) * T5P__FNV_PRIME;
        for (int i = 0; i < nt; i++) h = (h ^ (uint64_t)(uint32_t)t[i]) * T5P__FNV_PRIME;
    }
    return h;
}

T5PDEF uint64_t t5p_vocab_hash(const t5p_vocab *v) {
    uint64_t h = T5P__FNV_OFFSET;
    for (ptrdiff_t k = 0; k < arrlen(v->tok_off); k++) {
        unsigned char head[8];
        uint32_t id = (uint32_t)v->tok_id[k], len = v->tok_len[k];
        for (int b = 0; b < 4; b++) head[b] = (unsigned char)(id >> (8 * b)), head[4 + b] = (unsigned char)(len >> (8 * b));
        for (int b = 0; b < 8; b++) h = (h ^ head[b]) * T5P__FNV_PRIME;
        const unsigned char *s = (const unsigned char *)v->arena + v->tok_off[k];
        for (uint32_t b = 0; b < len; b++) h = (h ^ s[b]) * T5P__FNV_PRIME;
    }
    return h;
}

T5PDEF int t5p_pairs_detect(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return t5p__err(T5P_ERR_IO, "%s: %s", path, strerror(errno));
    char head[8];
    size_t got = fread(head, 1, 8, f);
    fclose(f);
    if (got == 8 && memcmp(head, "T5PSHARD", 8) == 0) return T5P_PAIRS_SHARD;
    size_t n = strlen(path);
    if ((n >= 6 && !strcmp(path + n - 6, ".jsonl")) || (n >= 5 && !strcmp(path + n - 5, ".json"))) return T5P_PAIRS_JSONL;
    if (n >= 4 && !strcmp(path + n - 4, ".tsv")) return T5P_PAIRS_TSV;
    f = fopen(path, "rb");
    if (!f) return t5p__err(T5P_ERR_IO, "%s: %s", path, strerror(errno));
    int c;
    while ((c = fgetc(f)) != EOF && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {}
    fclose(f);
    return c == '{' ? T5P_PAIRS_JSONL : T5P_PAIRS_TSV;
}

// --- reading text pairs

// One line's result, computed by any thread.
typedef struct {
    char *line;
    size_t len, cap;
    int32_t *ids;        // source ids then target ids
    int ns, nt, cap_ids;
    int status;          // 0 a pair, 1 blank, < 0 error (err holds the message)
    int src_cut, tgt_cut, unk;
    long nbad;
    char err[1024];
} t5p__pair_line;

// Python str.strip() of s[0..n): *a, *b = the stripped span.
static void t5p__strip(const char *s, size_t n, size_t *a, size_t *b) {
    size_t i = 0, first = n, last = 0;
    while (i < n) {
        size_t at = i;
        int32_t cp = t5p_utf8_next(s, n, &i);
        if (cp < 0 || !t5p_is_space(cp)) {
            if (first == n) first = at;
            last = i;
        }
    }
    if (first == n) first = last = 0;
    *a = first;
    *b = last;
}

// Tokenizes text into ids (appended at L->ids + at), truncated to maxlen the way encode does. Returns the
// count or a negative error.
static int t5p__encode_into(t5p__pair_line *L, int at, const t5p_tokenizer *tk, const char *text, size_t len, int maxlen,
                            t5p_tokens *tok, int *cut) {
    int n = t5p_tokenize(tk, text, len, 0, tok);
    if (n < 0) return n;
    L->nbad += tok->nbad;
    int keep = n;
    *cut = 0;
    if (maxlen > 0 && n > maxlen) keep = maxlen, *cut = 1;
    if (at + keep > L->cap_ids) {
        int cap = L->cap_ids ? L->cap_ids : 256;
        while (cap < at + keep) cap *= 2;
        int32_t *np = (int32_t *)T5P_REALLOC(L->ids, sizeof(int32_t) * (size_t)cap);
        if (!np) return t5p__err(T5P_ERR_NOMEM, "out of memory");
        L->ids = np;
        L->cap_ids = cap;
    }
    for (int i = 0; i < keep - 1; i++) L->ids[at + i] = tok->ids[i];
    if (keep > 0) L->ids[at + keep - 1] = tok->ids[n - 1];  // [CLS] + first keep-2 tokens + [SEP]
    int unk = t5p_vocab_unk(tk->vocab);
    for (int i = 0; i < keep; i++) L->unk += L->ids[at + i] == unk && unk >= 0;
    return keep;
}

static void t5p__pair_line_run(t5p__pair_line *L, const char *name, long lineno, const t5p_tokenizer *tk,
                               const t5p_pairs_read_opts *o, t5p_tokens *tok) {
    L->status = 0, L->ns = L->nt = 0, L->src_cut = L->tgt_cut = 0, L->unk = 0, L->nbad = 0, L->err[0] = 0;
    const char *src = NULL, *tgt = NULL;
    size_t nsrc = 0, ntgt = 0;
    t5p_json *j = NULL;
    size_t a, b;
    t5p__strip(L->line, L->len, &a, &b);
    if (a == b) { L->status = 1; return; }
    if (o->format == T5P_PAIRS_JSONL) {
        char what[300];
        snprintf(what, sizeof what, "%s:%ld", name, lineno);
        j = t5p_json_parse(L->line, L->len, what);
        if (!j) { L->status = T5P_ERR_FORMAT; snprintf(L->err, sizeof L->err, "%s", t5p_last_error()); return; }
        const char *sk = o->src_key ? o->src_key : "source", *tk2 = o->tgt_key ? o->tgt_key : "target";
        const t5p_json *s = j->type == T5P_JSON_OBJECT ? t5p_json_get(j, sk) : NULL;
        const t5p_json *t = j->type == T5P_JSON_OBJECT ? t5p_json_get(j, tk2) : NULL;
        if (!s || s->type != T5P_JSON_STRING || !t || t->type != T5P_JSON_STRING) {
            L->status = T5P_ERR_FORMAT;
            snprintf(L->err, sizeof L->err, "%s:%ld: expected a JSON object with string fields \"%s\" and \"%s\"", name,
                     lineno, sk, tk2);
            t5p_json_free(j);
            return;
        }
        src = s->str, nsrc = s->len, tgt = t->str, ntgt = t->len;
    } else {
        const char *tab = (const char *)memchr(L->line + a, '\t', b - a);
        int fields = 1;
        for (size_t i = a; i < b; i++) fields += L->line[i] == '\t';
        if (fields != 2) {
            L->status = T5P_ERR_FORMAT;
            snprintf(L->err, sizeof L->err, "%s:%ld: %d tab-separated field%s, expected 2 (target<TAB>source)", name,
                     lineno, fields, fields == 1 ? "" : "s");
            return;
        }
        tgt = L->line + a, ntgt = (size_t)(tab - tgt);
        src = tab + 1, nsrc = (size_t)(L->line + b - src);
    }
    int rc = t5p__encode_into(L, 0, tk, src, nsrc, o->max_src, tok, &L->src_cut);
    if (rc >= 0) {
        L->ns = rc;
        rc = t5p__encode_into(L, L->ns, tk, tgt, ntgt, o->max_tgt, tok, &L->tgt_cut);
        if (rc >= 0) L->nt = rc;
    }
    if (rc < 0) {
        L->status = rc;
        snprintf(L->err, sizeof L->err, "%s:%ld: %s", name, lineno, t5p_last_error());
    }
    t5p_json_free(j);
}

#define T5P__READ_BATCH 1024

T5PDEF int t5p_pairs_read_text(t5p_pairs *p, FILE *f, const char *name, const t5p_tokenizer *tk,
                               const t5p_pairs_read_opts *o, t5p_pairs_read_stats *stats) {
    if (o->format != T5P_PAIRS_JSONL && o->format != T5P_PAIRS_TSV)
        return t5p__err(T5P_ERR_ARG, "%s: text pairs must be JSONL or TSV", name);
    t5p_pairs_read_stats st;
    memset(&st, 0, sizeof st);
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();
#endif
    t5p__pair_line *L = (t5p__pair_line *)T5P_MALLOC(sizeof *L * T5P__READ_BATCH);
    t5p_tokens *tok = (t5p_tokens *)T5P_MALLOC(sizeof *tok * (size_t)nthreads);
    if (!L || !tok) { T5P_FREE(L); T5P_FREE(tok); return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", name); }
    memset(L, 0, sizeof *L * T5P__READ_BATCH);
    memset(tok, 0, sizeof *tok * (size_t)nthreads);
    t5p_lines r;
    t5p_lines_init(&r, f);
    int rc = 0, eof = 0;
    int64_t bytes = 0;
    while (!eof && rc == 0) {
        int nb = 0;
        long first_line = r.lineno + 1;
        while (nb < T5P__READ_BATCH) {
            long len = t5p_lines_next(&r);
            if (len < 0) { eof = 1; break; }
            t5p__pair_line *q = &L[nb++];
            if ((size_t)len + 1 > q->cap) {
                size_t cap = (size_t)len + 1 > 2 * q->cap ? (size_t)len + 1 : 2 * q->cap;
                char *np = (char *)T5P_REALLOC(q->line, cap);
                if (!np) { rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", name); break; }
                q->line = np;
                q->cap = cap;
            }
            memcpy(q->line, r.buf, (size_t)len + 1);
            q->len = (size_t)len;
            bytes += len + 1;
        }
        if (rc < 0) break;
        T5P__OMP(parallel for schedule(dynamic, 8) num_threads(nthreads) if(nb > 16))
        for (int k = 0; k < nb; k++) {
            int th = 0;
#ifdef _OPENMP
            th = omp_get_thread_num();
#endif
            t5p__pair_line_run(&L[k], name, first_line + k, tk, o, &tok[th]);
        }
        for (int k = 0; k < nb && rc == 0; k++) {
            t5p__pair_line *q = &L[k];
            st.lines++;
            if (q->status == 1) { st.blank++; continue; }
            if (q->status < 0) { rc = t5p__err(q->status, "%s", q->err); break; }
            rc = t5p_pairs_add(p, q->ids, q->ns, q->ids + q->ns, q->nt);
            if (rc < 0) break;
            st.pairs++;
            st.src_truncated += q->src_cut;
            st.tgt_truncated += q->tgt_cut;
            st.src_tokens += q->ns;
            st.tgt_tokens += q->nt;
            st.unk += q->unk;
            st.nbad += q->nbad;
        }
        if (o->progress) o->progress(o->ctx, p->n, bytes);
    }
    if (rc == 0 && ferror(f)) rc = t5p__err(T5P_ERR_IO, "%s: read error", name);
    for (int k = 0; k < T5P__READ_BATCH; k++) { T5P_FREE(L[k].line); T5P_FREE(L[k].ids); }
    for (int k = 0; k < nthreads; k++) t5p_tokens_free(&tok[k]);
    T5P_FREE(L);
    T5P_FREE(tok);
    t5p_lines_free(&r);
    if (stats) *stats = st;
    return rc;
}

// --- shards

#define T5P__SHARD_HEADER 72

// The shard checksum over a byte stream, 8-byte little-endian words, the last one zero-padded.
typedef struct {
    uint64_t h;
    unsigned char pend[8];
    int np;
} t5p__whash;

static void t5p__whash_add(t5p__whash *w, const void *data, size_t n) {
    const unsigned char *s = (const unsigned char *)data;
    while (n && w->np) {  // finish a partial word
        w->pend[w->np++] = *s++, n--;
        if (w->np == 8) {
            uint64_t x = 0;
            for (int b = 0; b < 8; b++) x |= (uint64_t)w->pend[b] << (8 * b);
            w->h = (w->h ^ x) * T5P__FNV_PRIME;
            w->np = 0;
        }
    }
    uint64_t h = w->h;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t x;
        memcpy(&x, s, 8);  // little-endian host (checked by the callers)
        h = (h ^ x) * T5P__FNV_PRIME;
    }
    w->h = h;
    while (n) w->pend[w->np++] = *s++, n--;
}

static uint64_t t5p__whash_end(t5p__whash *w) {
    if (w->np) {
        while (w->np < 8) w->pend[w->np++] = 0;
        uint64_t x = 0;
        for (int b = 0; b < 8; b++) x |= (uint64_t)w->pend[b] << (8 * b);
        w->h = (w->h ^ x) * T5P__FNV_PRIME;
        w->np = 0;
    }
    return w->h;
}

static void t5p__put32(unsigned char *p, uint32_t x) { for (int b = 0; b < 4; b++) p[b] = (unsigned char)(x >> (8 * b)); }
static void t5p__put64(unsigned char *p, uint64_t x) { for (int b = 0; b < 8; b++) p[b] = (unsigned char)(x >> (8 * b)); }
static uint32_t t5p__get32(const unsigned char *p) { uint32_t x = 0; for (int b = 0; b < 4; b++) x |= (uint32_t)p[b] << (8 * b); return x; }
static uint64_t t5p__get64(const unsigned char *p) { uint64_t x = 0; for (int b = 0; b < 8; b++) x |= (uint64_t)p[b] << (8 * b); return x; }

T5PDEF t5p_shard_info t5p_shard_info_of(const t5p_tokenizer *tk, int max_src, int max_tgt) {
    t5p_shard_info s;
    memset(&s, 0, sizeof s);
    s.vocab_hash = t5p_vocab_hash(tk->vocab);
    s.vocab_size = t5p_vocab_size(tk->vocab);
    s.jieba_total = tk->jieba ? (uint64_t)t5p_jieba_total(tk->jieba) : 0;
    s.flags = (tk->jieba ? 0u : (uint32_t)T5P_SHARD_NO_JIEBA) | (tk->keep_case ? (uint32_t)T5P_SHARD_CASED : 0u);
    s.max_src = max_src;
    s.max_tgt = max_tgt;
    return s;
}

// The global offsets of pairs [k0, k1) written as little-endian u64 into out (2 per pair); base = ids before k0.
static void t5p__shard_offsets(const t5p_pairs *p, int64_t k0, int64_t k1, int64_t *base, int64_t *out) {
    for (int64_t k = k0; k < k1; k++) {
        const int32_t *s, *t;
        int ns, nt;
        t5p_pairs_get(p, k, &s, &ns, &t, &nt);
        out[2 * (k - k0)] = *base + ns;
        out[2 * (k - k0) + 1] = *base + ns + nt;
        *base += ns + nt;
    }
}

T5PDEF int t5p_shard_save(const t5p_pairs *p, const char *path, const t5p_shard_info *info) {
    if (!t5p__little_endian()) return t5p__err(T5P_ERR_ARG, "%s: shards need a little-endian host", path);
    enum { CHUNK = 8192 };
    int64_t *offs = (int64_t *)T5P_MALLOC(sizeof(int64_t) * 2 * CHUNK);
    if (!offs) return t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    // checksum first (offsets, then every part's ids in order), then the same bytes are written
    t5p__whash w = {T5P__FNV_OFFSET, {0}, 0};
    for (int pass = 0; pass < 2; pass++) {
        t5p_atomic_file a;
        int rc = 0;
        if (pass == 1) {
            unsigned char h[T5P__SHARD_HEADER];
            memset(h, 0, sizeof h);
            memcpy(h, "T5PSHARD", 8);
            t5p__put32(h + 8, 1);
            t5p__put32(h + 12, info->flags);
            t5p__put64(h + 16, info->vocab_hash);
            t5p__put64(h + 24, info->jieba_total);
            t5p__put32(h + 32, (uint32_t)info->vocab_size);
            t5p__put32(h + 36, (uint32_t)info->max_src);
            t5p__put32(h + 40, (uint32_t)info->max_tgt);
            t5p__put64(h + 48, (uint64_t)p->n);
            t5p__put64(h + 56, (uint64_t)p->ntok);
            t5p__put64(h + 64, t5p__whash_end(&w));
            rc = t5p_atomic_open(&a, path);
            if (rc == 0) rc = t5p_atomic_write(&a, h, sizeof h);
            if (rc < 0) { if (a.tmp) t5p_atomic_abort(&a); T5P_FREE(offs); return rc; }
        }
        int64_t zero = 0, base = 0;
        if (pass == 0) t5p__whash_add(&w, &zero, 8);
        else rc = t5p_atomic_write(&a, &zero, 8);
        for (int64_t k0 = 0; k0 < p->n && rc == 0; k0 += CHUNK) {
            int64_t k1 = k0 + CHUNK < p->n ? k0 + CHUNK : p->n;
            t5p__shard_offsets(p, k0, k1, &base, offs);
            size_t nbytes = sizeof(int64_t) * 2 * (size_t)(k1 - k0);
            if (pass == 0) t5p__whash_add(&w, offs, nbytes);
            else rc = t5p_atomic_write(&a, offs, nbytes);
        }
        for (int q = 0; q < p->nparts && rc == 0; q++) {
            const t5p__pairs_part *pt = &p->parts[q];
            size_t nbytes = sizeof(int32_t) * (size_t)pt->off[2 * pt->n];
            const int32_t *ids = pt->ids + pt->off[0];
            if (pass == 0) t5p__whash_add(&w, ids, nbytes);
            else rc = t5p_atomic_write(&a, ids, nbytes);
        }
        if (pass == 1) {
            if (rc == 0) rc = t5p_atomic_commit(&a);
            else t5p_atomic_abort(&a);
            T5P_FREE(offs);
            return rc;
        }
    }
    T5P_FREE(offs);
    return 0;
}

T5PDEF int t5p_shard_load(t5p_pairs *p, const char *path, t5p_shard_info *info) {
    if (!t5p__little_endian()) return t5p__err(T5P_ERR_ARG, "%s: shards need a little-endian host", path);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int rc = t5p__err(T5P_ERR_IO, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return rc;
    }
    if (S_ISDIR(sb.st_mode)) { close(fd); return t5p__err(T5P_ERR_IO, "%s: is a directory", path); }
    size_t size = (size_t)sb.st_size;
    if (size < T5P__SHARD_HEADER) {
        close(fd);
        return t5p__err(T5P_ERR_FORMAT, "%s: %zu bytes: too short for a shard (truncated?)", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mapped = map != MAP_FAILED;
    if (!mapped) {
        map = T5P_MALLOC(size);
        size_t got = 0;
        while (map && got < size) {
            ssize_t k = read(fd, (char *)map + got, size - got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (!map || got != size) {
            close(fd);
            T5P_FREE(map);
            return t5p__err(map ? T5P_ERR_IO : T5P_ERR_NOMEM, "%s: cannot read %zu bytes", path, size);
        }
    }
    close(fd);
    const unsigned char *h = (const unsigned char *)map;
    int rc = 0;
    uint64_t n = t5p__get64(h + 48), m = t5p__get64(h + 56);
    if (memcmp(h, "T5PSHARD", 8) != 0) rc = t5p__err(T5P_ERR_FORMAT, "%s: not a t5p shard (bad magic)", path);
    else if (t5p__get32(h + 8) != 1)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: shard version %u (this t5p reads version 1)", path, t5p__get32(h + 8));
    else if (n > ((uint64_t)1 << 40) || m > ((uint64_t)1 << 42))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: implausible header (%llu pairs, %llu ids): corrupt file", path,
                      (unsigned long long)n, (unsigned long long)m);
    else {
        uint64_t need = T5P__SHARD_HEADER + 8 * (2 * n + 1) + 4 * m;
        if (need != (uint64_t)size)
            rc = t5p__err(T5P_ERR_FORMAT, "%s: %zu bytes, but a shard of %llu pairs and %llu ids has %llu: %s", path, size,
                          (unsigned long long)n, (unsigned long long)m, (unsigned long long)need,
                          need > (uint64_t)size ? "truncated file" : "trailing bytes");
    }
    t5p_shard_info in;
    memset(&in, 0, sizeof in);
    if (rc == 0) {
        in.flags = t5p__get32(h + 12);
        in.vocab_hash = t5p__get64(h + 16);
        in.jieba_total = t5p__get64(h + 24);
        in.vocab_size = (int)t5p__get32(h + 32);
        in.max_src = (int)t5p__get32(h + 36);
        in.max_tgt = (int)t5p__get32(h + 40);
        t5p__whash w = {T5P__FNV_OFFSET, {0}, 0};
        t5p__whash_add(&w, h + T5P__SHARD_HEADER, size - T5P__SHARD_HEADER);
        if (t5p__whash_end(&w) != t5p__get64(h + 64))
            rc = t5p__err(T5P_ERR_FORMAT, "%s: checksum mismatch: the file is corrupt", path);
        else if (in.vocab_size <= 0)
            rc = t5p__err(T5P_ERR_FORMAT, "%s: vocabulary size %d", path, in.vocab_size);
    }
    const int64_t *off = (const int64_t *)(h + T5P__SHARD_HEADER);
    const int32_t *ids = (const int32_t *)(h + T5P__SHARD_HEADER + 8 * (2 * n + 1));
    if (rc == 0) {
        if (off[0] != 0) rc = t5p__err(T5P_ERR_FORMAT, "%s: first offset is %lld, not 0", path, (long long)off[0]);
        for (uint64_t i = 1; i <= 2 * n && rc == 0; i++)
            if (off[i] < off[i - 1])
                rc = t5p__err(T5P_ERR_FORMAT, "%s: pair %llu: offsets decrease", path, (unsigned long long)((i - 1) / 2));
        if (rc == 0 && (uint64_t)off[2 * n] != m)
            rc = t5p__err(T5P_ERR_FORMAT, "%s: offsets end at %lld, not at the %llu ids", path, (long long)off[2 * n],
                          (unsigned long long)m);
        for (uint64_t i = 0; i < m && rc == 0; i++)
            if (ids[i] < 0 || ids[i] >= in.vocab_size) {
                uint64_t lo = 0, hi = n;  // the pair holding id i
                while (lo < hi) {
                    uint64_t mid = (lo + hi) / 2;
                    if ((uint64_t)off[2 * mid + 2] <= i) lo = mid + 1;
                    else hi = mid;
                }
                rc = t5p__err(T5P_ERR_FORMAT, "%s: pair %llu: id %d outside the vocabulary [0, %d)", path,
                              (unsigned long long)lo, ids[i], in.vocab_size);
            }
    }
    t5p__pairs_part *q = rc == 0 ? t5p__pairs_push(p) : NULL;
    if (rc == 0 && !q) rc = t5p__err(T5P_ERR_NOMEM, "%s: out of memory", path);
    if (rc < 0) {
        if (mapped) munmap(map, size);
        else T5P_FREE(map);
        return rc;
    }
    q->n = (int64_t)n;
    q->off = (int64_t *)off;
    q->ids = (int32_t *)ids;
    q->nids = (int64_t)m;
    q->map = map;
    q->map_size = size;
    q->mapped = mapped;
    p->n += (int64_t)n;
    p->ntok += (int64_t)m;
    if (info) *info = in;
    return 0;
}

// --- batches

T5PDEF int t5p_batch_make(t5p_batch *b, const t5p_pairs *p, const int64_t *idx, int n, int max_src, int max_tgt,
                          int pad_id) {
    if (n <= 0) return t5p__err(T5P_ERR_ARG, "batch: %d rows", n);
    int S = 1, T = 2;
    for (int r = 0; r < n; r++) {
        const int32_t *s, *t;
        int ns, nt;
        t5p_pairs_get(p, idx[r], &s, &ns, &t, &nt);
        if (max_src > 0 && ns > max_src) ns = max_src;
        if (max_tgt > 0 && nt > max_tgt) nt = max_tgt;
        if (ns > S) S = ns;
        if (nt > T) T = nt;
    }
    if ((size_t)n * S > (size_t)b->cap_src) {
        int *np = (int *)T5P_REALLOC(b->src, sizeof(int) * (size_t)n * S);
        if (!np) return t5p__err(T5P_ERR_NOMEM, "batch: out of memory");
        b->src = np, b->cap_src = n * S;
    }
    if ((size_t)n * T > (size_t)b->cap_tgt) {
        int *np = (int *)T5P_REALLOC(b->tgt, sizeof(int) * (size_t)n * T);
        if (!np) return t5p__err(T5P_ERR_NOMEM, "batch: out of memory");
        b->tgt = np, b->cap_tgt = n * T;
    }
    b->B = n, b->S = S, b->T = T, b->src_tokens = b->tgt_tokens = 0;
    for (int r = 0; r < n; r++) {
        const int32_t *s, *t;
        int ns, nt;
        t5p_pairs_get(p, idx[r], &s, &ns, &t, &nt);
        int ks = max_src > 0 && ns > max_src ? max_src : ns, kt = max_tgt > 0 && nt > max_tgt ? max_tgt : nt;
        int *rs = b->src + (size_t)r * S, *rt = b->tgt + (size_t)r * T;
        for (int i = 0; i < S; i++) rs[i] = pad_id;
        for (int i = 0; i < T; i++) rt[i] = pad_id;
        for (int i = 0; i < ks - 1; i++) rs[i] = s[i];  // first ks-1 ids and the last, as encode truncates
        if (ks > 0) rs[ks - 1] = s[ns - 1];
        for (int i = 0; i < kt - 1; i++) rt[i] = t[i];
        if (kt > 0) rt[kt - 1] = t[nt - 1];
        for (int i = 0; i < S; i++) b->src_tokens += rs[i] != pad_id;
        for (int i = 0; i < T; i++) b->tgt_tokens += rt[i] != pad_id;
    }
    return 0;
}

T5PDEF void t5p_batch_free(t5p_batch *b) {
    T5P_FREE(b->src);
    T5P_FREE(b->tgt);
    memset(b, 0, sizeof *b);
}

T5PDEF void t5p_pairs_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch, int shuffle) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    uint64_t key = t5p__mix64(seed ^ t5p__mix64((uint64_t)epoch + 0x5EED));
    for (int64_t i = n - 1; i > 0; i--) {  // Fisher-Yates
        uint64_t r = t5p__mix64(key + (uint64_t)i);
        int64_t j = (int64_t)(r % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

// ----------------------------------------------------------------------------
// 9. generate
//
// One decoding run (t5p__gen) holds everything in one arena: per source its cross-attention keys and
// values (or, uncached, its encoder output), the self-attention cache, the rows (live beams of all
// sources, grouped by source in source order) and the scratch of the encoder and of a decoder step.
//
// The decoder's matrix products use t5p__rows_linear, whose every output element is summed in one fixed
// order whatever the number of rows; the cached single-query attention repeats t5p_attention_forward's
// float operations one by one. So a step's logits for a beam are bitwise the same with or without the
// cache, in a batch or alone, on any number of threads, and so are the ids.

T5PDEF void t5p_gen_config_init(t5p_gen_config *g) {
    memset(g, 0, sizeof *g);
    g->mode = T5P_GEN_BEAM_ORIGINAL;
    g->beam = 1;
    g->max_len = 32;
    g->length_penalty = 1.0f;
    g->top_p = 1.0f;
    g->temperature = 1.0f;
    g->start_id = 101;  // [CLS] in the T5 PEGASUS vocabulary
    g->end_id = 102;    // [SEP]
    g->use_cache = 1;
}

static const char *const t5p__gen_mode_names[] = {"greedy", "original", "hf", "sample"};

T5PDEF int t5p_gen_mode_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, t5p__gen_mode_names[i])) return i;
    return t5p__err(T5P_ERR_ARG, "unknown generation mode '%s' (greedy, original, hf, sample)", name);
}

T5PDEF const char *t5p_gen_mode_name(int mode) {
    return mode >= 0 && mode < 4 ? t5p__gen_mode_names[mode] : "?";
}

// --- matrix products for a few rows
//
// y (N,O) = x (N,I) W^T, W (O,I) as in t5p_linear_forward, for the decoder's handful of rows per step:
// each W row is read once per four rows of x, so a step streams the weights once (t5p__gemm would pack
// them first, doubling the traffic for the row or three a step has). Element (n,o) is summed over 16
// lanes, lane l taking i = l, l+16, ... in order, then the lanes pairwise (8, 4, 2, 1 apart): the same
// order for any N, thread count or vector width.
#define T5P__LANES 16
#ifndef T5P_ROWS_PAR_MIN
#define T5P_ROWS_PAR_MIN 65536.0  // weights (floats) read by one product before threads pay
#endif

static inline float t5p__lanes_sum(float *acc) {
    for (int w = T5P__LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

// y[r*ldy] for rows x + r*I, r < NR, against one W row: the 16-lane sums. With GCC or clang the lanes are
// a vector (registers); otherwise a float array. Both do the same float operations per lane.
#if defined(__GNUC__)
typedef float t5p__v16 __attribute__((vector_size(4 * T5P__LANES)));
#define T5P__ROWS_KERNEL(NR)                                                                          \
    static inline void t5p__rows_kernel##NR(float *y, size_t ldy, const float *x, const float *wo, int I) { \
        const int I16 = I / T5P__LANES * T5P__LANES;                                                  \
        t5p__v16 a[NR];                                                                               \
        for (int r = 0; r < NR; r++) a[r] = (t5p__v16){0};                                            \
        for (int i = 0; i < I16; i += T5P__LANES) {                                                   \
            t5p__v16 wv, xv;                                                                          \
            memcpy(&wv, wo + i, sizeof wv);                                                           \
            for (int r = 0; r < NR; r++) {                                                            \
                memcpy(&xv, x + (size_t)r * I + i, sizeof xv);                                        \
                a[r] += xv * wv;                                                                      \
            }                                                                                         \
        }                                                                                             \
        for (int r = 0; r < NR; r++) {                                                                \
            float acc[T5P__LANES];                                                                    \
            memcpy(acc, &a[r], sizeof acc);                                                           \
            for (int l = 0; I16 + l < I; l++) acc[l] += x[(size_t)r * I + I16 + l] * wo[I16 + l];     \
            y[r * ldy] = t5p__lanes_sum(acc);                                                         \
        }                                                                                             \
    }
#else
#define T5P__ROWS_KERNEL(NR)                                                                          \
    static inline void t5p__rows_kernel##NR(float *y, size_t ldy, const float *x, const float *wo, int I) { \
        const int I16 = I / T5P__LANES * T5P__LANES;                                                  \
        float a[NR][T5P__LANES] = {{0}};                                                              \
        for (int i = 0; i < I16; i += T5P__LANES)                                                     \
            for (int r = 0; r < NR; r++)                                                              \
                for (int l = 0; l < T5P__LANES; l++) a[r][l] += x[(size_t)r * I + i + l] * wo[i + l]; \
        for (int r = 0; r < NR; r++) {                                                                \
            for (int l = 0; I16 + l < I; l++) a[r][l] += x[(size_t)r * I + I16 + l] * wo[I16 + l];    \
            y[r * ldy] = t5p__lanes_sum(a[r]);                                                        \
        }                                                                                             \
    }
#endif
T5P__ROWS_KERNEL(1)
T5P__ROWS_KERNEL(2)
T5P__ROWS_KERNEL(3)
T5P__ROWS_KERNEL(4)
#undef T5P__ROWS_KERNEL

// Output column o of y (N,O) = x W^T.
static inline void t5p__rows_column(float *y, const float *x, const float *w, int N, int I, int O, int o) {
    const float *wo = w + (size_t)o * I;
    int n = 0;
    for (; n + 4 <= N; n += 4) t5p__rows_kernel4(y + (size_t)n * O + o, (size_t)O, x + (size_t)n * I, wo, I);
    switch (N - n) {
        case 3: t5p__rows_kernel3(y + (size_t)n * O + o, (size_t)O, x + (size_t)n * I, wo, I); break;
        case 2: t5p__rows_kernel2(y + (size_t)n * O + o, (size_t)O, x + (size_t)n * I, wo, I); break;
        case 1: t5p__rows_kernel1(y + (size_t)n * O + o, (size_t)O, x + (size_t)n * I, wo, I); break;
        default: break;
    }
}

static void t5p__rows_linear(float *restrict y, const float *restrict x, const float *restrict w, int N, int I,
                             int O) {
    T5P__OMP(parallel for schedule(dynamic, 32) if((double)O * I >= T5P_ROWS_PAR_MIN))
    for (int o = 0; o < O; o++) t5p__rows_column(y, x, w, N, I, O, o);
}

// Two or three products of the same x (q, k, v; wi_0, wi_1) in one parallel loop: one barrier, not three.
static void t5p__rows_linear3(float *y0, const float *w0, float *y1, const float *w1, float *y2, const float *w2,
                              const float *x, int N, int I, int O) {
    const int np = y2 ? 3 : 2;
    T5P__OMP(parallel for schedule(dynamic, 32) if((double)np * O * I >= T5P_ROWS_PAR_MIN))
    for (int oo = 0; oo < np * O; oo++) {
        const int k = oo / O, o = oo % O;
        t5p__rows_column(k == 0 ? y0 : k == 1 ? y1 : y2, x, k == 0 ? w0 : k == 1 ? w1 : w2, N, I, O, o);
    }
}

// --- single-query attention with t5p_attention_forward's arithmetic
//
// t5p_attention_forward forms q k^T and att v with t5p__gemm, which sums each element in order over its
// inner dimension in blocks of T5P__KC (C = first block, C += each later one). These do the same for one
// query, so the cached step reproduces the full-prefix attention bit for bit.

static inline float t5p__dot_kc(const float *a, const float *b, int K) {
    float c = 0.0f;
    for (int p0 = 0; p0 < K; p0 += T5P__KC) {
        const int p1 = t5p__imin(K, p0 + T5P__KC);
        float t = 0.0f;
        for (int p = p0; p < p1; p++) t += a[p] * b[p];
        c = p0 ? c + t : t;
    }
    return c;
}

// p (Tk) holds the scores q.k; adds bias (NULL: none) to unmasked keys (kmask NULL: all), then softmax in
// place: masked keys get 0, and all keys masked gives the uniform row, as t5p_attention_forward does.
static void t5p__softmax_row(float *p, const float *bias, const uint8_t *kmask, int Tk) {
    float mx = -INFINITY;
    for (int j = 0; j < Tk; j++) {
        if (kmask && !kmask[j]) continue;
        if (bias) p[j] += bias[j];
        if (p[j] > mx) mx = p[j];
    }
    if (mx == -INFINITY) {
        for (int j = 0; j < Tk; j++) p[j] = 1.0f / (float)Tk;
        return;
    }
    float sum = 0.0f;
    for (int j = 0; j < Tk; j++) {
        float e = (!kmask || kmask[j]) ? expf(p[j] - mx) : 0.0f;
        p[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < Tk; j++) p[j] *= inv;
}

// ctx (Dk) = sum_j p[j] v_j over Tk keys, v_j = vrow(j): blocks of T5P__KC keys, tmp (Dk) scratch.
#define T5P__CTX_BLOCKS(ctx, tmp, p, Tk, Dk, VROW)                                   \
    do {                                                                             \
        for (int j0 = 0; j0 < (Tk); j0 += T5P__KC) {                                 \
            const int j1 = t5p__imin((Tk), j0 + T5P__KC);                            \
            float *t_ = j0 ? (tmp) : (ctx);                                          \
            for (int d = 0; d < (Dk); d++) t_[d] = 0.0f;                             \
            for (int j = j0; j < j1; j++) {                                          \
                const float pj = (p)[j], *vj = (VROW);                               \
                T5P__OMP(simd)                                                       \
                for (int d = 0; d < (Dk); d++) t_[d] += pj * vj[d];                  \
            }                                                                        \
            if (j0)                                                                  \
                for (int d = 0; d < (Dk); d++) (ctx)[d] += t_[d];                    \
        }                                                                            \
    } while (0)

// --- the decoding run

typedef struct {     // a finished hypothesis of beam_hf
    double score;    // sum / length ** length_penalty
    double sum;      // the float32 beam score
    int len;         // length counted by transformers: the start id and the ids before end_id
    int ended;       // 1: it ended with end_id (not stored in toks)
    int *toks;       // (max_len) the ids after the start id
} t5p__hyp;

typedef struct {     // a candidate (beam, token) of a step
    double score;
    float logit;
    long flat;       // beam * V + token, beam counted within its source
    int row, token;
} t5p__gen_cand;

typedef struct {
    const t5p_model *m;
    t5p_gen_config gc;
    int n, L, Rmax, Smax, K;      // sources, max_len, row capacity, longest source, candidates per row
    int D, HK, H, Dk, F, V, Ld, Le, NB, MD, tanh_form;
    float eps, out_scale;
    const int *const *src;
    const int *src_len;
    size_t *soff;                 // (n) offset of source b's tokens in the per-token arrays
    uint8_t *mask;                // (sum S) 1 for a real source token
    float *ck, *cv;               // cached: (Ld, H, Dk, S) and (Ld, S, HK) per source; uncached: (S, HK) scratch
    float *enc_out;               // uncached: (sum S, D) kept; cached: (Smax, D) scratch
    float *sk, *sv;               // cached: (Ld, L, Rmax, HK) self-attention keys and values, [l][t][slot]
    // rows: live beams, grouped by source in source order
    int R;
    int *row_b, *row_b2;          // (Rmax) source of each row
    double *row_score, *row_score2;
    int *hist, *hist2;            // (Rmax, L) cache slot of position s of the row's beam
    int *seq, *seq2;              // (Rmax, L) ids generated so far
    int *top;                     // (Rmax, K) each row's best tokens by logit
    float *row_max, *row_lse;     // (Rmax) max logit, log-sum-exp (log_softmax = x - max - log(sum))
    float *row_sum;               // (Rmax) sum exp(x - max) (softmax = exp(x - max) / sum)
    // per source
    int *beams;                   // (n) beam_original: its current k; 0 once done
    t5p__hyp *hyps;               // (n, beam + 1) beam_hf hypotheses
    int *nhyp;                    // (n)
    double *worst;                // (n)
    t5p__gen_cand *cands;             // (beam * K) candidates of one source
    // outputs
    int *out, max_out, *out_lens;
    double *out_scores;
    // scratch
    float *x, *x1, *x2, *h, *rstd, *q, *k, *v, *ctx, *u0, *u1, *gg, *att, *pb, *cpb, *logits;
    int *tok;
    size_t att_row;               // cached: floats of one (row, head) attention scratch
} t5p__gen;

static size_t t5p__gen_layout(t5p__gen *g, char *base) {
    const size_t D = g->D, HK = g->HK, H = g->H, F = g->F, V = g->V, Ld = g->Ld, L = g->L, Rmax = g->Rmax;
    const size_t S = g->Smax, n = g->n, K = g->K, B = g->gc.beam;
    size_t Stot = 0;
    for (int b = 0; b < g->n; b++) Stot += (size_t)g->src_len[b];
    const int cached = g->gc.use_cache;
    const size_t Nd = cached ? Rmax : Rmax * L, NE = Nd > S ? Nd : S;  // decoder rows, rows of x etc.
    const size_t TK = (L > S ? L : S);
    g->att_row = 2 * TK + (size_t)g->Dk;
    size_t att = H * S * S, pb = H * S * S;
    if (cached) {
        att = att > Rmax * H * g->att_row ? att : Rmax * H * g->att_row;
        pb = pb > H * (L + S) ? pb : H * (L + S);
    } else {
        att = att > Rmax * H * L * L ? att : Rmax * H * L * L;
        att = att > H * L * S ? att : H * L * S;
        pb = pb > H * L * L ? pb : H * L * L;
    }
    size_t off = 0;
#define T5P__TAKE(ptr, type, count)                               \
    do {                                                          \
        ptr = base ? (type *)(base + off) : NULL;                 \
        off += (((size_t)(count) * sizeof(type)) + 63) / 64 * 64; \
    } while (0)
    T5P__TAKE(g->soff, size_t, n);
    T5P__TAKE(g->mask, uint8_t, Stot);
    if (cached) {
        T5P__TAKE(g->ck, float, Ld * Stot * HK);
        T5P__TAKE(g->cv, float, Ld * Stot * HK);
        T5P__TAKE(g->enc_out, float, S * D);
        T5P__TAKE(g->sk, float, Ld * L * Rmax * HK);
        T5P__TAKE(g->sv, float, Ld * L * Rmax * HK);
        g->cpb = NULL;
    } else {
        T5P__TAKE(g->ck, float, S * HK);
        T5P__TAKE(g->cv, float, S * HK);
        T5P__TAKE(g->enc_out, float, Stot * D);
        g->sk = g->sv = NULL;
        T5P__TAKE(g->cpb, float, H * L * S);
    }
    T5P__TAKE(g->row_b, int, Rmax);
    T5P__TAKE(g->row_b2, int, Rmax);
    T5P__TAKE(g->row_score, double, Rmax);
    T5P__TAKE(g->row_score2, double, Rmax);
    T5P__TAKE(g->hist, int, Rmax * L);
    T5P__TAKE(g->hist2, int, Rmax * L);
    T5P__TAKE(g->seq, int, Rmax * L);
    T5P__TAKE(g->seq2, int, Rmax * L);
    T5P__TAKE(g->top, int, Rmax * K);
    T5P__TAKE(g->row_max, float, Rmax);
    T5P__TAKE(g->row_lse, float, Rmax);
    T5P__TAKE(g->row_sum, float, Rmax);
    T5P__TAKE(g->beams, int, n);
    T5P__TAKE(g->hyps, t5p__hyp, n * (B + 1));
    T5P__TAKE(g->nhyp, int, n);
    T5P__TAKE(g->worst, double, n);
    if (base)
        for (size_t i = 0; i < n * (B + 1); i++) T5P__TAKE(g->hyps[i].toks, int, L);
    else
        off += n * (B + 1) * ((L * sizeof(int) + 63) / 64 * 64);
    T5P__TAKE(g->cands, t5p__gen_cand, B * K);
    T5P__TAKE(g->x, float, NE * D);
    T5P__TAKE(g->x1, float, NE * D);
    T5P__TAKE(g->x2, float, NE * D);
    T5P__TAKE(g->h, float, NE * D);
    T5P__TAKE(g->rstd, float, NE);
    T5P__TAKE(g->q, float, NE * HK);
    T5P__TAKE(g->k, float, NE * HK);
    T5P__TAKE(g->v, float, NE * HK);
    T5P__TAKE(g->ctx, float, NE * HK);
    T5P__TAKE(g->u0, float, NE * F);
    T5P__TAKE(g->u1, float, NE * F);
    T5P__TAKE(g->gg, float, NE * F);
    T5P__TAKE(g->att, float, att);
    T5P__TAKE(g->pb, float, pb);
    T5P__TAKE(g->logits, float, Rmax * V);
    T5P__TAKE(g->tok, int, Nd);
#undef T5P__TAKE
    return off;
}

// Runs the encoder over source b and leaves, cached, every decoder layer's cross-attention keys
// (transposed per head, keys along rows: dot products vectorise over keys) and values in ck, cv;
// uncached, the encoder output in enc_out. The same layer functions and order as t5p_model_forward.
static void t5p__gen_encode(t5p__gen *g, int b) {
    const t5p_config *c = &g->m->cfg;
    const t5p_params *w = &g->m->w;
    const int S = g->src_len[b], D = g->D, HK = g->HK, F = g->F, H = g->H, Dk = g->Dk;
    const size_t SD = (size_t)S * D;
    const int *src = g->src[b];
    uint8_t *mask = g->mask + g->soff[b];
    for (int i = 0; i < S; i++) mask[i] = src[i] != c->pad_id;
    t5p_position_bias_forward(g->pb, w->enc_bias, H, S, S, 1, g->NB, g->MD);
    float *x = g->x, *x1 = g->x1;
    t5p_embedding_forward(x, src, w->shared, S, D);
    for (int l = 0; l < g->Le; l++) {
        const size_t lq = (size_t)l * HK * D, lf = (size_t)l * F * D;
        t5p_rmsnorm_forward(g->h, g->rstd, x, w->enc_ln0 + (size_t)l * D, S, D, g->eps);
        t5p_linear_forward(g->q, g->h, w->enc_q + lq, S, D, HK);
        t5p_linear_forward(g->k, g->h, w->enc_k + lq, S, D, HK);
        t5p_linear_forward(g->v, g->h, w->enc_v + lq, S, D, HK);
        t5p_attention_forward(g->ctx, g->att, g->q, g->k, g->v, g->pb, mask, 0, 1, S, S, H, Dk);
        t5p_linear_forward(x1, g->ctx, w->enc_o + lq, S, HK, D);
        t5p__add(x1, x, SD);
        t5p_rmsnorm_forward(g->h, g->rstd, x1, w->enc_ln1 + (size_t)l * D, S, D, g->eps);
        t5p_linear_forward(g->u0, g->h, w->enc_wi0 + lf, S, D, F);
        t5p_linear_forward(g->u1, g->h, w->enc_wi1 + lf, S, D, F);
        t5p_gelu_gate_forward(g->gg, g->u0, g->u1, (size_t)S * F, g->tanh_form);
        t5p_linear_forward(x, g->gg, w->enc_wo + lf, S, F, D);
        t5p__add(x, x1, SD);
    }
    float *enc = g->gc.use_cache ? g->enc_out : g->enc_out + g->soff[b] * D;
    t5p_rmsnorm_forward(enc, g->rstd, x, w->enc_norm, S, D, g->eps);
    if (!g->gc.use_cache) return;
    for (int l = 0; l < g->Ld; l++) {
        const size_t lq = (size_t)l * HK * D, at = (g->soff[b] * g->Ld + (size_t)l * S) * HK;
        t5p_linear_forward(g->k, enc, w->dec_ck + lq, S, D, HK);
        t5p_linear_forward(g->cv + at, enc, w->dec_cv + lq, S, D, HK);
        float *kt = g->ck + at;  // (H, Dk, S): kt[(h*Dk + d)*S + j] = k[j][h*Dk + d]
        for (int j = 0; j < S; j++)
            for (int e = 0; e < HK; e++) kt[(size_t)e * S + j] = g->k[(size_t)j * HK + e];
    }
}

// The decoder's last layers for rows whose final hidden state is in x (N, D): final norm, the pegasus
// scale (t5p_dropout_forward's `in * scale` at p = 0) and the LM head into logits (N, V).
static void t5p__gen_head(t5p__gen *g, const float *x, int N) {
    const t5p_params *w = &g->m->w;
    t5p_rmsnorm_forward(g->h, g->rstd, x, w->dec_norm, N, g->D, g->eps);
    if (g->out_scale != 1.0f)
        for (size_t i = 0; i < (size_t)N * g->D; i++) g->h[i] = g->h[i] * g->out_scale;
    t5p__rows_linear(g->logits, g->h, w->lm_head, N, g->D, g->V);
}

// The decoder input id of row r at position t.
static inline int t5p__gen_input_id(const t5p__gen *g, int r, int t) {
    return t ? g->seq[(size_t)r * g->L + t - 1] : g->gc.start_id;
}

// One cached step: position t for rows 0..R-1; keys and values of position t go to slot r of step t.
static void t5p__gen_step_cached(t5p__gen *g, int t) {
    const t5p_params *w = &g->m->w;
    const int R = g->R, D = g->D, HK = g->HK, H = g->H, Dk = g->Dk, F = g->F, L = g->L, Tk = t + 1;
    const size_t RD = (size_t)R * D;
    for (int r = 0; r < R; r++) g->tok[r] = t5p__gen_input_id(g, r, t), g->hist[(size_t)r * L + t] = r;
    // position biases of query t: self (H, t+1) over keys 0..t, cross (H, Smax) for pegasus
    float *sb = g->pb, *cb = g->cpb ? g->cpb : g->pb + (size_t)H * L;
    for (int s = 0; s < Tk; s++) {
        const float *row = w->dec_bias + (size_t)t5p_relative_bucket(s - t, 0, g->NB, g->MD) * H;
        for (int hh = 0; hh < H; hh++) sb[(size_t)hh * Tk + s] = row[hh];
    }
    const int pegasus = g->m->cfg.flavor == T5P_PEGASUS;
    if (pegasus)
        for (int j = 0; j < g->Smax; j++) {
            const float *row = w->dec_bias + (size_t)t5p_relative_bucket(j - t, 0, g->NB, g->MD) * H;
            for (int hh = 0; hh < H; hh++) cb[(size_t)hh * g->Smax + j] = row[hh];
        }
    float *x = g->x, *x1 = g->x1, *x2 = g->x2;
    t5p_embedding_forward(x, g->tok, w->shared, R, D);
    for (int l = 0; l < g->Ld; l++) {
        const size_t lq = (size_t)l * HK * D, lf = (size_t)l * F * D, lslot = (size_t)l * L;
        float *kc = g->sk + (lslot + t) * g->Rmax * HK, *vc = g->sv + (lslot + t) * g->Rmax * HK;
        // self-attention over the cache
        t5p_rmsnorm_forward(g->h, g->rstd, x, w->dec_ln0 + (size_t)l * D, R, D, g->eps);
        t5p__rows_linear3(g->q, w->dec_q + lq, kc, w->dec_k + lq, vc, w->dec_v + lq, g->h, R, D, HK);
        T5P__OMP(parallel for schedule(dynamic, 1) if((size_t)R * H * Tk * Dk >= 2 * T5P_PAR_MIN))
        for (int rh = 0; rh < R * H; rh++) {
            const int r = rh / H, hh = rh % H;
            const int *hist = g->hist + (size_t)r * L;
            float *p = g->att + (size_t)rh * g->att_row, *tmp = p + Tk;
            const float *qr = g->q + (size_t)r * HK + hh * Dk;
            for (int s = 0; s < Tk; s++)
                p[s] = t5p__dot_kc(qr, g->sk + ((lslot + s) * g->Rmax + hist[s]) * HK + hh * Dk, Dk);
            t5p__softmax_row(p, sb + (size_t)hh * Tk, NULL, Tk);
            float *cx = g->ctx + (size_t)r * HK + hh * Dk;
            T5P__CTX_BLOCKS(cx, tmp, p, Tk, Dk, g->sv + ((lslot + j) * g->Rmax + hist[j]) * HK + hh * Dk);
        }
        t5p__rows_linear(x1, g->ctx, w->dec_o + lq, R, HK, D);
        t5p__add(x1, x, RD);
        // cross-attention to the source's cached keys and values
        t5p_rmsnorm_forward(g->h, g->rstd, x1, w->dec_ln1 + (size_t)l * D, R, D, g->eps);
        t5p__rows_linear(g->q, g->h, w->dec_cq + lq, R, D, HK);
        T5P__OMP(parallel for schedule(dynamic, 1) if((size_t)R * H * g->Smax * Dk >= 2 * T5P_PAR_MIN))
        for (int rh = 0; rh < R * H; rh++) {
            const int r = rh / H, hh = rh % H, b = g->row_b[r], S = g->src_len[b];
            const size_t at = (g->soff[b] * g->Ld + (size_t)l * S) * HK;
            const float *kt = g->ck + at + (size_t)hh * Dk * S, *qr = g->q + (size_t)r * HK + hh * Dk;
            float *p = g->att + (size_t)rh * g->att_row, *tmp = p + S;
            for (int d0 = 0; d0 < Dk; d0 += T5P__KC) {  // p = q k^T in t5p__gemm's order, keys vectorised
                float *acc = d0 ? tmp : p;
                for (int j = 0; j < S; j++) acc[j] = 0.0f;
                for (int d = d0; d < t5p__imin(Dk, d0 + T5P__KC); d++) {
                    const float qd = qr[d], *kd = kt + (size_t)d * S;
                    T5P__OMP(simd)
                    for (int j = 0; j < S; j++) acc[j] += qd * kd[j];
                }
                if (d0)
                    for (int j = 0; j < S; j++) p[j] += tmp[j];
            }
            t5p__softmax_row(p, pegasus ? cb + (size_t)hh * g->Smax : NULL, g->mask + g->soff[b], S);
            float *cx = g->ctx + (size_t)r * HK + hh * Dk;
            const float *vb = g->cv + at + hh * Dk;
            T5P__CTX_BLOCKS(cx, tmp, p, S, Dk, vb + (size_t)j * HK);
        }
        t5p__rows_linear(x2, g->ctx, w->dec_co + lq, R, HK, D);
        t5p__add(x2, x1, RD);
        // feed-forward
        t5p_rmsnorm_forward(g->h, g->rstd, x2, w->dec_ln2 + (size_t)l * D, R, D, g->eps);
        t5p__rows_linear3(g->u0, w->dec_wi0 + lf, g->u1, w->dec_wi1 + lf, NULL, NULL, g->h, R, D, F);
        t5p_gelu_gate_forward(g->gg, g->u0, g->u1, (size_t)R * F, g->tanh_form);
        t5p__rows_linear(x, g->gg, w->dec_wo + lf, R, F, D);
        t5p__add(x, x2, RD);
    }
    t5p__gen_head(g, x, R);
}

// One uncached step, as the original decoded: the decoder over each row's whole prefix (positions 0..t)
// with t5p_attention_forward, the cross-attention keys and values recomputed from the encoder output;
// only the last position's logits are kept.
static void t5p__gen_step_full(t5p__gen *g, int t) {
    const t5p_params *w = &g->m->w;
    const int R = g->R, D = g->D, HK = g->HK, H = g->H, Dk = g->Dk, F = g->F, T = t + 1, N = R * T;
    const size_t ND = (size_t)N * D;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < T; s++) g->tok[r * T + s] = t5p__gen_input_id(g, r, s);
    const int pegasus = g->m->cfg.flavor == T5P_PEGASUS;
    t5p_position_bias_forward(g->pb, w->dec_bias, H, T, T, 0, g->NB, g->MD);
    float *x = g->x, *x1 = g->x1, *x2 = g->x2;
    t5p_embedding_forward(x, g->tok, w->shared, N, D);
    for (int l = 0; l < g->Ld; l++) {
        const size_t lq = (size_t)l * HK * D, lf = (size_t)l * F * D;
        t5p_rmsnorm_forward(g->h, g->rstd, x, w->dec_ln0 + (size_t)l * D, N, D, g->eps);
        t5p__rows_linear(g->q, g->h, w->dec_q + lq, N, D, HK);
        t5p__rows_linear(g->k, g->h, w->dec_k + lq, N, D, HK);
        t5p__rows_linear(g->v, g->h, w->dec_v + lq, N, D, HK);
        t5p_attention_forward(g->ctx, g->att, g->q, g->k, g->v, g->pb, NULL, 1, R, T, T, H, Dk);
        t5p__rows_linear(x1, g->ctx, w->dec_o + lq, N, HK, D);
        t5p__add(x1, x, ND);
        t5p_rmsnorm_forward(g->h, g->rstd, x1, w->dec_ln1 + (size_t)l * D, N, D, g->eps);
        t5p__rows_linear(g->q, g->h, w->dec_cq + lq, N, D, HK);
        for (int r0 = 0, r1; r0 < R; r0 = r1) {  // rows of one source
            const int b = g->row_b[r0], S = g->src_len[b];
            for (r1 = r0; r1 < R && g->row_b[r1] == b; r1++) {}
            const float *enc = g->enc_out + g->soff[b] * D;
            t5p_linear_forward(g->ck, enc, w->dec_ck + lq, S, D, HK);
            t5p_linear_forward(g->cv, enc, w->dec_cv + lq, S, D, HK);
            if (pegasus) t5p_position_bias_forward(g->cpb, w->dec_bias, H, T, S, 0, g->NB, g->MD);
            for (int r = r0; r < r1; r++)
                t5p_attention_forward(g->ctx + (size_t)r * T * HK, g->att, g->q + (size_t)r * T * HK, g->ck, g->cv,
                                      pegasus ? g->cpb : NULL, g->mask + g->soff[b], 0, 1, T, S, H, Dk);
        }
        t5p__rows_linear(x2, g->ctx, w->dec_co + lq, N, HK, D);
        t5p__add(x2, x1, ND);
        t5p_rmsnorm_forward(g->h, g->rstd, x2, w->dec_ln2 + (size_t)l * D, N, D, g->eps);
        t5p__rows_linear(g->u0, g->h, w->dec_wi0 + lf, N, D, F);
        t5p__rows_linear(g->u1, g->h, w->dec_wi1 + lf, N, D, F);
        t5p_gelu_gate_forward(g->gg, g->u0, g->u1, (size_t)N * F, g->tanh_form);
        t5p__rows_linear(x, g->gg, w->dec_wo + lf, N, F, D);
        t5p__add(x, x2, ND);
    }
    for (int r = 0; r < R; r++)  // last positions
        memcpy(x1 + (size_t)r * D, x + ((size_t)r * T + t) * D, (size_t)D * sizeof(float));
    t5p__gen_head(g, x1, R);
}

// --- search

// Candidate order: higher score, then higher logit, then lower flat index.
static inline int t5p__cand_before(const t5p__gen_cand *a, const t5p__gen_cand *b) {
    if (a->score != b->score) return a->score > b->score;
    if (a->logit != b->logit) return a->logit > b->logit;
    return a->flat < b->flat;
}

// Per row: its K best tokens by (logit desc, id asc) into top, the max logit, sum exp(x - max) (in double,
// rounded to float) and log of it. Within a row every score used here is a non-decreasing function of the
// logit, so a source's best candidates are among its rows' K best tokens.
static void t5p__gen_row_stats(t5p__gen *g) {
    const int V = g->V, K = g->K;
    T5P__OMP(parallel for schedule(static) if(g->R > 1 && (size_t)g->R * V >= T5P_PAR_MIN))
    for (int r = 0; r < g->R; r++) {
        const float *x = g->logits + (size_t)r * V;
        int *top = g->top + (size_t)r * K, nt = 0;
        for (int j = 0; j < V; j++) {  // insertion into the sorted list of the best K so far
            if (nt == K && !(x[j] > x[top[K - 1]])) continue;
            int i = nt < K ? nt++ : K - 1;
            while (i > 0 && x[j] > x[top[i - 1]]) top[i] = top[i - 1], i--;
            top[i] = j;
        }
        const float mx = x[top[0]];
        double sum = 0.0;
        for (int j = 0; j < V; j++) sum += (double)expf(x[j] - mx);
        g->row_max[r] = mx;
        g->row_sum[r] = (float)sum;
        g->row_lse[r] = logf((float)sum);
    }
}

static inline float t5p__gen_logsoftmax(const t5p__gen *g, int r, int token) {  // torch's x - max - log(sum)
    return (g->logits[(size_t)r * g->V + token] - g->row_max[r]) - g->row_lse[r];
}

static inline float t5p__gen_logp_original(const t5p__gen *g, int r, int token) {  // log(softmax + 1e-12)
    const float p = expf(g->logits[(size_t)r * g->V + token] - g->row_max[r]) / g->row_sum[r];
    return logf(p + 1e-12f);
}

// Writes source b's output: the ids of row r's beam (t of them, when r >= 0) then `token` (when >= 0).
static void t5p__gen_emit(t5p__gen *g, int b, const int *ids, int nids, int token, double score) {
    int *out = g->out + (size_t)b * g->max_out, n = 0;
    for (int i = 0; i < nids; i++, n++)
        if (n < g->max_out) out[n] = ids[i];
    if (token >= 0) {
        if (n < g->max_out) out[n] = token;
        n++;
    }
    g->out_lens[b] = n;
    if (g->out_scores) g->out_scores[b] = score;
}

// A counter-based uniform in [0, 1) for source b at step t, a function of (seed, the source's ids, t): a
// source samples the same in any batch.
static inline double t5p__gen_uniform(const t5p__gen *g, int b, int t) {
    uint64_t key = t5p__mix64(g->gc.seed ^ 0x5DEECE66Dull);
    for (int i = 0; i < g->src_len[b]; i++) key = t5p__mix64(key ^ (uint32_t)g->src[b][i]);
    const uint64_t r = t5p__mix64(key ^ t5p__mix64((uint64_t)t));
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

static int t5p__sample_desc(const float *x, int a, int b) {  // sort order: logit desc, id asc
    return x[a] > x[b] ? -1 : x[a] < x[b] ? 1 : a < b ? -1 : a > b;
}

// transformers' TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper on a copy of row r's logits,
// then one draw from the softmax. ord (2V ints) and x (V floats) scratch.
static int t5p__gen_sample_row(t5p__gen *g, int r, int b, int t, int *ord, float *x) {
    const int V = g->V;
    memcpy(x, g->logits + (size_t)r * V, (size_t)V * sizeof(float));
    const t5p_gen_config *gc = &g->gc;
    if (gc->temperature != 1.0f)
        for (int j = 0; j < V; j++) x[j] = x[j] / gc->temperature;
    const int k = gc->top_k > 0 && gc->top_k < V ? gc->top_k : 0;
    if (k || gc->top_p < 1.0f) {
        for (int j = 0; j < V; j++) ord[j] = j;
        // a simple merge sort of ids by (logit desc, id asc); ord + V is scratch of V ints
        int *a = ord, *tmpb = ord + V;
        for (int wdt = 1; wdt < V; wdt *= 2) {
            for (int lo = 0; lo < V; lo += 2 * wdt) {
                int mid = t5p__imin(lo + wdt, V), hi = t5p__imin(lo + 2 * wdt, V), i = lo, j = mid, o = lo;
                while (i < mid && j < hi) tmpb[o++] = t5p__sample_desc(x, a[i], a[j]) <= 0 ? a[i++] : a[j++];
                while (i < mid) tmpb[o++] = a[i++];
                while (j < hi) tmpb[o++] = a[j++];
            }
            int *sw = a; a = tmpb; tmpb = sw;
        }
        if (a != ord) memcpy(ord, a, (size_t)V * sizeof(int));
        if (k) {  // remove logits below the k-th largest
            const float kth = x[ord[k - 1]];
            for (int j = 0; j < V; j++)
                if (x[j] < kth) x[j] = -INFINITY;
        }
        if (gc->top_p < 1.0f) {  // ascending cumulative probability <= 1 - top_p removed, the best kept
            const float mx = x[ord[0]];
            double sum = 0.0;
            for (int j = 0; j < V; j++) sum += (double)expf(x[j] - mx);
            float cum = 0.0f;
            for (int i = V - 1; i >= 1; i--) {
                const int j = ord[i];
                cum += (float)(expf(x[j] - mx) / sum);
                if (cum <= 1.0f - gc->top_p) x[j] = -INFINITY;
            }
        }
    }
    float mx = -INFINITY;
    for (int j = 0; j < V; j++)
        if (x[j] > mx) mx = x[j];
    double sum = 0.0;
    for (int j = 0; j < V; j++) sum += (double)expf(x[j] - mx);
    const double u = t5p__gen_uniform(g, b, t) * sum;
    double c = 0.0;
    int last = 0;
    for (int j = 0; j < V; j++) {
        const double e = (double)expf(x[j] - mx);
        if (e > 0.0) last = j;
        c += e;
        if (u < c) return j;
    }
    return last;  // rounding at the very end of the distribution
}

// beam_hf: transformers' BeamHypotheses.add.
static void t5p__gen_hyp_add(t5p__gen *g, int b, const int *ids, int nids, int ended, double sum, int len) {
    const int K = g->gc.beam;
    t5p__hyp *hs = g->hyps + (size_t)b * (K + 1);
    const double score = sum / pow((double)len, (double)g->gc.length_penalty);
    int *nh = &g->nhyp[b];
    if (!(*nh < K || score > g->worst[b])) return;
    t5p__hyp *hy = &hs[*nh];
    hy->score = score, hy->sum = sum, hy->len = len, hy->ended = ended;
    memcpy(hy->toks, ids, (size_t)nids * sizeof(int));
    ++*nh;
    if (*nh > K) {  // drop the worst: sorted([(score, index)])[0]; worst = the next one's score
        int lo = 0;
        for (int i = 1; i < *nh; i++)
            if (hs[i].score < hs[lo].score) lo = i;
        int *keep = hs[lo].toks;  // keep the arena slots: rotate the dropped one's buffer to the end
        for (int i = lo; i + 1 < *nh; i++) hs[i] = hs[i + 1];
        hs[*nh - 1].toks = keep;
        --*nh;
        double w2 = INFINITY;
        for (int i = 0; i < *nh; i++) w2 = hs[i].score < w2 ? hs[i].score : w2;
        g->worst[b] = w2;
    } else {
        g->worst[b] = score < g->worst[b] ? score : g->worst[b];
    }
}

// beam_hf: the best hypothesis (sorted by score, last of the equal best: Python's sorted + pop).
static void t5p__gen_hyp_emit(t5p__gen *g, int b) {
    const t5p__hyp *hs = g->hyps + (size_t)b * (g->gc.beam + 1);
    int best = 0;
    for (int i = 1; i < g->nhyp[b]; i++)
        if (hs[i].score >= hs[best].score) best = i;
    const t5p__hyp *hy = &hs[best];
    t5p__gen_emit(g, b, hy->toks, hy->len - 1, hy->ended ? g->gc.end_id : -1, hy->score);
}

typedef struct {
    int b, parent, token;
    double score;
} t5p__gen_next;

// Chooses the next rows of every source after the logits of step t; finished sources are emitted.
// next (Rmax) scratch. Returns the number of next rows.
static int t5p__gen_select(t5p__gen *g, int t, t5p__gen_next *next, int *ord, float *xs) {
    const t5p_gen_config *gc = &g->gc;
    const int L = g->L, V = g->V, last = t == L - 1;
    int nn = 0;
    t5p__gen_row_stats(g);
    for (int r0 = 0, r1; r0 < g->R; r0 = r1) {
        const int b = g->row_b[r0];
        for (r1 = r0; r1 < g->R && g->row_b[r1] == b; r1++) {}
        const int *seq0 = g->seq + (size_t)r0 * L;
        if (gc->mode != T5P_GEN_BEAM_ORIGINAL && (gc->mode != T5P_GEN_BEAM_HF || gc->beam == 1)) {
            // one row: greedy (also beam_hf with one beam, as transformers dispatches it) or sampling
            const int tok = gc->mode == T5P_GEN_SAMPLE ? t5p__gen_sample_row(g, r0, b, t, ord, xs) : g->top[(size_t)r0 * g->K];
            const double score = g->row_score[r0] + (double)t5p__gen_logsoftmax(g, r0, tok);
            if (tok == gc->end_id || last) {
                t5p__gen_emit(g, b, seq0, t, tok, score);
            } else {
                next[nn++] = (t5p__gen_next){b, r0, tok, score};
            }
            continue;
        }
        // beam modes: the best candidates over the source's rows
        const int orig = gc->mode == T5P_GEN_BEAM_ORIGINAL;
        const int want = orig ? g->beams[b] : 2 * gc->beam;
        const int K = g->K;
        int nc = 0;
        for (int r = r0; r < r1; r++)
            for (int i = 0; i < K && i < want; i++) {
                t5p__gen_cand c;
                c.row = r, c.token = g->top[(size_t)r * K + i];
                c.logit = g->logits[(size_t)r * V + c.token];
                c.flat = (long)(r - r0) * V + c.token;
                c.score = orig ? g->row_score[r] + (double)t5p__gen_logp_original(g, r, c.token)
                               : (double)((float)g->row_score[r] + t5p__gen_logsoftmax(g, r, c.token));
                if (nc == want && !t5p__cand_before(&c, &g->cands[want - 1])) continue;  // full, not better
                int j = nc < want ? nc++ : want - 1;  // insertion, keeping the best `want` in order
                while (j > 0 && t5p__cand_before(&c, &g->cands[j - 1])) g->cands[j] = g->cands[j - 1], j--;
                g->cands[j] = c;
            }
        if (orig) {
            // bert4keras: the best (the first) ended -> it is the output; else drop the ended ones
            const t5p__gen_cand *best = &g->cands[0];
            if (best->token == gc->end_id) {
                t5p__gen_emit(g, b, g->seq + (size_t)best->row * L, t, best->token, best->score);
                continue;
            }
            if (last) {  // max_len: the best live beam, which is the best
                t5p__gen_emit(g, b, g->seq + (size_t)best->row * L, t, best->token, best->score);
                continue;
            }
            int kept = 0;
            for (int i = 0; i < want; i++) {
                const t5p__gen_cand *c = &g->cands[i];
                if (c->token == gc->end_id) continue;
                next[nn++] = (t5p__gen_next){b, c->row, c->token, c->score};
                kept++;
            }
            g->beams[b] = kept;
            continue;
        }
        // transformers' BeamSearchScorer.process
        const int KB = gc->beam;
        int added = 0, nfirst = nn;
        for (int rank = 0; rank < want && added < KB; rank++) {
            const t5p__gen_cand *c = &g->cands[rank];
            if (c->token == gc->end_id) {
                if (rank >= KB) continue;
                t5p__gen_hyp_add(g, b, g->seq + (size_t)c->row * L, t, 1, c->score, t + 1);
            } else {
                next[nn++] = (t5p__gen_next){b, c->row, c->token, c->score};
                added++;
            }
        }
        int done = 0;  // BeamHypotheses.is_done(best candidate score, cur_len = t + 2)
        if (g->nhyp[b] >= KB) {
            if (gc->early_stopping)
                done = 1;
            else
                done = g->worst[b] >= g->cands[0].score / pow((double)(t + 2), (double)gc->length_penalty);
        }
        if (!done && last) {  // finalize: the live beams join the hypotheses, in beam order
            for (int i = nfirst; i < nn; i++) {
                int *ids = g->seq2;  // scratch: the beam's ids (parent's then the new token)
                memcpy(ids, g->seq + (size_t)next[i].parent * L, (size_t)t * sizeof(int));
                ids[t] = next[i].token;
                t5p__gen_hyp_add(g, b, ids, t + 1, 0, next[i].score, t + 2);
            }
            done = 1;
        }
        if (done) {
            nn = nfirst;
            t5p__gen_hyp_emit(g, b);
        }
    }
    return nn;
}

// --- the entry points

static int t5p__gen_check(const t5p_model *m, const t5p_gen_config *gc, int n, int max_out) {
    if (!m || !gc) return t5p__err(T5P_ERR_ARG, "generate: NULL model or configuration");
    const int V = m->cfg.vocab_size;
    if (n < 0 || max_out < 0) return t5p__err(T5P_ERR_ARG, "generate: %d sources, max_out %d", n, max_out);
    if (gc->mode < 0 || gc->mode > T5P_GEN_SAMPLE) return t5p__err(T5P_ERR_ARG, "generate: unknown mode %d", gc->mode);
    if (gc->beam < 1 || gc->beam > 4096) return t5p__err(T5P_ERR_ARG, "generate: beam %d outside [1, 4096]", gc->beam);
    if (gc->max_len < 1 || gc->max_len > 1 << 20)
        return t5p__err(T5P_ERR_ARG, "generate: max_len %d outside [1, 2^20]", gc->max_len);
    if (gc->start_id < 0 || gc->start_id >= V || gc->end_id < 0 || gc->end_id >= V)
        return t5p__err(T5P_ERR_ARG, "generate: start id %d or end id %d outside the vocabulary [0, %d)",
                        gc->start_id, gc->end_id, V);
    const int K = gc->mode == T5P_GEN_BEAM_HF ? 2 * gc->beam : gc->mode == T5P_GEN_BEAM_ORIGINAL ? gc->beam : 1;
    if (K > V) return t5p__err(T5P_ERR_ARG, "generate: %d candidates per beam exceed the vocabulary (%d)", K, V);
    if (gc->mode == T5P_GEN_BEAM_HF && !isfinite(gc->length_penalty))
        return t5p__err(T5P_ERR_ARG, "generate: length_penalty must be finite");
    if (gc->mode == T5P_GEN_SAMPLE &&
        (!(gc->temperature > 0) || !isfinite(gc->temperature) || !(gc->top_p > 0 && gc->top_p <= 1) || gc->top_k < 0))
        return t5p__err(T5P_ERR_ARG, "generate: sampling needs temperature > 0, 0 < top_p <= 1, top_k >= 0");
    return 0;
}

T5PDEF int t5p_generate_batch(const t5p_model *m, const int *const *src_ids, const int *src_lens, int n,
                              const t5p_gen_config *cfg, int *out_ids, int max_out, int *out_lens,
                              double *out_scores) {
    int rc = t5p__gen_check(m, cfg, n, max_out);
    if (rc < 0) return rc;
    if (n == 0) return 0;
    if (!src_ids || !src_lens || !out_lens || (max_out > 0 && !out_ids))
        return t5p__err(T5P_ERR_ARG, "generate: NULL sources or outputs");
    const t5p_config *c = &m->cfg;
    t5p__gen g;
    memset(&g, 0, sizeof g);
    g.m = m, g.gc = *cfg, g.n = n, g.L = cfg->max_len, g.src = src_ids, g.src_len = src_lens;
    g.D = c->d_model, g.H = c->num_heads, g.Dk = c->d_kv, g.HK = g.H * g.Dk, g.F = c->d_ff, g.V = c->vocab_size;
    g.Le = c->num_layers, g.Ld = c->num_decoder_layers, g.NB = c->num_buckets, g.MD = c->max_distance;
    g.eps = c->eps, g.tanh_form = c->flavor == T5P_HF_MT5;
    g.out_scale = c->flavor == T5P_PEGASUS ? 1.0f / sqrtf((float)g.D) : 1.0f;  // as t5p_model_forward
    const int beam_mode = cfg->mode == T5P_GEN_BEAM_ORIGINAL || (cfg->mode == T5P_GEN_BEAM_HF && cfg->beam > 1);
    g.gc.beam = beam_mode ? cfg->beam : 1;
    g.K = cfg->mode == T5P_GEN_BEAM_HF ? 2 * g.gc.beam : g.gc.beam;
    g.Rmax = n * g.gc.beam;
    for (int b = 0; b < n; b++) {
        if (src_lens[b] < 1 || !src_ids[b])
            return t5p__err(T5P_ERR_ARG, "generate: source %d is empty (%d ids)", b, src_lens[b]);
        for (int i = 0; i < src_lens[b]; i++)
            if (src_ids[b][i] < 0 || src_ids[b][i] >= g.V)
                return t5p__err(T5P_ERR_ARG, "generate: source %d, position %d: id %d outside [0, %d)", b, i,
                                src_ids[b][i], g.V);
        g.Smax = src_lens[b] > g.Smax ? src_lens[b] : g.Smax;
    }
    g.out = out_ids, g.max_out = max_out, g.out_lens = out_lens, g.out_scores = out_scores;
    const size_t need = t5p__gen_layout(&g, NULL);
    const size_t extra = (size_t)g.Rmax * sizeof(t5p__gen_next) + (cfg->mode == T5P_GEN_SAMPLE ? 3 * (size_t)g.V * sizeof(int) : 0);
    char *arena = (char *)T5P_MALLOC(need + extra + 64);
    if (!arena) return t5p__err(T5P_ERR_NOMEM, "generate: out of memory (%zu MB)", (need + extra) >> 20);
    char *base = arena + ((64 - (uintptr_t)arena % 64) % 64);
    t5p__gen_layout(&g, base);
    t5p__gen_next *next = (t5p__gen_next *)(base + need);
    int *ord = (int *)(next + g.Rmax);
    float *xs = (float *)(ord + 2 * (size_t)g.V);

    size_t so = 0;
    for (int b = 0; b < n; b++) g.soff[b] = so, so += (size_t)src_lens[b];
    for (int b = 0; b < n; b++) t5p__gen_encode(&g, b);
    g.R = n;
    for (int b = 0; b < n; b++) {
        g.row_b[b] = b, g.row_score[b] = 0.0;
        g.beams[b] = g.gc.beam, g.nhyp[b] = 0, g.worst[b] = 1e9;
    }
    for (int t = 0; t < g.L && g.R > 0; t++) {
        if (g.gc.use_cache)
            t5p__gen_step_cached(&g, t);
        else
            t5p__gen_step_full(&g, t);
        const int nn = t5p__gen_select(&g, t, next, ord, xs);
        for (int i = 0; i < nn; i++) {  // the next rows: their beams' slot table and ids, by parent
            const int p = next[i].parent;
            g.row_b2[i] = next[i].b, g.row_score2[i] = next[i].score;
            memcpy(g.hist2 + (size_t)i * g.L, g.hist + (size_t)p * g.L, (size_t)(t + 1) * sizeof(int));
            memcpy(g.seq2 + (size_t)i * g.L, g.seq + (size_t)p * g.L, (size_t)t * sizeof(int));
            g.seq2[(size_t)i * g.L + t] = next[i].token;
        }
#define T5P__SWAP(type, a, b) do { type *s_ = a; a = b; b = s_; } while (0)
        T5P__SWAP(int, g.row_b, g.row_b2);
        T5P__SWAP(double, g.row_score, g.row_score2);
        T5P__SWAP(int, g.hist, g.hist2);
        T5P__SWAP(int, g.seq, g.seq2);
#undef T5P__SWAP
        g.R = nn;
    }
    T5P_FREE(arena);
    return 0;
}

T5PDEF int t5p_generate(const t5p_model *m, const int *src_ids, int src_len, const t5p_gen_config *cfg, int *out_ids,
                        int max_out) {
    int len = 0;
    int rc = t5p_generate_batch(m, &src_ids, &src_len, 1, cfg, out_ids, max_out, &len, NULL);
    return rc < 0 ? rc : len;
}

#undef T5P__CTX_BLOCKS
#undef T5P__LANES

// ----------------------------------------------------------------------------
// 10. metrics
//
// Exactness notes. Every float operation is the one Python performs, in the same order: counts
// are exact integers, a ratio of two counts is one correctly rounded division (Python's int / int
// is correctly rounded and so is a double division of integers below 2^53), log and exp are the C
// library's (CPython's math.log and math.exp call them), and math.fsum is CPython's msum with its
// half-even fix. No product meets an addition that FP contraction could fuse into a different
// result (the only products are 0.25 * log p, exact, and ones whose results are divided or
// returned), so -ffp-contract makes no difference; -ffast-math would break fsum.

// Word interner: code point spans to dense ids, shared by the two texts of one pair.
typedef struct {
    const int32_t **s;  // slot -> span start, NULL when empty
    int *len, *id;
    size_t cap;
    int count;
} t5p__words;

static int t5p__words_init(t5p__words *w, size_t nitems) {
    size_t cap = 16;
    while (cap < 2 * nitems + 2) cap *= 2;
    w->s = (const int32_t **)T5P_MALLOC(cap * sizeof *w->s);
    w->len = (int *)T5P_MALLOC(cap * sizeof(int));
    w->id = (int *)T5P_MALLOC(cap * sizeof(int));
    w->cap = cap;
    w->count = 0;
    if (!w->s || !w->len || !w->id) return T5P_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) w->s[i] = NULL;
    return 0;
}

static void t5p__words_free(t5p__words *w) {
    T5P_FREE((void *)w->s);
    T5P_FREE(w->len);
    T5P_FREE(w->id);
}

// Id of the word s[0..n); the empty word has an id too. The table never fills (cap > 2 * words).
static int t5p__words_id(t5p__words *w, const int32_t *s, int n) {
    static const int32_t empty = 0;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)s[i]) * 0x100000001b3ull;
    size_t k = (size_t)(h ^ (h >> 29)) & (w->cap - 1);
    while (w->s[k]) {
        if (w->len[k] == n && memcmp(w->s[k], s, (size_t)n * sizeof(int32_t)) == 0) return w->id[k];
        k = (k + 1) & (w->cap - 1);
    }
    w->s[k] = n ? s : &empty;
    w->len[k] = n;
    return w->id[k] = w->count++;
}

// One text as the rouge package sees it: text.split('.'), pieces of length > 0 kept, each made
// " ".join(piece.split()) and split on " " again, so a whitespace-only piece is one empty word.
// words[] holds the word ids of all sentences in a row, sentence k is words[sent[k] .. sent[k+1]).
typedef struct {
    int *words, *sent;
    int nwords, nsent;
} t5p__rtext;

static int t5p__rtext_init(t5p__rtext *t, const int32_t *cp, long n, t5p__words *w) {
    t->words = (int *)T5P_MALLOC((size_t)(n + 1) * sizeof(int));
    t->sent = (int *)T5P_MALLOC((size_t)(n + 2) * sizeof(int));
    t->nwords = t->nsent = 0;
    if (!t->words || !t->sent) return T5P_ERR_NOMEM;
    for (long a = 0; a <= n;) {
        long b = a;
        while (b < n && cp[b] != '.') b++;
        if (b > a) {  // a sentence
            t->sent[t->nsent++] = t->nwords;
            int any = 0;
            for (long i = a; i < b;) {
                while (i < b && t5p_is_space(cp[i])) i++;
                if (i == b) break;
                long j = i;
                while (j < b && !t5p_is_space(cp[j])) j++;
                t->words[t->nwords++] = t5p__words_id(w, cp + i, (int)(j - i));
                any = 1;
                i = j;
            }
            if (!any) t->words[t->nwords++] = t5p__words_id(w, cp + a, 0);
        }
        a = b + 1;
    }
    t->sent[t->nsent] = t->nwords;
    return 0;
}

static void t5p__rtext_free(t5p__rtext *t) {
    T5P_FREE(t->words);
    T5P_FREE(t->sent);
}

// text.split(' '): tokens between ASCII spaces, empty ones included.
static int t5p__bleu_tokens(const int32_t *cp, long n, t5p__words *w, int **out) {
    int *tok = (int *)T5P_MALLOC((size_t)(n + 1) * sizeof(int));
    if (!tok) return T5P_ERR_NOMEM;
    int k = 0;
    for (long a = 0;; ) {
        long b = a;
        while (b < n && cp[b] != ' ') b++;
        tok[k++] = t5p__words_id(w, cp + a, (int)(b - a));
        if (b >= n) break;
        a = b + 1;
    }
    *out = tok;
    return k;
}

// n-gram ids: g[i] (id of the (n-1)-gram at i, in [0, d)) becomes the id of the n-gram at i, for
// both texts at once so equal n-grams get equal ids. Returns the new id count or T5P_ERR_NOMEM.
static int t5p__ngram_next(int *gh, long nh, const int *th, int *gr, long nr, const int *tr, int n, int nwords) {
    size_t cap = 16;
    long total = (nh > 0 ? nh : 0) + (nr > 0 ? nr : 0);
    while (cap < 2 * (size_t)total + 2) cap *= 2;
    uint64_t *key = (uint64_t *)T5P_MALLOC(cap * sizeof(uint64_t));
    int *val = (int *)T5P_MALLOC(cap * sizeof(int));
    if (!key || !val) { T5P_FREE(key); T5P_FREE(val); return T5P_ERR_NOMEM; }
    memset(key, 0xff, cap * sizeof(uint64_t));
    int count = 0;
    for (int side = 0; side < 2; side++) {
        int *g = side ? gr : gh;
        const int *t = side ? tr : th;
        long m = side ? nr : nh;
        for (long i = 0; i < m - n + 1; i++) {  // n-grams that fit
            uint64_t kk = (uint64_t)g[i] * (uint64_t)nwords + (uint64_t)t[i + n - 1];
            uint64_t h = kk * 0x9e3779b97f4a7c15ull;
            size_t s = (size_t)(h >> 20) & (cap - 1);
            while (key[s] != UINT64_MAX && key[s] != kk) s = (s + 1) & (cap - 1);
            if (key[s] == UINT64_MAX) { key[s] = kk; val[s] = count++; }
            g[i] = val[s];
        }
    }
    T5P_FREE(key);
    T5P_FREE(val);
    return count;
}

// Overlap of two id sequences over [0, d): multiset (sum of min counts) or set (common distinct
// ids). *ch and *cr get the sizes (length, or number of distinct ids). Returns the overlap.
static long t5p__overlap(const int *gh, long nh, const int *gr, long nr, int d, int set, long *ch, long *cr,
                         int *scratch) {
    long ov = 0;
    memset(scratch, 0, (size_t)d * sizeof(int));
    if (!set) {
        for (long i = 0; i < nr; i++) scratch[gr[i]]++;
        for (long i = 0; i < nh; i++)
            if (scratch[gh[i]] > 0) { scratch[gh[i]]--; ov++; }
        *ch = nh > 0 ? nh : 0;
        *cr = nr > 0 ? nr : 0;
        return ov;
    }
    long a = 0, b = 0;
    for (long i = 0; i < nh; i++)
        if (!(scratch[gh[i]] & 1)) { scratch[gh[i]] |= 1; a++; }
    for (long i = 0; i < nr; i++)
        if (!(scratch[gr[i]] & 2)) {
            scratch[gr[i]] |= 2;
            b++;
            if (scratch[gr[i]] & 1) ov++;
        }
    *ch = a;
    *cr = b;
    return ov;
}

// rouge_score.f_r_p_rouge_n and the ROUGE-L formula: 2 * ((p * r) / (p + r + 1e-8)).
static double t5p__rouge_f(long overlap, long nhyp, long nref) {
    double p = nhyp == 0 ? 0.0 : (double)overlap / (double)nhyp;
    double r = nref == 0 ? 0.0 : (double)overlap / (double)nref;
    return 2.0 * ((p * r) / (p + r + 1e-8));
}

// Union LCS words over all (reference sentence, hypothesis sentence) pairs, each LCS rebuilt by
// rouge's traceback (diagonal on a match, else up when T[i-1][j] > T[i][j-1], else left): the set of
// words matters, so ties must go the same way. Marks the words in mark[] (bit 4) and returns how
// many distinct words were marked.
static long t5p__union_lcs(const t5p__rtext *hyp, const t5p__rtext *ref, int *mark, int **table, size_t *tcap) {
    long marked = 0;
    for (int a = 0; a < ref->nsent; a++) {
        const int *x = ref->words + ref->sent[a];
        int lx = ref->sent[a + 1] - ref->sent[a];
        for (int b = 0; b < hyp->nsent; b++) {
            const int *y = hyp->words + hyp->sent[b];
            int ly = hyp->sent[b + 1] - hyp->sent[b];
            size_t w = (size_t)ly + 1, need = ((size_t)lx + 1) * w;  // T[i][j] = T[i * w + j]
            if (need > *tcap) {
                int *t = (int *)T5P_REALLOC(*table, need * sizeof(int));
                if (!t) return T5P_ERR_NOMEM;
                *table = t;
                *tcap = need;
            }
            int *T = *table;
            for (size_t j = 0; j < w; j++) T[j] = 0;
            for (int i = 1; i <= lx; i++) {
                int *row = T + (size_t)i * w, *up = row - w;
                row[0] = 0;
                for (int j = 1; j <= ly; j++)
                    row[j] = x[i - 1] == y[j - 1] ? up[j - 1] + 1 : (up[j] > row[j - 1] ? up[j] : row[j - 1]);
            }
            for (int i = lx, j = ly; i > 0 && j > 0;) {
                if (x[i - 1] == y[j - 1]) {
                    if (!(mark[x[i - 1]] & 4)) { mark[x[i - 1]] |= 4; marked++; }
                    i--, j--;
                } else if (T[(size_t)(i - 1) * w + j] > T[(size_t)i * w + j - 1]) {
                    i--;
                } else {
                    j--;
                }
            }
        }
    }
    return marked;
}

// ROUGE-1, ROUGE-2 and ROUGE-L F of two texts already split by the rouge package's rules.
// gh, gr, scratch: room for the words of both texts. Returns 0 or T5P_ERR_NOMEM.
static int t5p__rouge_scores(const t5p__rtext *h, const t5p__rtext *r, int nwords, int version, int *gh, int *gr,
                             int *scratch, double f[3]) {
    // ROUGE-1 and ROUGE-2 over the words of all sentences in a row (n-grams cross the '.'s);
    // 1.0.0 counts repeated n-grams (exclusive=False), 1.0.1 unique ones.
    int set = version == T5P_ROUGE_1_0_1;
    memcpy(gh, h->words, (size_t)h->nwords * sizeof(int));
    memcpy(gr, r->words, (size_t)r->nwords * sizeof(int));
    long ch, cr, ov = t5p__overlap(gh, h->nwords, gr, r->nwords, nwords, set, &ch, &cr, scratch);
    f[0] = t5p__rouge_f(ov, ch, cr);
    int d = t5p__ngram_next(gh, h->nwords, h->words, gr, r->nwords, r->words, 2, nwords);
    if (d < 0) return T5P_ERR_NOMEM;
    ov = t5p__overlap(gh, h->nwords - 1, gr, r->nwords - 1, d, set, &ch, &cr, scratch);
    f[1] = t5p__rouge_f(ov, ch, cr);
    // ROUGE-L (summary level) uses unique words in both versions (1.0.0 forces exclusive=True):
    // m, n = distinct words of the reference and the hypothesis.
    memset(scratch, 0, (size_t)nwords * sizeof(int));
    long m = 0, n = 0;
    for (int i = 0; i < r->nwords; i++)
        if (!(scratch[r->words[i]] & 1)) scratch[r->words[i]] |= 1, m++;
    for (int i = 0; i < h->nwords; i++)
        if (!(scratch[h->words[i]] & 2)) scratch[h->words[i]] |= 2, n++;
    int *table = NULL;
    size_t tcap = 0;
    long llcs = t5p__union_lcs(h, r, scratch, &table, &tcap);
    T5P_FREE(table);
    if (llcs < 0) return T5P_ERR_NOMEM;
    double r_lcs = (double)llcs / (double)m, p_lcs = (double)llcs / (double)n;
    f[2] = 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
    return 0;
}

static int t5p__rouge_cp(const int32_t *hc, long nh, const int32_t *rc, long nr, int version, double f[3]) {
    t5p__words w = {0};
    t5p__rtext h = {0}, r = {0};
    int *gh = NULL, *gr = NULL, *scratch = NULL;
    int ret = t5p__words_init(&w, (size_t)(nh + nr + 2));
    if (ret == 0) ret = t5p__rtext_init(&h, hc, nh, &w);
    if (ret == 0) ret = t5p__rtext_init(&r, rc, nr, &w);
    if (ret == 0 && h.nsent == 0) ret = t5p__err(T5P_ERR_ARG, "rouge: ValueError('Hypothesis is empty.')");
    if (ret == 0 && r.nsent == 0) ret = t5p__err(T5P_ERR_ARG, "rouge: ValueError('Reference is empty.')");
    if (ret == 0) {
        gh = (int *)T5P_MALLOC((size_t)(h.nwords + 1) * sizeof(int));
        gr = (int *)T5P_MALLOC((size_t)(r.nwords + 1) * sizeof(int));
        scratch = (int *)T5P_MALLOC((size_t)(h.nwords + r.nwords + 1) * sizeof(int));
        ret = gh && gr && scratch ? t5p__rouge_scores(&h, &r, w.count, version, gh, gr, scratch, f) : T5P_ERR_NOMEM;
    }
    if (ret == T5P_ERR_NOMEM) t5p__err(T5P_ERR_NOMEM, "rouge: out of memory");
    T5P_FREE(gh);
    T5P_FREE(gr);
    T5P_FREE(scratch);
    t5p__rtext_free(&h);
    t5p__rtext_free(&r);
    t5p__words_free(&w);
    return ret;
}

// CPython's math.fsum: Shewchuk's exact partials, then the sum rounded once (half-even across
// partials). Inputs here are finite.
static double t5p__fsum(const double *v, int nv) {
    double p[64], x, y, t, hi, yr, lo = 0.0;
    int n = 0;
    for (int k = 0; k < nv; k++) {
        x = v[k];
        int i = 0;
        for (int j = 0; j < n; j++) {
            y = p[j];
            if (fabs(x) < fabs(y)) { t = x; x = y; y = t; }
            hi = x + y;
            yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) p[i++] = lo;
            x = hi;
        }
        n = i;
        if (x != 0.0) p[n++] = x;
    }
    hi = 0.0;
    if (n > 0) {
        hi = p[--n];
        while (n > 0) {
            x = hi;
            y = p[--n];
            hi = x + y;
            yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
            y = lo * 2.0;
            x = hi + y;
            yr = x - hi;
            if (y == yr) hi = x;
        }
    }
    return hi;
}

// nltk sentence_bleu with one reference, weights 0.25 x 4 and smoothing method1:
// p_n = Fraction(clipped matches, max(1, hyp n-grams)); no unigram match -> 0; a zero numerator
// becomes 0.1 / denominator; BLEU = BP * exp(fsum(0.25 * log p_n)); BP = 1 if c > r else
// exp(1 - r / c) (0 if c = 0), r = the reference length (nltk's closest_ref_length of one).
static double t5p__bleu_score(int *gh, int lh, const int *th, int *gr, int lr, const int *tr, int nwords,
                              int *scratch, int *nomem) {
    long num[5], den[5], ch, cr;
    int d = nwords;
    memcpy(gh, th, (size_t)lh * sizeof(int));
    memcpy(gr, tr, (size_t)lr * sizeof(int));
    for (int n = 1; n <= 4; n++) {
        if (n > 1 && (d = t5p__ngram_next(gh, lh, th, gr, lr, tr, n, nwords)) < 0) { *nomem = 1; return 0.0; }
        long kh = lh - n + 1, kr = lr - n + 1;
        num[n] = t5p__overlap(gh, kh > 0 ? kh : 0, gr, kr > 0 ? kr : 0, d, 0, &ch, &cr, scratch);
        den[n] = kh > 0 ? kh : 1;  // max(1, number of hyp n-grams)
    }
    if (num[1] == 0) return 0.0;  // no unigram match: nltk returns 0
    double terms[4];
    for (int n = 1; n <= 4; n++) {
        double p = num[n] != 0 ? (double)num[n] / (double)den[n] : 0.1 / (double)den[n];
        terms[n - 1] = 0.25 * log(p);
    }
    double s = exp(t5p__fsum(terms, 4));
    double bp = lh > lr ? 1.0 : lh == 0 ? 0.0 : exp(1.0 - (double)lr / (double)lh);
    return bp * s;
}

static int t5p__bleu_cp(const int32_t *hc, long nh, const int32_t *rc, long nr, double *out) {
    t5p__words w = {0};
    int *th = NULL, *tr = NULL, *gh = NULL, *gr = NULL, *scratch = NULL, nomem = 0;
    int ret = t5p__words_init(&w, (size_t)(nh + nr + 2));
    int lh = ret < 0 ? ret : t5p__bleu_tokens(hc, nh, &w, &th);
    int lr = lh < 0 ? lh : t5p__bleu_tokens(rc, nr, &w, &tr);
    if (lr >= 0) {
        gh = (int *)T5P_MALLOC((size_t)lh * sizeof(int));
        gr = (int *)T5P_MALLOC((size_t)lr * sizeof(int));
        scratch = (int *)T5P_MALLOC((size_t)(lh + lr + 1) * sizeof(int));
        if (gh && gr && scratch) *out = t5p__bleu_score(gh, lh, th, gr, lr, tr, w.count, scratch, &nomem);
    }
    ret = lr < 0 || !gh || !gr || !scratch || nomem ? t5p__err(T5P_ERR_NOMEM, "bleu: out of memory") : 0;
    T5P_FREE(th);
    T5P_FREE(tr);
    T5P_FREE(gh);
    T5P_FREE(gr);
    T5P_FREE(scratch);
    t5p__words_free(&w);
    return ret;
}

static long t5p__decode_arg(const char *s, long n, int32_t **cp) {
    return t5p_utf8_decode(s, n < 0 ? strlen(s) : (size_t)n, cp, NULL);
}

T5PDEF int t5p_rouge(const char *hyp, long nhyp, const char *ref, long nref, int version, double f[3]) {
    if (version != T5P_ROUGE_1_0_0 && version != T5P_ROUGE_1_0_1)
        return t5p__err(T5P_ERR_ARG, "rouge: unknown version %d", version);
    int32_t *hc = NULL, *rc = NULL;
    long nh = t5p__decode_arg(hyp, nhyp, &hc), nr = nh < 0 ? nh : t5p__decode_arg(ref, nref, &rc);
    int ret = nr < 0 ? (int)nr : t5p__rouge_cp(hc, nh, rc, nr, version, f);
    T5P_FREE(hc);
    T5P_FREE(rc);
    return ret;
}

T5PDEF int t5p_bleu(const char *hyp, long nhyp, const char *ref, long nref, double *bleu) {
    int32_t *hc = NULL, *rc = NULL;
    long nh = t5p__decode_arg(hyp, nhyp, &hc), nr = nh < 0 ? nh : t5p__decode_arg(ref, nref, &rc);
    int ret = nr < 0 ? (int)nr : t5p__bleu_cp(hc, nh, rc, nr, bleu);
    T5P_FREE(hc);
    T5P_FREE(rc);
    return ret;
}

// ' '.join(text).lower(): code points with spaces between them, each lowercased the way Python's
// str.lower() does it: the simple mapping except U+0130 'İ' -> "i̇" (its one unconditional
// multi-character lowercase; utf8proc 2.8 agrees with Python 3.11 on every other code point).
// Capital sigma always becomes 'σ' here: its neighbours are spaces, never Final_Sigma context.
static long t5p__join_lower(const char *s, long n, int32_t **out) {
    int32_t *cp = NULL;
    long m = t5p__decode_arg(s, n, &cp);
    if (m < 0) return m;
    int32_t *o = (int32_t *)T5P_MALLOC((size_t)(3 * m + 1) * sizeof(int32_t));
    if (!o) { T5P_FREE(cp); return t5p__err(T5P_ERR_NOMEM, "out of memory"); }
    long k = 0;
    for (long i = 0; i < m; i++) {
        if (i) o[k++] = ' ';
        if (cp[i] == 0x130) { o[k++] = 'i'; o[k++] = 0x307; }
        else o[k++] = utf8proc_tolower(cp[i]);
    }
    T5P_FREE(cp);
    *out = o;
    return k;
}

T5PDEF int t5p_metrics_score(const char *pred, long npred, const char *title, long ntitle, int version,
                             t5p_scores *out) {
    if (version != T5P_ROUGE_1_0_0 && version != T5P_ROUGE_1_0_1)
        return t5p__err(T5P_ERR_ARG, "rouge: unknown version %d", version);
    memset(out, 0, sizeof *out);
    int32_t *hc = NULL, *rc = NULL;
    long nh = t5p__join_lower(pred, npred, &hc), nr = nh < 0 ? nh : t5p__join_lower(title, ntitle, &rc);
    int ret = nr < 0 ? (int)nr : 1;
    for (long i = 0; ret == 1 && i < nh; i++)  // if pred_title.strip(): ...
        if (!t5p_is_space(hc[i])) ret = 0;
    if (ret == 0) {
        double f[3];
        ret = t5p__rouge_cp(hc, nh, rc, nr, version, f);
        if (ret == 0) ret = t5p__bleu_cp(hc, nh, rc, nr, &out->bleu);
        if (ret == 0) out->rouge1 = f[0], out->rouge2 = f[1], out->rougel = f[2];
        else out->bleu = 0.0;
    }
    T5P_FREE(hc);
    T5P_FREE(rc);
    return ret;
}

T5PDEF void t5p_metrics_init(t5p_metrics *m, int version) {
    memset(m, 0, sizeof *m);
    m->version = version;
}

T5PDEF int t5p_metrics_add(t5p_metrics *m, const char *pred, long npred, const char *title, long ntitle,
                           t5p_scores *line) {
    t5p_scores s;
    if (m->version != T5P_ROUGE_1_0_0 && m->version != T5P_ROUGE_1_0_1)
        return t5p__err(T5P_ERR_ARG, "rouge: unknown version %d", m->version);
    int ret = t5p_metrics_score(pred, npred, title, ntitle, m->version, &s);
    if (line) *line = s;
    if (ret == T5P_ERR_ARG && m->zero_on_raise) {
        m->count++;
        m->raised++;
        return ret;
    }
    if (ret < 0) return ret;
    m->count++;
    if (ret == 1) { m->empty++; return ret; }
    m->sum.rouge1 += s.rouge1;  // rouge_1 += scores[0]['rouge-1']['f'], in input order
    m->sum.rouge2 += s.rouge2;
    m->sum.rougel += s.rougel;
    m->sum.bleu += s.bleu;
    return ret;
}

T5PDEF t5p_scores t5p_metrics_mean(const t5p_metrics *m) {
    t5p_scores r = {0, 0, 0, 0};
    if (m->count == 0) return r;
    double c = (double)m->count;
    r.rouge1 = m->sum.rouge1 / c;
    r.rouge2 = m->sum.rouge2 / c;
    r.rougel = m->sum.rougel / c;
    r.bleu = m->sum.bleu / c;
    return r;
}


// ----------------------------------------------------------------------------
// 11. train

struct t5p_trainer {
    t5p_model *m;             // borrowed
    const t5p_pairs *data;    // borrowed
    t5p_train_config cfg;
    t5p_optim *opt;
    t5p_param_tensor *tab;    // parameter names and shapes (the optimizer's list points into it)
    int ntab;
    int64_t step, epoch, pos;
    int64_t *order, order_epoch;  // the data order of epoch order_epoch (-1: not computed)
    t5p_batch batch;
    double *part;             // gradient-norm partial sums
    int64_t nblocks;
};

#define T5P__NORM_BLOCK 65536

T5PDEF t5p_train_config t5p_train_config_default(void) {
    t5p_train_config c = {32, 384, 128, 1, 1};
    return c;
}

T5PDEF void t5p_trainer_free(t5p_trainer *t) {
    if (!t) return;
    t5p_optim_free(t->opt);
    t5p_batch_free(&t->batch);
    T5P_FREE(t->tab);
    T5P_FREE(t->order);
    T5P_FREE(t->part);
    T5P_FREE(t);
}

T5PDEF t5p_trainer *t5p_trainer_new(t5p_model *m, const t5p_optim_config *ocfg, const t5p_pairs *data,
                                    const t5p_train_config *cfg) {
    if (cfg->batch <= 0 || cfg->max_src < 0 || cfg->max_tgt < 0 || cfg->max_tgt == 1) {
        t5p__err(T5P_ERR_ARG, "trainer: batch %d, max_src %d, max_tgt %d (batch > 0, max_tgt 0 or >= 2)", cfg->batch,
                 cfg->max_src, cfg->max_tgt);
        return NULL;
    }
    if (t5p_pairs_count(data) <= 0) { t5p__err(T5P_ERR_ARG, "trainer: no training pairs"); return NULL; }
    if (t5p_model_zero_grad(m) < 0) return NULL;
    t5p_trainer *t = (t5p_trainer *)T5P_MALLOC(sizeof *t);
    if (!t) { t5p__err(T5P_ERR_NOMEM, "trainer: out of memory"); return NULL; }
    memset(t, 0, sizeof *t);
    t->m = m, t->data = data, t->cfg = *cfg, t->order_epoch = -1;
    t->ntab = t5p_param_tensors(&m->cfg, NULL, NULL);
    t->tab = (t5p_param_tensor *)T5P_MALLOC(sizeof *t->tab * (size_t)t->ntab);
    t5p_param *ps = (t5p_param *)T5P_MALLOC(sizeof *ps * (size_t)t->ntab);
    t->order = (int64_t *)T5P_MALLOC(sizeof(int64_t) * (size_t)t5p_pairs_count(data));
    t->nblocks = (int64_t)((m->num_params + T5P__NORM_BLOCK - 1) / T5P__NORM_BLOCK);
    t->part = (double *)T5P_MALLOC(sizeof(double) * (size_t)(t->nblocks ? t->nblocks : 1));
    if (!t->tab || !ps || !t->order || !t->part) {
        T5P_FREE(ps);
        t5p_trainer_free(t);
        t5p__err(T5P_ERR_NOMEM, "trainer: out of memory");
        return NULL;
    }
    t5p_param_tensors(&m->cfg, m->params, t->tab);
    for (int k = 0; k < t->ntab; k++) {
        const t5p_param_tensor *e = &t->tab[k];
        memset(&ps[k], 0, sizeof ps[k]);
        ps[k].name = e->name;
        ps[k].w = e->data;
        ps[k].g = m->grads + e->offset;
        ps[k].ndim = e->ndim;
        ps[k].shape[0] = e->shape[0];
        ps[k].shape[1] = e->shape[1];
        ps[k].is_norm = e->is_norm;
    }
    t->opt = t5p_optim_new(ocfg, ps, t->ntab);
    T5P_FREE(ps);
    if (!t->opt) { t5p_trainer_free(t); return NULL; }
    m->seed = cfg->seed;
    m->step = 0;
    return t;
}

T5PDEF int64_t t5p_trainer_steps_per_epoch(const t5p_trainer *t) {
    int64_t n = t5p_pairs_count(t->data);
    return (n + t->cfg.batch - 1) / t->cfg.batch;
}

T5PDEF const t5p_optim *t5p_trainer_optim(const t5p_trainer *t) { return t->opt; }

// L2 norm of the gradient, summed in fixed blocks (the same for any thread count).
static double t5p__grad_norm(t5p_trainer *t) {
    const float *g = t->m->grads;
    const int64_t n = (int64_t)t->m->num_params, nb = t->nblocks;
    double *part = t->part;
    T5P__OMP(parallel for schedule(static) if(n >= T5P_PAR_MIN))
    for (int64_t b = 0; b < nb; b++) {
        int64_t e = (b + 1) * T5P__NORM_BLOCK < n ? (b + 1) * T5P__NORM_BLOCK : n;
        double s = 0;
        for (int64_t i = b * T5P__NORM_BLOCK; i < e; i++) s += (double)g[i] * g[i];
        part[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    return sqrt(s);
}

T5PDEF int t5p_trainer_step(t5p_trainer *t, t5p_train_step *out) {
    t5p_model *m = t->m;
    const int64_t n = t5p_pairs_count(t->data);
    if (t->pos >= n) t->epoch++, t->pos = 0;  // a position past the end (data shrank): next epoch
    if (t->order_epoch != t->epoch) {
        t5p_pairs_order(t->order, n, t->cfg.seed, t->epoch, t->cfg.shuffle);
        t->order_epoch = t->epoch;
    }
    int cnt = (int)(n - t->pos < t->cfg.batch ? n - t->pos : t->cfg.batch);
    int rc = t5p_batch_make(&t->batch, t->data, t->order + t->pos, cnt, t->cfg.max_src, t->cfg.max_tgt, m->cfg.pad_id);
    if (rc < 0) return rc;
    const t5p_batch *b = &t->batch;
    if ((rc = t5p_model_zero_grad(m)) < 0) return rc;
    if ((rc = t5p_model_forward(m, b->src, b->tgt, b->B, b->S, b->T, 1)) < 0) return rc;
    if (!isfinite(m->loss)) {
        m->step--;  // this step did not happen
        return t5p__err(T5P_ERR_NONFINITE, "step %lld: the loss is %s (epoch %lld, batch of %d pairs at position %lld)",
                        (long long)t->step + 1, isnan(m->loss) ? "NaN" : "infinite", (long long)t->epoch, cnt,
                        (long long)t->pos);
    }
    if ((rc = t5p_model_backward(m)) < 0) { m->step--; return rc; }
    double gn = t5p__grad_norm(t);
    if (!isfinite(gn)) {
        m->step--;
        return t5p__err(T5P_ERR_NONFINITE, "step %lld: the gradient is %s (loss %g)", (long long)t->step + 1,
                        isnan(gn) ? "NaN" : "infinite", (double)m->loss);
    }
    double lr = t5p_optim_lr(t->opt);
    if ((rc = t5p_optim_step(t->opt)) < 0) { m->step--; return rc; }
    t->step++;
    t->pos += cnt;
    int done = t->pos >= n;
    if (done) t->epoch++, t->pos = 0;
    if (out) {
        out->step = t->step, out->epoch = t->epoch, out->pos = t->pos, out->epoch_done = done;
        out->loss = m->loss, out->acc = m->acc, out->ntokens = m->ntokens;
        out->B = b->B, out->S = b->S, out->T = b->T;
        out->src_tokens = b->src_tokens, out->tgt_tokens = b->tgt_tokens;
        out->grad_norm = gn, out->lr = lr;
    }
    return 0;
}

static const char *const t5p__ckpt_files[] = {"model.safetensors", "vocab.txt",        "config.json",
                                              "optimizer.safetensors", "train_state.json", NULL};

T5PDEF int t5p_trainer_save(const t5p_trainer *t, const char *dir) {
    int kind = t5p__exists(dir);
    if (kind == 1) return t5p__err(T5P_ERR_IO, "%s: exists and is not a directory", dir);
    char *tmp = t5p__dir_tmp(dir, t5p__ckpt_files);
    if (!tmp) return T5P_ERR_IO;
    char *op = t5p__path_join(tmp, "optimizer.safetensors"), *sp = t5p__path_join(tmp, "train_state.json");
    int rc = op && sp ? 0 : t5p__err(T5P_ERR_NOMEM, "out of memory");
    if (rc == 0) rc = t5p__model_write_files(t->m, tmp);
    if (rc == 0) rc = t5p_optim_save(t->opt, op);
    if (rc == 0) {
        t5p_train_state s;
        memset(&s, 0, sizeof s);
        s.step = t->step;
        s.seed = t->cfg.seed;
        s.rng[0] = t->m->step;  // the dropout counter
        s.epoch = t->epoch;
        s.data_pos = t->pos;
        snprintf(s.optim, sizeof s.optim, "%s", t5p_optim_name(t->opt->cfg.kind));
        s.loss = t->m->loss;
        rc = t5p_train_state_save(sp, &s);
    }
    T5P_FREE(op);
    T5P_FREE(sp);
    char *old = NULL;
    if (rc == 0 && kind == 2) {  // replace: move the old checkpoint aside first
        size_t n = strlen(dir) + 32;
        old = (char *)T5P_MALLOC(n);
        if (!old) rc = t5p__err(T5P_ERR_NOMEM, "out of memory");
        else {
            snprintf(old, n, "%s.old.%ld", dir, (long)getpid());
            if (rename(dir, old) != 0) rc = t5p__err(T5P_ERR_IO, "%s: cannot move it aside to %s: %s", dir, old, strerror(errno));
        }
    }
    if (rc == 0) rc = t5p__dir_commit(tmp, dir, t5p__ckpt_files);
    else {
        t5p__remove_files(tmp, t5p__ckpt_files);
        rmdir(tmp);
    }
    if (old) {
        if (rc == 0) {
            t5p__remove_files(old, t5p__ckpt_files);
            rmdir(old);
        } else rename(old, dir);  // put the old one back
        T5P_FREE(old);
    }
    T5P_FREE(tmp);
    return rc;
}

T5PDEF int t5p_trainer_load(t5p_trainer *t, const char *dir) {
    char *cp = t5p__path_join(dir, "config.json"), *wp = t5p__path_join(dir, "model.safetensors");
    char *op = t5p__path_join(dir, "optimizer.safetensors"), *sp = t5p__path_join(dir, "train_state.json");
    int rc = cp && wp && op && sp ? 0 : t5p__err(T5P_ERR_NOMEM, "out of memory");
    t5p_config c;
    t5p_train_state s;
    const t5p_config *mc = &t->m->cfg;
    if (rc == 0) rc = t5p_config_load(&c, cp);
    if (rc == 0 && (c.vocab_size != mc->vocab_size || c.d_model != mc->d_model || c.d_ff != mc->d_ff ||
                    c.num_heads != mc->num_heads || c.d_kv != mc->d_kv || c.num_layers != mc->num_layers ||
                    c.num_decoder_layers != mc->num_decoder_layers || c.num_buckets != mc->num_buckets ||
                    c.max_distance != mc->max_distance))
        rc = t5p__err(T5P_ERR_FORMAT, "%s: the checkpoint's model (d_model %d, %d+%d layers, vocab %d) is not this "
                      "model (d_model %d, %d+%d layers, vocab %d)", dir, c.d_model, c.num_layers, c.num_decoder_layers,
                      c.vocab_size, mc->d_model, mc->num_layers, mc->num_decoder_layers, mc->vocab_size);
    if (rc == 0) rc = t5p_train_state_load(sp, &s);
    if (rc == 0 && s.seed != t->cfg.seed)
        rc = t5p__err(T5P_ERR_ARG, "%s: the checkpoint was trained with seed %llu, not %llu", dir,
                      (unsigned long long)s.seed, (unsigned long long)t->cfg.seed);
    if (rc == 0 && strcmp(s.optim, t5p_optim_name(t->opt->cfg.kind)) != 0)
        rc = t5p__err(T5P_ERR_ARG, "%s: the checkpoint's optimizer is '%s', not '%s'", dir, s.optim,
                      t5p_optim_name(t->opt->cfg.kind));
    if (rc == 0 && s.data_pos > t5p_pairs_count(t->data))
        rc = t5p__err(T5P_ERR_ARG, "%s: the checkpoint stopped at pair %lld of an epoch, but the data has %lld pairs", dir,
                      (long long)s.data_pos, (long long)t5p_pairs_count(t->data));
    if (rc == 0) rc = t5p_model_load_weights(t->m, wp);
    if (rc == 0) rc = t5p_optim_load(t->opt, op);
    if (rc == 0 && t5p_optim_steps(t->opt) != s.step)
        rc = t5p__err(T5P_ERR_FORMAT, "%s: optimizer state at step %ld but training state at step %lld", dir,
                      t5p_optim_steps(t->opt), (long long)s.step);
    if (rc == 0) {
        t->step = s.step, t->epoch = s.epoch, t->pos = s.data_pos, t->order_epoch = -1;
        t->m->seed = s.seed;
        t->m->step = s.rng[0];
    }
    T5P_FREE(cp);
    T5P_FREE(wp);
    T5P_FREE(op);
    T5P_FREE(sp);
    return rc;
}

T5PDEF int t5p_trainer_eval(t5p_trainer *t, const t5p_pairs *dev, int batch, double *loss, double *acc) {
    int64_t n = t5p_pairs_count(dev);
    if (batch <= 0) batch = t->cfg.batch;
    int64_t *idx = (int64_t *)T5P_MALLOC(sizeof(int64_t) * (size_t)batch);
    if (!idx) return t5p__err(T5P_ERR_NOMEM, "out of memory");
    t5p_batch b;
    memset(&b, 0, sizeof b);
    double sl = 0, sc = 0;
    int64_t ntok = 0;
    int rc = 0;
    for (int64_t k = 0; k < n && rc == 0; k += batch) {
        int cnt = (int)(n - k < batch ? n - k : batch);
        for (int i = 0; i < cnt; i++) idx[i] = k + i;
        rc = t5p_batch_make(&b, dev, idx, cnt, t->cfg.max_src, t->cfg.max_tgt, t->m->cfg.pad_id);
        if (rc == 0) rc = t5p_model_forward(t->m, b.src, b.tgt, b.B, b.S, b.T, 0);
        if (rc == 0) {
            sl += (double)t->m->loss * t->m->ntokens;
            sc += (double)t->m->acc * t->m->ntokens;
            ntok += t->m->ntokens;
        }
    }
    t->m->has_acts = 0;  // nothing to differentiate
    t5p_batch_free(&b);
    T5P_FREE(idx);
    if (rc == 0) {
        *loss = ntok ? sl / (double)ntok : 0;
        *acc = ntok ? sc / (double)ntok : 0;
    }
    return rc;
}

// ----------------------------------------------------------------------------
// 12. cuda (host side: error hook, names, the optimizer state exchange; stand-ins without CUDA)

T5PDEF int t5p_error_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t5p__errbuf, sizeof t5p__errbuf, fmt, ap);
    va_end(ap);
    return code;
}

T5PDEF int t5p_device_parse(const char *name) {
    if (!strcmp(name, "cpu")) return T5P_DEVICE_CPU;
    if (!strcmp(name, "cuda")) return T5P_DEVICE_CUDA;
    return t5p__err(T5P_ERR_ARG, "unknown device '%s' (cpu, cuda)", name);
}

T5PDEF const char *t5p_device_name(int device) { return device == T5P_DEVICE_CUDA ? "cuda" : "cpu"; }

T5PDEF int t5p_cuda_precision_parse(const char *name) {
    if (!strcmp(name, "fp32")) return T5P_CUDA_FP32;
    if (!strcmp(name, "tf32")) return T5P_CUDA_TF32;
    if (!strcmp(name, "bf16")) return T5P_CUDA_BF16;
    return t5p__err(T5P_ERR_ARG, "unknown precision '%s' (fp32, tf32, bf16)", name);
}

T5PDEF const char *t5p_cuda_precision_name(int precision) {
    return precision == T5P_CUDA_BF16 ? "bf16" : precision == T5P_CUDA_TF32 ? "tf32" : "fp32";
}

#ifdef T5P_CUDA
T5PDEF int t5p_cuda_optim_sync(t5p_cuda_optim *go, t5p_optim *co, int to_device) {
    if (t5p_cuda_optim_nparams(go) != co->n)
        return t5p__err(T5P_ERR_ARG, "optimizer sync: %d device parameters, %d on the host",
                        t5p_cuda_optim_nparams(go), co->n);
    for (int k = 0; k < co->n; k++) {  // check everything before copying anything
        const t5p__opt_slot *s = &co->s[k];
        const float *host[4] = {s->m, s->v, s->vr, s->vc};
        const int64_t len[4] = {s->numel, s->numel, s->rows, s->cols};
        const char *name = NULL;
        for (int q = 0; q < 4; q++) {
            int64_t count = 0;
            const float *dev = t5p_cuda_optim_state(go, k, q, &count, &name);
            if (!dev != !host[q] || (dev && count != len[q]) || strcmp(name, co->p[k].name) != 0)
                return t5p__err(T5P_ERR_ARG, "optimizer sync: the state of parameter %d ('%s') differs in layout", k,
                                co->p[k].name);
        }
    }
    for (int k = 0; k < co->n; k++) {
        t5p__opt_slot *s = &co->s[k];
        float *host[4] = {s->m, s->v, s->vr, s->vc};
        for (int q = 0; q < 4; q++) {
            int64_t count = 0;
            float *dev = t5p_cuda_optim_state(go, k, q, &count, NULL);
            if (!dev) continue;
            size_t bytes = (size_t)count * sizeof(float);
            int rc = to_device ? t5p_cuda_upload(dev, host[q], bytes) : t5p_cuda_download(host[q], dev, bytes);
            if (rc < 0) return rc;
        }
    }
    if (to_device) t5p_cuda_optim_set_steps(go, co->step);
    else co->step = t5p_cuda_optim_steps(go);
    return 0;
}
#else
// Built without CUDA: the device-level API links and says why it cannot run.
static int t5p__no_cuda(void) {
    return t5p__err(T5P_ERR_DEVICE, "t5p was built without CUDA (compile with -DT5P_CUDA and link t5p_cuda.o)");
}
T5PDEF int t5p_cuda_device_count(void) { t5p__no_cuda(); return 0; }
T5PDEF int t5p_cuda_init(int device) { (void)device; return t5p__no_cuda(); }
T5PDEF int t5p_cuda_device_info(char *buf, size_t size) {
    if (size) buf[0] = 0;
    return t5p__no_cuda();
}
T5PDEF t5p_cuda_model *t5p_cuda_model_new(const t5p_config *c, int precision) {
    (void)c, (void)precision;
    t5p__no_cuda();
    return NULL;
}
T5PDEF void t5p_cuda_model_free(t5p_cuda_model *g) { (void)g; }
T5PDEF int t5p_cuda_model_set_params(t5p_cuda_model *g, const float *p) { (void)g, (void)p; return t5p__no_cuda(); }
T5PDEF int t5p_cuda_model_get_params(t5p_cuda_model *g, float *p) { (void)g, (void)p; return t5p__no_cuda(); }
T5PDEF int t5p_cuda_model_get_grads(t5p_cuda_model *g, float *p) { (void)g, (void)p; return t5p__no_cuda(); }
T5PDEF int t5p_cuda_model_zero_grad(t5p_cuda_model *g) { (void)g; return t5p__no_cuda(); }
T5PDEF int t5p_cuda_model_set_rng(t5p_cuda_model *g, uint64_t seed, uint64_t step) {
    (void)g, (void)seed, (void)step;
    return t5p__no_cuda();
}
T5PDEF int t5p_cuda_model_forward(t5p_cuda_model *g, const int *src, const int *tgt, int B, int S, int T,
                                  int training, t5p_cuda_stats *st) {
    (void)g, (void)src, (void)tgt, (void)B, (void)S, (void)T, (void)training, (void)st;
    return t5p__no_cuda();
}
T5PDEF int t5p_cuda_model_backward(t5p_cuda_model *g) { (void)g; return t5p__no_cuda(); }
T5PDEF int t5p_cuda_model_get_logits(t5p_cuda_model *g, float *l) { (void)g, (void)l; return t5p__no_cuda(); }
T5PDEF size_t t5p_cuda_model_device_bytes(const t5p_cuda_model *g) { (void)g; return 0; }
T5PDEF t5p_cuda_optim *t5p_cuda_model_optim_new(t5p_cuda_model *g, const t5p_optim_config *cfg) {
    (void)g, (void)cfg;
    t5p__no_cuda();
    return NULL;
}
T5PDEF void t5p_cuda_optim_free(t5p_cuda_optim *o) { (void)o; }
T5PDEF int t5p_cuda_optim_step(t5p_cuda_optim *o) { (void)o; return t5p__no_cuda(); }
T5PDEF long t5p_cuda_optim_steps(const t5p_cuda_optim *o) { (void)o; return 0; }
T5PDEF int t5p_cuda_optim_sync(t5p_cuda_optim *go, t5p_optim *co, int to_device) {
    (void)go, (void)co, (void)to_device;
    return t5p__no_cuda();
}
T5PDEF int t5p_cuda_gen_begin(t5p_cuda_model *g, const int *src, int B, int S, int nbeams, int max_len) {
    (void)g, (void)src, (void)B, (void)S, (void)nbeams, (void)max_len;
    return t5p__no_cuda();
}
T5PDEF int t5p_cuda_gen_step(t5p_cuda_model *g, const int *ids, const int *parents, const float *add, int k,
                             float *vals, int *idx) {
    (void)g, (void)ids, (void)parents, (void)add, (void)k, (void)vals, (void)idx;
    return t5p__no_cuda();
}
T5PDEF int t5p_cuda_generate_greedy(t5p_cuda_model *g, const int *src, int B, int S, int start_id, int eos_id,
                                    int max_len, int *out, int *lens) {
    (void)g, (void)src, (void)B, (void)S, (void)start_id, (void)eos_id, (void)max_len, (void)out, (void)lens;
    return t5p__no_cuda();
}
#endif  // T5P_CUDA

#endif  // T5P_IMPLEMENTATION_DONE
#endif  // T5P_IMPLEMENTATION
