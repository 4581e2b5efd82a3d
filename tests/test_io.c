// tests/test_io.c - JSON reader/writer against Python's json, safetensors against the safetensors
// library (tests/golden/io_py.safetensors, written by tests/ref/ref_io.py), float16/bfloat16
// conversions, corrupt and truncated files, atomic writes, training-state files.
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>
#include <signal.h>
#include <sys/resource.h>

// --- the tensors of tests/ref/ref_io.py io_tensors()

static const uint32_t F16_SRC[] = {0x00000000, 0x80000000, 0x3F800000, 0xC0200000, 0x477FE000, 0x477FEFFF, 0x477FF000,
                                   0x49742400, 0x38800000, 0x387BA5E3, 0x33800000, 0x33000000, 0x33000001, 0x3EAAAAAB,
                                   0x3DCCCCCD, 0x3F802000, 0x3F801000, 0x3F803000, 0x7F800000, 0xFF800000, 0x7FC00000,
                                   0x00000001, 0x38000000, 0xB8FFFFFF};
static const uint32_t BF16_SRC[] = {0x00000000, 0x80000000, 0x3F800000, 0x3F808000, 0x3F818000, 0x3F817FFF,
                                    0x7F7FC99E, 0x7F7F0000, 0x000116C2, 0x3DCCCCCD, 0x3EAAAAAB, 0xC2F6E979,
                                    0x7F800000, 0xFF800000, 0xFF7FFFFF, 0x00000001};
#define NF16 (sizeof F16_SRC / 4 + 40)
#define NBF16 (sizeof BF16_SRC / 4 + 40)

static void splitmix_uniform(uint64_t seed, double *out, int n) {
    uint64_t s = seed;
    for (int k = 0; k < n; k++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        out[k] = (double)(z >> 40) / 16777216.0 * 2.0 - 1.0;
    }
}

static float bits_f32(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static float f32v[12], f16src[NF16], bf16src[NBF16], f32_2[2] = {1, 2}, f32_1[1] = {7}, scalar[1] = {3.5f};
static uint16_t f16v[NF16], bf16v[NBF16];
static int64_t i64v[6] = {0, -1, (int64_t)1 << 40, -((int64_t)1 << 62), 7, INT64_MAX};
static int32_t i32v[5] = {0, -1, INT32_MAX, INT32_MIN, 12345};
static uint8_t u8v[3] = {0, 128, 255};
static double f64v[2] = {0.1, -1e300};
#define NT 11
static t5p_tensor T[NT];

static void io_tensors(void) {
    for (int k = 0; k < 12; k++) f32v[k] = k * 0.25f - 1.5f;
    double u[40];
    int n = (int)(sizeof F16_SRC / 4);
    for (int k = 0; k < n; k++) f16src[k] = bits_f32(F16_SRC[k]);
    splitmix_uniform(7, u, 40);
    for (int k = 0; k < 40; k++) f16src[n + k] = (float)(u[k] * 1000.0);
    n = (int)(sizeof BF16_SRC / 4);
    for (int k = 0; k < n; k++) bf16src[k] = bits_f32(BF16_SRC[k]);
    splitmix_uniform(8, u, 40);
    for (int k = 0; k < 40; k++) bf16src[n + k] = (float)(u[k] * 1000.0);
    for (size_t k = 0; k < NF16; k++) f16v[k] = t5p_f32_to_f16(f16src[k]);
    for (size_t k = 0; k < NBF16; k++) bf16v[k] = t5p_f32_to_bf16(bf16src[k]);
    t5p_tensor t[NT] = {
        {"f32", T5P_DT_F32, 2, {3, 4}, f32v},
        {"f16", T5P_DT_F16, 1, {NF16}, f16v},
        {"bf16", T5P_DT_BF16, 1, {NBF16}, bf16v},
        {"i64", T5P_DT_I64, 2, {2, 3}, i64v},
        {"i32", T5P_DT_I32, 1, {5}, i32v},
        {"u8", T5P_DT_U8, 1, {3}, u8v},
        {"f64", T5P_DT_F64, 1, {2}, f64v},
        {"empty", T5P_DT_F32, 2, {0, 4}, NULL},
        {"scalar", T5P_DT_F32, 0, {0}, scalar},
        {"\xE5\x90\x8D\xE5\xAD\x97.weight", T5P_DT_F32, 1, {2}, f32_2},
        {"quote\"and\\back\n", T5P_DT_F32, 1, {1}, f32_1},
    };
    memcpy(T, t, sizeof t);
}

static char *slurp(const char *path, size_t *n) { return t5p_read_file(path, n); }

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(p, 1, n, f);
    fclose(f);
    return 0;
}

