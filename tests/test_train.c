// tests/test_train.c - data (text pairs, shards, batches, epoch order) and the training loop: resume
// equality, thread-count independence, non-finite stops, evaluation, checkpoint errors.
#define _POSIX_C_SOURCE 200809L
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>
#include <sys/stat.h>


static int contains(const char *s, const char *what) { return strstr(s, what) != NULL; }

static uint64_t rng = 0x1234567;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

// A vocabulary: BERT's 106 specials, then the characters a..z, 0..9 and 40 CJK characters (一 ...).
static const char *write_vocab(void) {
    const char *path = t5pt_tmp_path("vocab.txt");
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 106; i++) {
        if (i == 0) fputs("[PAD]\n", f);
        else if (i < 100) fprintf(f, "[unused%d]\n", i);
        else {
            const char *sp[] = {"[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"};
            fprintf(f, "%s\n", sp[i - 100]);
        }
    }
    for (char c = 'a'; c <= 'z'; c++) fprintf(f, "%c\n", c);
    for (char c = '0'; c <= '9'; c++) fprintf(f, "%c\n", c);
    for (int k = 0; k < 40; k++) {
        char u[8];
        u[t5p_utf8_put(u, 0x4E00 + (uint32_t)k)] = 0;
        fprintf(f, "%s\n", u);
    }
    fclose(f);
    return path;
}

// A random text of CJK characters from the vocabulary (and an unknown one now and then).
static void random_text(char *out, int nchars) {
    int k = 0;
    for (int i = 0; i < nchars; i++) {
        uint32_t r = next_u32() % 43;
        uint32_t cp = r < 40 ? 0x4E00 + r : r == 40 ? 0x9FA0 : r == 41 || i == 0 ? 'a' + next_u32() % 26 : ' ';
        k += t5p_utf8_put(out + k, cp);
    }
    out[k] = 0;
}

// --- pairs, shards

static int pairs_equal(const t5p_pairs *a, const t5p_pairs *b) {
    if (t5p_pairs_count(a) != t5p_pairs_count(b)) return 0;
    for (int64_t k = 0; k < t5p_pairs_count(a); k++) {
        const int32_t *s1, *t1, *s2, *t2;
        int n1, m1, n2, m2;
        t5p_pairs_get(a, k, &s1, &n1, &t1, &m1);
        t5p_pairs_get(b, k, &s2, &n2, &t2, &m2);
        if (n1 != n2 || m1 != m2 || memcmp(s1, s2, 4 * (size_t)n1) || memcmp(t1, t2, 4 * (size_t)m1)) return 0;
    }
    return 1;
}

static t5p_pairs *random_pairs(int n, int vocab) {
    t5p_pairs *p = t5p_pairs_new();
    int32_t s[80], t[40];
    for (int k = 0; k < n; k++) {
        int ns = 2 + (int)(next_u32() % 60), nt = 2 + (int)(next_u32() % 30);
        if (k == 3) ns = 0;  // an empty source is a valid pair too
        for (int i = 0; i < ns; i++) s[i] = (int32_t)(next_u32() % (uint32_t)vocab);
        for (int i = 0; i < nt; i++) t[i] = (int32_t)(next_u32() % (uint32_t)vocab);
        t5p_pairs_add(p, s, ns, t, nt);
    }
    return p;
}

