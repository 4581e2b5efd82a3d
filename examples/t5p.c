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
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

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
// generate: titles or summaries from a model (examples/generate_cmd.inc)

#include "generate_cmd.inc"

// ----------------------------------------------------------------------------
// subcommands

// ----------------------------------------------------------------------------
// pretokenize and train: training pairs, shards, the training loop

// Loads the tokenizer the data commands share: the vocabulary, and jieba unless no_jieba.
static int load_tokenizer(const char *cmd, const char *vocab, const char *dict, int no_jieba, int cased,
                          t5p_tokenizer *tk, t5p_vocab **vb, t5p_jieba **jb) {
    *vb = t5p_vocab_load(vocab);
    if (!*vb) { fprintf(stderr, "t5p %s: %s\n", cmd, t5p_last_error()); return EXIT_USAGE; }
    *jb = NULL;
    if (!no_jieba) {
        *jb = t5p_jieba_load(dict && *dict ? dict : t5p_jieba_default_dict(), NULL);
        if (!*jb) { fprintf(stderr, "t5p %s: %s\n", cmd, t5p_last_error()); return EXIT_USAGE; }
    }
    if (t5p_tokenizer_init(tk, *jb, *vb) < 0) { fprintf(stderr, "t5p %s: %s\n", cmd, t5p_last_error()); return EXIT_RUNTIME; }
    tk->keep_case = cased;
    return 0;
}

typedef struct {
    progress *p;
    int64_t bytes0;
} read_progress;

static void on_read_progress(void *ctx, int64_t pairs, int64_t bytes) {
    read_progress *r = ctx;
    if (r->p) progress_show(r->p, pairs, r->bytes0 + bytes, 0);
}

// Reads one text file of pairs (format T5P_PAIRS_JSONL / TSV; "-" is stdin) into p. Returns 0 or an exit code.
static int read_text_pairs(const char *cmd, const char *path, int format, const t5p_tokenizer *tk, int max_src,
                           int max_tgt, int threads, progress *pg, int64_t *bytes_done, t5p_pairs *p,
                           t5p_pairs_read_stats *total) {
    FILE *f = open_input(path, cmd);
    read_progress rp = {pg, *bytes_done};
    t5p_pairs_read_opts o = {format, max_src, max_tgt, NULL, NULL, threads, on_read_progress, &rp};
    t5p_pairs_read_stats st;
    int rc = t5p_pairs_read_text(p, f, strcmp(path, "-") ? path : "<stdin>", tk, &o, &st);
    if (f != stdin) fclose(f);
    if (rc < 0) {
        if (pg && pg->enabled) fputc('\n', stderr);
        fprintf(stderr, "t5p %s: %s\n", cmd, t5p_last_error());
        return rc == T5P_ERR_FORMAT ? EXIT_USAGE : EXIT_RUNTIME;
    }
    *bytes_done += file_size(path);
    total->lines += st.lines, total->pairs += st.pairs, total->blank += st.blank;
    total->src_truncated += st.src_truncated, total->tgt_truncated += st.tgt_truncated;
    total->src_tokens += st.src_tokens, total->tgt_tokens += st.tgt_tokens, total->unk += st.unk;
    total->nbad += st.nbad;
    return 0;
}

static void print_read_stats(const char *cmd, const t5p_pairs_read_stats *s, int max_src, int max_tgt) {
    int64_t tok = s->src_tokens + s->tgt_tokens;
    fprintf(stderr, "t5p %s: %lld pairs (%lld blank lines skipped), %lld source + %lld target tokens "
            "(mean %.1f / %.1f), %lld sources cut to %d, %lld targets cut to %d, [UNK] %.3f%%",
            cmd, (long long)s->pairs, (long long)s->blank, (long long)s->src_tokens, (long long)s->tgt_tokens,
            s->pairs ? (double)s->src_tokens / s->pairs : 0, s->pairs ? (double)s->tgt_tokens / s->pairs : 0,
            (long long)s->src_truncated, max_src, (long long)s->tgt_truncated, max_tgt, tok ? 100.0 * s->unk / tok : 0);
    if (s->nbad) fprintf(stderr, ", %ld invalid UTF-8 bytes read as U+FFFD", s->nbad);
    fputc('\n', stderr);
}

static const char *pretokenize_help =
    "usage: t5p pretokenize --vocab VOCAB [-D DICT] [--no-jieba] [--cased] [--max-src 384] [--max-tgt 128]\n"
    "                       [--tsv|--jsonl] [--threads N] [-q] IN... -o OUT\n"
    "Tokenizes training pairs once and writes them as a shard that `t5p train --data` reads directly.\n"
    "Inputs, one pair per line (format from the extension or the first character; '-' is stdin, JSONL\n"
    "unless --tsv):\n"
    "  JSONL  {\"source\": \"...\", \"target\": \"...\"}          what `t5p pseudo` writes\n"
    "  TSV    target<TAB>source (line stripped first)    CSL title<TAB>abstract, LCSTS summary<TAB>text\n"
    "Each text becomes tokenizer.encode(text, maxlen) as in the original: [CLS] tokens [SEP], a longer text\n"
    "keeping its first maxlen-1 tokens and [SEP]. Blank lines are skipped.\n"
    "  --vocab VOCAB      vocabulary (vocab.txt)\n"
    "  -D, --dict DICT    jieba dictionary (default $T5P_JIEBA_DICT or jieba's dict.txt)\n"
    "  --no-jieba         BERT basic tokenizer only (no jieba pre-tokenization)\n"
    "  --cased            do not lowercase\n"
    "  --max-src N        source maxlen (default 384: the original's pretraining; fine-tuning used 256)\n"
    "  --max-tgt N        target maxlen (default 128; fine-tuning used 32)\n"
    "  --tsv, --jsonl     input format (default: detected per file)\n"
    "  -o, --out OUT      the shard to write (atomically)\n"
    "Shard format (little-endian, versioned, checksummed, with the vocabulary's hash): see section 8 of t5p.h.\n"
    "Exit status: 0 ok, 1 cannot read or write a file, 2 bad usage or a malformed line (file:line named).\n";

