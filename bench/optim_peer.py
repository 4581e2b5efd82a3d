#!/usr/bin/python3
"""Peer of bench/bench_optim.c: ms per optimizer step in PyTorch (float32, CPU) over the parameter
shapes of a T5 PEGASUS config. Usage: optim_peer.py [small|base] [steps] [threads]"""
import sys
import time

import torch
from transformers.optimization import Adafactor


def shapes(base):
    d, ff, L, H, V = (768, 2048, 12, 12, 50000) if base else (512, 1024, 8, 6, 50000)
    out = [((V, d), 0), ((V, d), 0), ((32, H), 0), ((32, H), 0), ((d,), 1), ((d,), 1)]
    for _ in range(L):
        out += [((H * 64, d), 0)] * 4 + [((ff, d), 0), ((ff, d), 0), ((d, ff), 0), ((d,), 1), ((d,), 1)]
        out += [((H * 64, d), 0)] * 8 + [((ff, d), 0), ((ff, d), 0), ((d, ff), 0), ((d,), 1), ((d,), 1), ((d,), 1)]
    return out


def main():
    base = len(sys.argv) > 1 and sys.argv[1] == "base"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    sh = shapes(base)
    ps = [torch.nn.Parameter(torch.randn(s) * 0.05) for s, _ in sh]
    for p in ps:
        p.grad = torch.randn(p.shape) * 1e-3
    n = sum(p.numel() for p in ps)
    print("optimizer step, %s config: %.2f M parameters, %d threads (PyTorch %s, float32)"
          % ("base" if base else "small", n / 1e6, torch.get_num_threads(), torch.__version__))
    norm = [p for p, (_, isn) in zip(ps, sh) if isn]
    rest = [p for p, (_, isn) in zip(ps, sh) if not isn]
    opts = [
        ("adafactor (hf)", lambda: Adafactor(ps)),
        ("adam", lambda: torch.optim.Adam(ps, lr=2e-4, eps=1e-6)),
        ("adamw", lambda: torch.optim.AdamW([{"params": rest, "weight_decay": 0.01},
                                             {"params": norm, "weight_decay": 0.0}], lr=1e-4, eps=1e-6)),
    ]
    for name, make in opts:
        opt = make()
        opt.step()
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.step()
        print("  %-24s %8.1f ms/step" % (name, (time.perf_counter() - t0) / steps * 1e3))
        del opt


if __name__ == "__main__":
    main()
