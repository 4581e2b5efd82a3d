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

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
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