static int cmd_pretokenize(int argc, char **argv) {
    const char *vocab = NULL, *dict = NULL, *out = NULL;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int nfiles = 0, threads = 0, quiet = 0, no_jieba = 0, cased = 0, format = T5P_PAIRS_AUTO;
    long max_src = 384, max_tgt = 128;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(pretokenize_help, stdout); free(files); return 0; }
        else if (strcmp(a, "--vocab") == 0) vocab = opt_value(argc, argv, &i, "pretokenize");
        else if (strcmp(a, "-D") == 0 || strcmp(a, "--dict") == 0) dict = opt_value(argc, argv, &i, "pretokenize");
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) out = opt_value(argc, argv, &i, "pretokenize");
        else if (strcmp(a, "--no-jieba") == 0) no_jieba = 1;
        else if (strcmp(a, "--cased") == 0) cased = 1;
        else if (strcmp(a, "--tsv") == 0) format = T5P_PAIRS_TSV;
        else if (strcmp(a, "--jsonl") == 0) format = T5P_PAIRS_JSONL;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--max-src") == 0) max_src = opt_long(opt_value(argc, argv, &i, "pretokenize"), "--max-src", "pretokenize", 1, 1 << 20);
        else if (strcmp(a, "--max-tgt") == 0) max_tgt = opt_long(opt_value(argc, argv, &i, "pretokenize"), "--max-tgt", "pretokenize", 2, 1 << 20);
        else if (strcmp(a, "--threads") == 0) threads = (int)opt_long(opt_value(argc, argv, &i, "pretokenize"), "--threads", "pretokenize", 1, 1024);
        else if (a[0] == '-' && a[1]) bad_option("pretokenize", a);
        else files[nfiles++] = a;
    }
    if (!vocab || !out || nfiles == 0) {
        fprintf(stderr, "t5p pretokenize: --vocab, -o OUT and at least one input are required (see t5p pretokenize --help)\n");
        free(files);
        return EXIT_USAGE;
    }
    double t0 = now_s();
    t5p_tokenizer tk;
    t5p_vocab *vb;
    t5p_jieba *jb;
    int rc = load_tokenizer("pretokenize", vocab, dict, no_jieba, cased, &tk, &vb, &jb);
    if (rc) { free(files); return rc; }
    long long total = 0;
    for (int k = 0; k < nfiles; k++) total += strcmp(files[k], "-") ? file_size(files[k]) : 0;
    progress pg;
    progress_init(&pg, "t5p pretokenize: pairs", total, !quiet);
    t5p_pairs *p = t5p_pairs_new();
    t5p_pairs_read_stats st = {0};
    int64_t done = 0;
    for (int k = 0; k < nfiles && rc == 0; k++) {
        int fmt = format;
        if (fmt == T5P_PAIRS_AUTO) fmt = strcmp(files[k], "-") ? t5p_pairs_detect(files[k]) : T5P_PAIRS_JSONL;
        if (fmt < 0) { fprintf(stderr, "t5p pretokenize: %s\n", t5p_last_error()); rc = EXIT_RUNTIME; break; }
        if (fmt == T5P_PAIRS_SHARD) {
            fprintf(stderr, "t5p pretokenize: %s is already a shard\n", files[k]);
            rc = EXIT_USAGE;
            break;
        }
        rc = read_text_pairs("pretokenize", files[k], fmt, &tk, (int)max_src, (int)max_tgt, threads, &pg, &done, p, &st);
    }
    if (rc == 0) {
        progress_show(&pg, st.pairs, done, 1);
        t5p_shard_info info = t5p_shard_info_of(&tk, (int)max_src, (int)max_tgt);
        if (t5p_shard_save(p, out, &info) < 0) {
            fprintf(stderr, "t5p pretokenize: %s\n", t5p_last_error());
            rc = EXIT_RUNTIME;
        } else if (!quiet) {
            print_read_stats("pretokenize", &st, (int)max_src, (int)max_tgt);
            fprintf(stderr, "t5p pretokenize: wrote %s (%lld bytes, vocabulary hash 0x%016llx) in %.1f s\n", out,
                    file_size(out), (unsigned long long)info.vocab_hash, now_s() - t0);
        }
    }
    t5p_pairs_free(p);
    t5p_tokenizer_free(&tk);
    t5p_jieba_free(jb);
    t5p_vocab_free(vb);
    free(files);
    return rc;
}

// --- train

static const char *train_help =
    "usage: t5p train --config tiny|small|base|DIR --vocab VOCAB --data PAIRS... --out DIR [options]\n"
    "Trains the T5 PEGASUS network on the CPU. PAIRS: pairs JSONL {\"source\",\"target\"} (t5p pseudo), TSV\n"
    "target<TAB>source (CSL title<TAB>abstract, LCSTS summary<TAB>text) or shards (t5p pretokenize);\n"
    "--data may repeat. Decoder input [CLS] t ... [SEP]; loss = mean cross-entropy of each next token over\n"
    "the non-pad targets ([SEP] included), accuracy likewise (ORIGINAL.md section 4).\n"
    "Model\n"
    "  --config C         tiny | small | base (vocab_size set from VOCAB), or a model directory's config.json\n"
    "  --init DIR         start from the weights of a model directory (t5p or Hugging Face MT5, safetensors)\n"
    "  --flavor F         pegasus (the original; default for presets) | hf-mt5 (transformers' MT5)\n"
    "  --dropout P        dropout rate (default: the config's, 0.1)\n"
    "Data\n"
    "  --vocab VOCAB      vocabulary; its size must equal the model's vocab_size\n"
    "  -D, --dict DICT    jieba dictionary for text data; --no-jieba, --cased as in t5p tokenize\n"
    "  --tsv, --jsonl     format of text data (default: detected per file)\n"
    "  --max-src N        source maxlen (default 384; --finetune: 256)\n"
    "  --max-tgt N        target maxlen (default 128; --finetune: 32)\n"
    "  --batch B          pairs per step (default 32); the last batch of an epoch may be smaller\n"
    "  --no-shuffle       keep the input order (default: a new seeded order every epoch)\n"
    "  --dev FILE         also report teacher-forced loss/accuracy on FILE at every checkpoint (dev.csv)\n"
    "  --dev-metrics      and, at the end of every epoch, generate FILE's titles and print a table row of\n"
    "                     ROUGE-1/2/L and BLEU as finetune.py scored them (dev_metrics.csv); the best epoch\n"
    "                     by BLEU is kept in OUT/best (a model directory), as the original kept its best\n"
    "  --dev-beam K       beam size of that generation (default 1: greedy, as the original evaluated)\n"
    "Optimizer\n"
    "  --optim O          adafactor (default; bert4keras AdaFactor, lr 1e-3) | adam (fine-tuning: lr 2e-4, eps\n"
    "                     1e-6) | adamw (pretraining: lr 1e-4, weight decay 0.01 except norms, warm-up 10000)\n"
    "  --lr LR, --warmup N, --weight-decay W    override the optimizer's defaults\n"
    "  --adafactor-style bert4keras|hf           hf: transformers' Adafactor (relative step unless --lr)\n"
    "  --finetune         the original's fine-tuning defaults: --optim adam --lr 2e-4 --max-src 256\n"
    "                     --max-tgt 32 --batch 32 --epochs 40\n"
    "Run\n"
    "  --out DIR          output directory: checkpoint-NNNNNNNN/ (model + optimizer + state), latest (the name\n"
    "                     of the newest), loss.csv, train_options.json\n"
    "  --steps N          stop at step N (counted from the start of the run, also across --resume)\n"
    "  --epochs N         stop after N passes over the data (default 1; --finetune: 40)\n"
    "  --seed S           data order, dropout and initial weights (default 1)\n"
    "  --save-every N     checkpoint every N steps (default 1000; 0: only at the end); --keep K: keep the K\n"
    "                     newest checkpoints (default 1)\n"
    "  --resume           continue the run in --out exactly where its newest checkpoint stopped; options not\n"
    "                     given are the run's own, options that define the run must not change\n"
    "  --threads N        CPU threads (default: all cores); results do not depend on it\n"
    "  --log-every N      without a terminal, a progress line every N steps (default 10); -q: none\n"
    "Every checkpoint is written to a temporary directory and renamed, then `latest` is replaced atomically:\n"
    "a crash leaves the previous checkpoint in place. A NaN or infinite loss stops training before the weights\n"
    "change, with exit status 1; the last good checkpoint stays. Ctrl-C saves a checkpoint and exits 130.\n"
    "Exit status: 0 done, 1 runtime failure (I/O, memory, non-finite loss), 2 bad usage or bad input.\n";

