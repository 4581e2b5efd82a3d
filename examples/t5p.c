// t5p - the command line tool over t5p.h.
// Every subcommand has --help, reads FILE arguments or stdin, writes stdout, reports progress on
// stderr for long work, and exits 0 on success, 1 on a runtime failure, 2 on bad usage or input.
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>
#define T5P_IMPLEMENTATION
#include "t5p.h"

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

// ----------------------------------------------------------------------------
// shared helpers for the subcommands

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Progress line on stderr: items, rate, MB/s and ETA when the total size is known.
typedef struct {
    const char *what;
    double t0, last;
    long long total_bytes;  // 0 when unknown
    int enabled;
} progress;

static inline void progress_init(progress *p, const char *what, long long total_bytes, int enabled) {
    p->what = what;
    p->t0 = p->last = now_s();
    p->total_bytes = total_bytes;
    p->enabled = enabled;
}

static inline void progress_show(progress *p, long long items, long long bytes, int final) {
    if (!p->enabled) return;
    double t = now_s();
    if (!final && t - p->last < 0.5) return;
    p->last = t;
    double dt = t - p->t0 > 1e-9 ? t - p->t0 : 1e-9;
    fprintf(stderr, "\r%s: %lld (%.0f/s, %.2f MB/s", p->what, items, items / dt, bytes / dt / 1e6);
    if (p->total_bytes > 0 && bytes > 0 && !final) {
        double eta = (p->total_bytes - bytes) / (bytes / dt);
        fprintf(stderr, ", %.0f%%, ETA %.0fs", 100.0 * bytes / p->total_bytes, eta);
    }
    fprintf(stderr, ", %.1fs)%s", dt, final ? "\n" : "   ");
}

static long long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long long n = ftell(f);
    fclose(f);
    return n > 0 ? n : 0;
}

static FILE *open_input(const char *path, const char *cmd) {
    if (!path || strcmp(path, "-") == 0) return stdin;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "t5p %s: cannot open %s: %s\n", cmd, path, strerror(errno));
        exit(EXIT_RUNTIME);
    }
    return f;
}

static int is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

// Value of an option that takes an argument, or exit 2.
static const char *opt_value(int argc, char **argv, int *i, const char *cmd) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "t5p %s: option %s needs a value (see t5p %s --help)\n", cmd, argv[*i], cmd);
        exit(EXIT_USAGE);
    }
    return argv[++*i];
}

static long opt_long(const char *s, const char *opt, const char *cmd, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "t5p %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, s);
        exit(EXIT_USAGE);
    }
    return v;
}

static void bad_option(const char *cmd, const char *a) {
    fprintf(stderr, "t5p %s: unknown option '%s' (see t5p %s --help)\n", cmd, a, cmd);
    exit(EXIT_USAGE);
}


// ----------------------------------------------------------------------------
// segment: a drop-in for `python3 -m jieba`

static const char *segment_help =
    "usage: t5p segment [-d [DELIM]] [-D DICT] [-u USER_DICT] [-a] [-n] [-q] [--threads N] [FILE]\n"
    "Jieba 0.42.1 word segmentation (a drop-in for `python3 -m jieba`): each line of FILE (or stdin),\n"
    "without its line ending, is printed as its words joined by DELIM.\n"
    "  -d, --delimiter [DELIM]  word delimiter (default ' / '; -d alone: ' ')\n"
    "  -D, --dict DICT          main dictionary (default $T5P_JIEBA_DICT or jieba's dict.txt)\n"
    "  -u, --user-dict FILE     user dictionary (word [freq] [tag] per line)\n"
    "  -a, --cut-all            full mode: every dictionary word\n"
    "  -n, --no-hmm             do not use the HMM for unknown words\n"
    "  -q, --quiet              no messages on stderr\n"
    "  --hmm DIR                HMM tables (jieba's finalseg dir; default beside the dictionary)\n"
    "  --threads N              worker threads (default: all cores)\n"
    "Invalid UTF-8 bytes are read as U+FFFD and counted on stderr.\n";

// Lines are processed in batches so threads can work on them in parallel while the output keeps
// the input's order. Each thread owns a state made by `init` and freed by `done`.
#define LINE_BATCH 2048

typedef struct {
    void *(*init)(void *ctx);
    void (*line)(void *ctx, void *state, const char *line, size_t len, t5p__buf *out);
    void (*done)(void *ctx, void *state);
} line_job;

// Progress shared by map_lines calls over several files.
typedef struct {
    progress *p;          // NULL: no progress
    long long lines, bytes;
} map_progress;

// Runs job over every line of `in`, writing the outputs to stdout. Returns 0 or EXIT_RUNTIME.
static int map_lines_p(FILE *in, const char *name, const line_job *job, void *ctx, int threads, const char *cmd,
                       map_progress *mp) {
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    t5p_lines r;
    t5p_lines_init(&r, in);
    char **lines = calloc(LINE_BATCH, sizeof(char *));
    size_t *lens = calloc(LINE_BATCH, sizeof(size_t));
    t5p__buf *outs = calloc(LINE_BATCH, sizeof(t5p__buf));
    int eof = 0, rc = 0;
    while (!eof && !rc) {
        int nb = 0;
        while (nb < LINE_BATCH) {
            long len = t5p_lines_next(&r);
            if (len < 0) { eof = 1; break; }
            lines[nb] = realloc(lines[nb], (size_t)len + 1);
            memcpy(lines[nb], r.buf, (size_t)len + 1);
            lens[nb++] = (size_t)len;
            if (mp) { mp->lines++; mp->bytes += len + 1; }
        }
        if (mp && mp->p) progress_show(mp->p, mp->lines, mp->bytes, 0);
        #pragma omp parallel
        {
            void *state = job->init(ctx);
            #pragma omp for schedule(dynamic, 16)
            for (int k = 0; k < nb; k++) {
                outs[k].n = 0;
                job->line(ctx, state, lines[k], lens[k], &outs[k]);
            }
            job->done(ctx, state);
        }
        for (int k = 0; k < nb && !rc; k++)
            if (outs[k].n && fwrite(outs[k].p, 1, outs[k].n, stdout) != outs[k].n) rc = EXIT_RUNTIME;
    }
    if (ferror(in)) { fprintf(stderr, "t5p %s: read error on %s\n", cmd, name); rc = EXIT_RUNTIME; }
    if (fflush(stdout) != 0) { fprintf(stderr, "t5p %s: write error: %s\n", cmd, strerror(errno)); rc = EXIT_RUNTIME; }
    for (int k = 0; k < LINE_BATCH; k++) { free(lines[k]); free(outs[k].p); }
    free(lines); free(lens); free(outs);
    t5p_lines_free(&r);
    return rc;
}

