// The tokenizer stack against the real peers (goldens written by tests/ref/ref_tokenizer.py):
//   - edge suite: our own strings (tests/golden/edge_*.jsonl), full expected outputs;
//   - shared suite: every line of the shared corpora (tests/golden/shared_*.txt, FNV-1a hashes);
//   - vocabulary quirks: bert4keras's load_vocab on adversarial files.
// jieba modes use the installed jieba package; tokenizer modes need ../shared's vocabularies.
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

static uint32_t fnv1a(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

typedef struct {
    const t5p_jieba *jb_hmm;  // jieba with HMM tables
    t5p_tokenizer t5, bert;   // NULL vocab when absent
} peers;

// The output of a mode for one line, into out (reset first).
static int run_mode(const peers *p, const char *mode, const char *line, size_t len, t5p__buf *out, t5p_tokens *t, t5p_cut *c) {
    out->n = 0;
    t5p__buf_reserve(out, 0);
    out->p[0] = 0;
    if (strncmp(mode, "jieba_", 6) == 0) {
        int m = strcmp(mode, "jieba_hmm") == 0 ? T5P_CUT_HMM : strcmp(mode, "jieba_all") == 0 ? T5P_CUT_ALL : 0;
        int32_t *cps;
        long n = t5p_utf8_decode(line, len, &cps, NULL);
        int nw = t5p_jieba_cut(p->jb_hmm, cps, (int)n, m, c);
        for (int w = 0; w < nw; w++) {
            if (w && !c->words[w].join) t5p__buf_add(out, " / ", 3);
            for (int k = c->words[w].start; k < c->words[w].end; k++) t5p__buf_cp(out, cps[k]);
        }
        t5p_free(cps);
        return 0;
    }
    const t5p_tokenizer *tk = strstr(mode, "_t5") ? &p->t5 : &p->bert;
    if (!tk->vocab) return -1;
    int maxlen = strstr(mode, "_64") ? 64 : 0;
    int n = t5p_tokenize(tk, line, len, maxlen, t);
    if (strncmp(mode, "dec_", 4) == 0) {
        char *s = t5p_decode(tk, t->ids, n);
        if (!s) return -1;
        t5p__buf_add(out, s, strlen(s));
        t5p_free(s);
        return 0;
    }
    char num[16];
    for (int i = 0; i < n; i++) {
        if (i) t5p__buf_add(out, " ", 1);
        if (strncmp(mode, "ids_", 4) == 0) t5p__buf_add(out, num, (size_t)snprintf(num, sizeof num, "%d", t->ids[i]));
        else t5p__buf_add(out, t5p_token_str(t, i), strlen(t5p_token_str(t, i)));
    }
    return 0;
}

static t5p_json **read_jsonl(const char *path, int *n) {
    size_t len;
    char *data = t5p_read_file(path, &len);
    t5p_json **v = NULL;
    *n = 0;
    if (!data) return NULL;
    for (size_t pos = 0; pos < len;) {
        size_t e = pos;
        while (e < len && data[e] != '\n') e++;
        t5p_json *j = t5p_json_parse(data + pos, e - pos, path);
        if (!j) { fprintf(stderr, "%s\n", t5p_last_error()); break; }
        arrput(v, j);
        pos = e + 1;
    }
    free(data);
    *n = (int)arrlen(v);
    return v;
}

static void free_jsonl(t5p_json **v) {
    for (ptrdiff_t i = 0; i < arrlen(v); i++) t5p_json_free(v[i]);
    arrfree(v);
}

static void test_edge(const peers *p) {
    static const char *modes[] = {"jieba_hmm", "jieba_nohmm", "jieba_all", "tok_t5", "ids_t5", "ids_t5_64", "dec_t5",
                                  "tok_bert", "ids_bert", "ids_bert_64", "dec_bert"};
    int nin;
    t5p_json **in = read_jsonl(t5pt_path("tests/golden/edge_inputs.jsonl"), &nin);
    if (!nin) { t5pt_fail("edge inputs", "cannot read tests/golden/edge_inputs.jsonl"); return; }
    t5p__buf out = {0};
    t5p_tokens t = {0};
    t5p_cut c = {0};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char name[128], path[256];
        snprintf(name, sizeof name, "edge %s: identical to the peer", modes[m]);
        snprintf(path, sizeof path, "tests/golden/edge_%s.jsonl", modes[m]);
        int nw;
        t5p_json **want = read_jsonl(t5pt_path(path), &nw);
        if (nw != nin) { t5pt_fail(name, "%s has %d lines, inputs %d", path, nw, nin); free_jsonl(want); continue; }
        int same = 0, skipped = 0;
        char first[512] = "";
        for (int i = 0; i < nin; i++) {
            if (run_mode(p, modes[m], in[i]->str, in[i]->len, &out, &t, &c) < 0) { skipped = 1; break; }
            if (out.n == want[i]->len && memcmp(out.p, want[i]->str, out.n) == 0) same++;
            else if (!first[0]) snprintf(first, sizeof first, "line %d: got '%.150s' want '%.150s'", i + 1, out.p, want[i]->str);
        }
        if (skipped) t5pt_skip(name, "vocabulary in ../shared/data absent");
        else if (same == nin) { snprintf(name, sizeof name, "edge %s: %d/%d identical to the peer", modes[m], same, nin); t5pt_pass(name); }
        else t5pt_fail(name, "%d/%d identical; first difference %s", same, nin, first);
        free_jsonl(want);
    }
    // encode(text, maxlen) for tiny maxlen
    int nmx;
    t5p_json **mx = read_jsonl(t5pt_path("tests/golden/edge_maxlen.jsonl"), &nmx);
    int same = 0, total = 0, skipped = 0;
    for (int i = 0; i < nmx; i++) {
        const t5p_json *v = t5p_json_get(mx[i], "vocab"), *text = t5p_json_get(mx[i], "text");
        const t5p_json *ml = t5p_json_get(mx[i], "maxlen"), *ids = t5p_json_get(mx[i], "ids");
        if (!ids) continue;  // maxlen 0: bert4keras raises IndexError; t5p's CLI refuses --maxlen 0
        const t5p_tokenizer *tk = strstr(v->str, "t5") ? &p->t5 : &p->bert;
        if (!tk->vocab) { skipped = 1; continue; }
        int n = t5p_tokenize(tk, text->str, text->len, (int)ml->i, &t);
        int ok = n == ids->n;
        for (int k = 0; ok && k < n; k++) ok = t.ids[k] == ids->items[k].i;
        same += ok;
        total++;
    }
    if (skipped && !total) t5pt_skip("edge encode maxlen 1-4", "vocabulary in ../shared/data absent");
    else if (total && same == total) {
        char name[96];
        snprintf(name, sizeof name, "edge encode maxlen 1-4: %d/%d identical to the peer", same, total);
        t5pt_pass(name);
    }
    else t5pt_fail("edge encode maxlen 1-4", "%d/%d identical", same, total);
    free_jsonl(mx);
    free_jsonl(in);
    free(out.p);
    t5p_tokens_free(&t);
    t5p_cut_free(&c);
}

