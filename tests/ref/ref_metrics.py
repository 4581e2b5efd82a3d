#!/usr/bin/env python3
"""Goldens for t5p's metrics (section 10 of t5p.h): ROUGE-1/2/L F and BLEU exactly as
T5 PEGASUS's finetune.py computed them.

finetune.py (ZhuiyiTechnology/t5-pegasus) scored each dev title like this:

    title = ' '.join(title).lower()
    pred_title = ' '.join(autotitle.generate(content, topk)).lower()
    if pred_title.strip():
        scores = Rouge().get_scores(hyps=pred_title, refs=title)
        rouge_1 += scores[0]['rouge-1']['f']        # likewise rouge-2, rouge-l
        bleu += sentence_bleu(references=[title.split(' ')], hypothesis=pred_title.split(' '),
                              smoothing_function=SmoothingFunction().method1)
    ... and divided each sum by the number of titles (empty predictions count as 0).

This script runs the real packages: `rouge` 1.0.0 and 1.0.1 (pltrdy) side by side, and
`nltk` 3.5 (current when T5 PEGASUS came out, March 2021), 3.6.2, 3.6.7 and the installed
latest, and checks that every nltk version gives the same BLEU bit for bit.

Writes (developers run this, CI never does):
  tests/golden/metrics_synthetic.tsv  synthetic pairs generated here, texts in full
  tests/golden/metrics_csl.tsv        pairs derived from ../shared/data CSL titles: only line numbers,
                                      hashes and scores (no text), when the shared data is present

Usage: python3 tests/ref/ref_metrics.py [--deps DIR] [--no-csl]
  --deps DIR  where the pinned packages are pip-installed with --target (default build/pydeps);
              missing ones are installed with `pip install --no-deps --target`.
"""
import argparse
import hashlib
import math
import os
import random
import subprocess
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NLTK_PINNED = ["3.5", "3.6.2", "3.6.7"]
ROUGE_VERSIONS = ["1.0.0", "1.0.1"]


# ----------------------------------------------------------------------------
# loading several versions of one package in one process

def ensure(deps, pkg, ver):
    d = os.path.join(deps, f"{pkg}-{ver}")
    if not os.path.isdir(os.path.join(d, pkg)):
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                               "--target", d, f"{pkg}=={ver}"])
    return d


def load(pkg, path):
    for k in list(sys.modules):
        if k == pkg or k.startswith(pkg + "."):
            del sys.modules[k]
    if path:
        sys.path.insert(0, path)
    try:
        mod = __import__(pkg)
        if pkg == "nltk":
            from nltk.translate import bleu_score
            return mod.__version__, bleu_score
        return mod.__version__, mod
    finally:
        if path:
            sys.path.pop(0)


# ----------------------------------------------------------------------------
# synthetic pairs (title, generated): plain strings before finetune.py's join + lower

CJK = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你"
       "网络模型算法数据学习系统研究方法分析基于设计实现应用信息技术问题结构控制检测图像")
LATIN = ["deep", "learning", "CNN", "LSTM", "BERT", "GPU", "T5", "Transformer", "SVM", "k-means",
         "Web", "IoT", "5G", "RFID", "OFDM", "MIMO", "DNA", "Hadoop", "SQL", "XML"]
DIGITS = "0123456789"
FULLWIDTH = "，。：；！？（）【】《》、“”‘’—…．０１２３ＡＢＣａｂｃ"
ASCIIP = ",:;!?()[]-/+=%&'\"<>"
SPECIAL_CASE = ["İ", "Σ", "ΣΑΣ", "ẞ", "K", "Å", "Ａ", "Ⅻ", "Ω", "ǅ", "Ǆ", "ΰ", "ŉ", "Ꞵ", "𐐀", "𞤀",
                "ДЖ", "Ü", "ß", "ﬁ", "İstanbul", "ΟΔΟΣ", "Ⓐ", "ꭰ", "Ᏸ"]
SPACES = [" ", "  ", "\t", "\u3000", "\xa0", "\x1c", "\x85", "\u2028", "\u2009", "\x0b", "\x0c"]
ASTRAL = ["😀", "𠀀", "𪚥", "🀄", "𝔸"]
COMBINING = ["e\u0301", "a\u0308", "n\u0303", "\u0301", "\u0338"]


def rand_title(rng, n, alphabet=CJK):
    return "".join(rng.choice(alphabet) for _ in range(n))