enum { TO_CONFIG, TO_VOCAB, TO_DATA, TO_INIT, TO_OPTIM, TO_LR, TO_WARMUP, TO_WD, TO_AFSTYLE, TO_BATCH, TO_MAXSRC,
       TO_MAXTGT, TO_SEED, TO_FLAVOR, TO_DROPOUT, TO_SHUFFLE, TO_DICT, TO_JIEBA, TO_CASED, TO_FORMAT, TO_N };
static const char *const train_keys[TO_N] = {
    "config", "vocab", "data", "init", "optim", "lr", "warmup", "weight_decay", "adafactor_style", "batch",
    "max_src", "max_tgt", "seed", "flavor", "dropout", "shuffle", "dict", "jieba", "cased", "format"};

typedef struct {
    char *v[TO_N];  // option values as text (numbers normalised), NULL when unset
    int given[TO_N];  // set on this command line
} train_opts;

static void topt_set(train_opts *o, int k, const char *value) {
    free(o->v[k]);
    o->v[k] = strdup(value);
    o->given[k] = 1;
}

static char *fmt_double(double x) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", x);
    return strdup(b);
}

static double opt_double(const char *s, const char *opt, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "t5p train: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        exit(EXIT_USAGE);
    }
    return v;
}

static volatile sig_atomic_t train_interrupted;
static void on_interrupt(int sig) { (void)sig; train_interrupted = 1; }

static int path_exists(const char *p) { return access(p, F_OK) == 0; }

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

// Reads the options of a run (train_options.json) into o, checking the ones given now; saved hashes out.
static int train_options_merge(const char *path, train_opts *o, uint64_t *data_hash, int64_t *data_pairs,
                               uint64_t *vocab_hash) {
    size_t n;
    char *text = t5p_read_file(path, &n);
    if (!text) { fprintf(stderr, "t5p train: --resume: %s\n", t5p_last_error()); return EXIT_USAGE; }
    t5p_json *j = t5p_json_parse(text, n, path);
    free(text);
    const t5p_json *opts = j ? t5p_json_get(j, "options") : NULL;
    const t5p_json *dh = j ? t5p_json_get(j, "data_hash") : NULL, *dp = j ? t5p_json_get(j, "data_pairs") : NULL;
    const t5p_json *vh = j ? t5p_json_get(j, "vocab_hash") : NULL;
    if (!opts || opts->type != T5P_JSON_OBJECT || !dh || dh->type != T5P_JSON_STRING || !dp || !dp->is_int || !vh ||
        vh->type != T5P_JSON_STRING) {
        fprintf(stderr, "t5p train: --resume: %s: %s\n", path, j ? "not a t5p training options file" : t5p_last_error());
        t5p_json_free(j);
        return EXIT_USAGE;
    }
    *data_hash = strtoull(dh->str, NULL, 16);
    *vocab_hash = strtoull(vh->str, NULL, 16);
    *data_pairs = dp->i;
    int rc = 0;
    for (int k = 0; k < TO_N && !rc; k++) {
        const t5p_json *v = t5p_json_get(opts, train_keys[k]);
        if (!v || v->type == T5P_JSON_NULL) {
            if (o->given[k] && k != TO_DICT) {
                fprintf(stderr, "t5p train: --resume: the run was started without --%s; it cannot be added now\n",
                        train_keys[k]);
                rc = EXIT_USAGE;
            }
            continue;
        }
        if (v->type != T5P_JSON_STRING) { fprintf(stderr, "t5p train: --resume: %s: bad \"%s\"\n", path, train_keys[k]); rc = EXIT_USAGE; break; }
        int soft = k == TO_DATA || k == TO_VOCAB || k == TO_DICT || k == TO_INIT;  // files: their contents are checked
        if (o->given[k] && soft) continue;
        if (o->given[k] && strcmp(o->v[k], v->str) != 0) {
            fprintf(stderr, "t5p train: --resume: %s '%s' differs from the run's '%s' (an exact resume needs the run's "
                    "own settings; start a new --out to change it)\n", train_keys[k], o->v[k], v->str);
            rc = EXIT_USAGE;
        } else if (!o->given[k]) {
            free(o->v[k]);
            o->v[k] = strdup(v->str);
        }
    }
    t5p_json_free(j);
    return rc;
}

