#!/usr/bin/python3
"""PyTorch peer of bench/bench_generate.c: transformers' MT5ForConditionalGeneration.generate() with random
weights (HF initialisation), float32, eval mode, KV cache on (generate's default), one title at a time:
random sources of S ids, at most T new ids, greedy (BEAM 1) or num_beams=BEAM (length_penalty 1,
early_stopping False). No warm-up: a title takes tens of seconds on a reference BLAS, far above first-call costs.
    /usr/bin/python3 bench/bench_generate.py CONFIG S T BEAM TITLES THREADS"""
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
    name, S, T, beam, titles, threads = sys.argv[1], *map(int, sys.argv[2:7])
    torch.set_num_threads(threads)
    d, ff, h, dkv, L, V = PRESETS[name]
    cfg = MT5Config(vocab_size=V, d_model=d, d_ff=ff, num_heads=h, d_kv=dkv, num_layers=L, num_decoder_layers=L,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, pad_token_id=0,
                    decoder_start_token_id=101, eos_token_id=102)
    torch.manual_seed(0)
    model = MT5ForConditionalGeneration(cfg).eval()
    g = torch.Generator().manual_seed(12345)
    times, lens = [], []
    for i in range(titles):
        src = torch.randint(1, V, (1, S), generator=g)
        src[0, -1] = 102
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=src, attention_mask=torch.ones_like(src), max_new_tokens=T, num_beams=beam,
                                 do_sample=False, decoder_start_token_id=101, eos_token_id=102, pad_token_id=0)
        times.append(time.perf_counter() - t0)
        lens.append(out.shape[1] - 1)
    total = sum(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch {name:5s} S={S} T={T} beam={beam} batch=1 threads={threads}: {1e3 * total / len(times):8.1f} ms/title "
          f"{len(times) / total:7.3f} titles/s  (mean length {sum(lens) / len(lens):.1f})  peak {peak:5.0f} MB")


if __name__ == "__main__":
    main()
