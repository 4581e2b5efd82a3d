// Unit tests of the base helpers and the jieba segmenter on small dictionaries written here.
// The comparisons with jieba itself over real corpora are in test_tokenizer.c (goldens).
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include "test.h"

static const char *write_tmp(const char *name, const char *text, size_t n) {
    static char path[8][256];
    static int k;
    char *p = path[k++ & 7];
    snprintf(p, 256, "/tmp/t5p_test_%d_%s", (int)getpid(), name);
    FILE *f = fopen(p, "wb");
    fwrite(text, 1, n, f);
    fclose(f);
    return p;
}

// Cuts UTF-8 text and joins the words with " / " (spans with .join are glued).
static char *cut_str(const t5p_jieba *jb, const char *text, int mode) {
    static char out[1 << 16];
    int32_t *cps;
    long n = t5p_utf8_decode(text, strlen(text), &cps, NULL);
    t5p_cut c = {0};
    int nw = t5p_jieba_cut(jb, cps, (int)n, mode, &c);
    size_t o = 0;
    for (int w = 0; w < nw; w++) {
        if (w && !c.words[w].join) o += (size_t)snprintf(out + o, sizeof out - o, " / ");
        for (int k = c.words[w].start; k < c.words[w].end; k++) o += (size_t)t5p_utf8_put(out + o, (uint32_t)cps[k]);
    }
    out[o] = 0;
    t5p_cut_free(&c);
    t5p_free(cps);
    return out;
}

static void expect_str(const char *name, const char *got, const char *want) {
    if (strcmp(got, want) == 0) t5pt_pass(name);
    else t5pt_fail(name, "got '%s', want '%s'", got, want);
}

static void test_utf8(void) {
    const char s[] = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";  // a é 中 😀
    int32_t *c;
    long nbad;
    long n = t5p_utf8_decode(s, sizeof s - 1, &c, &nbad);
    int ok = n == 4 && nbad == 0 && c[0] == 'a' && c[1] == 0xE9 && c[2] == 0x4E2D && c[3] == 0x1F600;
    char buf[16];
    int k = 0;
    for (int i = 0; i < n; i++) k += t5p_utf8_put(buf + k, (uint32_t)c[i]);
    ok = ok && k == (int)sizeof s - 1 && memcmp(buf, s, (size_t)k) == 0;
    t5p_free(c);
    if (ok) t5pt_pass("utf8 round trip"); else t5pt_fail("utf8 round trip", "decode/encode mismatch");
    // overlong, surrogate, truncated, stray continuation, > U+10FFFF: each byte sequence invalid
    const char bad[] = "\xC0\xAF|\xED\xA0\x80|\xE4\xB8|\x80|\xF4\x90\x80\x80|";
    n = t5p_utf8_decode(bad, sizeof bad - 1, &c, &nbad);
    int fffd = 0, bars = 0;
    for (int i = 0; i < n; i++) { fffd += c[i] == 0xFFFD; bars += c[i] == '|'; }
    t5p_free(c);
    if (bars == 5 && fffd == nbad && nbad == 12) t5pt_pass("utf8 invalid sequences become U+FFFD");
    else t5pt_fail("utf8 invalid sequences become U+FFFD", "bars %d fffd %d nbad %ld", bars, fffd, nbad);
}

static void test_lines(void) {
    const char text[] = "a\r\nb\rc\n\r\n\nd\0e";
    const char *p = write_tmp("lines.txt", text, sizeof text - 1);
    FILE *f = fopen(p, "rb");
    t5p_lines r;
    t5p_lines_init(&r, f);
    const char *want[] = {"a", "b", "c", "", "", "d"};
    int ok = 1, i = 0;
    long len;
    while ((len = t5p_lines_next(&r)) >= 0) {
        if (i < 5) ok = ok && strcmp(r.buf, want[i]) == 0;
        else ok = ok && len == 3 && memcmp(r.buf, "d\0e", 3) == 0;
        i++;
    }
    ok = ok && i == 6 && r.lineno == 6;
    t5p_lines_free(&r);
    fclose(f);
    if (ok) t5pt_pass("lines: universal newlines, NUL kept"); else t5pt_fail("lines: universal newlines, NUL kept", "got %d lines", i);
}