static int same_tensor(const t5p_tensor *a, const t5p_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return t5p_tensor_nbytes(a) == 0 || memcmp(a->data, b->data, (size_t)t5p_tensor_nbytes(a)) == 0;
}

// --- safetensors against the library

static void test_golden_read(void) {
    const char *path = t5pt_path("tests/golden/io_py.safetensors");
    t5p_safetensors *st = t5p_safetensors_open(path);
    if (!st) { t5pt_fail("safetensors read python file", "%s", t5p_last_error()); return; }
    int ok = st->n == NT && st->nmeta == 1 && strcmp(t5p_safetensors_meta(st, "format"), "pt") == 0;
    for (int k = 0; k < NT && ok; k++) {
        const t5p_tensor *t = t5p_safetensors_find(st, T[k].name);
        if (!t || !same_tensor(t, &T[k])) {
            printf("  tensor '%s' differs (float16/bfloat16 rounding or layout)\n", T[k].name);
            ok = 0;
        }
    }
    // data in the library's order: dtype descending, then name
    for (int k = 1; k < st->n && ok; k++)
        if (st->t[k - 1].dtype < st->t[k].dtype ||
            (st->t[k - 1].dtype == st->t[k].dtype && strcmp(st->t[k - 1].name, st->t[k].name) > 0))
            ok = 0;
    float f[NF16];
    const int64_t shp[1] = {NF16};
    if (ok && t5p_safetensors_read_f32(st, "f16", f, 1, shp) < 0) ok = 0;
    for (size_t k = 0; k < NF16 && ok; k++)
        if (!(f[k] == t5p_f16_to_f32(f16v[k]) || (isnan(f[k]) && isnan(f16src[k])))) ok = 0;
    int64_t bad[1] = {3};
    if (ok && (t5p_safetensors_read_f32(st, "f16", f, 1, bad) >= 0 || !strstr(t5p_last_error(), "tensor 'f16' has shape [64], expected [3]")))
        ok = 0, printf("  %s\n", t5p_last_error());
    if (ok && (t5p_safetensors_read_f32(st, "i64", f, 2, (int64_t[]){2, 3}) >= 0 || !strstr(t5p_last_error(), "dtype I64")))
        ok = 0, printf("  %s\n", t5p_last_error());
    if (ok && (t5p_safetensors_read_f32(st, "nope", f, 1, shp) >= 0 || !strstr(t5p_last_error(), "'nope' is missing"))) ok = 0;
    t5p_safetensors_close(st);
    if (ok) t5pt_pass("safetensors read python file (F32/F16/BF16/I64/I32/U8/F64, empty, scalar, unicode names)");
    else t5pt_fail("safetensors read python file", "see above");
}

