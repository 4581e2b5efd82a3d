#!/usr/bin/python3
"""Goldens for tests/test_model.c: a tiny mT5 v1.1 network in transformers, float32, eval mode.

Run with Debian's /usr/bin/python3 (torch 1.13 CPU + transformers 4.30.2):
    /usr/bin/python3 tests/ref/ref_model.py
Writes
    tests/golden/model_hf_mt5.bin   transformers.MT5ForConditionalGeneration as it is
    tests/golden/model_pegasus.bin  the same model with the original's three differences patched in
                                    (ORIGINAL.md section 3): (a) decoder output * d_model**-0.5 before the
                                    LM head, (b) cross-attention adds the decoder's relative-position bias
                                    with the bucket of max(i - j, 0), (c) exact erf GELU
    tests/golden/buckets.bin        T5 relative-position buckets for relative positions -600..600

Batch: 4 sequences with right padding (pad id 0), the last source all padding (its cross-attention
rows are uniform over the padded keys in both masking schemes). decoder_input_ids = tgt[:, :-1], labels = tgt[:, 1:]
with pad labels -> -100 (ORIGINAL.md section 4); the decoder gets no padding mask (causal only), the
encoder and the cross-attention mask padded source positions.

File format (little-endian):
    8 bytes  magic "T5PGOLD1"
    u32      number of records
    records: u32 name length, name bytes (no NUL), u32 dtype (0 = float32, 1 = int32),
             u32 ndim, u32 dims[ndim], the data (row-major)
Records: "config" int32 [vocab, d_model, d_ff, heads, d_kv, enc layers, dec layers, buckets,
max distance, flavour (0 pegasus, 1 hf-mt5)], "src" int32 [B,S], "tgt" int32 [B,T], "logits" float32
[B,T-1,V], "loss" float32 [1], "acc" float32 [1], every parameter under its Hugging Face name and its
gradient under "grad." + name.
"""
import math
import os
import struct
import sys

import numpy as np
import torch
from transformers import MT5Config, MT5ForConditionalGeneration
from transformers.models.t5.modeling_t5 import T5Attention

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")


def write(path, records):
    with open(path, "wb") as f:
        f.write(b"T5PGOLD1")
        f.write(struct.pack("<I", len(records)))
        for name, arr in records:
            arr = np.ascontiguousarray(arr)
            if arr.dtype == np.float32:
                dt = 0
            elif arr.dtype == np.int32:
                dt = 1
            else:
                raise ValueError(f"{name}: dtype {arr.dtype}")
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<II", dt, arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_config():
    return MT5Config(vocab_size=50, d_model=32, d_kv=8, d_ff=40, num_heads=3, num_layers=2,
                     num_decoder_layers=2, relative_attention_num_buckets=8,
                     relative_attention_max_distance=16, dropout_rate=0.1, layer_norm_epsilon=1e-6,
                     feed_forward_proj="gated-gelu", tie_word_embeddings=False, pad_token_id=0,
                     decoder_start_token_id=0, use_cache=False)


def batch(cfg, gen):
    B, S, T = 4, 13, 10
    src_len, tgt_len = [13, 9, 5, 0], [10, 6, 3, 4]  # the last source is all padding
    src = torch.zeros(B, S, dtype=torch.long)
    tgt = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        src[b, :src_len[b]] = torch.randint(1, cfg.vocab_size, (src_len[b],), generator=gen)
        tgt[b, :tgt_len[b]] = torch.randint(1, cfg.vocab_size, (tgt_len[b],), generator=gen)
    return src, tgt


def run(flavor):
    cfg = make_config()
    if flavor == "pegasus":
        cfg.dense_act_fn = "gelu"  # (c) exact erf GELU instead of gelu_new's tanh
    torch.manual_seed(1234)
    model = MT5ForConditionalGeneration(cfg)
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():  # norm weights away from 1 so their gradients are exercised
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
    if flavor == "pegasus":
        # (b) the first decoder layer's cross-attention computes its bias from the decoder's table
        # (is_decoder -> causal buckets of max(query - key, 0)); T5Stack shares it with later layers.
        dec_table = model.decoder.block[0].layer[0].SelfAttention.relative_attention_bias
        cross = model.decoder.block[0].layer[1].EncDecAttention
        cross.has_relative_attention_bias = True
        cross.relative_attention_bias = dec_table
        # (a) scale the decoder output by d_model**-0.5 before the untied LM head
        lm_forward = model.lm_head.forward
        scale = cfg.d_model ** -0.5
        model.lm_head.forward = lambda x: lm_forward(x * scale)
    model.eval()
    src, tgt = batch(cfg, gen)
    dec_in = tgt[:, :-1]
    labels = tgt[:, 1:].clone()
    labels[labels == 0] = -100
    out = model(input_ids=src, attention_mask=(src != 0).long(), decoder_input_ids=dec_in,
                labels=labels, use_cache=False)
    out.loss.backward()
    logits = out.logits.detach()
    valid = labels != -100
    acc = (logits.argmax(-1) == labels)[valid].float().mean()
    conf = [cfg.vocab_size, cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.d_kv, cfg.num_layers,
            cfg.num_decoder_layers, cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance, 0 if flavor == "pegasus" else 1]
    rec = [("config", np.array(conf, np.int32)), ("src", src.numpy().astype(np.int32)),
           ("tgt", tgt.numpy().astype(np.int32)), ("logits", logits.numpy()),
           ("loss", np.array([out.loss.item()], np.float32)), ("acc", np.array([acc.item()], np.float32))]
    params = list(model.named_parameters())  # shared tensors once, under their first name
    for name, p in params:
        rec.append((name, p.detach().numpy()))
    for name, p in params:
        rec.append(("grad." + name, p.grad.numpy()))
    print(f"{flavor}: loss {out.loss.item():.6f} acc {acc.item():.4f} tensors {len(params)}")
    write(os.path.join(OUT, f"model_{flavor.replace('-', '_')}.bin"), rec)


def buckets():
    rel = torch.arange(-600, 601)
    rec = [("relative_position", rel.numpy().astype(np.int32))]
    for nb, md in ((32, 128), (8, 16)):
        for bidir in (True, False):
            b = T5Attention._relative_position_bucket(rel, bidirectional=bidir, num_buckets=nb, max_distance=md)
            rec.append((f"{'bidirectional' if bidir else 'causal'}.{nb}.{md}", b.numpy().astype(np.int32)))
    write(os.path.join(OUT, "buckets.bin"), rec)


if __name__ == "__main__":
    torch.set_num_threads(1)
    run("hf-mt5")
    run("pegasus")
    buckets()