def mixed_title(rng, n):
    parts = []
    while sum(len(p) for p in parts) < n:
        r = rng.random()
        if r < 0.55:
            parts.append(rand_title(rng, rng.randint(1, 4)))
        elif r < 0.75:
            parts.append(rng.choice(LATIN))
        elif r < 0.88:
            parts.append("".join(rng.choice(DIGITS) for _ in range(rng.randint(1, 4))))
        elif r < 0.95:
            parts.append(rng.choice(FULLWIDTH))
        else:
            parts.append(rng.choice(ASCIIP))
    return "".join(parts)


def perturb(rng, s, strength=0.3, pool=CJK):
    """Edit a title the way a model's guess differs from it: drops, swaps, inserts, repeats."""
    out = list(s)
    k = max(1, int(len(out) * strength * rng.random() * 2)) if out else 0
    for _ in range(k):
        op = rng.random()
        if not out:
            out.append(rng.choice(pool))
            continue
        i = rng.randrange(len(out))
        if op < 0.3:
            del out[i]
        elif op < 0.55:
            out[i] = rng.choice(pool)
        elif op < 0.75:
            out.insert(i, rng.choice(pool))
        elif op < 0.9:
            j = min(len(out), i + rng.randint(1, 4))
            out[i:i] = out[i:j]  # repeat a piece (repeated n-grams)
        else:
            j = rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]
    if rng.random() < 0.2:
        out = out[:rng.randint(0, len(out))]  # truncated guess
    return "".join(out)