static void test_golden_write(void) {
    size_t ng, nc;
    char *gold = slurp(t5pt_path("tests/golden/io_py.safetensors"), &ng);
    const char *meta[] = {"format", "pt", NULL};
    // shuffled input order: the writer sorts like the library
    t5p_tensor shuf[NT];
    for (int k = 0; k < NT; k++) shuf[k] = T[(k * 7) % NT];
    int rc = t5p_safetensors_save("io_c.safetensors", shuf, NT, meta);
    char *mine = rc == 0 ? slurp("io_c.safetensors", &nc) : NULL;
    if (!gold || !mine) t5pt_fail("safetensors write = library bytes", "%s", t5p_last_error());
    else if (nc != ng || memcmp(gold, mine, ng) != 0) {
        size_t k = 0;
        while (k < nc && k < ng && gold[k] == mine[k]) k++;
        t5pt_fail("safetensors write = library bytes", "%zu vs %zu bytes, first difference at byte %zu", nc, ng, k);
    } else t5pt_pass("safetensors write = library bytes (check with: tests/ref/ref_io.py --check build/tests/io_c.safetensors)");
    free(gold);
    free(mine);
    // our own round trip, no metadata
    rc = t5p_safetensors_save("io_rt.safetensors", T, NT, NULL);
    t5p_safetensors *st = rc == 0 ? t5p_safetensors_open("io_rt.safetensors") : NULL;
    int ok = st && st->n == NT && st->nmeta == 0 && st->meta == NULL;
    for (int k = 0; ok && k < NT; k++) ok = same_tensor(t5p_safetensors_find(st, T[k].name), &T[k]);
    t5p_safetensors_close(st);
    remove("io_rt.safetensors");
    if (ok) t5pt_pass("safetensors round trip");
    else t5pt_fail("safetensors round trip", "%s", t5p_last_error());
    // bad arguments
    t5p_tensor dup[2] = {T[0], T[0]};
    ok = t5p_safetensors_save("x.safetensors", dup, 2, NULL) == T5P_ERR_ARG && strstr(t5p_last_error(), "'f32' appears twice");
    t5p_tensor md = T[0];
    md.name = "__metadata__";
    ok &= t5p_safetensors_save("x.safetensors", &md, 1, NULL) == T5P_ERR_ARG;
    ok &= t5p_safetensors_save("no/such/dir/x.safetensors", T, 1, NULL) == T5P_ERR_IO && strstr(t5p_last_error(), "no/such/dir/x.safetensors");
    ok &= access("x.safetensors", F_OK) != 0;
    if (ok) t5pt_pass("safetensors write argument errors");
    else t5pt_fail("safetensors write argument errors", "%s", t5p_last_error());
}

// Every conversion against its inverse, over all 65536 half / bfloat16 patterns.
static void test_half(void) {
    int ok = 1;
    for (uint32_t h = 0; h < 65536 && ok; h++) {
        float f = t5p_f16_to_f32((uint16_t)h), b = t5p_bf16_to_f32((uint16_t)h);
        if (isnan(f)) ok &= isnan(t5p_f16_to_f32(t5p_f32_to_f16(f)));
        else ok &= t5p_f32_to_f16(f) == h;
        if (isnan(b)) ok &= isnan(t5p_bf16_to_f32(t5p_f32_to_bf16(b)));
        else ok &= t5p_f32_to_bf16(b) == h;
        if (!ok) printf("  pattern 0x%04x\n", h);
    }
    // halfway points between neighbouring halves round to even
    for (uint32_t h = 0; h < 0x7bff && ok; h++) {
        double lo = t5p_f16_to_f32((uint16_t)h), hi = t5p_f16_to_f32((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2);  // exact in float32
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if (t5p_f32_to_f16(mid) != want) { printf("  midpoint after 0x%04x\n", h); ok = 0; }
    }
    if (ok) t5pt_pass("float16/bfloat16 conversions (all patterns, ties to even)");
    else t5pt_fail("float16/bfloat16 conversions", "see above");
}

// --- corrupt files

// A file from header text and n data bytes.
static void make_file(const char *path, const char *header, size_t data_n) {
    size_t hn = strlen(header);
    unsigned char *b = calloc(1, 8 + hn + data_n + 1);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hn >> (8 * k));
    memcpy(b + 8, header, hn);
    write_bytes(path, b, 8 + hn + data_n);
    free(b);
}

