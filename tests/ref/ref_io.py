#!/usr/bin/python3
"""Goldens for tests/test_io.c, made by the real peers (run by developers, never by CI):

  /usr/bin/python3 tests/ref/ref_io.py
      writes tests/golden/io_py.safetensors (safetensors.torch.save_file; float16/bfloat16 values
      rounded by torch) and tests/golden/json_cases.tsv (hex input <TAB> what Python's json does:
      json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")) or ERR).
  /usr/bin/python3 tests/ref/ref_io.py --check build/tests/io_c.safetensors
      reads a file the C test wrote (build/tests/io_c.safetensors after ./build.sh test) with
      safetensors and checks every tensor and the metadata against the same values.

The tensor values are defined here and, identically, in tests/test_io.c (io_tensors()).
"""
import json
import math
import os
import struct
import sys

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def f32(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


# float32 bit patterns rounded to float16 / bfloat16 (edge cases of round-to-nearest-even)
F16_SRC = [0x00000000, 0x80000000, 0x3F800000, 0xC0200000, 0x477FE000, 0x477FEFFF, 0x477FF000, 0x49742400,
           0x38800000, 0x387BA5E3, 0x33800000, 0x33000000, 0x33000001, 0x3EAAAAAB, 0x3DCCCCCD, 0x3F802000,
           0x3F801000, 0x3F803000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x00000001, 0x38000000, 0xB8FFFFFF]
BF16_SRC = [0x00000000, 0x80000000, 0x3F800000, 0x3F808000, 0x3F818000, 0x3F817FFF, 0x7F7FC99E, 0x7F7F0000,
            0x000116C2, 0x3DCCCCCD, 0x3EAAAAAB, 0xC2F6E979, 0x7F800000, 0xFF800000, 0xFF7FFFFF, 0x00000001]
# (no NaN for bfloat16: torch's vectorized path writes 0xFFFF, its scalar path 0x7FC0; t5p writes 0x7FC0)


def splitmix_uniform(seed, n):
    out, s = [], seed
    for _ in range(n):
        s = (s + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        z ^= z >> 31
        out.append((z >> 40) / 16777216.0 * 2.0 - 1.0)  # exact in float32
    return out


def sources():
    f16 = [f32(b) for b in F16_SRC] + [x * 1000.0 for x in splitmix_uniform(7, 40)]
    bf16 = [f32(b) for b in BF16_SRC] + [x * 1000.0 for x in splitmix_uniform(8, 40)]
    return torch.tensor(f16, dtype=torch.float32), torch.tensor(bf16, dtype=torch.float32)


def io_tensors():
    s16, sbf = sources()
    return {
        "f32": torch.tensor([k * 0.25 - 1.5 for k in range(12)], dtype=torch.float32).reshape(3, 4),
        "f16": s16.to(torch.float16),
        "bf16": sbf.to(torch.bfloat16),
        "i64": torch.tensor([0, -1, 2**40, -(2**62), 7, 2**63 - 1], dtype=torch.int64).reshape(2, 3),
        "i32": torch.tensor([0, -1, 2**31 - 1, -(2**31), 12345], dtype=torch.int32),
        "u8": torch.tensor([0, 128, 255], dtype=torch.uint8),
        "f64": torch.tensor([0.1, -1e300], dtype=torch.float64),
        "empty": torch.zeros((0, 4), dtype=torch.float32),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "名字.weight": torch.tensor([1.0, 2.0], dtype=torch.float32),
        'quote"and\\back\n': torch.tensor([7.0], dtype=torch.float32),
    }


JSON_CASES = [
    # valid
    b"{}", b"[]", b' {"a" : 1 } ', b"[1,2.5,-0,-0.0,1e3,1E-3,1.5e+300,123456789012345678]",
    b'"\\u00e9\\ud83d\\ude00"', '"é😀"'.encode(), b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', b'"\\u0000x"',
    b'{"a":1,"b":2,"a":3}', b"true", b"false", b"null", b"NaN", b"-Infinity", b"[Infinity]", b"0.1",
    b"1e400", b"-1e-400", b"1.7976931348623157e308", b"5e-324", b"[[[[[]]]]]", b'{"":""}', b'"\\u20ac"',
    b"  \n\t\r 7 ", b"9223372036854775807", b"-9223372036854775808", b"100", b"1.0", b"2e0", b"123.456e-10",
    b"0.000123", b"0.0001", b"0.00001", b"1e16", b"1e15", b"123456789012345.6", b"12345678901234567890.0",
    b"[1e22,1e21,3.14159,2.5e-7,-0.5]", '"\u2028\x7f"'.encode(), b'"\\u001f"', b'{"k":[{"x":null}],"z":{}}',
    '{"名":"字"}'.encode(), b'"\\uD834\\uDD1E"',
    # invalid
    b"", b" ", b"{", b"[1,]", b"[1 2]", b'{"a"}', b'{"a":}', b"{a:1}", b"{'a':1}", b"01", b"-", b"1.", b".5",
    b"1e", b"+1", b'"abc', b'"\\x"', b'"\\u12"', b'"\\ud800"', b'"\\udc00"', b'"\\ud800\\u0041"', b"tru", b"nul",
    b"[1]x", b'"\x01"', b'"\xff"', b'"\xc0\x80"', b'"\xed\xa0\x80"', b"[1,2", b'{"a":1,}', b"NaNx", b"-NaN",
    b"infinity", b"1 2", "\ufeff1".encode(), b'"\t"', b"[1,,2]", b"{,}", b'{"a" 1}', b"--1", b"1e+", b"0x10",
]


def json_expect(b):
    try:
        v = json.loads(b.decode("utf-8"))
        return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (ValueError, UnicodeError):  # invalid JSON, or a value that is not valid UTF-8 (lone surrogate)
        return b"ERR"


def check(path):
    want = io_tensors()
    got = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    assert meta == {"format": "pt"}, meta
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for k, w in want.items():
        g = got[k]
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, g.shape)
        same = torch.equal(g, w) if not w.is_floating_point() else bool(
            ((g == w) | (torch.isnan(g.float()) & torch.isnan(w.float()))).all())
        assert same, k
    print("OK: %s holds the %d expected tensors" % (path, len(want)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return 0
    out = os.path.join(ROOT, "tests", "golden", "io_py.safetensors")
    save_file(io_tensors(), out, metadata={"format": "pt"})
    print("wrote", out, os.path.getsize(out), "bytes")
    out = os.path.join(ROOT, "tests", "golden", "json_cases.tsv")
    with open(out, "wb") as f:
        for b in JSON_CASES:
            f.write(b.hex().encode() + b"\t" + json_expect(b) + b"\n")
    print("wrote", out, len(JSON_CASES), "cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