static int train_options_write(const char *path, const train_opts *o, uint64_t data_hash, int64_t data_pairs,
                               uint64_t vocab_hash) {
    t5p__buf b = {0};
    T5P__LIT(&b, "{\"format\":\"t5p-train-options\",\"version\":1,\"options\":{");
    int first = 1;
    for (int k = 0; k < TO_N; k++) {
        if (!o->v[k]) continue;
        if (!first) T5P__LIT(&b, ",");
        first = 0;
        t5p__json_write_string(&b, train_keys[k], strlen(train_keys[k]));
        T5P__LIT(&b, ":");
        t5p__json_write_string(&b, o->v[k], strlen(o->v[k]));
    }
    char tail[200];
    snprintf(tail, sizeof tail, "},\"vocab_hash\":\"0x%016llx\",\"data_pairs\":%lld,\"data_hash\":\"0x%016llx\"}\n",
             (unsigned long long)vocab_hash, (long long)data_pairs, (unsigned long long)data_hash);
    t5p__buf_add(&b, tail, strlen(tail));
    int rc = t5p_write_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}

// Loads --data (or --dev) files, separated by '\n' in list, into p.
static int train_load_data(const char *list, const train_opts *o, const t5p_tokenizer *tk, int threads, int quiet,
                           t5p_pairs *p, const char *what) {
    char *copy = strdup(list);
    int rc = 0, format = !strcmp(o->v[TO_FORMAT], "tsv") ? T5P_PAIRS_TSV : !strcmp(o->v[TO_FORMAT], "jsonl") ? T5P_PAIRS_JSONL : T5P_PAIRS_AUTO;
    int max_src = atoi(o->v[TO_MAXSRC]), max_tgt = atoi(o->v[TO_MAXTGT]);
    uint64_t vh = t5p_vocab_hash(tk->vocab);
    t5p_pairs_read_stats st = {0};
    int64_t done = 0;
    int texts = 0;
    progress pg;
    progress_init(&pg, what, 0, !quiet);
    for (char *path = strtok(copy, "\n"); path && rc == 0; path = strtok(NULL, "\n")) {
        int fmt = t5p_pairs_detect(path);
        if (fmt < 0) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); rc = EXIT_USAGE; break; }
        if (fmt == T5P_PAIRS_SHARD) {
            t5p_shard_info info;
            if (t5p_shard_load(p, path, &info) < 0) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); rc = EXIT_USAGE; break; }
            int jieba = !strcmp(o->v[TO_JIEBA], "1");  // shards alone need no jieba loaded: the option says
            uint32_t want = (jieba ? 0u : (uint32_t)T5P_SHARD_NO_JIEBA) | (tk->keep_case ? (uint32_t)T5P_SHARD_CASED : 0u);
            if (info.vocab_hash != vh) {
                fprintf(stderr, "t5p train: %s was pretokenized with another vocabulary (hash 0x%016llx, %d tokens; "
                        "--vocab has 0x%016llx, %d tokens)\n", path, (unsigned long long)info.vocab_hash, info.vocab_size,
                        (unsigned long long)vh, t5p_vocab_size(tk->vocab));
                rc = EXIT_USAGE;
            } else if (info.flags != want) {
                fprintf(stderr, "t5p train: %s was pretokenized %s jieba and %s; this run uses %s jieba and %s\n", path,
                        info.flags & T5P_SHARD_NO_JIEBA ? "without" : "with", info.flags & T5P_SHARD_CASED ? "cased" : "lowercased",
                        jieba ? "with" : "without", tk->keep_case ? "cased" : "lowercased");
                rc = EXIT_USAGE;
            } else if (!quiet && ((info.max_src && info.max_src < max_src) || (info.max_tgt && info.max_tgt < max_tgt)))
                fprintf(stderr, "t5p train: note: %s holds texts cut at %d / %d tokens (this run allows %d / %d)\n", path,
                        info.max_src, info.max_tgt, max_src, max_tgt);
            continue;
        }
        if (format != T5P_PAIRS_AUTO) fmt = format;
        texts = 1;
        rc = read_text_pairs("train", path, fmt, tk, max_src, max_tgt, threads, &pg, &done, p, &st);
    }
    if (rc == 0 && texts && !quiet) {
        progress_show(&pg, st.pairs, done, 1);
        print_read_stats("train", &st, max_src, max_tgt);
    }
    free(copy);
    return rc;
}

typedef struct {
    char **names;
    int n, keep;
} ckpt_list;

// Saves OUT/checkpoint-STEP, points OUT/latest at it, removes checkpoints beyond --keep.
static int train_save(t5p_trainer *tr, const char *out, int64_t step, ckpt_list *kl) {
    char name[64];
    snprintf(name, sizeof name, "checkpoint-%08lld", (long long)step);
    char *dir = join_path(out, name), *latest = join_path(out, "latest");
    int rc = t5p_trainer_save(tr, dir);
    char line[80];
    snprintf(line, sizeof line, "%s\n", name);
    if (rc == 0) rc = t5p_write_atomic(latest, line, strlen(line));
    if (rc < 0) fprintf(stderr, "\nt5p train: saving the checkpoint failed: %s\n", t5p_last_error());
    free(dir);
    free(latest);
    if (rc < 0) return EXIT_RUNTIME;
    int dup = kl->n && !strcmp(kl->names[kl->n - 1], name);
    if (!dup) {
        kl->names = realloc(kl->names, sizeof(char *) * (size_t)(kl->n + 1));
        kl->names[kl->n++] = strdup(name);
    }
    while (kl->n > kl->keep) {  // only checkpoints of this run, never the one `latest` names
        char *old = join_path(out, kl->names[0]);
        const char *files[] = {"model.safetensors", "vocab.txt", "config.json", "optimizer.safetensors",
                               "train_state.json"};
        for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
            char *f = join_path(old, files[k]);
            unlink(f);
            free(f);
        }
        rmdir(old);
        free(old);
        free(kl->names[0]);
        memmove(kl->names, kl->names + 1, sizeof(char *) * (size_t)(kl->n - 1));
        kl->n--;
    }
    return 0;
}

// Keeps the rows of OUT/loss.csv up to `step` (a resumed run rewrites what came after its checkpoint).
static int csv_truncate(const char *path, int64_t step) {
    size_t n;
    char *text = t5p_read_file(path, &n);
    if (!text) return 0;
    t5p__buf b = {0};
    for (char *line = text; line < text + n;) {
        char *nl = memchr(line, '\n', (size_t)(text + n - line));
        size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(text + n - line);
        char *end;
        long long s = strtoll(line, &end, 10);
        if (end == line || s <= step) t5p__buf_add(&b, line, len);  // the header, or a row to keep
        line += len;
    }
    int rc = t5p_write_atomic(path, b.p ? b.p : "", b.n);
    free(b.p);
    free(text);
    return rc;
}

