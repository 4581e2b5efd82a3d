#!/usr/bin/env python3
"""Reference outputs from the real peers (jieba 0.42.1, bert4keras 0.10.0) for t5p's tokenizer tests.

Run by developers, never by CI. See tests/ref/README.md for setting up the peers.

    python3 tests/ref/ref_tokenizer.py verify-cli [FILE]   # `python3 -m jieba` == in-process jieba.cut, per line
    python3 tests/ref/ref_tokenizer.py goldens             # tests/golden/shared_<mode>.txt (hashes of shared data)
    python3 tests/ref/ref_tokenizer.py edge                # tests/golden/edge_*.jsonl (our own strings, in full)
    python3 tests/ref/ref_tokenizer.py vocab-quirks        # tests/golden/vocab_quirks/*
    python3 tests/ref/ref_tokenizer.py run MODE [FILE]     # print MODE's output per input line (for diffs)
    python3 tests/ref/ref_tokenizer.py check [MODE...]     # recompute goldens and compare with the files
    python3 tests/ref/ref_tokenizer.py compare MODE -- CMD...  # CMD FILE per shared input vs the golden, N/N
    python3 tests/ref/ref_tokenizer.py compare-edge MODE -- CMD...  # CMD FILE on the edge inputs vs edge_MODE

Modes (the output string per input line):
    jieba_hmm    ' / '.join(jieba.cut(line, HMM=True))
    jieba_nohmm  ' / '.join(jieba.cut(line, HMM=False))
    jieba_all    ' / '.join(jieba.cut(line, cut_all=True))
    tok_t5       ' '.join(tokenizer.tokenize(line))          T5 PEGASUS vocab
    ids_t5       ' '.join(map(str, tokenizer.encode(line)[0]))
    ids_t5_64    ' '.join(map(str, tokenizer.encode(line, maxlen=64)[0]))
    dec_t5       tokenizer.decode(tokenizer.encode(line)[0])
    tok_bert, ids_bert, ids_bert_64, dec_bert: the same with the bert-base-chinese vocab
with tokenizer = Tokenizer(VOCAB, do_lower_case=True, pre_tokenize=lambda s: jieba.cut(s, HMM=False)).
"""
import argparse
import json
import os
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(REPO, 'tests', 'golden')
DATA = os.environ.get('T5P_SHARED_DATA') or os.path.normpath(os.path.join(REPO, '..', 'shared', 'data'))
if not os.path.isdir(DATA):
    DATA = '/work/shared/data'

# The shared inputs, in golden order (paths relative to DATA).
INPUTS = [
    'corpus_thucnews/cnews.val.txt',
    'csl/clge_csl/val.tsv',
    'csl/clge_csl/test.tsv',
    'csl/sunnygjing_csl/train.tsv',
    'csl/sunnygjing_csl/dev.tsv',
    'csl/sunnygjing_csl/test.tsv',
    'csl/ydli_csl_ts/dev.tsv',
    'csl/ydli_csl_ts/test.tsv',
    'csl/t5_pegasus_sample/train.tsv',
    'lcsts/clge_lcsts/train.tsv',
    'lcsts/clge_lcsts/val.tsv',
    'lcsts/clge_lcsts/test.tsv',
]
VOCABS = {'t5': 't5_pegasus/vocab.txt', 'bert': 'bert_base_chinese/vocab.txt'}
# Modes hashed over the shared data (size budget ~2 MB) and modes recorded in full on the edge inputs.
SHARED_MODES = ['jieba_hmm', 'jieba_nohmm', 'jieba_all', 'tok_t5', 'ids_t5', 'ids_t5_64', 'dec_t5',
                'tok_bert', 'ids_bert']
EDGE_MODES = ['jieba_hmm', 'jieba_nohmm', 'jieba_all', 'tok_t5', 'ids_t5', 'ids_t5_64', 'dec_t5',
              'tok_bert', 'ids_bert', 'ids_bert_64', 'dec_bert']


# ---------------------------------------------------------------------------------------------------------------
# peers

def import_jieba():
    import jieba
    jieba.setLogLevel(60)
    if jieba.__version__ != '0.42.1':
        sys.exit('need jieba 0.42.1, found %s' % jieba.__version__)
    jieba.initialize()
    return jieba