static int map_lines(FILE *in, const char *name, const line_job *job, void *ctx, int threads, const char *cmd) {
    return map_lines_p(in, name, job, ctx, threads, cmd, NULL);
}

// Writes a file through a temporary name and a rename, so a failure never leaves half a file.
static int write_lines_atomic(const char *path, const char *const *lines, int n, const char *cmd) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { fprintf(stderr, "t5p %s: cannot write %s: %s\n", cmd, tmp, strerror(errno)); return EXIT_RUNTIME; }
    int ok = 1;
    for (int i = 0; i < n && ok; i++) ok = fputs(lines[i], f) >= 0 && fputc('\n', f) != EOF;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "t5p %s: writing %s failed: %s\n", cmd, path, strerror(errno));
        remove(tmp);
        return EXIT_RUNTIME;
    }
    return 0;
}

typedef struct {
    const t5p_jieba *jb;
    int mode;
    const char *delim;
    size_t delim_len;
    long nbad;
} segment_ctx;

typedef struct {
    t5p_cut cut;
    int32_t *cps;  // code points of the line
    uint32_t *off; // byte offset of each code point (and of the end)
    size_t cap;
} segment_state;

static void *segment_init(void *ctx) { (void)ctx; return calloc(1, sizeof(segment_state)); }

static void segment_done(void *ctx, void *state) {
    segment_state *st = state;
    (void)ctx;
    t5p_cut_free(&st->cut);
    free(st->cps);
    free(st->off);
    free(st);
}

static void segment_line(void *ctx, void *state, const char *line, size_t len, t5p__buf *out) {
    segment_ctx *o = ctx;
    segment_state *st = state;
    if (len + 1 > st->cap) {
        st->cap = len + 1;
        st->cps = realloc(st->cps, st->cap * sizeof(int32_t));
        st->off = realloc(st->off, st->cap * sizeof(uint32_t));
    }
    long n = 0, bad = 0;
    for (size_t i = 0; i < len;) {
        st->off[n] = (uint32_t)i;
        int32_t cp = t5p_utf8_next(line, len, &i);
        if (cp < 0) { cp = 0xFFFD; bad++; }
        st->cps[n++] = cp;
    }
    st->off[n] = (uint32_t)len;
    if (bad) {
        #pragma omp atomic
        o->nbad += bad;
    }
    int nw = t5p_jieba_cut(o->jb, st->cps, (int)n, o->mode, &st->cut);
    const t5p_span *w = st->cut.words;
    for (int k = 0; k < nw; k++) {
        if (k && !w[k].join) t5p__buf_add(out, o->delim, o->delim_len);
        if (!bad) t5p__buf_add(out, line + st->off[w[k].start], st->off[w[k].end] - st->off[w[k].start]);
        else for (int c = w[k].start; c < w[k].end; c++) t5p__buf_cp(out, st->cps[c]);  // U+FFFD for bad bytes
    }
    t5p__buf_add(out, "\n", 1);
}

static int cmd_segment(int argc, char **argv) {
    const char *dict = NULL, *user = NULL, *hmm_dir = NULL, *file = NULL, *delim = " / ";
    int cut_all = 0, hmm = 1, quiet = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(segment_help, stdout); return 0; }
        else if (strcmp(a, "-d") == 0 || strcmp(a, "--delimiter") == 0)
            delim = (i + 1 < argc && argv[i + 1][0] != '-') ? argv[++i] : " ";  // argparse nargs='?'
        else if (strncmp(a, "--delimiter=", 12) == 0) delim = a + 12;
        else if (strncmp(a, "-d", 2) == 0 && a[2]) delim = a + 2;
        else if (strcmp(a, "-D") == 0 || strcmp(a, "--dict") == 0) dict = opt_value(argc, argv, &i, "segment");
        else if (strcmp(a, "-u") == 0 || strcmp(a, "--user-dict") == 0) user = opt_value(argc, argv, &i, "segment");
        else if (strcmp(a, "--hmm") == 0) hmm_dir = opt_value(argc, argv, &i, "segment");
        else if (strcmp(a, "-a") == 0 || strcmp(a, "--cut-all") == 0) cut_all = 1;
        else if (strcmp(a, "-n") == 0 || strcmp(a, "--no-hmm") == 0) hmm = 0;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--threads") == 0) threads = (int)opt_long(opt_value(argc, argv, &i, "segment"), "--threads", "segment", 1, 1024);
        else if (a[0] == '-' && a[1]) bad_option("segment", a);
        else if (!file) file = a;
        else { fprintf(stderr, "t5p segment: more than one input file ('%s')\n", a); return EXIT_USAGE; }
    }
    double t0 = now_s();
    if (!dict) dict = t5p_jieba_default_dict();
    if (hmm && !cut_all && !hmm_dir) hmm_dir = t5p_jieba_default_hmm();
    t5p_jieba *jb = t5p_jieba_load(dict, hmm && !cut_all ? hmm_dir : NULL);
    if (!jb) { fprintf(stderr, "t5p segment: %s\n", t5p_last_error()); return EXIT_USAGE; }
    if (user && t5p_jieba_load_userdict(jb, user) < 0) {
        fprintf(stderr, "t5p segment: %s\n", t5p_last_error());
        t5p_jieba_free(jb);
        return EXIT_USAGE;
    }
    if (!quiet) fprintf(stderr, "t5p segment: loaded %s in %.3f s\n", dict, now_s() - t0);
    FILE *in = open_input(file, "segment");
    segment_ctx o = {jb, (cut_all ? T5P_CUT_ALL : 0) | (hmm ? T5P_CUT_HMM : 0), delim, strlen(delim), 0};
    line_job job = {segment_init, segment_line, segment_done};
    int rc = map_lines(in, file ? file : "stdin", &job, &o, threads, "segment");
    if (o.nbad && !quiet) fprintf(stderr, "t5p segment: %ld invalid UTF-8 bytes read as U+FFFD\n", o.nbad);
    if (in != stdin) fclose(in);
    t5p_jieba_free(jb);
    return rc;
}