static void test_corrupt(void) {
    const char *p = "bad.safetensors";
    struct { const char *header; size_t data; const char *want; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "tensor 'a' needs data bytes 0..8 but the file holds only 4: truncated"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "4 bytes after the last tensor"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': unknown dtype \"F33\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "tensor 'a': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape must hold non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape must hold non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "0 <= begin <= end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'a': missing \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, "data bytes 4..8 belong to no tensor (gap before tensor 'b')"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "tensor 'b' (data bytes 4..8) overlaps tensor 'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "tensor 'a' appears twice"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of 'k' is not a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, "header: byte 54: expected a string key, found '}'"},
        {"[1]", 0, "does not start with '{'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8, "needs more than"},
        {"{}", 0, NULL},
        {"{\"__metadata__\":{}}    ", 0, NULL},
    };
    int ok = 1;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        make_file(p, cases[k].header, cases[k].data);
        t5p_safetensors *st = t5p_safetensors_open(p);
        int good = cases[k].want ? (!st && strstr(t5p_last_error(), cases[k].want) && strstr(t5p_last_error(), p)) : st != NULL;
        if (!good) printf("  case %zu: %s (want: %s)\n", k, st ? "opened" : t5p_last_error(), cases[k].want ? cases[k].want : "success");
        ok &= good;
        t5p_safetensors_close(st);
    }
    // header size fields
    unsigned char b[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    write_bytes(p, b, 16);
    t5p_safetensors *st = t5p_safetensors_open(p);
    ok &= !st && strstr(t5p_last_error(), "header size 4294967295 is implausible") != NULL;
    b[0] = 100, b[1] = b[2] = b[3] = 0;
    write_bytes(p, b, 16);
    ok &= !(st = t5p_safetensors_open(p)) && strstr(t5p_last_error(), "header size 100 exceeds the file size 16") != NULL;
    write_bytes(p, b, 5);
    ok &= !(st = t5p_safetensors_open(p)) && strstr(t5p_last_error(), "too short") != NULL;
    ok &= !(st = t5p_safetensors_open("no-such-file.safetensors")) && strstr(t5p_last_error(), "no-such-file.safetensors: ") != NULL;
    if (ok) t5pt_pass("safetensors corrupt headers rejected with named file and tensor");
    else t5pt_fail("safetensors corrupt headers", "see above");

    // every truncation of a real file fails cleanly; random header bytes never crash
    size_t ng;
    char *gold = slurp(t5pt_path("tests/golden/io_py.safetensors"), &ng);
    ok = gold != NULL;
    for (size_t n = 0; ok && n < ng; n++) {
        write_bytes(p, gold, n);
        st = t5p_safetensors_open(p);
        if (st) { printf("  truncated to %zu bytes but opened\n", n); ok = 0; }
        t5p_safetensors_close(st);
    }
    if (ok) t5pt_pass("safetensors every truncation rejected");
    else t5pt_fail("safetensors truncation", "see above");
    uint64_t hn = 0;
    for (int k = 0; k < 8; k++) hn |= (uint64_t)(unsigned char)gold[k] << (8 * k);
    uint64_t s = 42;
    int opened = 0;
    for (int it = 0; it < 3000; it++) {
        char *c = malloc(ng);
        memcpy(c, gold, ng);
        for (int f = 0; f < 1 + it % 3; f++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = 8 + (size_t)((s >> 33) % hn);
            c[at] = (char)(s >> 20);
        }
        write_bytes(p, c, ng);
        st = t5p_safetensors_open(p);
        if (st) {  // whatever opened must be self-consistent
            opened++;
            for (int k = 0; k < st->n; k++)
                if ((const char *)st->t[k].data + t5p_tensor_nbytes(&st->t[k]) > (const char *)st->base + st->size) ok = 0;
        }
        t5p_safetensors_close(st);
        free(c);
    }
    free(gold);
    remove(p);
    if (ok) {
        printf("  3000 mutated headers: %d still valid, the rest rejected\n", opened);
        t5pt_pass("safetensors mutated headers");
    } else t5pt_fail("safetensors mutated headers", "an opened file points outside its data");
}

// --- atomic writes

static void test_atomic(void) {
    const char *p = "atomic.bin";
    int ok = t5p_write_atomic(p, "old", 3) == 0;
    size_t n;
    char *c = slurp(p, &n);
    ok &= c && n == 3 && memcmp(c, "old", 3) == 0;
    free(c);
    // an aborted write leaves the old file and no temporary
    t5p_atomic_file a;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    ok &= t5p_atomic_open(&a, p) == 0 && t5p_atomic_write(&a, "new data", 8) == 0 && access(tmp, F_OK) == 0;
    t5p_atomic_abort(&a);
    c = slurp(p, &n);
    ok &= c && n == 3 && memcmp(c, "old", 3) == 0 && access(tmp, F_OK) != 0;
    free(c);
    // a write that fails midway (file size limit): old file kept, temporary removed, error names the file
    struct rlimit rl, old;
    getrlimit(RLIMIT_FSIZE, &old);
    rl = old;
    rl.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    float *big = calloc(1 << 16, sizeof(float));
    t5p_tensor t = {"big", T5P_DT_F32, 1, {1 << 16}, big};
    int rc = -99;
    if (setrlimit(RLIMIT_FSIZE, &rl) == 0) {
        rc = t5p_safetensors_save(p, &t, 1, NULL);
        setrlimit(RLIMIT_FSIZE, &old);
    }
    signal(SIGXFSZ, prev);
    free(big);
    if (rc != -99) {
        ok &= rc == T5P_ERR_IO && strstr(t5p_last_error(), "atomic.bin: write failed") != NULL;
        c = slurp(p, &n);
        ok &= c && n == 3 && memcmp(c, "old", 3) == 0 && access(tmp, F_OK) != 0;
        free(c);
    }
    ok &= t5p_write_atomic("no/such/dir/f", "x", 1) == T5P_ERR_IO && strstr(t5p_last_error(), "no/such/dir/f") != NULL;
    remove(p);
    if (ok) t5pt_pass("atomic write: old file survives abort and failed writes");
    else t5pt_fail("atomic write", "%s", t5p_last_error());
}

