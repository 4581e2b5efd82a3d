#!/usr/bin/python3
"""PyTorch peer of `t5p train` in bench/bench_train.sh: transformers' MT5ForConditionalGeneration (the hf-mt5
flavour t5p runs there), float32, dropout 0.1, torch.optim.Adam(lr, eps=1e-6), one optimizer step per batch
of B full-length pairs (no padding, as the bench's data). Tokens per step = B*(S+T), the count t5p reports.
Prints the mean step time after the first step, tokens/s and peak resident memory.
    /usr/bin/python3 bench/bench_train.py CONFIG VOCAB B S T STEPS THREADS"""
import re
import resource
import sys
import time

import torch
from transformers import MT5Config, MT5ForConditionalGeneration

PRESETS = {"tiny": (64, 128, 4, 16, 2), "small": (512, 1024, 6, 64, 8), "base": (768, 2048, 12, 64, 12)}


def main():
    name = sys.argv[1]
    V, B, S, T, steps, threads = map(int, sys.argv[2:8])
    torch.set_num_threads(threads)
    d, ff, h, dkv, L = PRESETS[name]
    cfg = MT5Config(vocab_size=V, d_model=d, d_ff=ff, num_heads=h, d_kv=dkv, num_layers=L, num_decoder_layers=L,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, use_cache=False)
    torch.manual_seed(0)
    model = MT5ForConditionalGeneration(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-6)
    g = torch.Generator().manual_seed(42)
    times = []
    for _ in range(steps):
        src = torch.randint(106, V, (B, S), generator=g)
        tgt = torch.randint(106, V, (B, T), generator=g)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        out = model(input_ids=src, attention_mask=torch.ones_like(src), decoder_input_ids=tgt[:, :-1].contiguous(),
                    labels=tgt[:, 1:].contiguous())
        out.loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    per = sum(times[1:]) / len(times[1:])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    blas = re.search(r"BLAS_INFO=([^,]*)", torch.__config__.show())
    print(f"pytorch {name:5s} B={B} S={S} T={T} threads={threads}: {per:8.3f} s/step {B * (S + T) / per:8.0f} tokens/s "
          f"peak {peak:6.0f} MB  (torch {torch.__version__}, BLAS {blas.group(1) if blas else '?'}, "
          f"loss {out.loss.item():.3f})")


if __name__ == "__main__":
    main()