static void test_shards(void) {
    t5p_pairs *p = random_pairs(500, 300);
    t5p_shard_info info = {0x1122334455667788ull, 60101967, T5P_SHARD_CASED, 300, 64, 32};
    const char *path = t5pt_tmp_path("a.t5ps");
    int rc = t5p_shard_save(p, path, &info);
    t5p_pairs *q = t5p_pairs_new();
    t5p_shard_info got;
    if (rc == 0) rc = t5p_shard_load(q, path, &got);
    if (rc) t5pt_fail("shard round trip", "%s", t5p_last_error());
    else if (!pairs_equal(p, q) || t5p_pairs_hash(p) != t5p_pairs_hash(q) || t5p_pairs_tokens(p) != t5p_pairs_tokens(q))
        t5pt_fail("shard round trip", "pairs differ");
    else if (memcmp(&got, &info, sizeof got)) t5pt_fail("shard round trip", "header fields differ");
    else t5pt_pass("shard round trip (500 pairs, header fields)");
    // a mapped shard followed by added pairs (two parts) saves and loads as one
    t5p_pairs *extra = random_pairs(37, 300);
    for (int64_t k = 0; k < t5p_pairs_count(extra); k++) {
        const int32_t *s, *t;
        int ns, nt;
        t5p_pairs_get(extra, k, &s, &ns, &t, &nt);
        t5p_pairs_add(q, s, ns, t, nt);
    }
    const char *path2 = t5pt_tmp_path("b.t5ps");
    t5p_pairs *r = t5p_pairs_new();
    rc = t5p_shard_save(q, path2, &info);
    if (rc == 0) rc = t5p_shard_load(r, path2, NULL);
    t5p_pairs *both = t5p_pairs_new();  // and two shards loaded one after the other
    if (rc == 0) rc = t5p_shard_load(both, path, NULL);
    if (rc == 0) rc = t5p_shard_load(both, path2, NULL);
    if (rc) t5pt_fail("shard of a shard plus added pairs", "%s", t5p_last_error());
    else if (!pairs_equal(q, r) || t5p_pairs_count(both) != 1037) t5pt_fail("shard of a shard plus added pairs", "pairs differ");
    else {
        const int32_t *s1, *t1, *s2, *t2;
        int n1, m1, n2, m2;
        t5p_pairs_get(both, 500 + 17, &s1, &n1, &t1, &m1);
        t5p_pairs_get(r, 17, &s2, &n2, &t2, &m2);
        if (n1 != n2 || memcmp(s1, s2, 4 * (size_t)n1)) t5pt_fail("shard of a shard plus added pairs", "second shard misplaced");
        else t5pt_pass("shard of a shard plus added pairs; two shards in one set");
    }
    t5p_pairs_free(both);
    t5p_pairs_free(r);
    t5p_pairs_free(extra);

    // damaged files
    size_t len;
    char *bytes = t5p_read_file(path, &len);
    struct { const char *name, *want; size_t at; int cut; } bad[] = {
        {"shard: truncated", "truncated", 0, 1},
        {"shard: a flipped id byte", "checksum mismatch", 0, 0},
        {"shard: bad magic", "bad magic", 3, 0},
        {"shard: version 2", "version 2", 8, 0},
        {"shard: trailing bytes", "trailing bytes", 0, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *b = malloc(len + 8);
        memcpy(b, bytes, len);
        size_t n = len;
        if (bad[i].cut == 1) n = len - 6;
        else if (bad[i].cut == 2) memset(b + len, 0, 8), n = len + 8;
        else if (bad[i].at == 8) b[8] = 2;
        else if (bad[i].at) b[bad[i].at] ^= 0x20;
        else b[len - 10] ^= 0x01;
        const char *bp = t5pt_tmp_path("bad.t5ps");
        t5p_write_atomic(bp, b, n);
        t5p_pairs *z = t5p_pairs_new();
        rc = t5p_shard_load(z, bp, NULL);
        if (rc == 0) t5pt_fail(bad[i].name, "accepted");
        else if (!contains(t5p_last_error(), bad[i].want) || !contains(t5p_last_error(), "bad.t5ps") ||
                 t5p_pairs_count(z) != 0)
            t5pt_fail(bad[i].name, "'%s' lacks '%s'", t5p_last_error(), bad[i].want);
        else t5pt_pass(bad[i].name);
        t5p_pairs_free(z);
        free(b);
    }
    free(bytes);
    info.vocab_size = 100;  // ids up to 299 do not fit: caught on loading, naming the pair
    t5p_shard_save(p, t5pt_tmp_path("ids.t5ps"), &info);
    t5p_pairs *z = t5p_pairs_new();
    rc = t5p_shard_load(z, t5pt_tmp_path("ids.t5ps"), NULL);
    if (rc == 0 || !contains(t5p_last_error(), "outside the vocabulary [0, 100)") || !contains(t5p_last_error(), "pair 0"))
        t5pt_fail("shard: id outside the vocabulary", "%s", rc ? t5p_last_error() : "accepted");
    else t5pt_pass("shard: id outside the vocabulary");
    t5p_pairs_free(z);
    t5p_pairs_free(q);
    t5p_pairs_free(p);
}

// --- text pairs

static void test_text(void) {
    t5p_vocab *v = t5p_vocab_load(write_vocab());
    t5p_tokenizer tk = {.vocab = v};
    enum { N = 2600 };  // more than one read batch
    char **src = malloc(N * sizeof *src), **tgt = malloc(N * sizeof *tgt);
    FILE *fj = fopen(t5pt_tmp_path("p.jsonl"), "w"), *ft = fopen(t5pt_tmp_path("p.tsv"), "w");
    for (int k = 0; k < N; k++) {
        src[k] = malloc(800), tgt[k] = malloc(200);
        random_text(src[k], 5 + (int)(next_u32() % 90));
        random_text(tgt[k], 1 + (int)(next_u32() % 30));
        if (k % 100 == 7) tgt[k][0] = 0;  // an empty target: [CLS] [SEP]
        t5p__buf b = {0};
        T5P__LIT(&b, "{\"target\":");
        t5p__json_write_string(&b, tgt[k], strlen(tgt[k]));
        T5P__LIT(&b, ",\"id\":3,\"source\":");
        t5p__json_write_string(&b, src[k], strlen(src[k]));
        T5P__LIT(&b, "}");
        fprintf(fj, "%s\n%s", b.p, k % 500 == 9 ? "\n" : "");  // some blank lines
        fprintf(ft, "%s\t%s\r\n", tgt[k][0] ? tgt[k] : "x", src[k]);
        free(b.p);
    }
    fclose(fj);
    fclose(ft);
    t5p_pairs *pj = t5p_pairs_new(), *pt = t5p_pairs_new(), *p1 = t5p_pairs_new();
    t5p_pairs_read_opts o = {T5P_PAIRS_JSONL, 40, 12, NULL, NULL, 2, NULL, NULL};
    t5p_pairs_read_stats st;
    FILE *f = fopen(t5pt_tmp_path("p.jsonl"), "rb");
    int rc = t5p_pairs_read_text(pj, f, "p.jsonl", &tk, &o, &st);
    fclose(f);
    o.threads = 1;
    f = fopen(t5pt_tmp_path("p.jsonl"), "rb");
    if (rc == 0) rc = t5p_pairs_read_text(p1, f, "p.jsonl", &tk, &o, NULL);
    fclose(f);
    if (rc) { t5pt_fail("JSONL pairs", "%s", t5p_last_error()); return; }
    int bad = 0, cut_s = 0, cut_t = 0;
    for (int k = 0; k < N && !bad; k++) {
        int *es = NULL, *et = NULL;
        int ns = t5p_encode(&tk, src[k], -1, 40, &es), nt = t5p_encode(&tk, tgt[k], -1, 12, &et);
        int *fs = NULL;
        cut_s += t5p_encode(&tk, src[k], -1, 0, &fs) > 40;
        t5p_free(fs);
        fs = NULL;
        cut_t += t5p_encode(&tk, tgt[k], -1, 0, &fs) > 12;
        t5p_free(fs);
        const int32_t *s, *t;
        int gs, gt;
        t5p_pairs_get(pj, k, &s, &gs, &t, &gt);
        if (gs != ns || gt != nt || memcmp(s, es, 4 * (size_t)ns) || memcmp(t, et, 4 * (size_t)nt)) {
            t5pt_fail("JSONL pairs = tokenizer.encode(text, maxlen)", "pair %d differs", k);
            bad = 1;
        }
        t5p_free(es);
        t5p_free(et);
    }
    if (!bad) {
        if (t5p_pairs_count(pj) != N || st.pairs != N || st.blank != 6 || st.lines != N + 6 || st.src_truncated != cut_s ||
            st.tgt_truncated != cut_t || st.src_tokens + st.tgt_tokens != t5p_pairs_tokens(pj) || st.unk == 0)
            t5pt_fail("JSONL pairs = tokenizer.encode(text, maxlen)", "counts: %lld pairs, %lld blank, %lld/%lld cut",
                      (long long)st.pairs, (long long)st.blank, (long long)st.src_truncated, (long long)st.tgt_truncated);
        else {
            char name[160];
            snprintf(name, sizeof name, "JSONL pairs = tokenizer.encode(text, maxlen) (%d pairs, %lld/%lld truncated, %lld [UNK])",
                     N, (long long)st.src_truncated, (long long)st.tgt_truncated, (long long)st.unk);
            t5pt_pass(name);
        }
    }
    if (!pairs_equal(pj, p1)) t5pt_fail("1 thread = 2 threads", "pairs differ");
    else t5pt_pass("1 thread = 2 threads");
    o.format = T5P_PAIRS_TSV;
    f = fopen(t5pt_tmp_path("p.tsv"), "rb");
    rc = t5p_pairs_read_text(pt, f, "p.tsv", &tk, &o, NULL);
    fclose(f);
    int same = rc == 0 && t5p_pairs_count(pt) == N;
    for (int k = 0; same && k < N; k++) {
        const int32_t *s1, *t1, *s2, *t2;
        int n1, m1, n2, m2;
        t5p_pairs_get(pj, k, &s1, &n1, &t1, &m1);
        t5p_pairs_get(pt, k, &s2, &n2, &t2, &m2);
        same = n1 == n2 && !memcmp(s1, s2, 4 * (size_t)n1) && (tgt[k][0] == 0 || (m1 == m2 && !memcmp(t1, t2, 4 * (size_t)m1)));
    }
    if (!same) t5pt_fail("TSV target<TAB>source = JSONL", "%s", rc ? t5p_last_error() : "pairs differ");
    else t5pt_pass("TSV target<TAB>source = JSONL");
    for (int k = 0; k < N; k++) free(src[k]), free(tgt[k]);
    free(src);
    free(tgt);

    struct { const char *name, *text, *want; int format; } errs[] = {
        {"TSV: one field", "一二\t三\n四五六\n", "p_bad:2: 1 tab-separated field, expected 2", T5P_PAIRS_TSV},
        {"TSV: three fields", "a\tb\tc\n", "p_bad:1: 3 tab-separated fields", T5P_PAIRS_TSV},
        {"JSONL: missing target", "{\"source\":\"a\"}\n", "p_bad:1: expected a JSON object with string fields", T5P_PAIRS_JSONL},
        {"JSONL: malformed", "\n\n{\"source\":\"a\",\"target\":}\n", "p_bad:3: byte 23", T5P_PAIRS_JSONL},
        {"JSONL: not an object", "[1]\n", "p_bad:1:", T5P_PAIRS_JSONL},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        t5p_write_atomic(t5pt_tmp_path("p_bad"), errs[i].text, strlen(errs[i].text));
        t5p_pairs *z = t5p_pairs_new();
        o.format = errs[i].format;
        f = fopen(t5pt_tmp_path("p_bad"), "rb");
        rc = t5p_pairs_read_text(z, f, "p_bad", &tk, &o, NULL);
        fclose(f);
        if (rc != T5P_ERR_FORMAT || !contains(t5p_last_error(), errs[i].want))
            t5pt_fail(errs[i].name, "rc %d '%s' lacks '%s'", rc, t5p_last_error(), errs[i].want);
        else t5pt_pass(errs[i].name);
        t5p_pairs_free(z);
    }
    // format detection
    int d1 = t5p_pairs_detect(t5pt_tmp_path("p.jsonl")), d2 = t5p_pairs_detect(t5pt_tmp_path("p.tsv"));
    t5p_shard_info info = t5p_shard_info_of(&tk, 40, 12);
    t5p_shard_save(pj, t5pt_tmp_path("p.bin"), &info);
    t5p_write_atomic(t5pt_tmp_path("p.txt"), "  {\"source\":\"a\",\"target\":\"b\"}\n", 31);
    int d3 = t5p_pairs_detect(t5pt_tmp_path("p.bin")), d4 = t5p_pairs_detect(t5pt_tmp_path("p.txt"));
    if (d1 != T5P_PAIRS_JSONL || d2 != T5P_PAIRS_TSV || d3 != T5P_PAIRS_SHARD || d4 != T5P_PAIRS_JSONL)
        t5pt_fail("format detection", "%d %d %d %d", d1, d2, d3, d4);
    else t5pt_pass("format detection (extension, magic, first character)");
    if (info.vocab_hash != t5p_vocab_hash(v) || info.vocab_size != 182 || info.flags != T5P_SHARD_NO_JIEBA)
        t5pt_fail("shard info of a tokenizer", "fields");
    else t5pt_pass("shard info of a tokenizer");
    t5p_pairs_free(pj);
    t5p_pairs_free(pt);
    t5p_pairs_free(p1);
    t5p_vocab_free(v);
}

// --- batches and order

static void test_batches(void) {
    t5p_pairs *p = t5p_pairs_new();
    int32_t a[] = {101, 5, 6, 7, 8, 102}, b[] = {101, 9, 102}, c[] = {101, 102};
    t5p_pairs_add(p, a, 6, b, 3);
    t5p_pairs_add(p, b, 3, a, 6);
    t5p_pairs_add(p, c, 2, c, 2);
    t5p_batch bt = {0};
    int64_t idx[3] = {0, 1, 2};
    t5p_batch_make(&bt, p, idx, 3, 4, 5, 0);
    int want_src[] = {101, 5, 6, 102, 101, 9, 102, 0, 101, 102, 0, 0};
    int want_tgt[] = {101, 9, 102, 0, 0, 101, 5, 6, 7, 102, 101, 102, 0, 0, 0};
    if (bt.B != 3 || bt.S != 4 || bt.T != 5 || memcmp(bt.src, want_src, sizeof want_src) ||
        memcmp(bt.tgt, want_tgt, sizeof want_tgt) || bt.src_tokens != 9 || bt.tgt_tokens != 10)
        t5pt_fail("batch: truncation keeps [SEP], padding to the longest row", "B %d S %d T %d", bt.B, bt.S, bt.T);
    else t5pt_pass("batch: truncation keeps [SEP], padding to the longest row");
    t5p_batch_free(&bt);
    t5p_pairs_free(p);

    enum { N = 1000 };
    int64_t *o1 = malloc(N * 8), *o2 = malloc(N * 8), *o3 = malloc(N * 8);
    t5p_pairs_order(o1, N, 7, 0, 1);
    t5p_pairs_order(o2, N, 7, 0, 1);
    t5p_pairs_order(o3, N, 7, 1, 1);
    char *seen = calloc(N, 1);
    int perm = 1;
    for (int i = 0; i < N; i++) perm &= o1[i] >= 0 && o1[i] < N && !seen[o1[i]]++;
    int moved = 0;
    for (int i = 0; i < N; i++) moved += o1[i] != i;
    if (!perm || memcmp(o1, o2, N * 8) || !memcmp(o1, o3, N * 8) || moved < N / 2)
        t5pt_fail("epoch order: a seeded permutation per epoch", "perm %d moved %d", perm, moved);
    else t5pt_pass("epoch order: a seeded permutation per epoch");
    t5p_pairs_order(o1, N, 7, 3, 0);
    int ident = 1;
    for (int i = 0; i < N; i++) ident &= o1[i] == i;
    if (!ident) t5pt_fail("epoch order without shuffling", "not the identity");
    else t5pt_pass("epoch order without shuffling");
    free(o1), free(o2), free(o3), free(seen);
}

// --- the training loop

static t5p_config small_config(void) {
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.vocab_size = 150, c.d_model = 32, c.d_ff = 48, c.num_heads = 2, c.d_kv = 16;
    c.num_layers = 2, c.num_decoder_layers = 2, c.num_buckets = 8, c.max_distance = 20;
    return c;
}

typedef struct {
    t5p_model *m;
    t5p_trainer *t;
} run;

static run run_new(const t5p_pairs *data, int kind, uint64_t seed) {
    t5p_config c = small_config();
    run r;
    r.m = t5p_model_new(&c);
    t5p_params_init(&c, r.m->params, 42);
    t5p_optim_config oc = t5p_optim_config_default(kind);
    if (kind == T5P_OPTIM_ADAMW) oc.warmup_steps = 3;
    if (kind != T5P_OPTIM_ADAFACTOR) oc.lr = 1e-3;
    t5p_train_config tc = {3, 40, 12, seed, 1};
    r.t = t5p_trainer_new(r.m, &oc, data, &tc);
    return r;
}

static void run_free(run *r) {
    t5p_trainer_free(r->t);
    t5p_model_free(r->m);
}

static void test_resume(void) {
    t5p_pairs *data = random_pairs(10, 150);  // 4 steps per epoch, the last one of 1 pair
    const int N = 10;
    for (int kind = 0; kind < 3; kind++) {
        char name[128];
        snprintf(name, sizeof name, "%d steps = %d + save/load + %d, bitwise (%s)", N, N / 2, N / 2, t5p_optim_name(kind));
        float straight[16], resumed[16];
        run a = run_new(data, kind, 9);
        t5p_train_step s;
        int rc = 0, epochs = 0;
        double l0 = 0, l1 = 0, acc;
        if (kind == 0) t5p_trainer_eval(a.t, data, 4, &l0, &acc);
        for (int i = 0; i < N && rc == 0; i++) {
            rc = t5p_trainer_step(a.t, &s);
            straight[i] = s.loss;
            epochs += s.epoch_done;
        }
        run b = run_new(data, kind, 9);
        for (int i = 0; i < N / 2 && rc == 0; i++) rc = t5p_trainer_step(b.t, &s), resumed[i] = s.loss;
        const char *dir = t5pt_tmp_path("ckpt");
        if (rc == 0) rc = t5p_trainer_save(b.t, dir);
        run_free(&b);
        run c = run_new(data, kind, 9);
        if (rc == 0) rc = t5p_trainer_load(c.t, dir);
        for (int i = N / 2; i < N && rc == 0; i++) rc = t5p_trainer_step(c.t, &s), resumed[i] = s.loss;
        if (rc) t5pt_fail(name, "%s", t5p_last_error());
        else if (memcmp(straight, resumed, sizeof(float) * N)) {
            int i = 0;
            while (straight[i] == resumed[i]) i++;
            t5pt_fail(name, "step %d: loss %.9g vs %.9g", i + 1, straight[i], resumed[i]);
        } else if (memcmp(a.m->params, c.m->params, a.m->num_params * sizeof(float)))
            t5pt_fail(name, "final weights differ");
        else if (epochs != 2 || s.step != N || s.epoch != 2 || s.pos != 2 * 3)
            t5pt_fail(name, "position: step %lld epoch %lld pos %lld", (long long)s.step, (long long)s.epoch, (long long)s.pos);
        else t5pt_pass(name);
        if (kind == 0) {  // the loss must move: not a run of a frozen model
            t5p_trainer_eval(a.t, data, 4, &l1, &acc);
            if (!(l1 < l0 - 0.05)) t5pt_fail("training lowers the loss", "%g -> %g", l0, l1);
            else {
                snprintf(name, sizeof name, "training lowers the training-set loss (%.4f -> %.4f)", l0, l1);
                t5pt_pass(name);
            }
        }
        run_free(&a);
        run_free(&c);
    }
    // the same run on 1 and on 2 threads
#ifdef _OPENMP
    float l1[6], l2[6];
    for (int th = 1; th <= 2; th++) {
        omp_set_num_threads(th);
        run r = run_new(data, T5P_OPTIM_ADAFACTOR, 3);
        t5p_train_step s;
        for (int i = 0; i < 6; i++) t5p_trainer_step(r.t, &s), (th == 1 ? l1 : l2)[i] = s.loss;
        run_free(&r);
    }
    omp_set_num_threads(2);
    if (memcmp(l1, l2, sizeof l1)) t5pt_fail("1 thread = 2 threads (training losses)", "differ");
    else t5pt_pass("1 thread = 2 threads (training losses)");
#else
    t5pt_skip("1 thread = 2 threads (training losses)", "built without OpenMP");
#endif
    // another seed is another run
    run r = run_new(data, T5P_OPTIM_ADAM, 10);
    t5p_train_step s;
    t5p_trainer_step(r.t, &s);
    float other = s.loss;
    run_free(&r);
    r = run_new(data, T5P_OPTIM_ADAM, 9);
    t5p_trainer_step(r.t, &s);
    if (other == s.loss) t5pt_fail("the seed changes order and dropout", "same first loss");
    else t5pt_pass("the seed changes order and dropout");
    // loading a checkpoint made with another seed or optimizer is refused
    int rc = t5p_trainer_load(r.t, t5pt_tmp_path("ckpt"));
    if (rc == 0 || !contains(t5p_last_error(), "optimizer is 'adamw', not 'adam'"))
        t5pt_fail("resume with another optimizer is refused", "%s", rc ? t5p_last_error() : "accepted");
    else t5pt_pass("resume with another optimizer is refused");
    run_free(&r);
    r = run_new(data, T5P_OPTIM_ADAMW, 8);
    rc = t5p_trainer_load(r.t, t5pt_tmp_path("ckpt"));
    if (rc == 0 || !contains(t5p_last_error(), "seed 9, not 8"))
        t5pt_fail("resume with another seed is refused", "%s", rc ? t5p_last_error() : "accepted");
    else t5pt_pass("resume with another seed is refused");
    // saving over an existing checkpoint replaces it
    for (int i = 0; i < 2; i++) t5p_trainer_step(r.t, &s);
    rc = t5p_trainer_save(r.t, t5pt_tmp_path("ckpt"));
    t5p_train_state ts;
    char sp[600];
    snprintf(sp, sizeof sp, "%s/train_state.json", t5pt_tmp_path("ckpt"));
    if (rc || t5p_train_state_load(sp, &ts) || ts.step != 2 || ts.seed != 8)
        t5pt_fail("a checkpoint saved over another replaces it", "%s", t5p_last_error());
    else t5pt_pass("a checkpoint saved over another replaces it");
    // evaluation does not move the run
    double l, acc;
    int64_t before = (int64_t)r.m->step;
    rc = t5p_trainer_eval(r.t, data, 4, &l, &acc);
    t5p_trainer_step(r.t, &s);
    run r2 = run_new(data, T5P_OPTIM_ADAMW, 8);
    t5p_train_step s2;
    for (int i = 0; i < 3; i++) t5p_trainer_step(r2.t, &s2);
    if (rc || !(l > 0 && l < 20) || !(acc >= 0 && acc <= 1) || before != 2 || s.loss != s2.loss)
        t5pt_fail("evaluation leaves the run as it was", "rc %d loss %g acc %g", rc, l, acc);
    else t5pt_pass("evaluation leaves the run as it was");
    run_free(&r2);
    run_free(&r);
    t5p_pairs_free(data);
}

static void test_nonfinite(void) {
    t5p_pairs *data = random_pairs(6, 150);
    run r = run_new(data, T5P_OPTIM_ADAM, 1);
    t5p_train_step s;
    t5p_trainer_step(r.t, &s);
    uint64_t mstep = r.m->step;
    r.m->w.enc_wo[5] = NAN;  // poison one weight
    float *before = malloc(r.m->num_params * sizeof(float));
    memcpy(before, r.m->params, r.m->num_params * sizeof(float));
    int rc = t5p_trainer_step(r.t, &s);
    if (rc != T5P_ERR_NONFINITE || !contains(t5p_last_error(), "step 2: the loss is NaN"))
        t5pt_fail("a NaN loss stops the step", "rc %d %s", rc, t5p_last_error());
    else if (r.m->step != mstep || t5p_optim_steps(t5p_trainer_optim(r.t)) != 1 ||
             memcmp(before, r.m->params, r.m->num_params * sizeof(float)))
        t5pt_fail("a NaN loss stops the step", "the step changed state");
    else t5pt_pass("a NaN loss stops the step (weights, optimizer and counters untouched)");
    free(before);
    run_free(&r);
    // a learning rate far too large diverges within a few steps and is caught
    t5p_config c = small_config();
    t5p_model *m = t5p_model_new(&c);
    t5p_params_init(&c, m->params, 1);
    t5p_optim_config oc = t5p_optim_config_default(T5P_OPTIM_ADAM);
    oc.lr = 1e30;
    t5p_train_config tc = {3, 40, 12, 1, 1};
    t5p_trainer *t = t5p_trainer_new(m, &oc, data, &tc);
    int steps = 0;
    while ((rc = t5p_trainer_step(t, &s)) == 0 && steps < 20) steps++;
    if (rc != T5P_ERR_NONFINITE) t5pt_fail("lr 1e30 diverges and is caught", "rc %d after %d steps", rc, steps);
    else {
        char name[700];
        snprintf(name, sizeof name, "lr 1e30 diverges and is caught after %d good step(s): %s", steps, t5p_last_error());
        t5pt_pass(name);
    }
    t5p_trainer_free(t);
    t5p_model_free(m);
    t5p_pairs_free(data);
}

int main(void) {
    snprintf(t5pt_tmp_root, sizeof t5pt_tmp_root, "tmp_train.%ld", (long)getpid());
    t5pt_rm_rf(t5pt_tmp_root);
    mkdir(t5pt_tmp_root, 0755);
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    test_shards();
    test_text();
    test_batches();
    test_resume();
    test_nonfinite();
    if (!t5pt_failed) t5pt_rm_rf(t5pt_tmp_root);
    return t5pt_exit();
}
