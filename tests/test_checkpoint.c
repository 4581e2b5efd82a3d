// tests/test_checkpoint.c - model directories: config.json, model.safetensors, vocab.txt.
// Save -> load bitwise, a transformers-written MT5 checkpoint (tests/golden/hf_mt5_tiny, from
// tests/ref/ref_checkpoint.py: mixed F32/BF16/F16 tensors and embed_tokens duplicates) reproducing transformers'
// logits, and clear errors for corrupt, truncated and mismatched checkpoints.
//   build/tests/test_checkpoint --export DIR   writes t5p checkpoints (+ their logits) for
//                                              tests/ref/ref_checkpoint.py verify DIR (transformers loads them)
#define _POSIX_C_SOURCE 200809L
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

#include <math.h>
#include <sys/stat.h>


static void cp_r(const char *from, const char *to) {
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && chmod -R u+w '%s'", to, from, to, to);
    if (system(cmd) != 0) printf("  (could not copy %s)\n", from);
}

// A BERT-style vocabulary of n tokens: [PAD], [unused1..99], [UNK], [CLS], [SEP], [MASK], <S>, <T>, then fillers.
static void write_vocab(const char *path, int n) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        if (i == 0) fputs("[PAD]\n", f);
        else if (i < 100) fprintf(f, "[unused%d]\n", i);
        else if (i < 106) {
            const char *sp[] = {"[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"};
            fprintf(f, "%s\n", sp[i - 100]);
        } else fprintf(f, "w%d\n", i);
    }
    fclose(f);
}

static int contains(const char *s, const char *what) { return strstr(s, what) != NULL; }

// Expects a NULL model and an error message containing `what`.
static void expect_load_fail(const char *name, const char *dir, const char *what) {
    t5p_model *m = t5p_model_load(dir);
    if (m) { t5pt_fail(name, "loaded, expected an error mentioning '%s'", what); t5p_model_free(m); return; }
    if (!contains(t5p_last_error(), what)) t5pt_fail(name, "message '%s' lacks '%s'", t5p_last_error(), what);
    else t5pt_pass(name);
}

static void fill_batch(int *src, int *tgt, int B, int S, int T, int V, uint64_t seed) {
    for (int b = 0; b < B; b++) {
        int ls = S - b * 2, lt = T - b;
        for (int s = 0; s < S; s++) src[b * S + s] = s < ls ? 1 + (int)((seed = seed * 6364136223846793005ull + 1) >> 40) % (V - 1) : 0;
        for (int t = 0; t < T; t++) tgt[b * T + t] = t < lt ? 1 + (int)((seed = seed * 6364136223846793005ull + 1) >> 40) % (V - 1) : 0;
    }
}

static t5p_model *tiny_model(int flavor, uint64_t seed) {
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.vocab_size = 200;
    c.num_decoder_layers = 3;
    c.flavor = flavor;
    c.dropout = 0.15f;
    t5p_model *m = t5p_model_new(&c);
    t5p_params_init(&c, m->params, seed);
    for (size_t i = 0; i < (size_t)c.d_model; i++) m->w.enc_norm[i] = 1.0f + 0.01f * (float)i;  // not all ones
    return m;
}

static int config_equal(const t5p_config *a, const t5p_config *b) {
    return a->vocab_size == b->vocab_size && a->d_model == b->d_model && a->d_ff == b->d_ff &&
           a->num_heads == b->num_heads && a->d_kv == b->d_kv && a->num_layers == b->num_layers &&
           a->num_decoder_layers == b->num_decoder_layers && a->num_buckets == b->num_buckets &&
           a->max_distance == b->max_distance && a->eps == b->eps && a->dropout == b->dropout &&
           a->flavor == b->flavor && a->pad_id == b->pad_id;
}

// --- config.json