def import_bert4keras_tokenizers():
    """bert4keras.tokenizers imports bert4keras.snippets, whose module top does `import tensorflow as tf` and
    `from bert4keras.backend import K, keras` (backend imports keras). The tokenizer code never touches tf, K or
    keras, so empty stand-in modules are put in sys.modules for exactly those two names; numpy and six (used by
    snippets: np.argmax in truncate_sequences, six.PY2) are the real packages."""
    import importlib.metadata
    if 'tensorflow' not in sys.modules:
        sys.modules['tensorflow'] = types.ModuleType('tensorflow')  # unused by tokenizers
    if 'bert4keras.backend' not in sys.modules:
        backend = types.ModuleType('bert4keras.backend')
        backend.K = backend.keras = None  # unused by tokenizers
        sys.modules['bert4keras.backend'] = backend
    from bert4keras import tokenizers
    ver = importlib.metadata.version('bert4keras')
    if ver != '0.10.0':
        sys.exit('need bert4keras 0.10.0, found %s' % ver)
    return tokenizers


_tokenizers = {}


def tokenizer(which):
    if which not in _tokenizers:
        jieba = import_jieba()
        tk = import_bert4keras_tokenizers()
        _tokenizers[which] = tk.Tokenizer(os.path.join(DATA, VOCABS[which]), do_lower_case=True,
                                          pre_tokenize=lambda s: jieba.cut(s, HMM=False))
    return _tokenizers[which]


def mode_fn(mode):
    """Returns f(line) -> output string for a mode."""
    if mode.startswith('jieba_'):
        jieba = import_jieba()
        if mode == 'jieba_hmm':
            return lambda s: ' / '.join(jieba.cut(s, HMM=True))
        if mode == 'jieba_nohmm':
            return lambda s: ' / '.join(jieba.cut(s, HMM=False))
        if mode == 'jieba_all':
            return lambda s: ' / '.join(jieba.cut(s, cut_all=True))
    kind, _, rest = mode.partition('_')
    which, _, maxlen = rest.partition('_')
    if which not in VOCABS:
        sys.exit('unknown mode %s' % mode)
    t = tokenizer(which)
    if kind == 'tok' and not maxlen:
        return lambda s: ' '.join(t.tokenize(s))
    if kind == 'ids':
        ml = int(maxlen) if maxlen else None
        return lambda s: ' '.join(map(str, t.encode(s, maxlen=ml)[0]))
    if kind == 'dec' and not maxlen:
        return lambda s: t.decode(t.encode(s)[0])
    sys.exit('unknown mode %s' % mode)


# ---------------------------------------------------------------------------------------------------------------
# helpers