// ----------------------------------------------------------------------------
// tokenize: bert4keras Tokenizer(vocab, do_lower_case=True, pre_tokenize=jieba.cut(s, HMM=False))

static const char *tokenize_help =
    "usage: t5p tokenize --vocab VOCAB [-D DICT] [--ids] [--maxlen N] [--decode] [--no-jieba] [--threads N] [FILE]\n"
    "The T5 PEGASUS tokenizer: for each line of FILE (or stdin) the tokens of bert4keras's\n"
    "Tokenizer(VOCAB, do_lower_case=True, pre_tokenize=lambda s: jieba.cut(s, HMM=False)).tokenize(line)\n"
    "joined by single spaces, [CLS] and [SEP] included.\n"
    "  --vocab VOCAB   vocabulary file, one token per line (required)\n"
    "  -D, --dict DICT jieba dictionary (default $T5P_JIEBA_DICT or jieba's dict.txt)\n"
    "  --ids           print the ids of encode(line, maxlen) instead of the tokens\n"
    "  --maxlen N      truncate to N tokens, [SEP] kept (bert4keras encode's rule)\n"
    "  --decode        read lines of ids and print bert4keras's decode(ids)\n"
    "  --no-jieba      no jieba pre-tokenization (plain BERT tokenizer)\n"
    "  --cased         do not lowercase/NFD/strip accents (do_lower_case=False)\n"
    "  -q, --quiet     no messages on stderr\n"
    "  --threads N     worker threads (default: all cores)\n";

typedef struct {
    t5p_tokenizer tk;
    int ids, decode, maxlen;
    long nbad, nerr;
    long first_err_line;
} tokenize_ctx;

static void *tokenize_init(void *ctx) { (void)ctx; return calloc(1, sizeof(t5p_tokens)); }
static void tokenize_done(void *ctx, void *state) { (void)ctx; t5p_tokens_free(state); free(state); }

static void tokenize_line(void *ctx, void *state, const char *line, size_t len, t5p__buf *out) {
    tokenize_ctx *o = ctx;
    t5p_tokens *t = state;
    char num[16];
    if (o->decode) {
        int *ids = NULL;
        const char *p = line, *end = line + len;
        int ok = 1;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
            if (p == end) break;
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p || v < 0 || v > INT32_MAX) { ok = 0; break; }
            arrput(ids, (int)v);
            p = e;
        }
        char *text = ok ? t5p_decode(&o->tk, ids, (int)arrlen(ids)) : NULL;
        if (text) t5p__buf_add(out, text, strlen(text));
        else {
            #pragma omp atomic
            o->nerr++;
        }
        t5p__buf_add(out, "\n", 1);
        free(text);
        arrfree(ids);
        return;
    }
    int n = t5p_tokenize(&o->tk, line, len, o->ids ? o->maxlen : 0, t);
    if (t->nbad) {
        #pragma omp atomic
        o->nbad += t->nbad;
    }
    for (int i = 0; i < n; i++) {
        if (i) t5p__buf_add(out, " ", 1);
        if (o->ids) {
            int k = snprintf(num, sizeof num, "%d", t->ids[i]);
            t5p__buf_add(out, num, (size_t)k);
        } else {
            const char *s = t5p_token_str(t, i);
            t5p__buf_add(out, s, strlen(s));
        }
    }
    t5p__buf_add(out, "\n", 1);
}

static int cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *dict = NULL, *file = NULL;
    int threads = 0, quiet = 0, no_jieba = 0;
    tokenize_ctx o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(tokenize_help, stdout); return 0; }
        else if (strcmp(a, "--vocab") == 0) vocab = opt_value(argc, argv, &i, "tokenize");
        else if (strcmp(a, "-D") == 0 || strcmp(a, "--dict") == 0) dict = opt_value(argc, argv, &i, "tokenize");
        else if (strcmp(a, "--ids") == 0) o.ids = 1;
        else if (strcmp(a, "--decode") == 0) o.decode = 1;
        else if (strcmp(a, "--no-jieba") == 0) no_jieba = 1;
        else if (strcmp(a, "--cased") == 0) o.tk.keep_case = 1;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--maxlen") == 0) o.maxlen = (int)opt_long(opt_value(argc, argv, &i, "tokenize"), "--maxlen", "tokenize", 1, INT32_MAX);
        else if (strcmp(a, "--threads") == 0) threads = (int)opt_long(opt_value(argc, argv, &i, "tokenize"), "--threads", "tokenize", 1, 1024);
        else if (a[0] == '-' && a[1]) bad_option("tokenize", a);
        else if (!file) file = a;
        else { fprintf(stderr, "t5p tokenize: more than one input file ('%s')\n", a); return EXIT_USAGE; }
    }
    if (!vocab) { fprintf(stderr, "t5p tokenize: --vocab VOCAB is required (see t5p tokenize --help)\n"); return EXIT_USAGE; }
    double t0 = now_s();
    t5p_vocab *vb = t5p_vocab_load(vocab);
    if (!vb) { fprintf(stderr, "t5p tokenize: %s\n", t5p_last_error()); return EXIT_USAGE; }
    t5p_jieba *jb = NULL;
    if (!no_jieba && !o.decode) {
        jb = t5p_jieba_load(dict ? dict : t5p_jieba_default_dict(), NULL);
        if (!jb) { fprintf(stderr, "t5p tokenize: %s\n", t5p_last_error()); t5p_vocab_free(vb); return EXIT_USAGE; }
    }
    if (!quiet) fprintf(stderr, "t5p tokenize: %d tokens loaded in %.3f s\n", t5p_vocab_size(vb), now_s() - t0);
    int keep_case = o.tk.keep_case;
    if (t5p_tokenizer_init(&o.tk, jb, vb) < 0) { fprintf(stderr, "t5p tokenize: %s\n", t5p_last_error()); return EXIT_RUNTIME; }
    o.tk.keep_case = keep_case;
    FILE *in = open_input(file, "tokenize");
    line_job job = {tokenize_init, tokenize_line, tokenize_done};
    int rc = map_lines(in, file ? file : "stdin", &job, &o, threads, "tokenize");
    if (o.nbad && !quiet) fprintf(stderr, "t5p tokenize: %ld invalid UTF-8 bytes read as U+FFFD\n", o.nbad);
    if (o.nerr) {
        fprintf(stderr, "t5p tokenize: %ld lines could not be decoded (not ids, or ids outside the vocabulary); printed empty\n", o.nerr);
        rc = rc ? rc : EXIT_USAGE;
    }
    if (in != stdin) fclose(in);
    t5p_tokenizer_free(&o.tk);
    t5p_jieba_free(jb);
    t5p_vocab_free(vb);
    return rc;
}

