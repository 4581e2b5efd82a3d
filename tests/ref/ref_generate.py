#!/usr/bin/python3
"""Goldens for tests/test_generate.c: token ids from transformers' generate() and from bert4keras's beam search.

Run with Debian's /usr/bin/python3 (torch 1.13 CPU + transformers 4.30.2):
    /usr/bin/python3 tests/ref/ref_generate.py
Writes tests/golden/generate.bin (format of tests/ref/ref_model.py: "T5PGOLD1", records of float32/int32).

One random-weight tiny mT5 (HF initialisation, seed 5; vocabulary 200) and 64 random sources of 1..64 ids.
Start id 101 ([CLS] in T5 PEGASUS's vocabulary), end id END_ID (a token this random model produces often
enough that outputs end at many lengths), at most MAX_LEN generated tokens.

hf.* cases (flavour hf-mt5): MT5ForConditionalGeneration.generate(input_ids, max_new_tokens=MAX_LEN,
    decoder_start_token_id=101, eos_token_id=END_ID, pad_token_id=0, num_beams=K, do_sample=False,
    length_penalty=LP, early_stopping=ES), KV cache on (generate's default), one input at a time.
orig.* cases (flavour pegasus): the same weights with the original's three differences patched in as
    tests/ref/ref_model.py does it ((a) decoder output * d_model**-0.5, (b) cross-attention bias from the
    decoder's table, (c) erf GELU), decoded by bert4keras 0.10.0's AutoRegressiveDecoder.beam_search, copied
    below line for line, with T5 PEGASUS finetune.py's predict: the decoder re-run over the whole prefix each
    step (no cache), the last position's softmax probabilities, then log(p + 1e-12) (wraps(default_rtype=
    'probas') asked for rtype 'logits').

Records
    "config"  int32 [vocab, d_model, d_ff, heads, d_kv, enc layers, dec layers, buckets, max distance]
    "gen"     int32 [start id, end id, max generated tokens]
    every parameter under its Hugging Face name (float32)
    "src.offsets" int32 [N+1], "src.ids" int32: source i is ids[offsets[i]:offsets[i+1]]
    per case NAME: "case.NAME" float32 [flavour (0 pegasus, 1 hf-mt5), semantics (0 greedy, 1 original beam,
        2 hf beam), beams, length_penalty, early_stopping], "out.NAME.offsets" int32 [N+1], "out.NAME.ids" int32
        (the generated ids after the start id, the end id included when generated), "score.NAME" float32 [N]
        (hf beams: sequences_scores; original: the summed log(p + 1e-12) of the returned beam; greedy: 0)
"""
import os
import struct
import sys
from collections import Counter

import numpy as np
import torch
import transformers
from transformers import MT5Config, MT5ForConditionalGeneration

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "generate.bin")
START_ID, END_ID, MAX_LEN, N_INPUTS = 101, 87, 20, 64


def write(path, records):
    with open(path, "wb") as f:
        f.write(b"T5PGOLD1")
        f.write(struct.pack("<I", len(records)))
        for name, arr in records:
            arr = np.ascontiguousarray(arr)
            dt = {np.dtype(np.float32): 0, np.dtype(np.int32): 1}[arr.dtype]
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<II", dt, arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def make_config(flavor):
    cfg = MT5Config(vocab_size=200, d_model=32, d_kv=8, d_ff=48, num_heads=4, num_layers=2, num_decoder_layers=2,
                    relative_attention_num_buckets=16, relative_attention_max_distance=32, dropout_rate=0.0,
                    layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                    pad_token_id=0, decoder_start_token_id=START_ID, eos_token_id=END_ID)
    if flavor == "pegasus":
        cfg.dense_act_fn = "gelu"  # (c) exact erf GELU instead of gelu_new's tanh
    return cfg


def make_models():
    torch.manual_seed(5)
    hf = MT5ForConditionalGeneration(make_config("hf-mt5"))
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():  # norm weights away from 1
        for name, p in hf.named_parameters():
            if "layer_norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
    hf.eval()
    peg = MT5ForConditionalGeneration(make_config("pegasus"))
    peg.load_state_dict(hf.state_dict())
    # (b) the first decoder layer's cross-attention computes its bias from the decoder's table (is_decoder ->
    # causal buckets of max(query - key, 0)); T5Stack hands it on to the later layers.
    cross = peg.decoder.block[0].layer[1].EncDecAttention
    cross.has_relative_attention_bias = True
    cross.relative_attention_bias = peg.decoder.block[0].layer[0].SelfAttention.relative_attention_bias
    # (a) the decoder output times d_model**-0.5 before the untied LM head
    lm_forward, scale = peg.lm_head.forward, peg.config.d_model ** -0.5
    peg.lm_head.forward = lambda x: lm_forward(x * scale)
    peg.eval()
    return hf, peg


