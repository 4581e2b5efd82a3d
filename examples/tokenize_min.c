// tokenize_min: the smallest use of t5p.h's tokenizer.
//   build/tokenize_min VOCAB [TEXT]
// prints the T5 PEGASUS tokens and ids of TEXT (default: a sentence), then decodes the ids.
#define T5P_IMPLEMENTATION
#include "t5p.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s VOCAB [TEXT]\n", argv[0]);
        return 2;
    }
    const char *text = argc > 2 ? argv[2] : "T5 PEGASUS 是追一科技开源的中文生成式预训练模型。";
    t5p_jieba *jb = t5p_jieba_load(t5p_jieba_default_dict(), NULL);  // NULL: no HMM (as T5 PEGASUS)
    t5p_vocab *vb = jb ? t5p_vocab_load(argv[1]) : NULL;
    if (!vb) {
        fprintf(stderr, "%s\n", t5p_last_error());
        t5p_jieba_free(jb);
        return 1;
    }
    t5p_tokenizer tk;
    t5p_tokenizer_init(&tk, jb, vb);  // or by hand: {.jieba = jb, .vocab = vb}, a little slower
    t5p_tokens t = {0};
    int n = t5p_tokenize(&tk, text, strlen(text), 0, &t);
    for (int i = 0; i < n; i++) printf("%s/%d ", t5p_token_str(&t, i), t.ids[i]);
    char *back = t5p_decode(&tk, t.ids, n);
    printf("\ndecoded: %s\n", back);
    t5p_free(back);
    t5p_tokens_free(&t);
    t5p_tokenizer_free(&tk);
    t5p_vocab_free(vb);
    t5p_jieba_free(jb);
    return 0;
}