static void test_small_dict(void) {
    // 北京 and 京大 overlap; equal scores go to the longer word at each position (jieba's max((p, x)))
    const char dict[] = "北京 100 ns\n大学 100 n\n北京大学 100 nt\n京 1\n大 1\n学 1\n北 1\n"
                        "中国 50 ns\n中 1\n国 1\n人 1\n";
    const char *p = write_tmp("dict.txt", dict, sizeof dict - 1);
    t5p_jieba *jb = t5p_jieba_load(p, NULL);
    if (!jb) { t5pt_fail("small dict loads", "%s", t5p_last_error()); return; }
    t5pt_pass("small dict loads");
    if (t5p_jieba_total(jb) == 357) t5pt_pass("total counts every line"); else t5pt_fail("total counts every line", "%lld", t5p_jieba_total(jb));
    int32_t bj[2] = {0x5317, 0x4EAC}, bjd[3] = {0x5317, 0x4EAC, 0x5927};
    if (t5p_jieba_freq(jb, bj, 2) == 100 && t5p_jieba_freq(jb, bjd, 3) == 0) t5pt_pass("prefixes have freq 0");
    else t5pt_fail("prefixes have freq 0", "%lld %lld", t5p_jieba_freq(jb, bj, 2), t5p_jieba_freq(jb, bjd, 3));
    expect_str("route picks the most probable words", cut_str(jb, "北京大学", 0), "北京大学");
    expect_str("non-Han characters are single words", cut_str(jb, "中国, 人", 0), "中国 / , /   / 人");
    expect_str("ASCII runs are glued without HMM", cut_str(jb, "中国abc12人", 0), "中国 / abc12 / 人");
    expect_str("\\r\\n is one word", cut_str(jb, "中\r\n国", 0), "中 / \r\n / 国");
    expect_str("cut all lists every word", cut_str(jb, "北京大学", T5P_CUT_ALL), "北京 / 北京大学 / 大学");
    expect_str("cut all keeps empty pieces", cut_str(jb, " ，中国", T5P_CUT_ALL), " /   / ， / 中国");
    expect_str("empty text has no words", cut_str(jb, "", 0), "");
    // user dictionary: jieba's regex ^(.+?)( [0-9]+)?( [a-z]+)?$ and suggest_freq
    const char user[] = "\xEF\xBB\xBF" "人中 20\n京大 n\nfoo bar 3 x\n  \n";
    const char *up = write_tmp("user.txt", user, sizeof user - 1);
    int added = t5p_jieba_load_userdict(jb, up);
    int32_t rz[2] = {0x4EBA, 0x4E2D}, jd[2] = {0x4EAC, 0x5927};
    int32_t foo[7] = {'f', 'o', 'o', ' ', 'b', 'a', 'r'};
    long long f_rz = t5p_jieba_freq(jb, rz, 2), f_jd = t5p_jieba_freq(jb, jd, 2), f_foo = t5p_jieba_freq(jb, foo, 7);
    // 京大 gets suggest_freq: cut HMM-free as 京 / 大 -> max(int(1/377 * 1/377 * 377) + 1, 1) = 1
    if (added == 3 && f_rz == 20 && f_jd == 1 && f_foo == 3) t5pt_pass("user dict: freq, tag, suggested freq, BOM");
    else t5pt_fail("user dict: freq, tag, suggested freq, BOM", "added %d freqs %lld %lld %lld", added, f_rz, f_jd, f_foo);
    t5p_jieba_free(jb);
}