def sources(vocab):
    gen = torch.Generator().manual_seed(7)
    out = []
    for i in range(N_INPUTS):
        n = 1 + i if i < 16 else int(torch.randint(1, 65, (1,), generator=gen))  # 1..16, then random lengths
        out.append(torch.randint(1, vocab, (n,), generator=gen).tolist())
    return out


# --- bert4keras 0.10.0, bert4keras/snippets.py, AutoRegressiveDecoder (beam search path), verbatim but for
# the keras parts: wraps() keeps only what beam_search uses, predict is finetune.py's AutoTitle.predict.

def softmax_f32(x):  # what the original's Dense(activation='softmax') returned: float32 probabilities
    return torch.softmax(torch.from_numpy(x), dim=-1).numpy()


class AutoRegressiveDecoder(object):
    def __init__(self, start_id, end_id, maxlen, minlen=1):
        self.start_id = start_id
        self.end_id = end_id
        self.maxlen = maxlen
        self.minlen = minlen
        self.models = {}
        if start_id is None:
            self.first_output_ids = np.empty((1, 0), dtype=int)
        else:
            self.first_output_ids = np.array([[self.start_id]])

    @staticmethod
    def wraps(default_rtype='probas', use_states=False):
        def actual_decorator(predict):
            def new_predict(self, inputs, output_ids, states, temperature=1, rtype=default_rtype):
                assert rtype in ['probas', 'logits']
                prediction = predict(self, inputs, output_ids, states)
                if not use_states:
                    prediction = (prediction, None)
                if default_rtype == 'logits':
                    prediction = (softmax_f32(prediction[0] / temperature), prediction[1])
                elif temperature != 1:
                    probas = np.power(prediction[0], 1.0 / temperature)
                    probas = probas / probas.sum(axis=-1, keepdims=True)
                    prediction = (probas, prediction[1])
                if rtype == 'probas':
                    return prediction
                else:
                    return np.log(prediction[0] + 1e-12), prediction[1]
            return new_predict
        return actual_decorator

    def beam_search(self, inputs, topk, states=None, temperature=1, min_ends=1):
        inputs = [np.array([i]) for i in inputs]
        output_ids, output_scores = self.first_output_ids, np.zeros(1)
        for step in range(self.maxlen):
            scores, states = self.predict(inputs, output_ids, states, temperature, 'logits')  # 计算当前得分
            if step == 0:  # 第1步预测后将输入重复topk次
                inputs = [np.repeat(i, topk, axis=0) for i in inputs]
            scores = output_scores.reshape((-1, 1)) + scores  # 综合累积得分
            indices = scores.argpartition(-topk, axis=None)[-topk:]  # 仅保留topk
            indices_1 = indices // scores.shape[1]  # 行索引
            indices_2 = (indices % scores.shape[1]).reshape((-1, 1))  # 列索引
            output_ids = np.concatenate([output_ids[indices_1], indices_2], 1)  # 更新输出
            output_scores = np.take_along_axis(scores, indices, axis=None)  # 更新得分
            end_counts = (output_ids == self.end_id).sum(1)  # 统计出现的end标记
            if output_ids.shape[1] >= self.minlen:  # 最短长度判断
                best_one = output_scores.argmax()  # 得分最大的那个
                if end_counts[best_one] == min_ends:  # 如果已经终止
                    self.last_score = output_scores[best_one]  # (t5p: kept for the golden)
                    return output_ids[best_one]  # 直接输出
                else:  # 否则，只保留未完成部分
                    flag = (end_counts < min_ends)  # 标记未完成序列
                    if not flag.all():  # 如果有已完成的
                        inputs = [i[flag] for i in inputs]  # 扔掉已完成序列
                        output_ids = output_ids[flag]  # 扔掉已完成序列
                        output_scores = output_scores[flag]  # 扔掉已完成序列
                        end_counts = end_counts[flag]  # 扔掉已完成end计数
                        topk = flag.sum()  # topk相应变化
        # 达到长度直接输出
        self.last_score = output_scores[output_scores.argmax()]  # (t5p)
        return output_ids[output_scores.argmax()]


