#!/usr/bin/env python3
"""Times segmentation / tokenization of one input file: the Python peers in-process, t5p's CLI as a subprocess.

Called by bench/bench_tokenize.sh (which pins it to one core); prints one table line per measurement:
    name, median seconds of RUNS runs, MB/s of input, and the ratio ours/peer where a pair exists.

MB/s counts the input file's UTF-8 bytes. Peers are timed on their per-line work (the lines are read once,
before timing; dictionary / vocabulary loading is timed separately): ' / '.join(cut(line)) per line for the
segmenters, ' '.join(tokenize(line)) for bert4keras. Ours is the whole command writing to /dev/null; its
"net" line subtracts the same command on an empty file (process start + dictionary / vocabulary load).
"""
import argparse
import importlib.metadata
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types


def median_time(fn, runs):
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def read_lines(path):
    with open(path, encoding='utf-8', newline=None) as f:
        return [l[:-1] if l.endswith('\n') else l for l in f]


def fresh_python(code):
    """Runs code in a fresh interpreter; returns what it prints (a float)."""
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True).stdout
    return float(out.strip().split()[-1])


class Table:
    def __init__(self, nbytes):
        self.nbytes = nbytes
        self.rows = {}

    def add(self, key, label, seconds, note=''):
        self.rows[key] = seconds
        mbs = self.nbytes / seconds / 1e6 if seconds > 0 else float('inf')
        print('  %-44s %8.3f s %9.2f MB/s  %s' % (label, seconds, mbs, note), flush=True)

    def skip(self, label, why):
        print('  %-44s skipped: %s' % (label, why), flush=True)


def peers(args, table, lines):
    # Python jieba: dictionary load (with and without its marshal cache in the temp dir), then cutting.
    try:
        import jieba
    except ImportError:
        table.skip('jieba (Python)', 'not installed')
        jieba = None
    if jieba is not None:
        cache = os.path.join(tempfile.mkdtemp(prefix='t5p-bench-'), 'jieba.cache')
        code = ('import time, jieba; jieba.setLogLevel(60); jieba.dt.cache_file = %r; '
                't0 = time.perf_counter(); jieba.initialize(%r); print(time.perf_counter() - t0)' % (cache, args.dict))
        builds, loads = [], []
        for _ in range(args.runs):
            if os.path.exists(cache):
                os.unlink(cache)
            builds.append(fresh_python(code))  # no cache file: parses dict.txt, builds the prefix dict, writes cache
            loads.append(fresh_python(code))   # loads the marshal cache
        os.unlink(cache)
        t_build, t_cache = statistics.median(builds), statistics.median(loads)
        print('  %-44s %8.3f s (parse dict.txt), %.3f s (from its cache file)' % (
            'jieba %s initialize()' % jieba.__version__, t_build, t_cache), flush=True)
        jieba.setLogLevel(60)
        jieba.initialize(args.dict)
        for hmm in (True, False):
            key = 'jieba_hmm' if hmm else 'jieba_nohmm'
            t = median_time(lambda: [' / '.join(jieba.cut(l, HMM=hmm)) for l in lines], args.runs)
            table.add(key, 'jieba %s cut HMM=%s' % (jieba.__version__, hmm), t)

    # bert4keras 0.10.0 Tokenizer (the original's), TensorFlow-free import as in tests/ref/ref_tokenizer.py.
    try:
        sys.modules.setdefault('tensorflow', types.ModuleType('tensorflow'))
        if 'bert4keras.backend' not in sys.modules:
            backend = types.ModuleType('bert4keras.backend')
            backend.K = backend.keras = None
            sys.modules['bert4keras.backend'] = backend
        from bert4keras.tokenizers import Tokenizer
        import bert4keras
    except Exception as e:  # noqa: BLE001
        table.skip('bert4keras tokenize', 'not importable (%s)' % type(e).__name__)
        Tokenizer = None
    if Tokenizer is not None and jieba is not None:
        t0 = time.perf_counter()
        tok = Tokenizer(args.vocab, do_lower_case=True, pre_tokenize=lambda s: jieba.cut(s, HMM=False))
        print('  %-44s %8.3f s' % ('bert4keras load_vocab + Tokenizer()', time.perf_counter() - t0), flush=True)
        t = median_time(lambda: [' '.join(tok.tokenize(l)) for l in lines], args.runs)
        table.add('b4k', 'bert4keras %s tokenize' % bert4keras.__version__, t)

    # Other segmenters, when installed (their speeds, not their outputs: they differ from jieba 0.42.1).
    try:
        import jieba_fast
        jieba_fast.setLogLevel(60)
        jieba_fast.initialize(args.dict)
        for hmm in (True, False):
            t = median_time(lambda: [' / '.join(jieba_fast.cut(l, HMM=hmm)) for l in lines], args.runs)
            table.add('jieba_fast_%s' % ('hmm' if hmm else 'nohmm'), 'jieba_fast (pip %s) cut HMM=%s' % (
                importlib.metadata.version('jieba_fast'), hmm), t)
    except ImportError:
        table.skip('jieba_fast', 'not installed')
    try:
        import cppjieba
        t0 = time.perf_counter()
        cj = cppjieba.Jieba(dict_path=args.dict)
        print('  %-44s %8.3f s' % ('cppjieba (pip cppjieba) load', time.perf_counter() - t0), flush=True)
        for hmm in (True, False):
            t = median_time(lambda: [' / '.join(cj.cut(l, hmm)) for l in lines], args.runs)
            table.add('cppjieba_%s' % ('hmm' if hmm else 'nohmm'), 'cppjieba (pip 0.1.1) cut hmm=%s' % hmm, t)
    except ImportError:
        table.skip('cppjieba', 'not installed')
    try:
        import rjieba
        for hmm in (True, False):
            t = median_time(lambda: [' / '.join(rjieba.cut(l, hmm)) for l in lines], args.runs)
            table.add('rjieba_%s' % ('hmm' if hmm else 'nohmm'), 'rjieba (jieba-rs) cut hmm=%s' % hmm, t)
    except ImportError:
        table.skip('rjieba (jieba-rs)', 'not installed')