def fnv1a32(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h


def read_lines(path):
    """Python text mode, utf-8, universal newlines; each line without its terminator."""
    with open(path, encoding='utf-8', newline=None) as f:
        return [l[:-1] if l.endswith('\n') else l for l in f]


def json_line(s):
    """One JSON string literal, UTF-8 left raw, with every character that any reader could take as a line break
    escaped (json.dumps already escapes U+0000-U+001F; add U+0085, U+2028, U+2029)."""
    j = json.dumps(s, ensure_ascii=False)
    return j.replace('\x85', '\\u0085').replace('\u2028', '\\u2028').replace('\u2029', '\\u2029')


def peer_versions():
    import importlib.metadata
    return 'python %s, jieba %s, bert4keras %s' % (
        sys.version.split()[0], importlib.metadata.version('jieba'), importlib.metadata.version('bert4keras'))


# ---------------------------------------------------------------------------------------------------------------
# commands

def cmd_verify_cli(args):
    """`python3 -m jieba [-n|-a] -q FILE` == ' / '.join(jieba.cut(line, ...)) for every line of FILE."""
    jieba = import_jieba()
    path = args.file or os.path.join(DATA, INPUTS[0])
    lines = read_lines(path)
    ok = True
    for flags, fn in [([], lambda s: jieba.cut(s, HMM=True)), (['-n'], lambda s: jieba.cut(s, HMM=False)),
                      (['-a'], lambda s: jieba.cut(s, cut_all=True))]:
        t0 = time.time()
        out = subprocess.run([sys.executable, '-m', 'jieba', '-q'] + flags + [path], check=True,
                             capture_output=True).stdout.decode('utf-8')
        cli = out.split('\n')
        assert cli[-1] == '', 'CLI output does not end with a newline'
        cli = cli[:-1]
        mine = [' / '.join(fn(l)) for l in lines]
        same = sum(a == b for a, b in zip(cli, mine))
        print('python3 -m jieba -q %-3s %s: %d/%d lines identical (cli %d lines) [%.1fs]' % (
            ' '.join(flags), os.path.basename(path), same, len(mine), len(cli), time.time() - t0))
        ok = ok and same == len(mine) == len(cli)
    return 0 if ok else 1


def golden_path(mode):
    return os.path.join(GOLDEN, 'shared_%s.txt' % mode)


def compute_golden(mode):
    fn = mode_fn(mode)
    header = ['# t5p golden v1',
              '# mode %s' % mode,
              '# hash fnv1a32',
              '# peers %s' % peer_versions()]
    if not mode.startswith('jieba_'):
        v = VOCABS[mode.split('_')[1]]
        header.append('# vocab %s %08x' % (v, fnv1a32(open(os.path.join(DATA, v), 'rb').read())))
    body = []
    for rel in INPUTS:
        path = os.path.join(DATA, rel)
        lines = read_lines(path)
        header.append('# file %s %d %08x' % (rel, len(lines), fnv1a32(open(path, 'rb').read())))
        for l in lines:
            body.append('%08x' % fnv1a32(fn(l).encode('utf-8')))
    header.append('# lines %d' % len(body))
    return '\n'.join(header + body) + '\n'


def cmd_goldens(args):
    os.makedirs(GOLDEN, exist_ok=True)
    for mode in args.modes or SHARED_MODES:
        t0 = time.time()
        text = compute_golden(mode)
        with open(golden_path(mode), 'w', encoding='utf-8', newline='\n') as f:
            f.write(text)
        print('%-12s %s  %d bytes  [%.1fs]' % (mode, os.path.relpath(golden_path(mode), REPO), len(text),
                                               time.time() - t0))
    return 0


def cmd_check(args):
    bad = 0
    for mode in args.modes or SHARED_MODES:
        old = open(golden_path(mode), encoding='utf-8').read()
        new = compute_golden(mode)
        same = old == new
        print('%-12s %s' % (mode, 'same' if same else 'DIFFERENT'))
        bad += not same
    return 1 if bad else 0


def read_golden(mode):
    """-> (header dict, [(relpath, nlines, file_hash)], [hash ints]) from tests/golden/shared_MODE.txt."""
    head, files, hashes = {}, [], []
    for l in open(golden_path(mode), encoding='utf-8').read().split('\n')[:-1]:
        if l.startswith('# file '):
            _, _, rel, n, fh = l.split(' ')
            files.append((rel, int(n), fh))
        elif l.startswith('# '):
            k, _, v = l[2:].partition(' ')
            head[k] = v
        else:
            hashes.append(int(l, 16))
    assert len(hashes) == sum(n for _, n, _ in files) == int(head['lines'])
    return head, files, hashes


def cmd_compare(args):
    """Runs CMD FILE for every shared input, compares its output lines with the golden hashes, reports N/N per
    file and shows the first mismatches next to the peer's output (computed for those lines only)."""
    head, files, hashes = read_golden(args.mode)
    fn = None
    at, bad_total, shown = 0, 0, 0
    for rel, n, _ in files:
        path = os.path.join(DATA, rel)
        out = subprocess.run(args.argv + [path], capture_output=True).stdout
        got = out.split(b'\n')
        if got and got[-1] == b'':
            got.pop()
        same = sum(1 for i in range(min(n, len(got))) if fnv1a32(got[i]) == hashes[at + i])
        print('%-12s %-36s %d/%d identical%s' % (args.mode, rel, same, n,
                                                  '' if len(got) == n else ' (%d output lines)' % len(got)))
        if same != n and shown < args.show:
            lines = read_lines(path)
            fn = fn or mode_fn(args.mode)
            for i in range(n):
                g = got[i] if i < len(got) else b''
                if fnv1a32(g) != hashes[at + i]:
                    want = fn(lines[i]).encode('utf-8')
                    k = next((j for j in range(min(len(g), len(want))) if g[j] != want[j]), min(len(g), len(want)))
                    print('  line %d, first difference at byte %d:' % (i + 1, k))
                    print('    peer: %r' % want[max(0, k - 60):k + 60].decode('utf-8', 'replace'))
                    print('    ours: %r' % g[max(0, k - 60):k + 60].decode('utf-8', 'replace'))
                    shown += 1
                    if shown >= args.show:
                        break
        bad_total += n - same
        at += n
    print('%s: %d/%d identical' % (args.mode, len(hashes) - bad_total, len(hashes)))
    return 1 if bad_total else 0


def cmd_compare_edge(args):
    """Writes the edge inputs that fit in a line file (no '\\r', '\\n') to a temporary file, runs CMD FILE and
    compares each output line with edge_MODE.jsonl."""
    import tempfile
    inputs = read_jsonl(os.path.join(GOLDEN, 'edge_inputs.jsonl'))
    want = read_jsonl(os.path.join(GOLDEN, 'edge_%s.jsonl' % args.mode))
    keep = [i for i, s in enumerate(inputs) if '\r' not in s and '\n' not in s]
    with tempfile.NamedTemporaryFile('w', encoding='utf-8', newline='\n', suffix='.txt', delete=False) as f:
        for i in keep:
            f.write(inputs[i] + '\n')
    try:
        out = subprocess.run(args.argv + [f.name], capture_output=True).stdout.decode('utf-8', 'replace')
    finally:
        os.unlink(f.name)
    got = out.split('\n')
    if got and got[-1] == '':
        got.pop()
    bad = 0
    for j, i in enumerate(keep):
        g = got[j] if j < len(got) else None
        if g != want[i]:
            bad += 1
            if bad <= args.show:
                print('  input %d %s\n    peer: %s\n    ours: %s' % (i + 1, json_line(inputs[i])[:120],
                      json_line(want[i])[:200], json_line(g)[:200] if g is not None else '(missing)'))
    print('edge %-12s %d/%d identical (%d inputs with \\r or \\n left out)%s' % (
        args.mode, len(keep) - bad, len(keep), len(inputs) - len(keep),
        '' if len(got) == len(keep) else ' (%d output lines)' % len(got)))
    return 1 if bad else 0


def cmd_run(args):
    fn = mode_fn(args.mode)
    lines = read_lines(args.file) if args.file else [l.rstrip('\n') for l in sys.stdin]
    out = sys.stdout
    for l in lines:
        out.write((json_line(fn(l)) if args.json else fn(l)) + '\n')
    return 0


# ---- edge cases: our own strings, committed in full ------------------------------------------------------------

def edge_inputs():
    lines = [
        '',
        ' ',
        '   ',
        '\t',
        '我爱北京天安门',
        '他来到了网易杭研大厦',
        '小明硕士毕业于中国科学院计算所，后在日本京都大学深造',
        '我来到北京清华大学',
        '永和服装饰品有限公司',
        '结婚的和尚未结婚的',
        '工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作',
        'T5 PEGASUS是追一科技2021年开源的中文生成式预训练模型。',
        'iPhone12售价5999元，比iPhone11贵了10%',
        '我喜欢c++和C#，也用Java写过AT&T的项目',
        '圆周率约等于3.14159，e约等于2.718',
        '增长了50%，同比下降-3.5%',
        '请发邮件到foo.bar@example.com或访问https://example.org/a_b?x=1&y=2',
        '电话：010-12345678，手机：13800138000',
        'ＡＢＣ全角字母１２３全角数字，全角标点！？；：（）【】《》“”‘’',
        '全角空格\u3000分隔\u3000\u3000两个',
        'Café Ñandú naïve résumé Ångström',
        'e\u0301 a\u0300 combining: n\u0303o cafe\u0301',
        'ﬁ ligature ﬀ and Ⅻ roman numeral ² superscript',
        'İstanbul ΣΑΣ Straße ǅ',
        '表情😀😂🔥和中文混排👍🏽，国旗🇨🇳',
        '扩展B区字𠀀𠀁𠮷野家和𪚥',
        '兼容汉字豈更車，部首⼀⼆',
        'tab\t分隔\t\t的行',
        '多个   空格    在这里',
        '控制字符\x01\x02\x1b[31m红色\x1b[0m\x7f',
        '零宽\u200b空格和\u200d连接符\ufeffBOM在中间',
        '不间断\u00a0空格和窄\u202f空格\u2009细空格',
        'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789中文',
        'a1b2c3d4e5f6g7h8i9j0' * 6,
        'x' * 250,
        '很长的英文单词' + 'Pneumonoultramicroscopicsilicovolcanoconiosis' * 5 + '结束',
        'a' * 201 + ' ' + 'b' * 200 + ' ' + 'c' * 199,
        '，。、；：？！',
        '...!!!???---___',
        '「引号」『书名』〈尖括号〉…… —— ～',
        '!',
        '#',
        '[CLS] [SEP] [UNK] [MASK] [PAD] [unused1]',
        '[cls]和[ＵＮＫ]以及[]与[[x]]',
        '##abc ## #hashtag# ##中文',
        'ひらがなとカタカナのテキスト、日本語です。',
        '한국어 문장도 테스트합니다.',
        'مرحبا بالعالم',
        'Привет, мир! Ёжик',
        "It's a dog's life, isn't it? We're sure they'll've done it; I'd say you've won.",
        "Don't stop -- the U.S.A. isn't 'quoted' \"double\"",
        'The quick brown fox jumps over the lazy dog.',
        'HELLO World MiXeD CaSe 中文ABC大写',
        '1,234,567.89元 与 ￥100 和 $5.00',
        '1. 2. 3.5 4 .5 6.',
        '温度是-10℃到+35°C，湿度80％',
        '第1季度GDP增长6.5%，2021年Q1财报',
        '数学公式：a+b=c，x^2 - y^2 = (x-y)(x+y)，1/2 < 3/4',
        'HTML标签<div class="a">内容</div>&nbsp;&amp;',
        'C:\\Users\\name\\文件.txt 和 /usr/bin/python3',
        '#话题#@用户名 转发微博//@另一个用户: 好',
        '中\u0301文和组合符号',
        '¼½¾ ① ② ⑩ ㈠ ㊀',
        'ABC－DEF～GHI',
        '\u00ad软\u00ad连字符',
        '线\u2028分隔符和段\u2029分隔符',
        '回车\r在行中和\r\n换行对',
        '纵向\x0b制表和\x0c换页以及\x1c文件分隔\x1d\x1e\x1f',
        'NEL\x85字符',
        '\ufffd替换字符\ufffd',
        '私用区\ue000\uf8ff字符',
        '  前后有空格  ',
        '    ',
        '中文。English. 混合!Mixed?',
        '北京大学生前来应聘',
        '李小福是创新办主任也是云计算方面的专家',
        '臺灣的繁體中文測試，說話與書寫',
        '二〇二一年是农历辛丑年',
        '边界字\u9fd5\u9fd6\u9fff和\u3400\u4dbf扩展A',
        'X光、B超和T恤都是词典里的词，b超不是',
        '我有100块钱和3.5个苹果还有2.个梨',
        '中华人民共和国' * 40,
        'snow☃man和ab☃cd',
        'ὈΔΥΣΣΕΎΣ ΣΑΣ.Σ σ Σ',
        '\r',
        '\r\n',
        '\n',
        '这是一个伸手不见五指的黑夜。我叫孙悟空，我爱北京，我爱Python和C++。',
    ]
    return lines


def write_jsonl(path, strings):
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        for s in strings:
            f.write(json_line(s) + '\n')


def read_jsonl(path):
    with open(path, encoding='utf-8', newline='\n') as f:
        return [json.loads(l) for l in f.read().split('\n')[:-1]]


def cmd_edge(args):
    inputs = edge_inputs()
    path = os.path.join(GOLDEN, 'edge_inputs.jsonl')
    write_jsonl(path, inputs)
    assert read_jsonl(path) == inputs
    print('%s  %d lines' % (os.path.relpath(path, REPO), len(inputs)))
    for mode in EDGE_MODES:
        fn = mode_fn(mode)
        outs = [fn(s) for s in inputs]
        p = os.path.join(GOLDEN, 'edge_%s.jsonl' % mode)
        write_jsonl(p, outs)
        assert read_jsonl(p) == outs
        print('%s  %d lines' % (os.path.relpath(p, REPO), len(outs)))
    # encode() truncation at tiny maxlen: one JSON object per case.
    t = tokenizer('t5')
    cases = []
    for s in ['', '我爱北京天安门', 'Hello world']:
        for ml in [0, 1, 2, 3, 4]:
            try:
                r = {'ids': t.encode(s, maxlen=ml)[0]}
            except Exception as e:  # noqa: BLE001 - the peer's behaviour is what we record
                r = {'error': type(e).__name__}
            cases.append({'vocab': VOCABS['t5'], 'text': s, 'maxlen': ml, **r})
    p = os.path.join(GOLDEN, 'edge_maxlen.jsonl')
    with open(p, 'w', encoding='utf-8', newline='\n') as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + '\n')
    print('%s  %d lines' % (os.path.relpath(p, REPO), len(cases)))
    return 0