static void test_config(void) {
    for (int fl = 0; fl < 2; fl++) {
        t5p_config c, r;
        t5p_config_preset(&c, "small");
        c.flavor = fl;
        c.dropout = 0.1f;
        c.eps = 1e-6f;
        c.vocab_size = 50000;
        const char *p = t5pt_tmp_path("config_rt.json");
        int rc = t5p_config_save(&c, p, 101, 102);
        int rc2 = rc == 0 ? t5p_config_load(&r, p) : -1;
        char name[64];
        snprintf(name, sizeof name, "config round trip (%s)", t5p_flavor_name(fl));
        if (rc || rc2) t5pt_fail(name, "%s", t5p_last_error());
        else if (!config_equal(&c, &r)) t5pt_fail(name, "fields differ after reading back");
        else {
            char *text = t5p_read_file(p, NULL);
            int ok = contains(text, "\"dropout_rate\": 0.1,") && contains(text, "\"layer_norm_epsilon\": 1e-06,") &&
                     contains(text, "\"decoder_start_token_id\": 101,") && contains(text, "\"eos_token_id\": 102,") &&
                     contains(text, fl ? "\"dense_act_fn\": \"gelu_new\"" : "\"dense_act_fn\": \"gelu\"");
            if (ok) t5pt_pass(name);
            else t5pt_fail(name, "unexpected text:\n%s", text);
            free(text);
        }
    }
    t5p_config c;
    int rc = t5p_config_load(&c, t5pt_path("tests/golden/hf_mt5_tiny/config.json"));
    if (rc) t5pt_fail("config written by transformers", "%s", t5p_last_error());
    else if (c.vocab_size != 60 || c.d_model != 32 || c.d_ff != 40 || c.num_heads != 3 || c.d_kv != 8 ||
             c.num_layers != 2 || c.num_decoder_layers != 3 || c.num_buckets != 8 || c.max_distance != 20 ||
             c.flavor != T5P_HF_MT5 || c.eps != 1e-6f || c.dropout != 0.1f)
        t5pt_fail("config written by transformers", "wrong fields");
    else t5pt_pass("config written by transformers");

    const char *shared = t5pt_shared("t5_pegasus/config.json");
    if (!shared) t5pt_skip("T5 PEGASUS config.json", "../shared/data not present");
    else {
        rc = t5p_config_load(&c, shared);
        if (rc) t5pt_fail("T5 PEGASUS config.json", "%s", t5p_last_error());
        else if (c.vocab_size != 50000 || c.d_model != 768 || c.num_layers != 12 || c.num_decoder_layers != 12 ||
                 c.max_distance != 128 || c.num_buckets != 32 || c.flavor != T5P_HF_MT5)
            t5pt_fail("T5 PEGASUS config.json", "wrong fields");
        else t5pt_pass("T5 PEGASUS config.json (base; max_distance defaults to 128)");
    }

    struct { const char *name, *json, *want; } bad[] = {
        {"config: relu (T5 v1.0)", "{\"model_type\":\"t5\",\"vocab_size\":10,\"d_model\":8,\"d_ff\":8,\"num_heads\":2,"
         "\"d_kv\":4,\"num_layers\":1,\"feed_forward_proj\":\"relu\",\"tie_word_embeddings\":false}", "relu"},
        {"config: tied embeddings", "{\"model_type\":\"mt5\",\"vocab_size\":10,\"d_model\":8,\"d_ff\":8,\"num_heads\":2,"
         "\"d_kv\":4,\"num_layers\":1,\"tie_word_embeddings\":true}", "tie_word_embeddings"},
        {"config: missing d_model", "{\"model_type\":\"mt5\",\"vocab_size\":10,\"d_ff\":8,\"num_heads\":2,\"d_kv\":4,"
         "\"num_layers\":1}", "\"d_model\" is missing"},
        {"config: d_ff not an integer", "{\"model_type\":\"mt5\",\"vocab_size\":10,\"d_model\":8,\"d_ff\":8.5,"
         "\"num_heads\":2,\"d_kv\":4,\"num_layers\":1}", "\"d_ff\" must be an integer"},
        {"config: erf GELU without flavour", "{\"model_type\":\"mt5\",\"vocab_size\":10,\"d_model\":8,\"d_ff\":8,"
         "\"num_heads\":2,\"d_kv\":4,\"num_layers\":1,\"dense_act_fn\":\"gelu\"}", "t5p_flavor"},
        {"config: other model type", "{\"model_type\":\"bert\",\"vocab_size\":10}", "not an MT5/T5 model"},
        {"config: negative size", "{\"model_type\":\"mt5\",\"vocab_size\":10,\"d_model\":-8,\"d_ff\":8,"
         "\"num_heads\":2,\"d_kv\":4,\"num_layers\":1}", "d_model"},
        {"config: malformed JSON", "{\"model_type\":\"mt5\",", "byte"},
        {"config: unknown flavour", "{\"model_type\":\"mt5\",\"vocab_size\":10,\"d_model\":8,\"d_ff\":8,"
         "\"num_heads\":2,\"d_kv\":4,\"num_layers\":1,\"t5p_flavor\":\"bart\"}", "bart"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = t5pt_tmp_path("config_bad.json");
        t5p_write_atomic(p, bad[i].json, strlen(bad[i].json));
        rc = t5p_config_load(&c, p);
        if (rc == 0) t5pt_fail(bad[i].name, "accepted");
        else if (!contains(t5p_last_error(), bad[i].want) || !contains(t5p_last_error(), "config_bad.json"))
            t5pt_fail(bad[i].name, "message '%s' lacks '%s' or the file name", t5p_last_error(), bad[i].want);
        else t5pt_pass(bad[i].name);
    }
}

// --- save / load

static void test_round_trip(void) {
    const char *vocab = t5pt_tmp_path("vocab200.txt");
    write_vocab(vocab, 200);
    for (int fl = 0; fl < 2; fl++) {
        char name[96];
        snprintf(name, sizeof name, "save -> load bitwise (%s)", t5p_flavor_name(fl));
        t5p_model *m = tiny_model(fl, 11 + fl);
        int rc = t5p_model_set_vocab(m, vocab);
        const char *dir = t5pt_tmp_path(fl ? "rt_hf" : "rt_pegasus");
        t5pt_rm_rf(dir);
        if (rc == 0) rc = t5p_model_save(m, dir);
        t5p_model *r = rc == 0 ? t5p_model_load(dir) : NULL;
        if (!r) { t5pt_fail(name, "%s", t5p_last_error()); t5p_model_free(m); continue; }
        int B = 3, S = 9, T = 6, src[27], tgt[18];
        fill_batch(src, tgt, B, S, T, 200, 5);
        t5p_model_forward(m, src, tgt, B, S, T, 0);
        t5p_model_forward(r, src, tgt, B, S, T, 0);
        size_t nl = (size_t)B * (T - 1) * 200;
        if (!config_equal(&m->cfg, &r->cfg)) t5pt_fail(name, "config differs");
        else if (memcmp(m->params, r->params, m->num_params * sizeof(float)))
            t5pt_fail(name, "parameters differ");
        else if (!r->vocab || r->vocab_len != m->vocab_len || memcmp(r->vocab, m->vocab, m->vocab_len))
            t5pt_fail(name, "vocab.txt differs");
        else if (memcmp(t5p_model_logits(m), t5p_model_logits(r), nl * sizeof(float)))
            t5pt_fail(name, "logits differ");
        else t5pt_pass(name);
        // saving again into the existing directory replaces the files one by one and keeps other files
        char extra[600];
        snprintf(extra, sizeof extra, "%s/README", dir);
        t5p_write_atomic(extra, "x", 1);
        for (size_t i = 0; i < m->num_params; i++) m->params[i] *= 0.5f;
        rc = t5p_model_save(m, dir);
        t5p_model_free(r);
        r = rc == 0 ? t5p_model_load(dir) : NULL;
        snprintf(name, sizeof name, "save into an existing directory (%s)", t5p_flavor_name(fl));
        if (!r) t5pt_fail(name, "%s", t5p_last_error());
        else if (memcmp(m->params, r->params, m->num_params * sizeof(float))) t5pt_fail(name, "parameters differ");
        else if (access(extra, F_OK) != 0) t5pt_fail(name, "another file of the directory vanished");
        else t5pt_pass(name);
        t5p_model_free(r);
        t5p_model_free(m);
    }
    // a training directory's "latest" file names its checkpoint
    const char *run = t5pt_tmp_path("run");
    t5pt_rm_rf(run);
    mkdir(run, 0755);
    t5p_model *m = tiny_model(T5P_PEGASUS, 3);
    int rc = t5p_model_save(m, t5pt_tmp_path("run/checkpoint-00000007"));
    if (rc == 0) rc = t5p_write_atomic(t5pt_tmp_path("run/latest"), "checkpoint-00000007\n", 20);
    t5p_model *r = rc == 0 ? t5p_model_load(run) : NULL;
    if (!r || memcmp(r->params, m->params, m->num_params * sizeof(float)))
        t5pt_fail("load a training directory via 'latest'", "%s", r ? "parameters differ" : t5p_last_error());
    else t5pt_pass("load a training directory via 'latest'");
    t5p_model_free(r);
    // saving where a file is in the way, or below a missing directory, fails and creates nothing
    const char *file = t5pt_tmp_path("a_file");
    t5p_write_atomic(file, "x", 1);
    rc = t5p_model_save(m, file);
    if (rc == 0 || !contains(t5p_last_error(), "not a directory")) t5pt_fail("save over a file", "rc %d: %s", rc, t5p_last_error());
    else t5pt_pass("save over a file");
    rc = t5p_model_save(m, t5pt_tmp_path("missing/parent/dir"));
    if (rc == 0 || access(t5pt_tmp_path("missing"), F_OK) == 0) t5pt_fail("save below a missing directory", "rc %d", rc);
    else t5pt_pass("save below a missing directory: error, nothing created");
    t5p_model_free(m);
}

// --- the transformers checkpoint

static void test_hf_golden(void) {
    const char *dir = t5pt_path("tests/golden/hf_mt5_tiny");
    t5p_model *m = t5p_model_load(dir);
    t5p_safetensors *g = t5p_safetensors_open(t5pt_path("tests/golden/hf_mt5_tiny_logits.safetensors"));
    if (!m || !g) { t5pt_fail("transformers checkpoint loads", "%s", t5p_last_error()); t5p_model_free(m); t5p_safetensors_close(g); return; }
    t5pt_pass("transformers checkpoint loads (F32/BF16/F16, embed_tokens duplicates)");
    const t5p_tensor *src = t5p_safetensors_find(g, "src"), *tgt = t5p_safetensors_find(g, "tgt");
    const t5p_tensor *lg = t5p_safetensors_find(g, "logits"), *ls = t5p_safetensors_find(g, "loss");
    int B = (int)src->shape[0], S = (int)src->shape[1], T = (int)tgt->shape[1];
    int *s = malloc(sizeof(int) * B * S), *t = malloc(sizeof(int) * B * T);
    memcpy(s, src->data, sizeof(int) * B * S);
    memcpy(t, tgt->data, sizeof(int) * B * T);
    size_t n = (size_t)t5p_tensor_numel(lg);
    float *ref = malloc(n * sizeof(float)), loss;
    t5p_tensor_to_f32(lg, ref);
    t5p_tensor_to_f32(ls, &loss);
    t5p_model_forward(m, s, t, B, S, T, 0);
    const float *got = t5p_model_logits(m);
    double mx = 0, err = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i])), err = fmax(err, fabs(got[i] - ref[i]));
    double rel = err / mx, lerr = fabs(m->loss - loss) / fabs(loss);
    if (m->cfg.flavor != T5P_HF_MT5) t5pt_fail("transformers logits", "flavour is not hf-mt5");
    else if (!(rel <= 1e-5) || !(lerr <= 1e-5))
        t5pt_fail("transformers logits", "max error %.3g relative to max|logit| %.3g, loss %.7f vs %.7f", rel, mx, m->loss, loss);
    else {
        char name[160];
        snprintf(name, sizeof name, "transformers logits (%zu values): max error %.2g of max|logit| %.3g; loss %.6f vs %.6f",
                 n, rel, mx, m->loss, loss);
        t5pt_pass(name);
    }
    free(s), free(t), free(ref);
    t5p_safetensors_close(g);
    t5p_model_free(m);
}