// Shared corpora: every line through every mode, hashes compared. Reports N/N per mode.
static void test_shared(const peers *p) {
    static const char *modes[] = {"jieba_hmm", "jieba_nohmm", "jieba_all", "tok_t5", "ids_t5", "ids_t5_64", "dec_t5", "tok_bert", "ids_bert"};
    if (!t5pt_shared("jieba/dict.txt")) {
        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
            char name[128];
            snprintf(name, sizeof name, "shared corpora %s", modes[m]);
            t5pt_skip(name, "../shared/data absent");
        }
        return;
    }
    t5p__buf out = {0};
    t5p_tokens t = {0};
    t5p_cut c = {0};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char name[400], path[256];
        snprintf(path, sizeof path, "tests/golden/shared_%s.txt", modes[m]);
        size_t glen;
        char *g = t5p_read_file(t5pt_path(path), &glen);
        snprintf(name, sizeof name, "shared corpora %s", modes[m]);
        if (!g) { t5pt_fail(name, "cannot read %s", path); continue; }
        long total = 0, same = 0;
        int changed = 0;
        char first[300] = "";
        char *gp = g;
        char *body = strstr(g, "\n# lines ");
        body = body ? strchr(body + 1, '\n') + 1 : g + glen;
        for (char *h = strstr(gp, "# file "); h && h < body; h = strstr(h + 1, "# file ")) {
            char rel[256];
            long nlines;
            unsigned fh;
            if (sscanf(h, "# file %255s %ld %x", rel, &nlines, &fh) != 3) break;
            const char *fp = t5pt_shared(rel);
            size_t flen;
            char *fdata = fp ? t5p_read_file(fp, &flen) : NULL;
            if (!fdata || fnv1a(fdata, flen) != fh) { changed = 1; free(fdata); break; }
            free(fdata);
            FILE *f = fopen(fp, "rb");
            t5p_lines r;
            t5p_lines_init(&r, f);
            long len, k = 0;
            while ((len = t5p_lines_next(&r)) >= 0 && k < nlines) {
                unsigned want = (unsigned)strtoul(body, &body, 16);
                body++;
                run_mode(p, modes[m], r.buf, (size_t)len, &out, &t, &c);
                if (fnv1a(out.p, out.n) == want) same++;
                else if (!first[0]) snprintf(first, sizeof first, "%s:%ld", rel, r.lineno);
                total++;
                k++;
            }
            t5p_lines_free(&r);
            fclose(f);
        }
        free(g);
        if (changed) t5pt_skip(name, "shared data differ from the files the goldens were made from");
        else if (total && same == total) { snprintf(name, sizeof name, "shared corpora %s: %ld/%ld lines identical to the peer", modes[m], same, total); t5pt_pass(name); }
        else t5pt_fail(name, "%ld/%ld lines identical; first difference at %s", same, total, first);
    }
    free(out.p);
    t5p_tokens_free(&t);
    t5p_cut_free(&c);
}

