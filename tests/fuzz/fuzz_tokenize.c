// libFuzzer target: arbitrary bytes through jieba (all three modes), the tokenizer and decode.
// Built and run for a bounded time, with AddressSanitizer and UBSan, by tests/test_fuzz.sh.
#define T5P_IMPLEMENTATION
#include "t5p.h"
#include <stdlib.h>

static t5p_jieba *jb;
static t5p_vocab *vb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!jb) {
        jb = t5p_jieba_load(t5p_jieba_default_dict(), t5p_jieba_default_hmm());
        const char *v = getenv("T5P_FUZZ_VOCAB");
        vb = v ? t5p_vocab_load(v) : NULL;
        if (!vb) {  // a small vocabulary of our own: specials, ASCII, a few words and pieces
            static const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##a", "##b",
                                         "ab", "中", "国", "中国", "人", "##c", ",", "。", "1", "##1"};
            vb = t5p_vocab_new(toks, (int)(sizeof toks / sizeof toks[0]));
        }
        if (!jb || !vb) abort();
    }
    const char *text = (const char *)data;
    int32_t *cps;
    long n = t5p_utf8_decode(text, size, &cps, NULL);
    t5p_cut c = {0};
    for (int mode = 0; mode < 3; mode++) {
        int nw = t5p_jieba_cut(jb, cps, (int)n, mode == 2 ? T5P_CUT_ALL : mode, &c);
        // words are ordered spans within the text
        for (int w = 0; w < nw; w++)
            if (c.words[w].start < 0 || c.words[w].end > n || c.words[w].start > c.words[w].end) abort();
    }
    t5p_cut_free(&c);
    t5p_free(cps);
    t5p_tokenizer tk = {jb, vb, 0, 0};
    t5p_tokens t = {0};
    int k = t5p_tokenize(&tk, text, size, (int)(size % 7), &t);
    if (k < 1) abort();
    char *s = t5p_decode(&tk, t.ids, k);
    t5p_free(s);
    t5p_tokens_free(&t);
    return 0;
}
