#!/usr/bin/env python3
"""Reference for `t5p pseudo`: the official T5 PEGASUS pseudo-summary recipe (t5-pegasus train.py with
bert4keras 0.10.0 text_segmentate), written out here with pylcs (PyPI) as the LCS, as the original did.

    python3 tests/ref/ref_pseudo.py goldens     # writes tests/golden/pseudo_* (corpora need ../shared/data)
    python3 tests/ref/ref_pseudo.py synthetic   # only tests/golden/pseudo_synthetic.jsonl
    python3 tests/ref/ref_pseudo.py run [--jsonl] [--field F] [--limit N] FILE   # pairs as JSONL on stdout

The recipe, per input document (one corpus line in train.py):
  1. pieces = text_segmentate(text, 32, '\\n。')
  2. groups: append pieces; before appending, close the group when length + len(piece) > 512 * 1.5 and the
     group has >= 3 pieces; keep the last group only when it has >= 3 pieces.  One document -> 0..k groups,
     each group -> one (source, target) pair.
  3. greedy selection with pylcs.lcs, first maximum wins (np.argmax), stop at one source piece left or
     len(target) / len(source) > 0.25; swap when the source is shorter.
The one place where the original has no defined result: when every remaining source piece is empty
(text_segmentate can return '' pieces for all-whitespace chunks) the ratio divides by zero and train.py raises
ZeroDivisionError. Here (and in t5p) such a group yields no pair.

Golden files hold one FNV-1a 32-bit hash (8 hex digits) per document of the bytes the document produces:
the concatenation of its output lines `json.dumps({"source": s, "target": t}, ensure_ascii=False) + "\\n"`
(no pairs -> hash of the empty string, 811c9dc5), after a header line with the counts and the sha256 of the
whole output.  No text of the shared data is written.  Synthetic documents are written in full with their
output (pseudo_synthetic.jsonl, lines {"doc": ..., "pairs": ...}) and pseudo_synthetic.sha256.
"""
import hashlib
import json
import os
import sys

import pylcs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')

MAXLEN, PIECE_LEN, SEPS, RATE = 512, 32, '\n。', 0.25


def text_segmentate(text, maxlen, seps):
    """bert4keras.snippets.text_segmentate (strips=None): split on seps[0], merge, recurse on seps[1:]."""
    text = text.strip()
    if not seps or len(text) <= maxlen:
        return [text]
    parts = text.split(seps[0])
    out, cur = [], ''
    for k, p in enumerate(parts):
        if cur and p and len(cur) + len(p) > maxlen - 1:
            out.extend(text_segmentate(cur, maxlen, seps[1:]))
            cur = ''
        cur = cur + p if k + 1 == len(parts) else cur + p + seps[0]
    if cur:
        out.extend(text_segmentate(cur, maxlen, seps[1:]))
    return out


def groups_of(text, maxlen=MAXLEN, piece_len=PIECE_LEN, seps=SEPS):
    """train.py text_process: pieces -> groups of >= 3 pieces."""
    group, length = [], 0
    for p in text_segmentate(text, piece_len, seps):
        if length + len(p) > maxlen * 1.5 and len(group) >= 3:
            yield group
            group, length = [], 0
        group.append(p)
        length += len(p)
    if group and len(group) >= 3:
        yield group


def pseudo_summary(texts, rate=RATE):
    """train.py pseudo_summary; returns None where train.py would divide by zero."""
    def join(idxs):
        return ''.join(texts[i] for i in idxs)
    src, tgt = list(range(len(texts))), []
    while True:
        best, best_sim = None, -1
        for i in src:
            sim = pylcs.lcs(join([j for j in src if j != i]), join(sorted(tgt + [i])))
            if sim > best_sim:  # first maximum, as np.argmax
                best, best_sim = i, sim
        src.remove(best)
        tgt = sorted(tgt + [best])
        source, target = join(src), join(tgt)
        if len(src) == 1:
            break
        if len(source) == 0:
            return None  # train.py: ZeroDivisionError
        if 1.0 * len(target) / len(source) > rate:
            break
    if len(source) < len(target):
        source, target = target, source
    return source, target


def pairs_bytes(text):
    out = []
    for g in groups_of(text):
        r = pseudo_summary(g)
        if r is not None:
            out.append(json.dumps({'source': r[0], 'target': r[1]}, ensure_ascii=False) + '\n')
    return ''.join(out).encode('utf-8')


def fnv1a(b):
    h = 0x811c9dc5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xffffffff
    return h


# ---------------------------------------------------------------------------------------------------------
# corpora (paths under ../shared/data; each text = field 1 of a TAB-separated line, newline removed)

THUCNEWS = ['corpus_thucnews/cnews.val.txt']
LCSTS = ['lcsts/clge_lcsts/train.tsv', 'lcsts/clge_lcsts/val.tsv', 'lcsts/clge_lcsts/test.tsv']
CSL = ['csl/clge_csl/val.tsv', 'csl/clge_csl/test.tsv', 'csl/sunnygjing_csl/train.tsv',
       'csl/sunnygjing_csl/dev.tsv', 'csl/sunnygjing_csl/test.tsv', 'csl/ydli_csl_ts/dev.tsv',
       'csl/ydli_csl_ts/test.tsv', 'csl/t5_pegasus_sample/train.tsv']


def field1(rel):
    with open(os.path.join(SHARED, rel), encoding='utf-8', newline=None) as f:
        for line in f:
            yield line.rstrip('\n').split('\t')[1]


