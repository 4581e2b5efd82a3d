// tests/test.h - the tiny harness every test_*.c uses.
// Each check prints one line: "PASS name", "FAIL name: why" or "SKIP name: why";
// build.sh counts them. main() returns t5pt_exit() (non-zero on any failure).
#ifndef T5P_TEST_H
#define T5P_TEST_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int t5pt_failed;

static inline void t5pt_pass(const char *name) { printf("PASS %s\n", name); fflush(stdout); }
static inline void t5pt_fail(const char *name, const char *fmt, ...) {
    va_list ap;
    printf("FAIL %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    t5pt_failed++;
}
static inline void t5pt_skip(const char *name, const char *why) { printf("SKIP %s: %s\n", name, why); fflush(stdout); }
static inline int t5pt_exit(void) { return t5pt_failed ? 1 : 0; }

// Repository root (build.sh exports T5P_ROOT; tests run from build/tests otherwise).
static inline const char *t5pt_root(void) {
    const char *r = getenv("T5P_ROOT");
    return r ? r : "../..";
}
// Path under the repository root.
static inline const char *t5pt_path(const char *rel) {
    static char buf[8][4096];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 4096, "%s/%s", t5pt_root(), rel);
    return b;
}
// Path of a file in ../shared/data, or NULL when it is absent (the caller reports a skip).
static inline const char *t5pt_shared(const char *rel) {
    const char *b = t5pt_path("../shared/data/");
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 4096, "%s%s", b, rel);
    return access(p, R_OK) == 0 ? p : NULL;
}

// Scratch directory of a test (tests that write files set it up with t5pt_tmp_dir) and paths in it.
static char t5pt_tmp_root[256];

static inline void t5pt_rm_rf(const char *path) {
    char cmd[2100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", path);
}

static inline const char *t5pt_tmp_path(const char *rel) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 512, "%s/%s", t5pt_tmp_root, rel);
    return b;
}
#endif
