#!/usr/bin/python3
"""Checkpoints both ways between t5p and transformers (MT5ForConditionalGeneration, float32).

Run with Debian's /usr/bin/python3 (torch 1.13 CPU + transformers 4.30.2 + safetensors):

    /usr/bin/python3 tests/ref/ref_checkpoint.py golden
        Writes tests/golden/hf_mt5_tiny/ (config.json as transformers' save_pretrained writes it, and a
        model.safetensors like Hugging Face hub exports: every state_dict tensor, including the
        encoder.embed_tokens.weight / decoder.embed_tokens.weight duplicates of shared.weight, in mixed dtypes:
        attention q/k/v in BF16, FFN wo in F16, the rest F32) and tests/golden/hf_mt5_tiny_logits.safetensors
        (src, tgt int32; logits, loss float32 of the model with those rounded weights, eval mode).
        tests/test_checkpoint.c loads the directory with t5p_model_load and must reproduce the logits.

    build/tests/test_checkpoint --export DIR
    /usr/bin/python3 tests/ref/ref_checkpoint.py verify DIR
        The C test writes DIR/hf-mt5 and DIR/pegasus with t5p_model_save (random weights), each with the
        logits t5p computed (t5p_logits.safetensors); this loads them with from_pretrained and compares.
        For the pegasus flavour it patches the original's three differences into transformers as
        tests/ref/ref_model.py does (erf GELU, cross-attention position bias, d_model**-0.5 logit scale).

Batch: 3 sequences with right padding (pad 0), decoder input tgt[:, :-1], labels tgt[:, 1:] (pad -> -100).
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import MT5Config, MT5ForConditionalGeneration
from transformers.activations import GELUActivation

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden")


def batch(vocab, gen):
    B, S, T = 3, 11, 7
    src_len, tgt_len = [11, 6, 3], [7, 4, 2]
    src = torch.zeros(B, S, dtype=torch.long)
    tgt = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        src[b, :src_len[b]] = torch.randint(1, vocab, (src_len[b],), generator=gen)
        tgt[b, :tgt_len[b]] = torch.randint(1, vocab, (tgt_len[b],), generator=gen)
    return src, tgt


def run(model, src, tgt):
    labels = tgt[:, 1:].clone()
    labels[labels == 0] = -100
    with torch.no_grad():
        out = model(input_ids=src, attention_mask=(src != 0).long(), decoder_input_ids=tgt[:, :-1], labels=labels,
                    use_cache=False)
    return out.logits.float(), out.loss.float()


def storage_dtype(name):
    if any(f"Attention.{p}.weight" in name for p in "qkv"):
        return torch.bfloat16
    if name.endswith("DenseReluDense.wo.weight"):
        return torch.float16
    return torch.float32


def golden():
    cfg = MT5Config(vocab_size=60, d_model=32, d_kv=8, d_ff=40, num_heads=3, num_layers=2, num_decoder_layers=3,
                    relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.1,
                    layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(4321)
    model = MT5ForConditionalGeneration(cfg).eval()
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:  # norms away from 1 so that a mix-up shows
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
        for name, p in model.named_parameters():  # round to the storage dtype so both sides compute the same
            p.copy_(p.to(storage_dtype(name)).float())
    out_dir = os.path.join(GOLDEN, "hf_mt5_tiny")
    os.makedirs(out_dir, exist_ok=True)
    model.config.save_pretrained(out_dir)
    tensors = {}
    for name, t in model.state_dict().items():  # includes the embed_tokens duplicates of shared.weight
        tensors[name] = t.detach().to(storage_dtype(name)).clone().contiguous()
    assert "encoder.embed_tokens.weight" in tensors and "decoder.embed_tokens.weight" in tensors
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    src, tgt = batch(cfg.vocab_size, gen)
    logits, loss = run(model, src, tgt)
    # the directory reloads in transformers to the same logits
    back = MT5ForConditionalGeneration.from_pretrained(out_dir).eval()
    l2, _ = run(back, src, tgt)
    assert torch.equal(l2, logits), "reload differs"
    save_file({"src": src.to(torch.int32), "tgt": tgt.to(torch.int32), "logits": logits.contiguous(),
               "loss": loss.reshape(1)}, os.path.join(GOLDEN, "hf_mt5_tiny_logits.safetensors"))
    dtypes = {}
    for t in tensors.values():
        dtypes[str(t.dtype)] = dtypes.get(str(t.dtype), 0) + 1
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote {out_dir} ({len(tensors)} tensors {dtypes}, {size} bytes), loss {loss.item():.6f}")


def patch_pegasus(model):
    """The original's three differences (ORIGINAL.md section 3), patched in as tests/ref/ref_model.py does.
    (MT5Config maps feed_forward_proj "gated-gelu" to gelu_new whatever dense_act_fn says, so (c) is patched too.)"""
    for mod in model.modules():  # (c) exact erf GELU
        if hasattr(mod, "wi_0") and hasattr(mod, "act"):  # (M)T5DenseGatedActDense
            mod.act = GELUActivation()
    dec_table = model.decoder.block[0].layer[0].SelfAttention.relative_attention_bias
    cross = model.decoder.block[0].layer[1].EncDecAttention
    cross.has_relative_attention_bias = True
    cross.relative_attention_bias = dec_table
    lm_forward = model.lm_head.forward
    scale = model.config.d_model ** -0.5
    model.lm_head.forward = lambda x: lm_forward(x * scale)


def verify(root):
    worst = 0.0
    ok = True
    for flavor in ("hf-mt5", "pegasus"):
        d = os.path.join(root, flavor)
        with open(os.path.join(d, "config.json")) as f:
            conf = json.load(f)
        assert conf["t5p_flavor"] == flavor and conf["model_type"] == "mt5", conf
        model = MT5ForConditionalGeneration.from_pretrained(d).eval()
        if flavor == "pegasus":
            patch_pegasus(model)
        ref = load_file(os.path.join(d, "t5p_logits.safetensors"))
        logits, loss = run(model, ref["src"].long(), ref["tgt"].long())
        err = (logits - ref["logits"]).abs().max().item()
        scale = ref["logits"].abs().max().item()
        rel = err / scale
        worst = max(worst, rel)
        good = rel <= 1e-5
        ok &= good
        print(f"{'OK  ' if good else 'FAIL'} {flavor}: transformers vs t5p logits {tuple(logits.shape)}: max abs err "
              f"{err:.3g} (max |logit| {scale:.3g}, relative {rel:.3g}); loss {loss.item():.7f} vs "
              f"{ref['loss'].item():.7f}")
    return 0 if ok else 1


if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) >= 2 and sys.argv[1] == "golden":
        golden()
    elif len(sys.argv) == 3 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2]))
    else:
        print(__doc__)
        sys.exit(2)