def ours(args, table):
    t5p = args.t5p
    ok = subprocess.run([t5p, 'segment', '--help'], capture_output=True).returncode == 0
    if not ok:
        table.skip('t5p segment / tokenize', '`%s segment --help` failed (not built yet?)' % t5p)
        return
    empty = tempfile.NamedTemporaryFile(prefix='t5p-bench-empty-', delete=False)
    empty.close()
    # One worker thread when the command has --threads (besides OMP_NUM_THREADS=1 and the core pinning).
    seg_help = subprocess.run([t5p, 'segment', '--help'], capture_output=True, text=True).stdout
    tok_help = subprocess.run([t5p, 'tokenize', '--help'], capture_output=True, text=True).stdout
    seg1 = ['--threads', '1'] if '--threads' in seg_help else []
    tok1 = ['--threads', '1'] if '--threads' in tok_help else []
    pairs = [
        ('jieba_hmm', 't5p segment -q', [t5p, 'segment', '-q', '-D', args.dict] + seg1,
         ['jieba_hmm', 'jieba_fast_hmm', 'cppjieba_hmm', 'rjieba_hmm']),
        ('jieba_nohmm', 't5p segment -n -q', [t5p, 'segment', '-n', '-q', '-D', args.dict] + seg1,
         ['jieba_nohmm', 'jieba_fast_nohmm', 'cppjieba_nohmm', 'rjieba_nohmm']),
    ]
    if subprocess.run([t5p, 'tokenize', '--help'], capture_output=True).returncode == 0:
        pairs.append(('b4k', 't5p tokenize --vocab', [t5p, 'tokenize', '--vocab', args.vocab, '-D', args.dict] + tok1,
                      ['b4k']))
    else:
        table.skip('t5p tokenize', '`%s tokenize --help` failed' % t5p)
    devnull = open(os.devnull, 'w')

    def run(cmd, path):
        r = subprocess.run(cmd + [path], stdout=devnull, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError('%s failed (%d): %s' % (' '.join(cmd + [path]), r.returncode, r.stderr[-500:]))

    for key, label, cmd, peer_keys in pairs:
        try:
            t_load = median_time(lambda: run(cmd, empty.name), args.runs)
            t = median_time(lambda: run(cmd, args.input), args.runs)
        except RuntimeError as e:
            table.skip(label, str(e))
            continue
        ratios = ', '.join('%.1fx %s' % (table.rows[k] / t, k) for k in peer_keys if k in table.rows)
        table.add('ours_' + key, label + ' (whole command)', t, ratios)
        net = t - t_load
        if net > 0:
            ratios = ', '.join('%.1fx %s' % (table.rows[k] / net, k) for k in peer_keys if k in table.rows)
            table.add('ours_net_' + key, label + ' (net of %.3f s start+load)' % t_load, net, ratios)
    os.unlink(empty.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--input', required=True)
    ap.add_argument('--vocab', required=True)
    ap.add_argument('--dict', required=True)
    ap.add_argument('--t5p', default='build/t5p')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--only', choices=['peers', 'ours', 'all'], default='all')
    args = ap.parse_args()
    lines = read_lines(args.input)
    nbytes = os.path.getsize(args.input)
    print('input %s: %d lines, %.2f MB; median of %d runs; ratio = peer time / our time' % (
        args.input, len(lines), nbytes / 1e6, args.runs), flush=True)
    table = Table(nbytes)
    if args.only in ('peers', 'all'):
        peers(args, table, lines)
    if args.only in ('ours', 'all'):
        ours(args, table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