// ----------------------------------------------------------------------------
// eval: ROUGE-1/2/L F and BLEU as T5 PEGASUS's finetune.py computed them

static const char *eval_help =
    "usage: t5p eval --pred PRED --ref REF [--rouge-version 1.0.0|1.0.1] [--per-line] [--on-error fail|zero]\n"
    "\n"
    "Scores predicted titles against reference titles, one UTF-8 text per line in each file (line i of\n"
    "PRED against line i of REF; '-' reads stdin), exactly as T5 PEGASUS's finetune.py did: both texts\n"
    "joined character by character with spaces and lowercased, ROUGE-1/2/L F from the `rouge` package\n"
    "and BLEU from nltk's sentence_bleu (smoothing method1), averaged over all lines; an empty or\n"
    "whitespace-only prediction scores 0 but still counts.\n"
    "\n"
    "  --pred PRED            predictions, one per line\n"
    "  --ref REF              references, one per line (same number of lines)\n"
    "  --rouge-version V      1.0.0 (default: current in March 2021; ROUGE-N counts repeated n-grams)\n"
    "                         or 1.0.1 (ROUGE-N over unique n-grams)\n"
    "  --per-line             also print each line's scores: line, rouge-1, rouge-2, rouge-l, bleu, status\n"
    "  --on-error fail|zero   a prediction \".\" or an empty reference makes the rouge package raise\n"
    "                         ValueError (finetune.py stopped there): fail (default) stops with exit 2,\n"
    "                         zero scores the line 0 and counts it\n"
    "\n"
    "Output: finetune.py's metrics dict (Python repr of each value), then the same in percent.\n"
    "Exit status: 0 ok, 1 a file cannot be read, 2 bad usage, line counts differ, invalid UTF-8,\n"
    "or rouge would raise.\n";

// Reads every line of path ("-": stdin). Checks UTF-8, naming file, line and byte. Exits on failure.
static char **eval_read_lines(const char *path, long *n) {
    FILE *f = open_input(path, "eval");
    t5p_lines r;
    t5p_lines_init(&r, f);
    char **lines = NULL;
    long k = 0, len;
    while ((len = t5p_lines_next(&r)) >= 0) {
        for (size_t i = 0; i < (size_t)len;) {
            size_t at = i;
            if (t5p_utf8_next(r.buf, (size_t)len, &i) < 0) {
                fprintf(stderr, "t5p eval: %s:%ld: invalid UTF-8 at byte %zu of the line\n",
                        strcmp(path, "-") ? path : "<stdin>", r.lineno, at + 1);
                exit(EXIT_USAGE);
            }
        }
        if ((k & (k - 1)) == 0) lines = realloc(lines, (size_t)(k ? 2 * k : 1) * sizeof *lines);
        lines[k] = malloc((size_t)len + 1);
        if (!lines || !lines[k]) { fprintf(stderr, "t5p eval: out of memory\n"); exit(EXIT_RUNTIME); }
        memcpy(lines[k++], r.buf, (size_t)len + 1);
    }
    int bad = ferror(f);
    t5p_lines_free(&r);
    if (f != stdin) fclose(f);
    if (bad) { fprintf(stderr, "t5p eval: read error on %s\n", path); exit(EXIT_RUNTIME); }
    *n = k;
    return lines;
}

