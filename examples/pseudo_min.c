// pseudo_min - the smallest use of t5p's pseudo-summary API: one document in, its (source, target) pairs out.
//   build/pseudo_min ["document text"]
// A document gives one pair per group of >= 3 pieces (pieces: sentences merged up to 31 characters).
#define T5P_IMPLEMENTATION
#include "t5p.h"

#include <string.h>

int main(int argc, char **argv) {
    const char *doc = argc > 1 ? argv[1]
                               : "清晨的小镇还没有醒来，街角的面包店已经亮起了灯。老板每天四点起床，把揉好的面团送进烤箱。"
                                 "面包的香味顺着石板路飘到河边，早起的渔夫闻到了就知道天快亮了。"
                                 "到了七点，学生们背着书包排队买面包，店里一下子热闹起来。"
                                 "老板说，开店二十年，最开心的就是看到孩子们拿着热面包跑向学校。"
                                 "中午过后面包卖完了，他就关上店门，在河边钓一下午的鱼。";
    t5p_pseudo *ps = t5p_pseudo_new(NULL);  // the original's parameters: 512, 32, "\n。", 0.25
    if (!ps) { fprintf(stderr, "pseudo_min: %s\n", t5p_last_error()); return 1; }
    const t5p_pseudo_pair *pairs;
    int n = t5p_pseudo_summary(ps, doc, strlen(doc), &pairs);
    if (n < 0) { fprintf(stderr, "pseudo_min: %s\n", t5p_last_error()); return 1; }
    for (int i = 0; i < n; i++) printf("source: %s\ntarget: %s\n", pairs[i].source, pairs[i].target);
    if (n == 0) printf("(no pair: the document has fewer than 3 pieces)\n");
    t5p_pseudo_free(ps);
    return 0;
}