class AutoTitle(AutoRegressiveDecoder):
    """T5 PEGASUS finetune.py's decoder, with the torch model in place of the keras encoder/decoder."""

    def __init__(self, model, **kw):
        super().__init__(**kw)
        self.model = model

    @AutoRegressiveDecoder.wraps(default_rtype='probas')
    def predict(self, inputs, output_ids, states):
        c_encoded, c_mask = inputs
        with torch.no_grad():  # the whole prefix each step, as the original's last_token(decoder) did
            out = self.model(encoder_outputs=(torch.from_numpy(c_encoded),), attention_mask=torch.from_numpy(c_mask),
                             decoder_input_ids=torch.from_numpy(output_ids), use_cache=False)
        return torch.softmax(out.logits[:, -1], dim=-1).numpy()  # Dense(vocab, activation='softmax')

    def generate(self, src, topk):
        ids = torch.tensor([src])
        with torch.no_grad():
            c_encoded = self.model.encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        return self.beam_search([c_encoded[0].numpy(), np.ones(len(src), np.int64)], topk=topk)


def main():
    assert transformers.__version__ == "4.30.2", transformers.__version__
    torch.set_num_threads(1)
    hf, peg = make_models()
    cfg = hf.config
    srcs = sources(cfg.vocab_size)
    conf = [cfg.vocab_size, cfg.d_model, cfg.d_ff, cfg.num_heads, cfg.d_kv, cfg.num_layers, cfg.num_decoder_layers,
            cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance]
    rec = [("config", np.array(conf, np.int32)), ("gen", np.array([START_ID, END_ID, MAX_LEN], np.int32))]
    for name, p in hf.named_parameters():
        rec.append((name, p.detach().numpy().astype(np.float32)))
    offs = np.cumsum([0] + [len(s) for s in srcs]).astype(np.int32)
    rec += [("src.offsets", offs), ("src.ids", np.array(sum(srcs, []), np.int32))]

    # name, flavour, semantics, beams, length_penalty, early_stopping
    cases = [("hf.greedy", 1, 0, 1, 1.0, 0), ("hf.beam2", 1, 2, 2, 1.0, 0), ("hf.beam3", 1, 2, 3, 1.0, 0),
             ("hf.beam3.lp0.6.es", 1, 2, 3, 0.6, 1), ("hf.beam4.lp2", 1, 2, 4, 2.0, 0),
             ("hf.beam4.lp0", 1, 2, 4, 0.0, 0),
             ("orig.beam1", 0, 1, 1, 1.0, 0), ("orig.beam2", 0, 1, 2, 1.0, 0), ("orig.beam3", 0, 1, 3, 1.0, 0)]
    for name, flavor, sem, beams, lp, es in cases:
        outs, scores = [], []
        if sem == 1:
            dec = AutoTitle(peg, start_id=START_ID, end_id=END_ID, maxlen=MAX_LEN)
            for s in srcs:
                ids = dec.generate(s, beams)
                assert ids[0] == START_ID
                outs.append([int(t) for t in ids[1:]])
                scores.append(dec.last_score)
        else:
            for s in srcs:
                with torch.no_grad():
                    o = hf.generate(input_ids=torch.tensor([s]), max_new_tokens=MAX_LEN, num_beams=beams, do_sample=False,
                                    decoder_start_token_id=START_ID, eos_token_id=END_ID, pad_token_id=0,
                                    length_penalty=lp, early_stopping=bool(es), output_scores=True,
                                    return_dict_in_generate=True)
                seq = o.sequences[0].tolist()
                assert seq[0] == START_ID
                outs.append(seq[1:])
                scores.append(o.sequences_scores[0].item() if beams > 1 else 0.0)
        ended = sum(1 for o in outs if o and o[-1] == END_ID)
        print(f"{name}: {ended}/{len(outs)} ended, lengths {sorted(Counter(len(o) for o in outs).items())}")
        rec.append(("case." + name, np.array([flavor, sem, beams, lp, es], np.float32)))
        rec.append((f"out.{name}.offsets", np.cumsum([0] + [len(o) for o in outs]).astype(np.int32)))
        rec.append((f"out.{name}.ids", np.array(sum(outs, []), np.int32)))
        rec.append((f"score.{name}", np.array(scores, np.float32)))
    write(OUT, rec)


if __name__ == "__main__":
    sys.exit(main())