static int cmd_eval(int argc, char **argv) {
    const char *pred_path = NULL, *ref_path = NULL;
    int version = T5P_ROUGE_1_0_0, per_line = 0, zero = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(eval_help, stdout); return 0; }
        else if (strcmp(a, "--pred") == 0) pred_path = opt_value(argc, argv, &i, "eval");
        else if (strcmp(a, "--ref") == 0) ref_path = opt_value(argc, argv, &i, "eval");
        else if (strcmp(a, "--per-line") == 0) per_line = 1;
        else if (strcmp(a, "--rouge-version") == 0) {
            const char *v = opt_value(argc, argv, &i, "eval");
            if (strcmp(v, "1.0.0") == 0) version = T5P_ROUGE_1_0_0;
            else if (strcmp(v, "1.0.1") == 0) version = T5P_ROUGE_1_0_1;
            else {
                fprintf(stderr, "t5p eval: --rouge-version expects 1.0.0 or 1.0.1, got '%s'\n", v);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--on-error") == 0) {
            const char *v = opt_value(argc, argv, &i, "eval");
            if (strcmp(v, "fail") == 0) zero = 0;
            else if (strcmp(v, "zero") == 0) zero = 1;
            else {
                fprintf(stderr, "t5p eval: --on-error expects fail or zero, got '%s'\n", v);
                return EXIT_USAGE;
            }
        } else bad_option("eval", a);
    }
    if (!pred_path || !ref_path) {
        fprintf(stderr, "t5p eval: --pred and --ref are both required (see t5p eval --help)\n");
        return EXIT_USAGE;
    }
    if (strcmp(pred_path, "-") == 0 && strcmp(ref_path, "-") == 0) {
        fprintf(stderr, "t5p eval: --pred and --ref cannot both be stdin\n");
        return EXIT_USAGE;
    }
    long np, nr;
    char **pred = eval_read_lines(pred_path, &np), **ref = eval_read_lines(ref_path, &nr);
    if (np != nr) {
        fprintf(stderr, "t5p eval: %s has %ld lines but %s has %ld; they must pair up line by line\n", pred_path,
                np, ref_path, nr);
        return EXIT_USAGE;
    }
    if (np == 0) {
        fprintf(stderr, "t5p eval: %s and %s are empty: nothing to score\n", pred_path, ref_path);
        return EXIT_USAGE;
    }
    t5p_metrics m;
    t5p_metrics_init(&m, version);
    m.zero_on_raise = zero;
    char b[4][40];
    if (per_line) printf("# line\trouge-1\trouge-2\trouge-l\tbleu\tstatus\n");
    for (long i = 0; i < np; i++) {
        t5p_scores s;
        int rc = t5p_metrics_add(&m, pred[i], -1, ref[i], -1, &s);
        if (rc < 0 && !(rc == T5P_ERR_ARG && zero)) {
            fprintf(stderr, "t5p eval: %s:%ld / %s:%ld: %s%s\n", pred_path, i + 1, ref_path, i + 1,
                    t5p_last_error(),
                    rc == T5P_ERR_ARG ? " (finetune.py stopped here; --on-error zero scores such lines 0)" : "");
            return rc == T5P_ERR_ARG ? EXIT_USAGE : EXIT_RUNTIME;
        }
        if (per_line) {
            double v[4] = {s.rouge1, s.rouge2, s.rougel, s.bleu};
            for (int k = 0; k < 4; k++) t5p_repr_double(b[k], sizeof b[k], v[k]);
            printf("%ld\t%s\t%s\t%s\t%s\t%s\n", i + 1, b[0], b[1], b[2], b[3],
                   rc == 1 ? "empty" : rc < 0 ? "rouge-raised" : "ok");
        }
        free(pred[i]);
        free(ref[i]);
    }
    free(pred);
    free(ref);
    t5p_scores mean = t5p_metrics_mean(&m);
    double v[4] = {mean.rouge1, mean.rouge2, mean.rougel, mean.bleu};
    for (int k = 0; k < 4; k++) t5p_repr_double(b[k], sizeof b[k], v[k]);
    printf("{'rouge-1': %s, 'rouge-2': %s, 'rouge-l': %s, 'bleu': %s}\n", b[0], b[1], b[2], b[3]);
    printf("rouge-1 %.2f%%  rouge-2 %.2f%%  rouge-l %.2f%%  bleu %.2f%%  (%ld pairs, %ld empty predictions",
           100 * v[0], 100 * v[1], 100 * v[2], 100 * v[3], m.count, m.empty);
    if (m.raised) printf(", %ld scored 0 where rouge raises", m.raised);
    printf(", rouge %s)\n", version == T5P_ROUGE_1_0_0 ? "1.0.0" : "1.0.1");
    return 0;
}


// ----------------------------------------------------------------------------
// vocab: build a vocabulary the T5 PEGASUS way

static const char *vocab_help =
    "usage: t5p vocab --out VOCAB [--base BERT_VOCAB] [-D DICT] [--words 200000] [--size 50000]\n"
    "                 [--threads N] [--candidates FILE] [--counts FILE] [-q] CORPUS...\n"
    "Builds a vocabulary as the T5 PEGASUS blog describes: the base vocabulary plus the --words most\n"
    "frequent jieba words are candidates; the corpus (one text per line) is tokenized with them\n"
    "(bert4keras Tokenizer, jieba pre-tokenization without HMM) and counted; VOCAB gets the first 106\n"
    "base tokens in order, then the most frequent other candidates up to --size tokens (equal counts:\n"
    "base tokens in base order first, then jieba words by dictionary frequency, then by bytes).\n"
    "Without --base the base is BERT's 106 special tokens, every character of the corpus and '##c' for\n"
    "each non-CJK, non-punctuation character: always kept, so the corpus tokenizes without [UNK]\n"
    "(this reads the corpus twice).\n"
    "  --candidates FILE  also write the candidate vocabulary\n"
    "  --counts FILE      also write 'token<TAB>count' for every candidate, in candidate order\n";

typedef struct {
    t5p_vocab_builder *b;
    int pass;  // 1: characters, 2: counts
    int ncand;
} vocab_ctx;

typedef struct {
    t5p_tokens t;
    uint64_t *seen;
    long long *counts;
} vocab_state;

static void *vocab_init(void *ctx) {
    vocab_ctx *o = ctx;
    vocab_state *st = calloc(1, sizeof *st);
    if (o->pass == 1) st->seen = calloc(T5P_SEEN_WORDS, sizeof(uint64_t));
    else st->counts = calloc((size_t)o->ncand + 1, sizeof(long long));
    return st;
}

static void vocab_line(void *ctx, void *state, const char *line, size_t len, t5p__buf *out) {
    vocab_ctx *o = ctx;
    vocab_state *st = state;
    (void)out;
    if (o->pass == 1) t5p_vocab_builder_see(o->b, line, len, st->seen, &st->t);
    else t5p_vocab_builder_count(o->b, line, len, st->counts, &st->t);
}

