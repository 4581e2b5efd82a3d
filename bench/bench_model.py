#!/usr/bin/python3
"""PyTorch peer of bench/bench_model.c: transformers' MT5ForConditionalGeneration, float32, train mode
(dropout on), one forward + backward per step on the same shapes; first step left out, median.
    /usr/bin/python3 bench/bench_model.py CONFIG B S T STEPS THREADS"""
import resource
import sys
import time

import torch
from transformers import MT5Config, MT5ForConditionalGeneration

PRESETS = {  # d_model, d_ff, heads, d_kv, layers, vocab (t5p_config_preset)
    "tiny": (64, 128, 4, 16, 2, 1000),
    "small": (512, 1024, 6, 64, 8, 50000),
    "base": (768, 2048, 12, 64, 12, 50000),
}


def main():
    name, B, S, T, steps, threads = sys.argv[1], *map(int, sys.argv[2:7])
    torch.set_num_threads(threads)
    d, ff, h, dkv, L, V = PRESETS[name]
    cfg = MT5Config(vocab_size=V, d_model=d, d_ff=ff, num_heads=h, d_kv=dkv, num_layers=L, num_decoder_layers=L,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, use_cache=False)
    torch.manual_seed(0)
    model = MT5ForConditionalGeneration(cfg).train()
    g = torch.Generator().manual_seed(42)
    src = torch.randint(1, V, (B, S), generator=g)
    tgt = torch.randint(1, V, (B, T), generator=g)
    src[1::2, S - S // 8:] = 0
    tgt[1::2, T - T // 8:] = 0
    labels = tgt[:, 1:].clone()
    labels[labels == 0] = -100
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        out = model(input_ids=src, attention_mask=(src != 0).long(), decoder_input_ids=tgt[:, :-1], labels=labels)
        out.loss.backward()
        times.append(time.perf_counter() - t0)
    rest = sorted(times[1:])
    med = rest[(len(rest) - 1) // 2] if len(rest) % 2 else rest[len(rest) // 2 - 1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch {name:5s} hf-mt5 B={B} S={S} T={T} threads={threads}: {med * 1e3:8.1f} ms/step "
          f"{B * (S + T) / med:8.0f} tokens/s                  peak {peak:5.0f} MB  (loss {out.loss.item():.3f})")


if __name__ == "__main__":
    main()