def texts_of(files):
    for rel in files:
        yield from field1(rel)


def joined_of(files):
    """Documents with newlines: within each file, consecutive texts joined with '\\n' in blocks;
    block k (0-based, counted per file) takes 2 + k % 7 texts (the last block of a file may be shorter)."""
    for rel in files:
        texts = list(field1(rel))
        i, k = 0, 0
        while i < len(texts):
            n = 2 + k % 7
            yield '\n'.join(texts[i:i + n])
            i, k = i + n, k + 1


CORPORA = [
    ('thucnews', lambda: texts_of(THUCNEWS)),
    ('lcsts', lambda: texts_of(LCSTS)),
    ('csl', lambda: texts_of(CSL)),
    ('lcsts_joined', lambda: joined_of(LCSTS)),
    ('csl_joined', lambda: joined_of(CSL)),
]


# ---------------------------------------------------------------------------------------------------------
# synthetic documents, committed in full (input and expected output)

def synthetic_docs():
    import random
    rng = random.Random(20240601)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 40)]
    alphabet = han + list('abcAB12 ,') + ['\u3000', '\u00a0', '\U00020000', '\U0001F600', '"', '\\', '\t']
    docs = [
        '', ' ', '\n', '。', '。。。。', 'a。b。c。', '\n\n\n',
        '一二三。' * 3,
        ('一二三四五六七八九十' * 4 + '。') * 5,                       # pieces longer than 31 without a split
        'x\n' + ' \n' * 40 + 'y',                                      # all-whitespace chunks -> '' pieces
        ' \n' * 60 + 'abc',
        'a\n' + 'b' * 40 + '\nc\n' + 'd' * 40 + '\ne\n' + 'f' * 40,   # one-character pieces
        '\u3000开头和结尾的空白\u3000。中间。\u2028结束。\u3000',
        '句子一。句子二。\n段落二第一句。段落二第二句。\n\n段落三。' * 20,
    ]
    # groups [piece, '', ''] closed by a long piece: the source runs out of characters (train.py:
    # ZeroDivisionError), and variants around it
    docs.append('a' * 30 + '\n' + ' \n' * 30 + 'c' * 750)
    docs.append('a' * 20 + '\n' + 'b' * 20 + '\n' + ' \n' * 60 + 'c' * 750 + '\n' + 'd' * 20)
    docs.append('ab' * 10 + '\n' + ' \n' * 30 + 'ba' * 10 + '\n' + ' \n' * 30 + 'c' * 760)
    for n in range(30):
        size = rng.choice([20, 60, 200, 800, 1200])
        chars = []
        for _ in range(size):
            r = rng.random()
            if r < 0.06:
                chars.append('。')
            elif r < 0.09:
                chars.append('\n')
            else:
                chars.append(rng.choice(alphabet[:rng.choice([3, 12, len(alphabet)])]))
        docs.append(''.join(chars))
    return docs


def write_goldens(synthetic_only=False):
    gdir = os.path.join(ROOT, 'tests', 'golden')
    os.makedirs(gdir, exist_ok=True)
    sha = hashlib.sha256()
    with open(os.path.join(gdir, 'pseudo_synthetic.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
        for d in synthetic_docs():
            b = pairs_bytes(d)
            sha.update(b)
            f.write(json.dumps({'doc': d, 'pairs': b.decode('utf-8')}, ensure_ascii=False) + '\n')
    with open(os.path.join(gdir, 'pseudo_synthetic.sha256'), 'w') as f:
        f.write(sha.hexdigest() + '\n')
    if synthetic_only:
        return
    if not os.path.isdir(SHARED):
        sys.exit('ref_pseudo.py: %s not found, only the synthetic golden was written' % SHARED)
    for name, docs in CORPORA:
        hashes, npairs, ndocs, sha = [], 0, 0, hashlib.sha256()
        for d in docs():
            b = pairs_bytes(d)
            sha.update(b)
            npairs += b.count(b'\n')
            ndocs += 1
            hashes.append('%08x' % fnv1a(b))
        with open(os.path.join(gdir, 'pseudo_%s.txt' % name), 'w') as f:
            f.write('# ref_pseudo.py %s: %d documents, %d pairs, sha256 of all output %s; then FNV-1a 32 of each '
                    'document\'s JSONL output\n' % (name, ndocs, npairs, sha.hexdigest()))
            f.write('\n'.join(hashes) + '\n')
        print('%s: %d documents, %d pairs' % (name, ndocs, npairs), file=sys.stderr)


def run(argv):
    jsonl, field, limit, files = False, 'text', 0, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--jsonl':
            jsonl = True
        elif a == '--field':
            i += 1; field = argv[i]
        elif a == '--limit':
            i += 1; limit = int(argv[i])
        else:
            files.append(a)
        i += 1
    out = sys.stdout.buffer
    n = 0
    for path in files or ['-']:
        f = sys.stdin if path == '-' else open(path, encoding='utf-8', errors='replace')
        for line in f:
            if limit and n >= limit:
                break
            n += 1
            text = json.loads(line)[field] if jsonl else line.rstrip('\n')
            out.write(pairs_bytes(text))
    out.flush()


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] in ('goldens', 'synthetic'):
        write_goldens(sys.argv[1] == 'synthetic')
    elif len(sys.argv) >= 2 and sys.argv[1] == 'run':
        run(sys.argv[2:])
    else:
        sys.exit(__doc__)