static void vocab_done(void *ctx, void *state) {
    vocab_ctx *o = ctx;
    vocab_state *st = state;
    #pragma omp critical
    {
        if (o->pass == 1) t5p_vocab_builder_see_merge(o->b, st->seen);
        else t5p_vocab_builder_add(o->b, st->counts);
    }
    t5p_tokens_free(&st->t);
    free(st->seen);
    free(st->counts);
    free(st);
}

static int cmd_vocab(int argc, char **argv) {
    const char *out = NULL, *base_path = NULL, *dict = NULL, *cand_path = NULL, *counts_path = NULL;
    const char **files = NULL;
    int nfiles = 0, threads = 0, quiet = 0;
    long words = 200000, size = 50000;
    files = calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(vocab_help, stdout); free(files); return 0; }
        else if (strcmp(a, "--out") == 0) out = opt_value(argc, argv, &i, "vocab");
        else if (strcmp(a, "--base") == 0) base_path = opt_value(argc, argv, &i, "vocab");
        else if (strcmp(a, "-D") == 0 || strcmp(a, "--dict") == 0) dict = opt_value(argc, argv, &i, "vocab");
        else if (strcmp(a, "--candidates") == 0) cand_path = opt_value(argc, argv, &i, "vocab");
        else if (strcmp(a, "--counts") == 0) counts_path = opt_value(argc, argv, &i, "vocab");
        else if (strcmp(a, "--words") == 0) words = opt_long(opt_value(argc, argv, &i, "vocab"), "--words", "vocab", 0, 100000000);
        else if (strcmp(a, "--size") == 0) size = opt_long(opt_value(argc, argv, &i, "vocab"), "--size", "vocab", 106, 100000000);
        else if (strcmp(a, "--threads") == 0) threads = (int)opt_long(opt_value(argc, argv, &i, "vocab"), "--threads", "vocab", 1, 1024);
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) quiet = 1;
        else if (a[0] == '-' && a[1]) bad_option("vocab", a);
        else files[nfiles++] = a;
    }
    if (!out || nfiles == 0) {
        fprintf(stderr, "t5p vocab: --out VOCAB and at least one CORPUS file are required (see t5p vocab --help)\n");
        free(files);
        return EXIT_USAGE;
    }
    long long total = 0;
    for (int i = 0; i < nfiles; i++) {
        if (strcmp(files[i], "-") == 0) { fprintf(stderr, "t5p vocab: the corpus must be files (read twice without --base)\n"); free(files); return EXIT_USAGE; }
        FILE *f = open_input(files[i], "vocab");
        fclose(f);
        total += file_size(files[i]);
    }
    t5p_vocab *base = NULL;
    if (base_path && !(base = t5p_vocab_load(base_path))) { fprintf(stderr, "t5p vocab: %s\n", t5p_last_error()); free(files); return EXIT_USAGE; }
    t5p_jieba *jb = t5p_jieba_load(dict ? dict : t5p_jieba_default_dict(), NULL);
    if (!jb) { fprintf(stderr, "t5p vocab: %s\n", t5p_last_error()); t5p_vocab_free(base); free(files); return EXIT_USAGE; }
    t5p_vocab_builder *b = t5p_vocab_builder_new(jb, base, (int)words);
    vocab_ctx o = {b, base ? 2 : 1, 0};
    line_job job = {vocab_init, vocab_line, vocab_done};
    int rc = 0;
    for (; o.pass <= 2 && !rc; o.pass++) {
        if (o.pass == 2) {
            o.ncand = t5p_vocab_builder_start(b);
            if (o.ncand < 0) { fprintf(stderr, "t5p vocab: %s\n", t5p_last_error()); rc = EXIT_RUNTIME; break; }
            if (!quiet) fprintf(stderr, "t5p vocab: %d candidate tokens\n", o.ncand);
        }
        progress prog;
        progress_init(&prog, o.pass == 1 ? "vocab: characters (lines)" : "vocab: counting (lines)", total, !quiet);
        map_progress mp = {&prog, 0, 0};
        for (int i = 0; i < nfiles && !rc; i++) {
            FILE *f = open_input(files[i], "vocab");
            rc = map_lines_p(f, files[i], &job, &o, threads, "vocab", &mp);
            fclose(f);
        }
        progress_show(&prog, mp.lines, mp.bytes, 1);
    }
    if (!rc) {
        int n;
        const char **toks = t5p_vocab_builder_result(b, (int)size, &n);
        rc = write_lines_atomic(out, toks, n, "vocab");
        if (!rc && !quiet) fprintf(stderr, "t5p vocab: wrote %d tokens to %s\n", n, out);
        const t5p_vocab *cv = t5p_vocab_builder_tokenizer(b)->vocab;
        int nc = t5p_vocab_size(cv);
        if (!rc && (cand_path || counts_path)) {
            char **lines = calloc((size_t)nc + 1, sizeof(char *));
            int m = 0;
            for (int id = 0; id < nc; id++) {
                const char *tk = t5p_vocab_token(cv, id);
                if (!tk) continue;
                size_t L = strlen(tk) + 32;
                lines[m] = malloc(L);
                if (counts_path) snprintf(lines[m], L, "%s\t%lld", tk, t5p_vocab_builder_count_of(b, id));
                else snprintf(lines[m], L, "%s", tk);
                m++;
            }
            if (counts_path) rc = write_lines_atomic(counts_path, (const char *const *)lines, m, "vocab");
            if (!rc && cand_path) {
                for (int k = 0, id = 0; id < nc; id++) {
                    const char *tk = t5p_vocab_token(cv, id);
                    if (!tk) continue;
                    snprintf(lines[k++], strlen(tk) + 32, "%s", tk);
                }
                rc = write_lines_atomic(cand_path, (const char *const *)lines, m, "vocab");
            }
            for (int k = 0; k < m; k++) free(lines[k]);
            free(lines);
        }
    }
    t5p_vocab_builder_free(b);
    t5p_jieba_free(jb);
    t5p_vocab_free(base);
    free(files);
    return rc;
}
// ----------------------------------------------------------------------------
// pseudo: PEGASUS pseudo-summary pairs