// --- bad checkpoints

// Rewrites dir/model.safetensors from the golden one with a change: drop a tensor, add one, change a dtype
// or shape, or alter a duplicate.
enum { DROP, ADD, AS_I32, RESHAPE, BAD_DUP };
static void rewrite_golden(const char *dir, int what, const char *target) {
    t5p_safetensors *st = t5p_safetensors_open(t5pt_path("tests/golden/hf_mt5_tiny/model.safetensors"));
    t5p_tensor *ts = calloc((size_t)st->n + 1, sizeof *ts);
    void *keep = NULL;
    int n = 0;
    for (int k = 0; k < st->n; k++) {
        t5p_tensor t = st->t[k];
        if (strcmp(t.name, target) == 0) {
            if (what == DROP) continue;
            if (what == AS_I32) t.dtype = T5P_DT_I32;  // same bytes for an F32 tensor
            if (what == RESHAPE) t.shape[0] /= 2, t.shape[1] *= 2;
            if (what == BAD_DUP) {
                size_t nb = (size_t)t5p_tensor_nbytes(&t);
                keep = malloc(nb);
                memcpy(keep, t.data, nb);
                ((unsigned char *)keep)[5] ^= 1;
                t.data = keep;
            }
        }
        ts[n++] = t;
    }
    if (what == ADD) {
        ts[n] = st->t[0];
        ts[n].name = target;
        n++;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (t5p_safetensors_save(path, ts, n, (const char *[]){"format", "pt", NULL}) != 0) printf("  %s\n", t5p_last_error());
    free(keep);
    free(ts);
    t5p_safetensors_close(st);
}

static void test_bad(void) {
    const char *golden = t5pt_path("tests/golden/hf_mt5_tiny");
    const char *dir = t5pt_tmp_path("bad");
    char wpath[600], cpath[600];
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);

    cp_r(golden, dir);
    size_t len;
    char *bytes = t5p_read_file(wpath, &len);
    t5p_write_atomic(wpath, bytes, len / 2);
    expect_load_fail("truncated model.safetensors", dir, "truncated");
    t5p_write_atomic(wpath, bytes, 7);
    expect_load_fail("model.safetensors of 7 bytes", dir, "too short");
    char *cor = malloc(len);
    memcpy(cor, bytes, len);
    cor[9] = '#';  // the JSON header's first key
    t5p_write_atomic(wpath, cor, len);
    expect_load_fail("corrupt safetensors header", dir, "header");
    free(cor);
    t5p_write_atomic(wpath, bytes, len);
    free(bytes);

    rewrite_golden(dir, DROP, "decoder.block.2.layer.2.DenseReluDense.wo.weight");
    expect_load_fail("missing tensor", dir, "'decoder.block.2.layer.2.DenseReluDense.wo.weight' is missing");
    rewrite_golden(dir, ADD, "decoder.block.3.layer.0.SelfAttention.q.weight");
    expect_load_fail("extra tensor (a fourth decoder layer)", dir, "unexpected tensor 'decoder.block.3.layer.0.SelfAttention.q.weight'");
    rewrite_golden(dir, AS_I32, "lm_head.weight");
    expect_load_fail("integer dtype", dir, "dtype I32");
    rewrite_golden(dir, RESHAPE, "encoder.block.1.layer.1.DenseReluDense.wi_0.weight");
    expect_load_fail("wrong shape", dir, "has shape [20, 64], expected [40, 32]");
    rewrite_golden(dir, BAD_DUP, "decoder.embed_tokens.weight");
    expect_load_fail("embed_tokens duplicate differing from shared", dir, "differs from shared.weight");
    rewrite_golden(dir, DROP, "shared.weight");
    t5p_model *m = t5p_model_load(dir);  // the encoder's copy stands in for shared.weight
    if (!m) t5pt_fail("only encoder.embed_tokens, no shared.weight", "%s", t5p_last_error());
    else t5pt_pass("only encoder.embed_tokens, no shared.weight");
    t5p_model_free(m);

    // config and weights disagree
    cp_r(golden, dir);
    char *conf = t5p_read_file(cpath, &len);
    char *at = strstr(conf, "\"d_ff\": 40");
    if (at) { memcpy(at, "\"d_ff\": 48", 10); t5p_write_atomic(cpath, conf, len); }
    expect_load_fail("config d_ff disagrees with the weights", dir, "expected [48, 32]");
    free(conf);
    cp_r(golden, dir);
    unlink(wpath);
    expect_load_fail("no model.safetensors", dir, "no model.safetensors");
    unlink(cpath);
    expect_load_fail("no config.json", dir, "no config.json");

    // vocabulary size
    cp_r(golden, dir);
    char vpath[600];
    snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
    write_vocab(vpath, 59);
    expect_load_fail("vocab.txt of 59 tokens for vocab_size 60", dir, "59 tokens, but the model's vocab_size is 60");
    write_vocab(vpath, 60);
    m = t5p_model_load(dir);
    if (!m || !m->vocab) t5pt_fail("vocab.txt of 60 tokens", "%s", t5p_last_error());
    else t5pt_pass("vocab.txt of 60 tokens");

    // loading weights into an existing model: all or nothing
    if (m) {
        float *before = malloc(m->num_params * sizeof(float));
        memcpy(before, m->params, m->num_params * sizeof(float));
        rewrite_golden(dir, DROP, "decoder.final_layer_norm.weight");
        int rc = t5p_model_load_weights(m, wpath);
        if (rc == 0) t5pt_fail("failed weight load leaves the model unchanged", "accepted");
        else if (memcmp(before, m->params, m->num_params * sizeof(float)))
            t5pt_fail("failed weight load leaves the model unchanged", "parameters changed");
        else t5pt_pass("failed weight load leaves the model unchanged");
        free(before);
        t5p_model_free(m);
    }
}