// --- JSON

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10; }

static void test_json_cases(void) {
    FILE *f = fopen(t5pt_path("tests/golden/json_cases.tsv"), "rb");
    if (!f) { t5pt_fail("json vs python", "cannot open tests/golden/json_cases.tsv"); return; }
    t5p_lines lr;
    t5p_lines_init(&lr, f);
    int n = 0, bad = 0;
    while (t5p_lines_next(&lr) >= 0) {
        char *tab = strchr(lr.buf, '\t');
        if (!tab) continue;
        size_t hl = (size_t)(tab - lr.buf), in_n = hl / 2;
        char *in = malloc(in_n + 1);
        for (size_t k = 0; k < in_n; k++) in[k] = (char)(hexval(lr.buf[2 * k]) * 16 + hexval(lr.buf[2 * k + 1]));
        const char *want = tab + 1;
        size_t wn = lr.len - hl - 1;
        t5p_json *j = t5p_json_parse(in, in_n, "case");
        n++;
        if (strcmp(want, "ERR") == 0) {
            if (j) { printf("  line %ld: accepted, Python rejects\n", lr.lineno); bad++; }
            else if (!strstr(t5p_last_error(), "case: byte ")) { printf("  line %ld: message %s\n", lr.lineno, t5p_last_error()); bad++; }
        } else if (!j) {
            printf("  line %ld: %s\n", lr.lineno, t5p_last_error());
            bad++;
        } else {
            size_t dn;
            char *d = t5p_json_dump(j, &dn);
            if (dn != wn || memcmp(d, want, wn) != 0) { printf("  line %ld: got %s, want %s\n", lr.lineno, d, want); bad++; }
            t5p_free(d);
        }
        t5p_json_free(j);
        free(in);
    }
    t5p_lines_free(&lr);
    fclose(f);
    if (bad || n < 50) t5pt_fail("json vs python", "%d of %d cases differ", bad, n);
    else {
        printf("  %d cases identical to Python's json\n", n);
        t5pt_pass("json vs python (parse + dump)");
    }
}