static const char pseudo_help[] =
    "usage: t5p pseudo [options] [FILE...]\n"
    "PEGASUS pseudo-summary pairs as T5 PEGASUS's train.py builds them. Each input line is one document\n"
    "(or, with --jsonl, a JSON object whose string field is the document). A document is cut into pieces\n"
    "(text_segmentate on '\\n' then '\u3002'), the pieces into groups of >= 3 pieces and <= maxlen*1.5\n"
    "characters, and each group gives one pair: the pieces that best cover the rest by longest common\n"
    "subsequence become the target. Writes JSONL {\"source\": \"...\", \"target\": \"...\"} to stdout, in input\n"
    "order whatever the number of threads. Reads stdin when no FILE is given (or FILE is -). One document a\n"
    "line cannot hold a newline, so only --jsonl documents are cut at '\\n' as well as at '\u3002'.\n"
    "\n"
    "options:\n"
    "  --rate R             stop once target/source characters > R (default 0.25)\n"
    "  --maxlen N           groups close before passing N*1.5 characters (default 512)\n"
    "  --piece-len N        text_segmentate length (default 32)\n"
    "  --max-group-chars N  skip groups longer than N characters, counted on stderr (default 32768; 0: no\n"
    "                       limit). Only hostile input reaches it; it bounds time and memory\n"
    "  --jsonl              input lines are JSON objects\n"
    "  --field NAME         the document field of --jsonl objects (default text)\n"
    "  --threads N          worker threads (default: all cores)\n"
    "  --progress           documents/s, pairs, MB/s and ETA on stderr\n"
    "Invalid UTF-8 is replaced by U+FFFD (counted on stderr). Exit status: 0 ok, 1 runtime failure\n"
    "(unreadable file, out of memory), 2 bad usage or malformed --jsonl input.\n";

static int cmd_pseudo(int argc, char **argv) {
    const char *cmd = "pseudo";
    t5p_pseudo_params prm = t5p_pseudo_defaults();
    int jsonl = 0, show = 0, threads = 0;
    const char *field = "text";
    const char **files = (const char **)calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(pseudo_help, stdout); free(files); return 0; }
        if (strcmp(a, "--rate") == 0) {
            const char *v = opt_value(argc, argv, &i, cmd);
            char *end;
            prm.rate = strtod(v, &end);
            if (*end || end == v || !(prm.rate >= 0)) {
                fprintf(stderr, "t5p pseudo: --rate expects a number >= 0, got '%s'\n", v);
                exit(EXIT_USAGE);
            }
        } else if (strcmp(a, "--maxlen") == 0) prm.maxlen = (int)opt_long(opt_value(argc, argv, &i, cmd), a, cmd, 1, 1 << 24);
        else if (strcmp(a, "--piece-len") == 0) prm.piece_len = (int)opt_long(opt_value(argc, argv, &i, cmd), a, cmd, 1, 1 << 24);
        else if (strcmp(a, "--max-group-chars") == 0) prm.max_group_chars = opt_long(opt_value(argc, argv, &i, cmd), a, cmd, 0, 1L << 40);
        else if (strcmp(a, "--threads") == 0) threads = (int)opt_long(opt_value(argc, argv, &i, cmd), a, cmd, 1, 4096);
        else if (strcmp(a, "--jsonl") == 0) jsonl = 1;
        else if (strcmp(a, "--field") == 0) field = opt_value(argc, argv, &i, cmd);
        else if (strcmp(a, "--progress") == 0) show = 1;
        else if (a[0] == '-' && a[1]) bad_option(cmd, a);
        else files[nfiles++] = a;
    }
    if (nfiles == 0) files[nfiles++] = "-";