static void test_bad_dicts(void) {
    struct { const char *name, *text, *want; } cases[] = {
        {"missing freq", "北京 100\n大学\n", ":2: invalid dictionary entry"},
        {"bad freq", "北京 1x0\n", ":1: invalid frequency"},
        {"invalid UTF-8", "ok 1\n\xff\xfe 3\n", ":2: invalid UTF-8 at byte 5"},
        {"blank line", "a 1\n\nb 2\n", ":2: invalid dictionary entry"},
        {"no positive freq", "a 0\n", "no words with a positive frequency"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_tmp("bad.txt", cases[i].text, strlen(cases[i].text));
        t5p_jieba *jb = t5p_jieba_load(p, NULL);
        char name[128];
        snprintf(name, sizeof name, "bad dictionary: %s", cases[i].name);
        if (!jb && strstr(t5p_last_error(), cases[i].want) && strstr(t5p_last_error(), p)) t5pt_pass(name);
        else t5pt_fail(name, "error '%s'", jb ? "(loaded)" : t5p_last_error());
        t5p_jieba_free(jb);
    }
    t5p_jieba *jb = t5p_jieba_load("/nonexistent/dict.txt", NULL);
    if (!jb && strstr(t5p_last_error(), "/nonexistent/dict.txt")) t5pt_pass("missing dictionary names the file");
    else t5pt_fail("missing dictionary names the file", "%s", t5p_last_error());
    t5p_jieba_free(jb);
}

// The installed jieba package: HMM tables parse from its Python sources and cut as jieba does.
static void test_installed(void) {
    const char *dict = t5p_jieba_default_dict();
    if (access(dict, R_OK) != 0) { t5pt_skip("installed jieba", "python3-jieba not installed"); return; }
    t5p_jieba *jb = t5p_jieba_load(dict, t5p_jieba_default_hmm());
    if (!jb || !t5p_jieba_has_hmm(jb)) { t5pt_fail("installed jieba loads with HMM", "%s", t5p_last_error()); t5p_jieba_free(jb); return; }
    t5pt_pass("installed jieba loads with HMM");
    if (t5p_jieba_total(jb) == 60101967) t5pt_pass("installed dictionary total 60101967");
    else t5pt_fail("installed dictionary total 60101967", "%lld", t5p_jieba_total(jb));
    // jieba's README examples (python3 -m jieba output)
    expect_str("jieba README: accurate mode", cut_str(jb, "我来到北京清华大学", T5P_CUT_HMM), "我 / 来到 / 北京 / 清华大学");
    expect_str("jieba README: full mode", cut_str(jb, "我来到北京清华大学", T5P_CUT_ALL), "我 / 来到 / 北京 / 清华 / 清华大学 / 华大 / 大学");
    expect_str("jieba README: HMM new word", cut_str(jb, "他来到了网易杭研大厦", T5P_CUT_HMM), "他 / 来到 / 了 / 网易 / 杭研 / 大厦");
    expect_str("jieba README: no HMM", cut_str(jb, "他来到了网易杭研大厦", 0), "他 / 来到 / 了 / 网易 / 杭 / 研 / 大厦");
    // a 10 MB line without punctuation: linear time (one block, route over 3.3 M characters)
    size_t big = 10u << 20;
    char *s = malloc(big + 1);
    const char *pat = "我们在北京大学学习人工智能和自然语言处理";
    size_t pl = strlen(pat);
    for (size_t i = 0; i + pl <= big; i += pl) memcpy(s + i, pat, pl);
    size_t n = big / pl * pl;
    int32_t *cps;
    long m = t5p_utf8_decode(s, n, &cps, NULL);
    t5p_cut c = {0};
    clock_t t0 = clock();
    int nw = t5p_jieba_cut(jb, cps, (int)m, T5P_CUT_HMM, &c);
    double dt = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (nw > 0 && dt < 20) t5pt_pass("10 MB line without punctuation: linear time");
    else t5pt_fail("10 MB line without punctuation: linear time", "%d words in %.1f s", nw, dt);
    t5p_cut_free(&c);
    t5p_free(cps);
    free(s);
    t5p_jieba_free(jb);
}

int main(void) {
    test_utf8();
    test_lines();
    test_small_dict();
    test_bad_dicts();
    test_installed();
    return t5pt_exit();
}