// --- export for tests/ref/ref_checkpoint.py verify

static int export_dir(const char *out) {
    mkdir(out, 0755);
    for (int fl = 0; fl < 2; fl++) {
        char dir[1024], lp[1100];
        snprintf(dir, sizeof dir, "%s/%s", out, t5p_flavor_name(fl));
        t5pt_rm_rf(dir);
        t5p_model *m = tiny_model(fl, 100 + fl);
        if (t5p_model_save(m, dir)) { fprintf(stderr, "%s\n", t5p_last_error()); return 1; }
        int B = 3, S = 9, T = 6, src[27], tgt[18];
        fill_batch(src, tgt, B, S, T, m->cfg.vocab_size, 9);
        t5p_model_forward(m, src, tgt, B, S, T, 0);
        float loss = m->loss;
        t5p_tensor ts[4] = {
            {"src", T5P_DT_I32, 2, {B, S}, src},
            {"tgt", T5P_DT_I32, 2, {B, T}, tgt},
            {"logits", T5P_DT_F32, 3, {B, T - 1, m->cfg.vocab_size}, t5p_model_logits(m)},
            {"loss", T5P_DT_F32, 1, {1}, &loss},
        };
        snprintf(lp, sizeof lp, "%s/t5p_logits.safetensors", dir);
        if (t5p_safetensors_save(lp, ts, 4, NULL)) { fprintf(stderr, "%s\n", t5p_last_error()); return 1; }
        printf("wrote %s\n", dir);
        t5p_model_free(m);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--export") == 0) return export_dir(argv[2]);
    snprintf(t5pt_tmp_root, sizeof t5pt_tmp_root, "tmp_checkpoint.%ld", (long)getpid());
    t5pt_rm_rf(t5pt_tmp_root);
    mkdir(t5pt_tmp_root, 0755);
    test_config();
    test_round_trip();
    test_hf_golden();
    test_bad();
    if (!t5pt_failed) t5pt_rm_rf(t5pt_tmp_root);
    return t5pt_exit();
}