#ifdef _OPENMP
    if (threads == 0) threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    t5p_pseudo **ws = (t5p_pseudo **)calloc((size_t)threads, sizeof *ws);
    for (int t = 0; t < threads; t++)
        if (!(ws[t] = t5p_pseudo_new(&prm))) {
            fprintf(stderr, "t5p pseudo: %s\n", t5p_last_error());
            exit(EXIT_RUNTIME);
        }
    long long total = 0;
    for (int f = 0; f < nfiles; f++) {
        long long sz = strcmp(files[f], "-") == 0 ? 0 : file_size(files[f]);
        if (sz <= 0) { total = 0; break; }
        total += sz;
    }
    progress pg;
    progress_init(&pg, "pseudo", total, show);
    char what[96];

    // Documents are processed in chunks (bounded memory): read sequentially, score in parallel, write in order.
    enum { CHUNK_DOCS = 2048, CHUNK_BYTES = 16 << 20 };
    char **doc = (char **)calloc(CHUNK_DOCS, sizeof *doc);
    size_t *doc_len = (size_t *)calloc(CHUNK_DOCS, sizeof *doc_len), *doc_cap = (size_t *)calloc(CHUNK_DOCS, sizeof *doc_cap);
    char **res = (char **)calloc(CHUNK_DOCS, sizeof *res);
    size_t *res_len = (size_t *)calloc(CHUNK_DOCS, sizeof *res_len), *res_cap = (size_t *)calloc(CHUNK_DOCS, sizeof *res_cap);
    int *res_pairs = (int *)calloc(CHUNK_DOCS, sizeof *res_pairs);
    long long ndocs = 0, npairs = 0, bytes = 0;
    int failed = 0, rc = 0;
    for (int f = 0; f < nfiles && !rc; f++) {
        FILE *in = open_input(files[f], cmd);
        const char *name = strcmp(files[f], "-") == 0 ? "<stdin>" : files[f];
        t5p_lines lr;
        t5p_lines_init(&lr, in);
        int eof = 0;
        while (!eof && !rc) {
            int nd = 0;
            size_t chunk_bytes = 0;
            while (nd < CHUNK_DOCS && chunk_bytes < CHUNK_BYTES) {
                const char *line;
                long n = t5p_lines_next(&lr);
                line = lr.buf;
                if (n < 0) {
                    if (ferror(in)) {
                        fprintf(stderr, "t5p pseudo: %s: read error\n", name);
                        rc = EXIT_RUNTIME;
                    }
                    eof = 1;
                    break;
                }
                bytes += n + 1;
                chunk_bytes += (size_t)n;
                if (jsonl) {
                    long k = t5p_json_string_field(line, (size_t)n, field, &doc[nd], &doc_cap[nd]);
                    if (k < 0) {
                        fprintf(stderr, "t5p pseudo: %s:%ld: %s\n", name, lr.lineno, t5p_last_error());
                        rc = EXIT_USAGE;
                        break;
                    }
                    doc_len[nd] = (size_t)k;
                } else {
                    if (doc_cap[nd] < (size_t)n + 1) {
                        doc_cap[nd] = (size_t)n + 1;
                        doc[nd] = (char *)realloc(doc[nd], doc_cap[nd]);
                        if (!doc[nd]) { fprintf(stderr, "t5p pseudo: out of memory\n"); exit(EXIT_RUNTIME); }
                    }
                    memcpy(doc[nd], line, (size_t)n);
                    doc[nd][n] = 0;
                    doc_len[nd] = (size_t)n;
                }
                nd++;
            }
            #pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
            for (int d = 0; d < nd; d++) {
#ifdef _OPENMP
                t5p_pseudo *ps = ws[omp_get_thread_num()];
#else
                t5p_pseudo *ps = ws[0];
#endif
                res_len[d] = 0;
                if ((res_pairs[d] = t5p_pseudo_summary(ps, doc[d], doc_len[d], NULL)) < 0) {
                    #pragma omp critical
                    {
                        if (!failed) fprintf(stderr, "t5p pseudo: %s\n", t5p_last_error());
                        failed = 1;
                    }
                    continue;
                }
                size_t len;
                const char *js = t5p_pseudo_jsonl(ps, &len);
                if (res_cap[d] < len + 1) {
                    res_cap[d] = len + 1;
                    res[d] = (char *)realloc(res[d], res_cap[d]);
                    if (!res[d]) { failed = 1; continue; }
                }
                memcpy(res[d], js, len);
                res_len[d] = len;
            }
            if (failed) { rc = EXIT_RUNTIME; break; }
            for (int d = 0; d < nd; d++) {
                if (res_len[d] && fwrite(res[d], 1, res_len[d], stdout) != res_len[d]) {
                    fprintf(stderr, "t5p pseudo: write error: %s\n", strerror(errno));
                    rc = EXIT_RUNTIME;
                    break;
                }
                npairs += res_pairs[d];
            }
            ndocs += nd;
            snprintf(what, sizeof what, "pseudo (%lld pairs) docs", npairs);
            pg.what = what;
            progress_show(&pg, ndocs, bytes, 0);
        }
        t5p_lines_free(&lr);
        if (in != stdin) fclose(in);
    }
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "t5p pseudo: write error: %s\n", strerror(errno));
        rc = EXIT_RUNTIME;
    }
    t5p_pseudo_stats st = {0};
    for (int t = 0; t < threads; t++) {
        t5p_pseudo_stats s = t5p_pseudo_get_stats(ws[t]);
        st.docs += s.docs, st.groups += s.groups, st.pairs += s.pairs;
        st.skipped_long += s.skipped_long, st.skipped_empty += s.skipped_empty, st.bad_utf8 += s.bad_utf8;
        st.candidates += s.candidates, st.lcs_runs += s.lcs_runs;
        t5p_pseudo_free(ws[t]);
    }
    snprintf(what, sizeof what, "pseudo (%lld pairs) docs", npairs);
    progress_show(&pg, ndocs, bytes, 1);
    if (show)
        fprintf(stderr, "t5p pseudo: %lld documents, %lld groups, %lld pairs; %lld of %lld candidates scored "
                        "by a full LCS\n", st.docs, st.groups, st.pairs, st.lcs_runs, st.candidates);
    if (st.bad_utf8)
        fprintf(stderr, "t5p pseudo: %lld invalid UTF-8 bytes replaced by U+FFFD\n", st.bad_utf8);
    if (st.skipped_long)
        fprintf(stderr, "t5p pseudo: %lld group(s) longer than %ld characters skipped (--max-group-chars)\n",
                st.skipped_long, prm.max_group_chars);
    if (st.skipped_empty)
        fprintf(stderr, "t5p pseudo: %lld group(s) gave no pair: their source ran out of characters\n",
                st.skipped_empty);
    for (int d = 0; d < CHUNK_DOCS; d++) free(doc[d]), free(res[d]);
    free(doc), free(doc_len), free(doc_cap), free(res), free(res_len), free(res_cap), free(res_pairs), free(ws), free(files);
    return rc;
}

// ----------------------------------------------------------------------------
// subcommands

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    // in pipeline order: text -> words -> tokens -> vocabulary -> pretraining pairs -> ... -> scores
    {"segment", cmd_segment, "jieba word segmentation (drop-in for python3 -m jieba)"},
    {"tokenize", cmd_tokenize, "T5 PEGASUS tokens or ids (bert4keras Tokenizer + jieba), --decode"},
    {"vocab", cmd_vocab, "build a vocabulary: base + jieba words, counted on a corpus"},
    {"pseudo", cmd_pseudo, "PEGASUS pseudo-summary pairs (JSONL) from documents"},
    {"eval", cmd_eval, "ROUGE-1/2/L F and BLEU of predictions against references, as finetune.py scored"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
    fprintf(f,
            "t5p %s - T5 PEGASUS in C\n"
            "usage: t5p COMMAND [options] [FILE...]   (t5p COMMAND --help for details)\n\ncommands:\n",
            T5P_VERSION);
    for (const command *c = commands; c->name; c++) fprintf(f, "  %-12s %s\n", c->name, c->summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) { printf("t5p %s\n", T5P_VERSION); return 0; }
    for (const command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "t5p: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