# ---- vocabulary loading quirks ----------------------------------------------------------------------------------

VOCAB_QUIRKS = {
    # name: raw bytes of the vocabulary file
    'duplicates': '[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\na\nc\nb\n[UNK]\nd\n'.encode(),
    'blank_lines': '[PAD]\n\n[UNK]\n   \n\t\n[CLS]\n\n[SEP]\nx\n'.encode(),
    'u2028': '[PAD]\n\u2028\n##\u2028\n[UNK]\n\u2028x\n\u3000\ny\u2029z\n\x85\n\x1c\n\x0b\n\x0c\nend\n'.encode(),
    'cr_line_ends': b'[PAD]\r\n[UNK]\r[CLS]\r\n[SEP]\ra\r\rb\r\n\r\nc',
    'trailing_text': '[PAD]\n[UNK] 100\n[CLS]\t101 extra\n  lead\nword 5 n\nword 7\n##x y\nz\u3000w\n'.encode(),
    'bom_and_invalid': b'\xef\xbb\xbf[PAD]\n[UNK]\nab\xffcd\n\xc3\xa9\n\xe4\xb8\nq\x00r\nlast',
    'no_final_newline': b'[PAD]\n[UNK]\n[CLS]\n[SEP]\nlast',
}


def cmd_vocab_quirks(args):
    tk = import_bert4keras_tokenizers()
    d = os.path.join(GOLDEN, 'vocab_quirks')
    os.makedirs(d, exist_ok=True)
    for name, raw in VOCAB_QUIRKS.items():
        vp = os.path.join(d, name + '.txt')
        with open(vp, 'wb') as f:
            f.write(raw)
        token_dict = tk.load_vocab(vp)
        t = tk.Tokenizer(vp, do_lower_case=True)
        rec = {
            'file': name + '.txt',
            'size': len(token_dict),
            # token -> id, in insertion order (the order load_vocab first saw each token)
            'token_to_id': [[k, v] for k, v in token_dict.items()],
            # id -> token (Tokenizer._token_dict_inv); ids with no token are absent
            'id_to_token': [[i, t._token_dict_inv[i]] for i in sorted(t._token_dict_inv)],
            'vocab_size': t._vocab_size,
            'special_ids': {k: getattr(t, '_token_%s_id' % k, None) for k in ['pad', 'unk', 'mask', 'start', 'end']},
        }
        jp = os.path.join(d, name + '.json')
        with open(jp, 'w', encoding='utf-8', newline='\n') as f:
            f.write(json.dumps(rec, ensure_ascii=True, indent=1) + '\n')
        print('%s  %d tokens, ids %s' % (os.path.relpath(jp, REPO), len(token_dict),
                                         sorted(set(token_dict.values()))[:3] + ['...']))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='command', required=True)
    p = sub.add_parser('verify-cli')
    p.add_argument('file', nargs='?')
    p.set_defaults(fn=cmd_verify_cli)
    p = sub.add_parser('goldens')
    p.add_argument('modes', nargs='*')
    p.set_defaults(fn=cmd_goldens)
    p = sub.add_parser('check')
    p.add_argument('modes', nargs='*')
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser('edge')
    p.set_defaults(fn=cmd_edge)
    p = sub.add_parser('vocab-quirks')
    p.set_defaults(fn=cmd_vocab_quirks)
    p = sub.add_parser('compare', help='compare a command\'s per-line output with a golden: compare MODE -- CMD...')
    p.add_argument('mode')
    p.add_argument('--show', type=int, default=5, help='mismatches to show (default 5)')
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser('compare-edge', help='the same on the edge inputs (line-safe ones): compare-edge MODE -- CMD...')
    p.add_argument('mode')
    p.add_argument('--show', type=int, default=5)
    p.set_defaults(fn=cmd_compare_edge)
    p = sub.add_parser('run')
    p.add_argument('mode')
    p.add_argument('file', nargs='?')
    p.add_argument('--json', action='store_true', help='print each output as a JSON string')
    p.set_defaults(fn=cmd_run)
    argv = sys.argv[1:]
    rest = []
    if '--' in argv:  # compare MODE [--show N] -- CMD...
        k = argv.index('--')
        argv, rest = argv[:k], argv[k + 1:]
    args = ap.parse_args(argv)
    args.argv = rest
    if args.command in ('compare', 'compare-edge') and not rest:
        ap.error('compare needs -- CMD...')
    return args.fn(args)


if __name__ == '__main__':
    sys.exit(main())