// bert4keras's load_vocab on adversarial files: ids (duplicates share ids), id -> token, size.
static void test_vocab_quirks(void) {
    static const char *names[] = {"blank_lines", "bom_and_invalid", "cr_line_ends", "duplicates",
                                  "no_final_newline", "trailing_text", "u2028"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char name[128], tp[256], jp[256];
        snprintf(name, sizeof name, "vocab quirks %s: as bert4keras loads it", names[k]);
        snprintf(tp, sizeof tp, "tests/golden/vocab_quirks/%s.txt", names[k]);
        snprintf(jp, sizeof jp, "tests/golden/vocab_quirks/%s.json", names[k]);
        size_t jl;
        char *js = t5p_read_file(t5pt_path(jp), &jl);
        t5p_json *j = js ? t5p_json_parse(js, jl, jp) : NULL;
        free(js);
        t5p_vocab *v = t5p_vocab_load(t5pt_path(tp));
        if (!j || !v) { t5pt_fail(name, "%s", t5p_last_error()); t5p_json_free(j); t5p_vocab_free(v); continue; }
        char why[256] = "";
        const t5p_json *size = t5p_json_get(j, "size"), *t2i = t5p_json_get(j, "token_to_id"), *i2t = t5p_json_get(j, "id_to_token");
        if (t5p_vocab_size(v) != size->i) snprintf(why, sizeof why, "size %d, want %lld", t5p_vocab_size(v), (long long)size->i);
        for (long i = 0; !why[0] && i < t2i->n; i++) {
            const t5p_json *pair = &t2i->items[i];
            int id = t5p_vocab_id_n(v, pair->items[0].str, pair->items[0].len);
            if (id != pair->items[1].i) snprintf(why, sizeof why, "token '%s' has id %d, want %lld", pair->items[0].str, id, (long long)pair->items[1].i);
        }
        int with_token = 0;
        for (int id = 0; id <= t5p_vocab_size(v); id++) with_token += t5p_vocab_token(v, id) != NULL;
        for (long i = 0; !why[0] && i < i2t->n; i++) {
            const t5p_json *pair = &i2t->items[i];
            const char *tok = t5p_vocab_token(v, (int)pair->items[0].i);
            if (!tok || strcmp(tok, pair->items[1].str) != 0) snprintf(why, sizeof why, "id %lld is '%s', want '%s'", (long long)pair->items[0].i, tok ? tok : "(none)", pair->items[1].str);
        }
        if (!why[0] && with_token != i2t->n) snprintf(why, sizeof why, "%d ids have a token, want %ld", with_token, i2t->n);
        if (why[0]) t5pt_fail(name, "%s", why);
        else t5pt_pass(name);
        t5p_json_free(j);
        t5p_vocab_free(v);
    }
}

int main(void) {
    const char *dict = t5p_jieba_default_dict();
    if (access(dict, R_OK) != 0) {
        t5pt_skip("tokenizer goldens", "python3-jieba (the jieba dictionary) is not installed");
        return t5pt_exit();
    }
    t5p_jieba *jb = t5p_jieba_load(dict, t5p_jieba_default_hmm());
    if (!jb) { t5pt_fail("jieba loads", "%s", t5p_last_error()); return t5pt_exit(); }
    peers p = {jb, {jb, NULL, 0, 0, NULL, 0}, {jb, NULL, 0, 0, NULL, 0}};
    const char *v5 = t5pt_shared("t5_pegasus/vocab.txt"), *vb = t5pt_shared("bert_base_chinese/vocab.txt");
    t5p_vocab *vt5 = v5 ? t5p_vocab_load(v5) : NULL, *vbert = vb ? t5p_vocab_load(vb) : NULL;
    // the T5 tokenizer with t5p_tokenizer_init's node table, the BERT one set up by hand: both paths
    if (vt5) t5p_tokenizer_init(&p.t5, jb, vt5);
    p.bert.vocab = vbert;
    if (vt5 && t5p_vocab_size(vt5) == 50000) t5pt_pass("T5 PEGASUS vocabulary: 50000 tokens");
    else if (v5) t5pt_fail("T5 PEGASUS vocabulary: 50000 tokens", "%d", vt5 ? t5p_vocab_size(vt5) : -1);
    if (vbert && t5p_vocab_size(vbert) == 21128 && t5p_vocab_id(vbert, "") == 343 && t5p_vocab_id(vbert, "##") == 13502)
        t5pt_pass("BERT vocabulary: 21128 tokens, U+2028 lines as bert4keras reads them");
    else if (vb) t5pt_fail("BERT vocabulary", "size %d", vbert ? t5p_vocab_size(vbert) : -1);
    test_vocab_quirks();
    test_edge(&p);
    test_shared(&p);
    t5p_tokenizer_free(&p.t5);
    t5p_vocab_free(vt5);
    t5p_vocab_free(vbert);
    t5p_jieba_free(jb);
    return t5pt_exit();
}
