// t5p - the command line tool over t5p.h.
// Every subcommand has --help, reads FILE arguments or stdin, writes stdout, reports progress on
// stderr for long work, and exits 0 on success, 1 on a runtime failure, 2 on bad usage or input.
#define _POSIX_C_SOURCE 200809L
#define T5P_IMPLEMENTATION
#include "t5p.h"

#include <stdlib.h>
#include <string.h>
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
// subcommands

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

// Block line reader for big corpora: the line endings of t5p_lines ("\n", "\r\n", a lone "\r"), lines of
// any length, without a call per byte. *line points into the reader until the next call.
typedef struct {
    FILE *f;
    char *buf, *part;
    size_t pos, end, part_cap;
    long lineno;
    int cr, eof;
} block_lines;

static long block_lines_next(block_lines *r, const char **line) {
    enum { BLOCK = 1 << 20 };
    size_t have = 0;
    int partial = 0;
    if (!r->buf && !(r->buf = (char *)malloc(BLOCK))) return -2;
    for (;;) {
        if (r->pos == r->end) {
            r->pos = r->end = 0;
            if (!r->eof) r->end = fread(r->buf, 1, BLOCK, r->f);
            if (r->end == 0) { r->eof = 1; break; }
        }
        if (r->cr) {  // a '\r' ended the last line: a '\n' right after it belongs to it
            r->cr = 0;
            if (r->buf[r->pos] == '\n') { r->pos++; continue; }
        }
        char *s = r->buf + r->pos, *e = (char *)memchr(s, '\n', r->end - r->pos);
        char *c = (char *)memchr(s, '\r', (size_t)((e ? e : r->buf + r->end) - s));
        if (c) e = c;
        size_t n = (size_t)((e ? e : r->buf + r->end) - s);
        if (e && !partial) {  // the whole line is in the block
            r->pos += n + 1, r->cr = *e == '\r', r->lineno++;
            *line = s;
            return (long)n;
        }
        if (have + n + 1 > r->part_cap) {
            r->part_cap = (have + n + 1) * 2;
            if (!(r->part = (char *)realloc(r->part, r->part_cap))) return -2;
        }
        memcpy(r->part + have, s, n), have += n, partial = 1;
        r->pos += n + (e != NULL);
        if (e) { r->cr = *e == '\r'; break; }
    }
    if (!partial) return -1;
    r->lineno++;
    *line = r->part;
    return (long)have;
}

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
        block_lines lr = {in, NULL, NULL, 0, 0, 0, 0, 0, 0};
        int eof = 0;
        while (!eof && !rc) {
            int nd = 0;
            size_t chunk_bytes = 0;
            while (nd < CHUNK_DOCS && chunk_bytes < CHUNK_BYTES) {
                const char *line;
                long n = block_lines_next(&lr, &line);
                if (n == -2) { fprintf(stderr, "t5p pseudo: out of memory\n"); exit(EXIT_RUNTIME); }
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
        free(lr.buf), free(lr.part);
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

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"pseudo", cmd_pseudo, "PEGASUS pseudo-summary pairs (JSONL) from documents"},
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