static void test_json_misc(void) {
    int ok = 1;
    t5p_json *j = t5p_json_parse("[1,2 3]", 7, "x.json");
    ok &= !j && strcmp(t5p_last_error(), "x.json: byte 5: expected ',' or ']', found '3'") == 0;
    if (!ok) printf("  %s\n", t5p_last_error());
    j = t5p_json_parse("{\"a\":1,\n \"b\": \"\\q\"}", 19, "c.json");
    ok &= !j && strcmp(t5p_last_error(), "c.json: byte 15: invalid escape '\\q'") == 0;
    if (!ok) printf("  %s\n", t5p_last_error());
    // nesting limit
    char deep[2000];
    for (int k = 0; k < 1000; k++) deep[k] = '[', deep[1000 + k] = ']';
    j = t5p_json_parse(deep, 2000, "deep");
    ok &= !j && strstr(t5p_last_error(), "nesting deeper than 512");
    j = t5p_json_parse(deep + 500, 1000, "deep");
    ok &= j != NULL;
    t5p_json_free(j);
    // duplicate keys: get returns the last; members keep input order
    j = t5p_json_parse("{\"a\":1,\"b\":true,\"a\":\"x\\u0000y\"}", 31, "d");
    const t5p_json *a = t5p_json_get(j, "a");
    ok &= j && j->n == 3 && a && a->type == T5P_JSON_STRING && a->len == 3 && memcmp(a->str, "x\0y", 3) == 0;
    ok &= t5p_json_get(j, "b")->type == T5P_JSON_TRUE && !t5p_json_get(j, "c") && j->items[1].offset == 11;
    t5p_json_free(j);
    // integers: exact int64, else double
    j = t5p_json_parse("[9007199254740993,-9223372036854775808,9223372036854775808,1.5]", 63, "n");
    ok &= j && j->items[0].is_int && j->items[0].i == 9007199254740993LL && j->items[1].is_int && j->items[1].i == INT64_MIN;
    ok &= j && !j->items[2].is_int && j->items[2].num == 9223372036854775808.0 && !j->items[3].is_int;
    t5p_json_free(j);
    // string writer: invalid UTF-8 becomes U+FFFD, output parses back
    t5p__buf b = {0};
    t5p__json_write_string(&b, "a\xff\x01\"\xe4\xb8\xad", 7);
    ok &= strcmp(b.p, "\"a\xEF\xBF\xBD\\u0001\\\"\xe4\xb8\xad\"") == 0;
    free(b.p);
    if (ok) t5pt_pass("json errors, limits, duplicates, integers, escapes");
    else t5pt_fail("json misc", "see above");
}

// --- training state

static void test_train_state(void) {
    t5p_train_state s = {123456789012LL, 0xFFFFFFFFFFFFFFFFull, {1, 0x8000000000000000ull, 0xDEADBEEFCAFEF00Dull, 0}, 3, 987654, "adamw", 2.9712345678901234};
    int ok = t5p_train_state_save("state.json", &s) == 0;
    t5p_train_state r;
    memset(&r, 0xAB, sizeof r);
    ok &= t5p_train_state_load("state.json", &r) == 0;
    ok &= r.step == s.step && r.seed == s.seed && memcmp(r.rng, s.rng, sizeof s.rng) == 0 && r.epoch == s.epoch &&
          r.data_pos == s.data_pos && strcmp(r.optim, "adamw") == 0 && r.loss == s.loss;
    if (!ok) printf("  %s\n", t5p_last_error());
    const char *bad[] = {
        "{\"format\":\"t5p-train-state\",\"version\":1,\"step\":-1,\"seed\":\"0x1\",\"rng\":[\"0x0\",\"0x0\",\"0x0\",\"0x0\"],\"epoch\":0,\"data_pos\":0,\"optimizer\":\"adam\"}",
        "{\"format\":\"t5p-train-state\",\"version\":1,\"step\":1,\"seed\":\"0x1\",\"rng\":[\"0x0\",\"0x0\",\"0xg\",\"0x0\"],\"epoch\":0,\"data_pos\":0,\"optimizer\":\"adam\"}",
        "{\"format\":\"t5p-train-state\",\"version\":2,\"step\":1}",
        "{\"format\":\"other\"}",
        "{\"format\":\"t5p-train-state\",\"version\":1,\"step\":1,\"seed\":\"0x1\",\"rng\":[\"0x0\",\"0x0\",\"0x0\",\"0x0\"],\"epoch\":0,\"data_pos\":0,\"optimizer\":\"adam\"",
    };
    const char *want[] = {"\"step\"", "\"rng\"", "version", "not a t5p training state", "byte 135: expected ',' or '}', found end of input"};
    for (int k = 0; k < 5; k++) {
        write_bytes("state.json", bad[k], strlen(bad[k]));
        int rc = t5p_train_state_load("state.json", &r);
        if (rc >= 0 || !strstr(t5p_last_error(), want[k]) || !strstr(t5p_last_error(), "state.json")) {
            printf("  bad case %d: %s\n", k, t5p_last_error());
            ok = 0;
        }
    }
    remove("state.json");
    if (ok) t5pt_pass("training state round trip and errors");
    else t5pt_fail("training state", "see above");
}

int main(void) {
    (void)t5pt_shared;
    (void)t5pt_skip;
    io_tensors();
    test_golden_read();
    test_golden_write();
    test_half();
    test_corrupt();
    test_atomic();
    test_json_cases();
    test_json_misc();
    test_train_state();
    return t5pt_exit();
}