static void fmt_duration(char *b, size_t n, double s) {
    if (s < 0 || s > 1e8) snprintf(b, n, "?");
    else if (s < 60) snprintf(b, n, "%.0fs", s);
    else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(b, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

#include "dev_metrics.inc"

static int cmd_train(int argc, char **argv) {
    train_opts o;
    memset(&o, 0, sizeof o);
    const char *out = NULL, *dev = NULL;
    long steps = 0, epochs = 0, save_every = 1000, keep = 1, log_every = 10;
    int threads = 0, quiet = 0, resume = 0, finetune = 0, dev_gen = 0;
    long dev_beam = 1;
    t5p__buf data = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char num[40];
        if (is_help(a)) { fputs(train_help, stdout); return 0; }
        else if (!strcmp(a, "--config")) topt_set(&o, TO_CONFIG, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "--vocab")) topt_set(&o, TO_VOCAB, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "--data")) {
            const char *v = opt_value(argc, argv, &i, "train");
            if (data.n) t5p__buf_add(&data, "\n", 1);
            t5p__buf_add(&data, v, strlen(v));
            topt_set(&o, TO_DATA, data.p);
        } else if (!strcmp(a, "--init")) topt_set(&o, TO_INIT, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "--optim")) topt_set(&o, TO_OPTIM, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "--adafactor-style")) topt_set(&o, TO_AFSTYLE, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "--flavor")) topt_set(&o, TO_FLAVOR, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "-D") || !strcmp(a, "--dict")) topt_set(&o, TO_DICT, opt_value(argc, argv, &i, "train"));
        else if (!strcmp(a, "--no-jieba")) topt_set(&o, TO_JIEBA, "0");
        else if (!strcmp(a, "--cased")) topt_set(&o, TO_CASED, "1");
        else if (!strcmp(a, "--no-shuffle")) topt_set(&o, TO_SHUFFLE, "0");
        else if (!strcmp(a, "--tsv")) topt_set(&o, TO_FORMAT, "tsv");
        else if (!strcmp(a, "--jsonl")) topt_set(&o, TO_FORMAT, "jsonl");
        else if (!strcmp(a, "--lr") || !strcmp(a, "--weight-decay") || !strcmp(a, "--dropout")) {
            int k = a[2] == 'l' ? TO_LR : a[2] == 'w' ? TO_WD : TO_DROPOUT;
            double v = opt_double(opt_value(argc, argv, &i, "train"), a, 0, k == TO_DROPOUT ? 0.99 : 1e300);
            char *s = fmt_double(v);
            topt_set(&o, k, s);
            free(s);
        } else if (!strcmp(a, "--warmup") || !strcmp(a, "--batch") || !strcmp(a, "--max-src") || !strcmp(a, "--max-tgt") ||
                   !strcmp(a, "--seed")) {
            int k = a[2] == 'w' ? TO_WARMUP : a[2] == 'b' ? TO_BATCH : a[2] == 's' ? TO_SEED : a[6] == 's' ? TO_MAXSRC : TO_MAXTGT;
            long lo = k == TO_WARMUP || k == TO_SEED ? 0 : k == TO_MAXTGT ? 2 : 1;
            long v = opt_long(opt_value(argc, argv, &i, "train"), a, "train", lo, k == TO_SEED ? LONG_MAX : 1L << 24);
            snprintf(num, sizeof num, "%ld", v);
            topt_set(&o, k, num);
        } else if (!strcmp(a, "--out")) out = opt_value(argc, argv, &i, "train");
        else if (!strcmp(a, "--dev")) dev = opt_value(argc, argv, &i, "train");
        else if (!strcmp(a, "--dev-metrics")) dev_gen = 1;
        else if (!strcmp(a, "--dev-beam")) dev_beam = opt_long(opt_value(argc, argv, &i, "train"), a, "train", 1, 64), dev_gen = 1;
        else if (!strcmp(a, "--steps")) steps = opt_long(opt_value(argc, argv, &i, "train"), a, "train", 1, LONG_MAX);
        else if (!strcmp(a, "--epochs")) epochs = opt_long(opt_value(argc, argv, &i, "train"), a, "train", 1, 1L << 30);
        else if (!strcmp(a, "--save-every")) save_every = opt_long(opt_value(argc, argv, &i, "train"), a, "train", 0, LONG_MAX);
        else if (!strcmp(a, "--keep")) keep = opt_long(opt_value(argc, argv, &i, "train"), a, "train", 1, 1000);
        else if (!strcmp(a, "--log-every")) log_every = opt_long(opt_value(argc, argv, &i, "train"), a, "train", 1, LONG_MAX);
        else if (!strcmp(a, "--threads")) threads = (int)opt_long(opt_value(argc, argv, &i, "train"), a, "train", 1, 1024);
        else if (!strcmp(a, "--resume")) resume = 1;
        else if (!strcmp(a, "--finetune")) finetune = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else bad_option("train", a);
    }
    free(data.p);
    if (!out) { fprintf(stderr, "t5p train: --out DIR is required (see t5p train --help)\n"); return EXIT_USAGE; }
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    char *opts_path = join_path(out, "train_options.json"), *latest_path = join_path(out, "latest");
    char *csv_path = join_path(out, "loss.csv"), *dev_path = join_path(out, "dev.csv");
    uint64_t saved_dh = 0, saved_vh = 0;
    int64_t saved_np = -1;
    char *ckpt = NULL;  // the checkpoint to resume
    if (resume) {
        if (!path_exists(opts_path) || !path_exists(latest_path)) {
            fprintf(stderr, "t5p train: --resume: %s holds no training run with a checkpoint (no %s)\n", out,
                    path_exists(opts_path) ? "latest" : "train_options.json");
            return EXIT_USAGE;
        }
        int rc = train_options_merge(opts_path, &o, &saved_dh, &saved_np, &saved_vh);
        if (rc) return rc;
        ckpt = t5p__latest_dir(out);
        if (!ckpt || !path_exists(ckpt)) {
            fprintf(stderr, "t5p train: --resume: %s/latest names no checkpoint directory\n", out);
            return EXIT_USAGE;
        }
    } else if (path_exists(opts_path) || path_exists(latest_path)) {
        fprintf(stderr, "t5p train: %s already holds a training run: --resume it, or choose another --out\n", out);
        return EXIT_USAGE;
    }
    // defaults of options still unset
    const char *optim_def = finetune ? "adam" : "adafactor";
    if (!o.v[TO_OPTIM]) o.v[TO_OPTIM] = strdup(optim_def);
    int kind = t5p_optim_kind(o.v[TO_OPTIM]);
    if (kind < 0) { fprintf(stderr, "t5p train: --optim expects adafactor, adam or adamw, got '%s'\n", o.v[TO_OPTIM]); return EXIT_USAGE; }
    if (!o.v[TO_AFSTYLE]) o.v[TO_AFSTYLE] = strdup("bert4keras");
    if (strcmp(o.v[TO_AFSTYLE], "bert4keras") && strcmp(o.v[TO_AFSTYLE], "hf")) {
        fprintf(stderr, "t5p train: --adafactor-style expects bert4keras or hf, got '%s'\n", o.v[TO_AFSTYLE]);
        return EXIT_USAGE;
    }
    t5p_optim_config oc = kind == T5P_OPTIM_ADAFACTOR && !strcmp(o.v[TO_AFSTYLE], "hf") ? t5p_optim_config_adafactor_hf()
                                                                                        : t5p_optim_config_default(kind);
    if (o.v[TO_LR]) oc.lr = atof(o.v[TO_LR]), oc.relative_step = oc.relative_step && oc.lr <= 0;
    else if (!(kind == T5P_OPTIM_ADAFACTOR && oc.relative_step)) o.v[TO_LR] = fmt_double(oc.lr);
    if (o.v[TO_WARMUP]) oc.warmup_steps = atol(o.v[TO_WARMUP]);
    else { char b[32]; snprintf(b, sizeof b, "%ld", oc.warmup_steps); o.v[TO_WARMUP] = strdup(b); }
    if (o.v[TO_WD]) oc.weight_decay = atof(o.v[TO_WD]);
    else o.v[TO_WD] = fmt_double(oc.weight_decay);
    const char *defs[][2] = {{"32", "32"}, {"384", "256"}, {"128", "32"}};
    if (!o.v[TO_BATCH]) o.v[TO_BATCH] = strdup(defs[0][finetune]);
    if (!o.v[TO_MAXSRC]) o.v[TO_MAXSRC] = strdup(defs[1][finetune]);
    if (!o.v[TO_MAXTGT]) o.v[TO_MAXTGT] = strdup(defs[2][finetune]);
    if (!o.v[TO_SEED]) o.v[TO_SEED] = strdup("1");
    if (!o.v[TO_SHUFFLE]) o.v[TO_SHUFFLE] = strdup("1");
    if (!o.v[TO_JIEBA]) o.v[TO_JIEBA] = strdup("1");
    if (!o.v[TO_CASED]) o.v[TO_CASED] = strdup("0");
    if (!o.v[TO_FORMAT]) o.v[TO_FORMAT] = strdup("auto");
    if (!epochs && !steps) epochs = finetune ? 40 : 1;
    if (!o.v[TO_VOCAB] || !o.v[TO_DATA] || (!o.v[TO_CONFIG] && !o.v[TO_INIT])) {
        fprintf(stderr, "t5p train: --vocab, --data and --config (or --init) are required (see t5p train --help)\n");
        return EXIT_USAGE;
    }
    if (o.v[TO_FLAVOR] && t5p_flavor_parse(o.v[TO_FLAVOR]) < 0) {
        fprintf(stderr, "t5p train: --flavor expects pegasus or hf-mt5, got '%s'\n", o.v[TO_FLAVOR]);
        return EXIT_USAGE;
    }

    // the model: from the checkpoint (--resume), --init, or a fresh one from --config
    double t_start = now_s();
    t5p_model *m = NULL;
    t5p_config cfg;
    const char *cfgname = o.v[TO_CONFIG];
    int preset = cfgname && t5p_config_preset(&cfg, cfgname) == 0;
    if (cfgname && !preset) {
        char *cp = join_path(cfgname, "config.json");
        int rc = path_exists(cp) ? t5p_config_load(&cfg, cp) : -1;
        if (rc < 0) {
            fprintf(stderr, "t5p train: --config %s: %s\n", cfgname,
                    path_exists(cp) ? t5p_last_error() : "neither tiny, small, base nor a directory with config.json");
            free(cp);
            return EXIT_USAGE;
        }
        free(cp);
    }
    t5p_vocab *vb = t5p_vocab_load(o.v[TO_VOCAB]);
    if (!vb) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); return EXIT_USAGE; }
    if (preset) cfg.vocab_size = t5p_vocab_size(vb);
    if (resume || o.v[TO_INIT]) {
        const char *from = resume ? ckpt : o.v[TO_INIT];
        m = t5p_model_load(from);
        if (!m) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); return resume ? EXIT_RUNTIME : EXIT_USAGE; }
        const t5p_config *c = &m->cfg;
        if (cfgname && (cfg.vocab_size != c->vocab_size || cfg.d_model != c->d_model || cfg.d_ff != c->d_ff ||
                        cfg.num_heads != c->num_heads || cfg.d_kv != c->d_kv || cfg.num_layers != c->num_layers ||
                        cfg.num_decoder_layers != c->num_decoder_layers || cfg.num_buckets != c->num_buckets)) {
            fprintf(stderr, "t5p train: --config %s (d_model %d, %d+%d layers, vocab %d) does not match the model in %s "
                    "(d_model %d, %d+%d layers, vocab %d)\n", cfgname, cfg.d_model, cfg.num_layers, cfg.num_decoder_layers,
                    cfg.vocab_size, from, c->d_model, c->num_layers, c->num_decoder_layers, c->vocab_size);
            return EXIT_USAGE;
        }
    } else {
        m = t5p_model_new(&cfg);
        if (!m) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); return EXIT_RUNTIME; }
        t5p_params_init(&m->cfg, m->params, strtoull(o.v[TO_SEED], NULL, 10));
    }
    if (o.v[TO_FLAVOR]) m->cfg.flavor = t5p_flavor_parse(o.v[TO_FLAVOR]);
    if (o.v[TO_DROPOUT]) m->cfg.dropout = (float)atof(o.v[TO_DROPOUT]);
    if (t5p_model_set_vocab(m, o.v[TO_VOCAB]) < 0) {
        fprintf(stderr, "t5p train: --vocab %s\n", t5p_last_error());
        return EXIT_USAGE;
    }
    uint64_t vh = t5p_vocab_hash(vb);
    if (resume && vh != saved_vh) {
        fprintf(stderr, "t5p train: --resume: %s is not the vocabulary the run started with\n", o.v[TO_VOCAB]);
        return EXIT_USAGE;
    }

    // data (jieba only when some input is text)
    int need_jieba = 0;
    {
        char *copy = strdup(o.v[TO_DATA]);
        for (char *p = strtok(copy, "\n"); p; p = strtok(NULL, "\n")) need_jieba |= t5p_pairs_detect(p) != T5P_PAIRS_SHARD;
        free(copy);
    }
    need_jieba = (need_jieba || dev) && !strcmp(o.v[TO_JIEBA], "1");
    t5p_jieba *jb = NULL;
    if (need_jieba) {
        jb = t5p_jieba_load(o.v[TO_DICT] && *o.v[TO_DICT] ? o.v[TO_DICT] : t5p_jieba_default_dict(), NULL);
        if (!jb) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); return EXIT_USAGE; }
    }
    t5p_tokenizer tk;
    if (t5p_tokenizer_init(&tk, jb, vb) < 0) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); return EXIT_RUNTIME; }
    tk.keep_case = !strcmp(o.v[TO_CASED], "1");
    t5p_pairs *pairs = t5p_pairs_new(), *devp = dev ? t5p_pairs_new() : NULL;
    int rc = train_load_data(o.v[TO_DATA], &o, &tk, threads, quiet, pairs, "t5p train: reading pairs");
    if (rc == 0 && dev) rc = train_load_data(dev, &o, &tk, threads, quiet, devp, "t5p train: reading dev pairs");
    if (rc) return rc;
    uint64_t dh = t5p_pairs_hash(pairs);
    int64_t np = t5p_pairs_count(pairs);
    if (np == 0) { fprintf(stderr, "t5p train: no training pairs in %s\n", o.v[TO_DATA]); return EXIT_USAGE; }
    if (resume && (dh != saved_dh || np != saved_np)) {
        fprintf(stderr, "t5p train: --resume: the data differ from the run's (%lld pairs, hash 0x%016llx; the run had "
                "%lld pairs, hash 0x%016llx)\n", (long long)np, (unsigned long long)dh, (long long)saved_np,
                (unsigned long long)saved_dh);
        return EXIT_USAGE;
    }

    // the trainer
    t5p_train_config tc = t5p_train_config_default();
    tc.batch = atoi(o.v[TO_BATCH]);
    tc.max_src = atoi(o.v[TO_MAXSRC]);
    tc.max_tgt = atoi(o.v[TO_MAXTGT]);
    tc.seed = strtoull(o.v[TO_SEED], NULL, 10);
    tc.shuffle = atoi(o.v[TO_SHUFFLE]);
    t5p_trainer *tr = t5p_trainer_new(m, &oc, pairs, &tc);
    if (!tr) { fprintf(stderr, "t5p train: %s\n", t5p_last_error()); return EXIT_RUNTIME; }
    if (resume && t5p_trainer_load(tr, ckpt) < 0) {
        fprintf(stderr, "t5p train: --resume: %s\n", t5p_last_error());
        return EXIT_RUNTIME;
    }
    if (!resume) {
        if (!path_exists(out) && mkdir(out, 0755) != 0) {
            fprintf(stderr, "t5p train: cannot create %s: %s\n", out, strerror(errno));
            return EXIT_RUNTIME;
        }
        if (train_options_write(opts_path, &o, dh, np, vh) < 0 ||
            t5p_write_atomic(csv_path, "step,epoch,loss,acc,tokens,lr,grad_norm,seconds\n", 48) < 0) {
            fprintf(stderr, "t5p train: %s\n", t5p_last_error());
            return EXIT_RUNTIME;
        }
    }
    int64_t spe = t5p_trainer_steps_per_epoch(tr);
    int64_t total = steps ? steps : 0;
    if (epochs && (!total || epochs * spe < total)) total = epochs * spe;
    t5p_train_step s;
    memset(&s, 0, sizeof s);
    {  // where the run stands (0 for a new one)
        t5p_train_state st;
        char *sp = resume ? join_path(ckpt, "train_state.json") : NULL;
        if (sp && t5p_train_state_load(sp, &st) == 0) s.step = st.step, s.epoch = st.epoch, s.pos = st.data_pos;
        free(sp);
    }
    if (resume && csv_truncate(csv_path, s.step) < 0) {
        fprintf(stderr, "t5p train: %s\n", t5p_last_error());
        return EXIT_RUNTIME;
    }
    dev_metrics *dm = NULL;
    if (dev_gen) {
        if (!devp) { fprintf(stderr, "t5p train: --dev-metrics needs --dev FILE\n"); return EXIT_USAGE; }
        dm = dev_metrics_open(dev, o.v[TO_FORMAT], devp, (int)dev_beam, atoi(o.v[TO_MAXTGT]), out, resume, s.epoch, &rc);
        if (!dm) return rc;
    }
    double epoch_loss = 0;
    int64_t epoch_steps = 0;
    FILE *csv = fopen(csv_path, "a");
    if (!csv) { fprintf(stderr, "t5p train: cannot open %s: %s\n", csv_path, strerror(errno)); return EXIT_RUNTIME; }
    const t5p_config *c = &m->cfg;
    if (!quiet) {
        int nth = 1;
#ifdef _OPENMP
        nth = omp_get_max_threads();
#endif
        char lrs[40] = "relative";
        if (o.v[TO_LR]) snprintf(lrs, sizeof lrs, "%g", atof(o.v[TO_LR]));
        fprintf(stderr, "t5p train: %s model (%s, d_model %d, %d+%d layers, vocab %d, %.2f M parameters), %s lr %s, "
                "%lld pairs, batch %d, %lld steps/epoch; %s step %lld of %lld; %d threads; setup %.1f s\n",
                preset ? cfgname : "custom", t5p_flavor_name(c->flavor), c->d_model, c->num_layers, c->num_decoder_layers,
                c->vocab_size, m->num_params / 1e6, o.v[TO_OPTIM], lrs,
                (long long)np, tc.batch, (long long)spe, resume ? "resuming at" : "from", (long long)s.step,
                (long long)total, nth, now_s() - t_start);
    }
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    ckpt_list kl = {NULL, 0, (int)keep};
    if (resume) {
        kl.names = malloc(sizeof(char *));
        const char *slash = strrchr(ckpt, '/');
        kl.names[0] = strdup(slash ? slash + 1 : ckpt);
        kl.n = 1;
    }
    int tty = isatty(2);
    double t0 = now_s(), last_show = 0, time_after_first = 0, time_all = 0;  // step times, saves excluded
    int64_t first_step = s.step, saved_at = resume ? s.step : -1, tok_after_first = 0;
    long long tokens_all = 0;
    while (s.step < total && !train_interrupted) {
        double ts = now_s();
        rc = t5p_trainer_step(tr, &s);
        if (rc < 0) {
            if (!quiet && tty) fputc('\n', stderr);
            fprintf(stderr, "t5p train: %s\n", t5p_last_error());
            if (rc == T5P_ERR_NONFINITE) {
                char *lc = t5p__latest_dir(out);
                fprintf(stderr, "t5p train: stopped; the weights were not updated. The last good checkpoint is %s; "
                        "lower --lr or check the data%s\n", lc ? lc : "(none yet: no checkpoint was saved)",
                        lc ? " and --resume" : "");
                free(lc);
            }
            fclose(csv);
            return EXIT_RUNTIME;
        }
        double dt = now_s() - ts;
        long long tok = s.src_tokens + s.tgt_tokens;
        tokens_all += tok;
        time_all += dt;
        if (s.step > first_step + 1) tok_after_first += tok, time_after_first += dt;
        fprintf(csv, "%lld,%lld,%.9g,%.9g,%lld,%.9g,%.9g,%.4f\n", (long long)s.step, (long long)s.epoch, s.loss, s.acc,
                tok, s.lr, s.grad_norm, dt);
        fflush(csv);
        epoch_loss += s.loss, epoch_steps++;
        if (dm && s.epoch_done) {
            if (tty && !quiet) fputc('\n', stderr);
            if ((rc = dev_metrics_epoch(dm, m, &tk, s.epoch, s.step, epoch_loss / (double)epoch_steps, quiet))) {
                fclose(csv);
                return rc;
            }
            epoch_loss = 0, epoch_steps = 0;
        }
        double now = now_s();
        if (!quiet && (tty ? (now - last_show >= 0.5 || s.step == total) : (s.step % log_every == 0 || s.step == total))) {
            last_show = now;
            double rate = s.step > first_step + 1 ? tok_after_first / time_after_first : tokens_all / time_all;
            double per = (now - t0) / (double)(s.step - first_step);
            char eta[32];
            fmt_duration(eta, sizeof eta, per * (double)(total - s.step));
            fprintf(stderr, "%sstep %lld/%lld (epoch %lld) loss %.4f acc %.3f lr %.3g |g| %.3g | %.0f tokens/s | ETA %s%s",
                    tty ? "\r" : "", (long long)s.step, (long long)total, (long long)s.epoch, s.loss, s.acc, s.lr,
                    s.grad_norm, rate, eta, tty ? "   " : "\n");
        }
        if (save_every && s.step % save_every == 0 && s.step < total) {
            if (tty && !quiet) fputc('\n', stderr);
            if ((rc = train_save(tr, out, s.step, &kl))) { fclose(csv); return rc; }
            saved_at = s.step;
            if (devp) {
                double dl, da;
                if (t5p_trainer_eval(tr, devp, tc.batch, &dl, &da) == 0) {
                    FILE *d = fopen(dev_path, "a");
                    if (d) { fprintf(d, "%lld,%.9g,%.9g\n", (long long)s.step, dl, da); fclose(d); }
                    if (!quiet) fprintf(stderr, "t5p train: step %lld dev loss %.4f acc %.4f\n", (long long)s.step, dl, da);
                }
            }
        }
    }
    if (tty && !quiet) fputc('\n', stderr);
    fclose(csv);
    if (saved_at != s.step && (rc = train_save(tr, out, s.step, &kl))) return rc;
    if (devp && saved_at != s.step) {
        double dl, da;
        if (t5p_trainer_eval(tr, devp, tc.batch, &dl, &da) == 0) {
            FILE *d = fopen(dev_path, "a");
            if (d) { fprintf(d, "%lld,%.9g,%.9g\n", (long long)s.step, dl, da); fclose(d); }
            if (!quiet) fprintf(stderr, "t5p train: step %lld dev loss %.4f acc %.4f\n", (long long)s.step, dl, da);
        }
    }
    double el = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t done = s.step - first_step;
    double rate = done > 1 ? tok_after_first / time_after_first : done ? tokens_all / time_all : 0;
    char *lc = t5p__latest_dir(out);
    if (!quiet || done)
        fprintf(stderr, "t5p train: %lld steps in %.1f s (%.0f tokens/s after the first step, %.3f s/step, checkpoints "
                "and data not counted), loss %.4f, peak memory %.0f MB, optimizer state %.1f MB; checkpoint %s%s\n",
                (long long)done, el, rate, done > 1 ? time_after_first / (double)(done - 1) : time_all, s.loss, ru.ru_maxrss / 1024.0, t5p_optim_state_bytes(t5p_trainer_optim(tr)) / 1e6,
                lc ? lc : "?", train_interrupted ? " (interrupted)" : "");
    free(lc);
    if (dm && dm->best_epoch && !quiet)
        fprintf(stderr, "t5p train: best epoch %lld (dev BLEU %.2f%%), kept in %s\n", (long long)dm->best_epoch,
                100 * dm->best_bleu, dm->best_dir);
    dev_metrics_free(dm);
    t5p_trainer_free(tr);
    t5p_pairs_free(pairs);
    t5p_pairs_free(devp);
    t5p_model_free(m);
    t5p_tokenizer_free(&tk);
    t5p_jieba_free(jb);
    t5p_vocab_free(vb);
    return train_interrupted ? 130 : 0;
}

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
    {"pretokenize", cmd_pretokenize, "tokenize training pairs (JSONL / TSV) into a shard for t5p train"},
    {"train", cmd_train, "train or fine-tune the network on the CPU (checkpoints, --resume, loss log)"},
    {"generate", cmd_generate, "titles or summaries from a model: greedy, beam search, sampling"},
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