def synthetic_pairs(seed=2021):
    rng = random.Random(seed)
    P = []  # (group, title, generated)

    def add(g, title, gen):
        P.append((g, title, gen))

    for _ in range(800):  # realistic CJK titles and guesses
        t = rand_title(rng, rng.randint(6, 40))
        add("cjk", t, perturb(rng, t, rng.choice([0.05, 0.2, 0.4, 0.8])))
    for _ in range(400):  # Latin words, digits, punctuation mixed in
        t = mixed_title(rng, rng.randint(5, 45))
        g = perturb(rng, t, 0.3, CJK + DIGITS + "".join(LATIN)) if rng.random() < 0.7 else mixed_title(rng, rng.randint(3, 40))
        add("mixed", t, g)
    for _ in range(200):  # upper case Latin, special lowercase mappings (İ -> i̇, Σ, ẞ, K ...)
        words = [rng.choice(LATIN + SPECIAL_CASE) for _ in range(rng.randint(1, 5))]
        t = "".join(w if rng.random() < 0.5 else w.upper() for w in words) + rand_title(rng, rng.randint(0, 8))
        g = "".join(w.lower() if rng.random() < 0.5 else w.upper() for w in words)
        if rng.random() < 0.5:
            g = perturb(rng, g, 0.3, "".join(SPECIAL_CASE) + "abcXYZ")
        add("case", t, g)
    dots = [".", "..", "...", ". .", ".a", "a.", ".a.", "3.14", "v1.0", "e.g.", "．", "。"]
    for _ in range(180):  # '.' inside text: the rouge package splits sentences on it
        t = "".join(rng.choice([rand_title(rng, rng.randint(1, 6)), rng.choice(dots)]) for _ in range(rng.randint(1, 6)))
        g = "".join(rng.choice([rand_title(rng, rng.randint(1, 6)), rng.choice(dots)]) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.3:
            g = perturb(rng, t, 0.3, CJK[:10] + ".")
        add("dots", t, g)
    for t, g in [("a", "."), ("标题", "."), (".", "标题"), ("", "标题"), ("", "."), (".", "."), ("..", "."),
                 ("标题", ".."), ("标题", "..."), ("..", "标题"), ("", ""), (".", ""), ("", " "),
                 ("标题", ". "), ("标题", " ."), ("a.b", "a.b"), ("a. b", "a .b")]:
        add("dots-edge", t, g)  # hyp '.' and ref ''/'.' make rouge raise ValueError
    for sp in ["", " ", "  ", "\t", "\u3000", "\xa0", "\x1c", "\x85", "\u2028", " \t ", "\n", "\r", "\x0b"]:
        for _ in range(6):  # empty and whitespace-only predictions (scored 0, still counted)
            add("empty", rand_title(rng, rng.randint(1, 20)), sp)
    for _ in range(150):  # whitespace inside titles: split() vs split(' ') differ
        t = "".join(rng.choice([rand_title(rng, rng.randint(1, 5)), rng.choice(SPACES)]) for _ in range(rng.randint(1, 7)))
        g = perturb(rng, t, 0.3, CJK[:20] + "  \t\u3000") if rng.random() < 0.6 else \
            "".join(rng.choice([rand_title(rng, rng.randint(1, 5)), rng.choice(SPACES)]) for _ in range(rng.randint(1, 6)))
        add("spaces", t, g)
    for _ in range(200):  # repeated n-grams: ROUGE-N multiset (1.0.0) vs set (1.0.1) differ here
        unit = rand_title(rng, rng.randint(1, 3), CJK[:8])
        t = unit * rng.randint(1, 6) + rand_title(rng, rng.randint(0, 5), CJK[:8])
        g = rand_title(rng, rng.randint(1, 2), CJK[:8]) * rng.randint(1, 8) + rand_title(rng, rng.randint(0, 4), CJK[:8])
        add("repeat", t, g)
    for _ in range(100):  # very short
        add("short", rand_title(rng, rng.randint(1, 3), CJK[:12]), rand_title(rng, rng.randint(1, 3), CJK[:12]))
    for _ in range(60):  # long (kept under Python's recursion limit in rouge's LCS traceback)
        t = mixed_title(rng, rng.randint(150, 440))
        add("long", t, perturb(rng, t, 0.3) if rng.random() < 0.7 else mixed_title(rng, rng.randint(100, 440)))
    for _ in range(100):  # identical pairs
        t = mixed_title(rng, rng.randint(1, 40)) if rng.random() < 0.5 else rand_title(rng, rng.randint(1, 40))
        add("identical", t, t)
    for _ in range(150):  # full-width punctuation, astral characters, combining marks
        pool = FULLWIDTH + "".join(ASTRAL) + "".join(COMBINING) + CJK[:20]
        t = "".join(rng.choice([rng.choice(FULLWIDTH), rng.choice(ASTRAL), rng.choice(COMBINING), rand_title(rng, 3)])
                    for _ in range(rng.randint(1, 10)))
        add("fullwidth", t, perturb(rng, t, 0.4, pool))
    for _ in range(50):  # no overlap at all: BLEU's "no unigram match -> 0"
        add("disjoint", rand_title(rng, rng.randint(1, 20), CJK[:30]), rand_title(rng, rng.randint(1, 20), CJK[30:]))
    return P


def raw_pairs(seed=7):
    """Word-level texts for the package-level entry points (t5p_rouge, t5p_bleu)."""
    rng = random.Random(seed)
    words = ["the", "a", "model", "data", "of", "on", "net", "GPU", "深度", "学习", "模型", "3.5", "x", "", "İ"]
    P = []
    for _ in range(600):
        def text():
            toks = [rng.choice(words) for _ in range(rng.randint(0, 14))]
            s = ""
            for w in toks:
                s += w + rng.choice([" ", " ", " ", "  ", ". ", ".", " . ", "\t", "\u3000", "..."])
            if rng.random() < 0.3:
                s = s.strip()
            return s
        h, r = text(), text()
        if rng.random() < 0.15:
            h = r
        P.append(("raw", r, h))
    return P


# ----------------------------------------------------------------------------
# scoring with the packages

def score_rouge(R, hyp, ref):
    try:
        s = R.get_scores(hyps=hyp, refs=ref)[0]
        return "ok", [s["rouge-1"]["f"], s["rouge-2"]["f"], s["rouge-l"]["f"]]
    except ValueError as e:
        return ("raise-hyp" if "Hypothesis" in str(e) else "raise-ref"), None


def score_bleus(bleus, hyp, ref):
    vals = []
    for ver, (sb, sm) in bleus.items():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            v = sb([ref.split(" ")], hyp.split(" "), smoothing_function=sm)
        if w:
            raise SystemExit(f"nltk {ver} warned: {w[0].message}")
        vals.append((ver, v))
    v0 = vals[0][1]
    for ver, v in vals[1:]:
        if type(v) is not type(v0) or v != v0 or (isinstance(v, float) and v.hex() != v0.hex()):
            raise SystemExit(f"nltk versions differ on {hyp!r} / {ref!r}: {vals}")
    return float(v0)


def score_pair(rouges, bleus, hyp, ref, finetune):
    """finetune=True: hyp/ref are already joined+lowered; an empty pred.strip() scores 0."""
    if finetune and not hyp.strip():
        return "empty", {v: [0.0] * 4 for v in rouges}
    out, status = {}, None
    bleu = score_bleus(bleus, hyp, ref)
    for v, R in rouges.items():
        st, sc = score_rouge(R, hyp, ref)
        if status is not None and st != status:
            raise SystemExit("rouge versions disagree on raising")
        status = st
        out[v] = (sc if sc else [0.0] * 3) + [bleu]
    return status, out


def esc(s):
    o = []
    for ch in s:
        c = ord(ch)
        if ch == "\\":
            o.append("\\\\")
        elif ch == "\t":
            o.append("\\t")
        elif ch == "\n":
            o.append("\\n")
        elif ch == "\r":
            o.append("\\r")
        elif c < 0x20 or c == 0x7F:
            o.append("\\x%02x" % c)
        elif c in (0x85, 0x2028, 0x2029):
            o.append("\\u%04x" % c)
        else:
            o.append(ch)
    return "".join(o)


def fnv1a64_bytes(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def finetune_mean(rows):
    """finetune.py's evaluate(): sums in order, empty predictions add nothing, / total."""
    res = {}
    for v in ROUGE_VERSIONS:
        total = 0
        r1 = r2 = rl = bl = 0
        for status, sc in rows:
            if status.startswith("raise"):
                continue  # finetune.py would stop with ValueError here
            total += 1
            if status == "ok":
                r1 += sc[v][0]
                r2 += sc[v][1]
                rl += sc[v][2]
                bl += sc[v][3]
        res[v] = [x / total for x in (r1, r2, rl, bl)]
    return res


def fmt(vals):
    return "\t".join(repr(float(x)) for x in vals)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deps", default=os.path.join(ROOT, "build", "pydeps"))
    ap.add_argument("--no-csl", action="store_true")
    args = ap.parse_args()
    sys.setrecursionlimit(1000)  # rouge's traceback is recursive: keep Python's default

    rouges = {}
    for v in ROUGE_VERSIONS:
        ver, mod = load("rouge", ensure(args.deps, "rouge", v))
        assert ver == v, (ver, v)
        rouges[v] = mod.Rouge()
    bleus = {}
    for v in NLTK_PINNED + [None]:
        ver, bs = load("nltk", ensure(args.deps, "nltk", v) if v else None)
        bleus[ver] = (bs.sentence_bleu, bs.SmoothingFunction().method1)
    nltk_versions = list(bleus)
    print("rouge", list(rouges), "nltk", nltk_versions, file=sys.stderr)

    head = ("# written by tests/ref/ref_metrics.py. rouge (pltrdy) " + " and ".join(ROUGE_VERSIONS) +
            "; nltk " + ", ".join(nltk_versions) + " give identical BLEU on every pair.\n")
    cols = "r1@1.0.0\tr2@1.0.0\trl@1.0.0\tbleu@1.0.0\tr1@1.0.1\tr2@1.0.1\trl@1.0.1\tbleu@1.0.1"

    # synthetic pairs
    pairs = synthetic_pairs() + raw_pairs()
    lines, rows = [], []
    counts = {}
    for group, title, gen in pairs:
        if group == "raw":  # package level: texts used as they are
            ref, pred = title, gen
            status, sc = score_pair(rouges, bleus, pred, ref, finetune=False)
            level = "R"
        else:
            ref = " ".join(title).lower()
            pred = " ".join(gen).lower()
            status, sc = score_pair(rouges, bleus, pred, ref, finetune=True)
            rows.append((status, sc))
            level = "F"
        counts[(level, status)] = counts.get((level, status), 0) + 1
        lines.append(f"{level}\t{group}\t{status}\t{esc(gen)}\t{esc(title)}\t"
                     + fmt(sc["1.0.0"] + sc["1.0.1"]) + "\n")
    mean = finetune_mean(rows)
    out = os.path.join(ROOT, "tests", "golden", "metrics_synthetic.tsv")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(head)
        f.write("# F: finetune.py level (generated, title joined by spaces and lowercased; empty pred.strip() scores 0)\n")
        f.write("# R: package level (Rouge().get_scores(hyps=pred, refs=ref), sentence_bleu([ref.split(' ')], pred.split(' ')))\n")
        f.write("# status: ok, empty, raise-hyp / raise-ref (rouge raises ValueError; BLEU still given)\n")
        f.write(f"# level\tgroup\tstatus\tpred\tref\t{cols}\n")
        f.write("mean\tF\t-\t-\t-\t" + fmt(mean["1.0.0"] + mean["1.0.1"]) + "\n")
        f.writelines(lines)
    print(f"{out}: {len(lines)} pairs", {f"{k[0]}:{k[1]}": n for k, n in sorted(counts.items())}, file=sys.stderr)

    # files for the CLI test (tests/test_eval.sh): every 10th finetune-level pair without line
    # breaks in it and where rouge does not raise, and finetune.py's printed metrics dict
    sel = [(g, t, s) for (g, t, s), (st, _) in zip([p for p in pairs if p[0] != "raw"], rows)
           if not st.startswith("raise") and not any(c in t + s for c in "\n\r")][::10]
    gd = os.path.join(ROOT, "tests", "golden")
    with open(os.path.join(gd, "eval_pred.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(s + "\n" for _, _, s in sel)
    with open(os.path.join(gd, "eval_ref.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(t + "\n" for _, t, _ in sel)
    with open(os.path.join(gd, "eval_expected.txt"), "w", encoding="utf-8", newline="\n") as f:
        for v in ROUGE_VERSIONS:
            srows = [score_pair(rouges, bleus, " ".join(s).lower(), " ".join(t).lower(), True) for _, t, s in sel]
            m = finetune_mean(srows)[v]
            f.write(f"{v}\t" + str({"rouge-1": m[0], "rouge-2": m[1], "rouge-l": m[2], "bleu": m[3]}) + "\n")
    print(f"eval_pred.txt / eval_ref.txt: {len(sel)} lines", file=sys.stderr)
    print("finetune mean", mean, file=sys.stderr)

    # pairs derived from CSL titles (shared data; only numbers are written)
    src = os.path.join(ROOT, "..", "shared", "data", "csl", "clge_csl", "val.tsv")
    if args.no_csl or not os.path.exists(src):
        print("CSL: skipped", file=sys.stderr)
        return
    raw = open(src, "rb").read()
    sha = hashlib.sha256(raw).hexdigest()
    data = []
    for l in raw.decode("utf-8").split("\n"):
        if l.strip():
            title, content = l.strip().split("\t")
            data.append((title, content))
    kinds = {
        # lead: the abstract's first len(title) characters (a baseline guess)
        "lead": lambda i: data[i][1][:len(data[i][0])],
        # next: the next record's title (unrelated guess)
        "next": lambda i: data[(i + 1) % len(data)][0],
        # drop3: the title without every third character (positions 2, 5, 8, ...)
        "drop3": lambda i: "".join(c for k, c in enumerate(data[i][0]) if k % 3 != 2),
    }
    out = os.path.join(ROOT, "tests", "golden", "metrics_csl.tsv")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(head)
        f.write("# pairs derived from ../shared/data/csl/clge_csl/val.tsv (no text here): ref = title of record i,\n"
                "# pred = kind lead (abstract[:len(title)]), next (title of record i+1, wrapping) or drop3\n"
                "# (title without code points k % 3 == 2). The file is checked by its size and FNV-1a 64 hash.\n")
        f.write(f"file\tcsl/clge_csl/val.tsv\t{len(raw)}\t{fnv1a64_bytes(raw)}\t{sha}\n")
        f.write(f"# kind\trecord\tstatus\t-\t-\t{cols}\n")
        for kind, fn in kinds.items():
            krows, klines = [], []
            for i in range(len(data)):
                gen, title = fn(i), data[i][0]
                status, sc = score_pair(rouges, bleus, " ".join(gen).lower(), " ".join(title).lower(), True)
                krows.append((status, sc))
                klines.append(f"{kind}\t{i}\t{status}\t-\t-\t"
                              + fmt(sc["1.0.0"] + sc["1.0.1"]) + "\n")
            m = finetune_mean(krows)
            f.write(f"mean\t{kind}\t-\t-\t-\t" + fmt(m["1.0.0"] + m["1.0.1"]) + "\n")
            f.writelines(klines)
            print(f"CSL {kind}: mean", {v: [round(100 * x, 2) for x in m[v]] for v in m}, file=sys.stderr)
    print(f"{out}: {3 * len(data)} pairs, sha256 {sha[:16]}...", file=sys.stderr)


if __name__ == "__main__":
    main()
