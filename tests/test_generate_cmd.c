// tests/test_generate_cmd.c - the `t5p generate` command (examples/generate_cmd.inc) against the library:
// the same ids as t5p_encode + t5p_generate, text as t5p_decode, --tsv's source column, usage errors.
// The command loads models with t5p_model_load; this test points it at a loader of its own that makes a
// random-weight model, so it runs without a model directory format.
struct t5p_model;
static struct t5p_model *test_model_load(const char *dir);
#define T5P_CLI_MODEL_LOAD test_model_load
#define main t5p_cli_main
#include "examples/t5p.c"
#undef main
#include "examples/generate_cmd.inc"  // nothing more once examples/t5p.c includes it itself
#include "test.h"

#include <fcntl.h>

#define VOCAB 200

static t5p_model *test_model_load(const char *dir) {
    (void)dir;
    t5p_config c;
    t5p_config_preset(&c, "tiny");
    c.vocab_size = VOCAB;
    t5p_model *m = t5p_model_new(&c);
    if (m) t5p_params_init(&c, m->params, 3);
    return m;
}

// Runs `t5p generate ARGS...` with stdout into path; returns the exit code.
static int run_cmd(const char *path, int argc, char **argv) {
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int rc = cmd_generate(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    return rc;
}

static const char *lines[] = {"一二三四五", "", "七八九十 abc", "一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一一二", "十九八"};

int main(void) {
    char dir[] = "/tmp/t5p_gencmd_XXXXXX";
    if (!mkdtemp(dir)) {
        t5pt_fail("generate command", "mkdtemp");
        return t5pt_exit();
    }
    char vocab[512], input[512], tsv[512], out[512], bad[512];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    snprintf(input, sizeof input, "%s/in.txt", dir);
    snprintf(tsv, sizeof tsv, "%s/in.tsv", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(bad, sizeof bad, "%s/bad.tsv", dir);
    // vocabulary: BERT's 106 specials ([CLS] 101, [SEP] 102), then characters and letters
    FILE *f = fopen(vocab, "w");
    fprintf(f, "[PAD]\n");
    for (int i = 1; i < 100; i++) fprintf(f, "[unused%d]\n", i);
    fprintf(f, "[UNK]\n[CLS]\n[SEP]\n[MASK]\n<S>\n<T>\n");
    const char *chars[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "a", "b", "c", "##b", "##c"};
    int nv = 106;
    for (int i = 0; i < 15; i++, nv++) fprintf(f, "%s\n", chars[i]);
    for (; nv < VOCAB; nv++) {  // more CJK characters, so decoded outputs are text
        char u[8];
        u[t5p_utf8_put(u, 0x4E00 + 0x100 + (uint32_t)nv)] = 0;
        fprintf(f, "%s\n", u);
    }
    fclose(f);
    f = fopen(input, "w");
    for (int i = 0; i < 5; i++) fprintf(f, "%s\n", lines[i]);
    fclose(f);
    f = fopen(tsv, "w");
    for (int i = 0; i < 5; i++) fprintf(f, "title %d\t%s\r\n", i, lines[i]);  // CRLF: universal newlines
    fclose(f);
    f = fopen(bad, "w");
    fprintf(f, "a\tb\nno tab here\n");
    fclose(f);

    // the expected outputs, from the library
    t5p_vocab *vb = t5p_vocab_load(vocab);
    t5p_jieba *jb = t5p_jieba_load(t5p_jieba_default_dict(), NULL);
    if (!vb || !jb) {
        t5pt_fail("generate command", "%s", t5p_last_error());
        return t5pt_exit();
    }
    t5p_tokenizer tk = {.jieba = jb, .vocab = vb};
    t5p_model *m = test_model_load(dir);
    t5p_gen_config g;
    t5p_gen_config_init(&g);
    g.beam = 2, g.max_len = 12;
    t5p__buf want_ids = {0}, want_text = {0};
    for (int i = 0; i < 5; i++) {
        int *ids = NULL, n = t5p_encode(&tk, lines[i], -1, 16, &ids), o[12];
        int k = t5p_generate(m, ids, n, &g, o, 12);
        char num[16];
        for (int j = 0; j < k; j++) {
            int w = snprintf(num, sizeof num, j ? " %d" : "%d", o[j]);
            t5p__buf_add(&want_ids, num, (size_t)w);
        }
        t5p__buf_add(&want_ids, "\n", 1);
        char *s = t5p_decode(&tk, o, k);
        t5p__buf_add(&want_text, s, strlen(s));
        t5p__buf_add(&want_text, "\n", 1);
        t5p_free(s);
        t5p_free(ids);
    }
    char *argv_ids[] = {"generate", "--model", dir, "--beam", "2", "--max-len", "12", "--max-src", "16", "--ids",
                        "-q", "--batch", "2", input};
    int rc = run_cmd(out, 14, argv_ids);
    size_t len;
    char *got = t5p_read_file(out, &len);
    if (rc || !got || len != want_ids.n || memcmp(got, want_ids.p, len))
        t5pt_fail("generate --ids", "rc %d, got:\n%s\nwant:\n%.*s", rc, got ? got : "(none)", (int)want_ids.n, want_ids.p);
    else
        t5pt_pass("generate --ids");
    free(got);
    char *argv_tsv[] = {"generate", "--model", dir, "--beam", "2", "--max-len", "12", "--max-src", "16", "--tsv",
                        "-q", tsv};
    rc = run_cmd(out, 12, argv_tsv);
    got = t5p_read_file(out, &len);
    if (rc || !got || len != want_text.n || memcmp(got, want_text.p, len))
        t5pt_fail("generate --tsv (text)", "rc %d, got:\n%s\nwant:\n%.*s", rc, got ? got : "(none)", (int)want_text.n,
                  want_text.p);
    else if (want_text.n < 5 * 6)
        t5pt_fail("generate --tsv (text)", "outputs too short to test anything:\n%.*s", (int)want_text.n, want_text.p);
    else
        t5pt_pass("generate --tsv (text)");
    free(got);
    // usage errors: exit 2
    char *argv_nomodel[] = {"generate", input};
    char *argv_badtsv[] = {"generate", "--model", dir, "--tsv", "-q", bad};
    char *argv_badsem[] = {"generate", "--model", dir, "--semantics", "fast", input};
    int e1 = run_cmd(out, 2, argv_nomodel), e2 = run_cmd(out, 6, argv_badtsv), e3 = run_cmd(out, 6, argv_badsem);
    if (e1 != 2 || e2 != 2 || e3 != 2) t5pt_fail("generate usage errors", "exit codes %d %d %d, want 2", e1, e2, e3);
    else t5pt_pass("generate usage errors");
    printf("  outputs:\n%.*s", (int)want_text.n, want_text.p);
    printf("  ids:\n%.*s", (int)want_ids.n, want_ids.p);
    free(want_ids.p), free(want_text.p);
    t5p_model_free(m);
    t5p_jieba_free(jb);
    t5p_vocab_free(vb);
    remove(vocab), remove(input), remove(tsv), remove(out), remove(bad), rmdir(dir);
    return t5pt_exit();
}
