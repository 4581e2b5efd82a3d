// tests/golden.h - reader of the T5PGOLD1 golden files written by tests/ref/ref_model.py and
// tests/ref/ref_generate.py (format in ref_model.py): named float32/int32 records.
#ifndef T5P_TEST_GOLDEN_H
#define T5P_TEST_GOLDEN_H


typedef struct {
    char name[128];
    int dtype;  // 0 float32, 1 int32
    int ndim;
    uint32_t dims[4];
    size_t count;
    void *data;
} rec;

typedef struct {
    rec *r;
    int n;
} golden;

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int golden_load(golden *g, const char *path) {
    size_t len, at = 12;
    unsigned char *b = (unsigned char *)t5p_read_file(path, &len);
    memset(g, 0, sizeof *g);
    if (!b || len < 12 || memcmp(b, "T5PGOLD1", 8)) return -1;
    g->n = (int)rd32(b + 8);
    g->r = (rec *)calloc((size_t)g->n, sizeof(rec));
    for (int i = 0; i < g->n; i++) {
        rec *r = &g->r[i];
        if (at + 4 > len) return -1;
        uint32_t nl = rd32(b + at);
        at += 4;
        if (nl >= sizeof r->name || at + nl + 8 > len) return -1;
        memcpy(r->name, b + at, nl);
        at += nl;
        r->dtype = (int)rd32(b + at), r->ndim = (int)rd32(b + at + 4);
        at += 8;
        if (r->ndim > 4 || at + 4 * (size_t)r->ndim > len) return -1;
        r->count = 1;
        for (int d = 0; d < r->ndim; d++) r->dims[d] = rd32(b + at + 4 * d), r->count *= r->dims[d];
        at += 4 * (size_t)r->ndim;
        if (at + 4 * r->count > len) return -1;
        r->data = malloc(4 * r->count + 4);
        memcpy(r->data, b + at, 4 * r->count);  // little-endian host assumed (x86, arm)
        at += 4 * r->count;
    }
    free(b);
    return at == len ? 0 : -1;
}

static rec *golden_get(golden *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->r[i].name, name)) return &g->r[i];
    return NULL;
}

static void golden_free(golden *g) {
    for (int i = 0; i < g->n; i++) free(g->r[i].data);
    free(g->r);
}

#endif
