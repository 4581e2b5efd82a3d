#!/usr/bin/env python3
"""PyTorch peer of bench/bench_train_gpu.c: transformers' MT5ForConditionalGeneration (the hf-mt5 flavour, the
same arithmetic) on the GPU, on the same shapes.
    python3 bench/bench_model_gpu.py train CONFIG B S T STEPS PREC MODE
        train mode (dropout on); per step zero_grad + forward + backward + AdamW step; PREC fp32 (TF32 off) or
        bf16 (autocast, float32 master weights); MODE eager or compile (torch.compile); the first steps left
        out (compilation among them), median. Tokens = B*(S + T-1); MFU as bench_train_gpu.c counts it.
    python3 bench/bench_model_gpu.py gen CONFIG B S MAXLEN BEAMS PREC
        model.generate of B random sources, exactly MAXLEN new tokens (min = max), greedy or beam search.
DEVICE=cpu runs it on the CPU (a smoke test of this script). Prints a readable line and a RESULT line."""
import os
import sys
import time

import torch
from transformers import MT5Config, MT5ForConditionalGeneration

PRESETS = {  # d_model, d_ff, heads, d_kv, layers, vocab (t5p_config_preset)
    "tiny": (64, 128, 4, 16, 2, 1000),
    "small": (512, 1024, 6, 64, 8, 50000),
    "base": (768, 2048, 12, 64, 12, 50000),
}
PEAK = {"bf16": 989.0, "fp32": 67.0}  # H200 SXM dense TFLOP/s; T5P_PEAK_TFLOPS overrides


def forward_flops(name, B, S, Td):
    D, F, H, Dk, L, V = PRESETS[name]
    HK, Ne, Nd = H * Dk, B * S, B * Td
    enc = 2 * Ne * D * HK * 4 + 2 * Ne * D * F * 3 + 2 * 2 * B * H * S * S * Dk
    dec = (2 * Nd * D * HK * 4 + 2 * 2 * B * H * Td * Td * Dk + 2 * Nd * D * HK * 2 + 2 * Ne * D * HK * 2
           + 2 * 2 * B * H * Td * S * Dk + 2 * Nd * D * F * 3)
    return L * enc + L * dec + 2 * Nd * D * V


def make(name, device):
    D, F, H, Dk, L, V = PRESETS[name]
    cfg = MT5Config(vocab_size=V, d_model=D, d_ff=F, num_heads=H, d_kv=Dk, num_layers=L, num_decoder_layers=L,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
                    pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    return MT5ForConditionalGeneration(cfg).to(device), V


def batch(V, B, S, T, device):
    g = torch.Generator().manual_seed(42)
    src = torch.randint(1, V, (B, S), generator=g)
    tgt = torch.randint(1, V, (B, T), generator=g)
    src[1::2, S - S // 8:] = 0
    tgt[1::2, T - T // 8:] = 0
    tgt[:, 0] = 0
    return src.to(device), tgt.to(device)


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def main():
    device = os.environ.get("DEVICE", "cuda")
    what, name = sys.argv[1], sys.argv[2]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gpu = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    if what == "train":
        B, S, T, steps = map(int, sys.argv[3:7])
        prec, mode = sys.argv[7], sys.argv[8]
        model, V = make(name, device)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        src, tgt = batch(V, B, S, T, device)
        labels = tgt[:, 1:].clone()
        labels[labels == 0] = -100
        amask = (src != 0).long()

        def step():
            opt.zero_grad(set_to_none=False)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=prec == "bf16"):
                out = fwd(input_ids=src, attention_mask=amask, decoder_input_ids=tgt[:, :-1], labels=labels)
            out.loss.backward()
            opt.step()
            return out.loss

        fwd = torch.compile(model) if mode == "compile" else model
        warm = 3 if mode == "compile" else 2
        times = []
        for _ in range(steps + warm):
            sync(device)
            t0 = time.perf_counter()
            loss = step()
            sync(device)
            times.append(time.perf_counter() - t0)
        rest = sorted(times[warm:])
        med = rest[len(rest) // 2]
        tokens = B * (S + T - 1)
        tflops = 3 * forward_flops(name, B, S, T - 1) / med / 1e12
        peak = float(os.environ.get("T5P_PEAK_TFLOPS", PEAK[prec]))
        mem = torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else 0
        attn = getattr(model.config, "_attn_implementation", "?")
        print(f"pytorch  {name:5s} hf-mt5 {prec} {mode} B={B} S={S} T={T}: {med * 1e3:8.1f} ms/step {tokens / med:9.0f} "
              f"tokens/s {tflops:6.1f} TFLOP/s MFU {100 * tflops / peak:5.1f}% of {peak:.0f}; peak memory {mem:.1f} GB; "
              f"loss {loss.item():.3f}; first step {times[0]:.1f} s\n  torch {torch.__version__}, attention {attn}, on {gpu}")
        print(f"RESULT train pytorch-{mode} {name} {prec} {tokens / med:.0f} tokens/s {med * 1e3:.1f} ms/step "
              f"{100 * tflops / peak:.1f} % MFU")
    else:
        B, S, L, beams = map(int, sys.argv[3:7])
        prec = sys.argv[7]
        model, V = make(name, device)
        model.eval()
        if prec == "bf16":
            model = model.to(torch.bfloat16)
        src, _ = batch(V, B, S, 2, device)
        amask = (src != 0).long()
        times = []
        with torch.no_grad():
            for _ in range(4):
                sync(device)
                t0 = time.perf_counter()
                out = model.generate(input_ids=src, attention_mask=amask, max_new_tokens=L, min_new_tokens=L,
                                     num_beams=beams, do_sample=False, early_stopping=False)
                sync(device)
                times.append(time.perf_counter() - t0)
        med = sorted(times[1:])[1]
        print(f"pytorch  {name:5s} hf-mt5 {prec} generate beams {beams} B={B} S={S}, {out.shape[1] - 1} tokens each: "
              f"{med * 1e3:8.1f} ms, {B / med:7.1f} titles/s  (torch {torch.__version__}, on {gpu})")
        print(f"RESULT gen pytorch {name} {prec} beams {beams} {B / med:.1f} titles/s")


if __name__ == "__main__":
    main()
