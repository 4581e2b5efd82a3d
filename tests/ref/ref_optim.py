#!/usr/bin/python3
"""Goldens for tests/test_optim.c: 10 steps of each optimizer on synthetic parameters.

Run by developers (never by CI) with Debian's /usr/bin/python3 (torch 1.13, transformers 4.30.2,
safetensors):   /usr/bin/python3 tests/ref/ref_optim.py   -> tests/golden/optim_ref.safetensors

Weights and gradients come from splitmix64 (same generator in the C test), so only the final weights
(and a few factored second-moment vectors) are stored, as "<variant>/<param>" float32 tensors; the two
matrices of >= 128 rows and columns only for the bert4keras Adafactor variants (the others run on them
too, but their results there add nothing and would triple the file).

Peers:
  af_hf, af_hf_wi, af_hf_m  transformers.optimization.Adafactor (the last with a LambdaLR warm-up/decay)
  adam                      torch.optim.Adam
  adam_keras                transformers.AdamW(weight_decay=0): Keras 2.3's Adam (eps added to sqrt(v),
                            bias correction folded into the step size)
  adamw                     torch.optim.AdamW + transformers.get_linear_schedule_with_warmup
  af_b4k, af_b4k_m          bert4keras 0.10 AdaFactorV2 (+ extend_with_weight_decay_v2 and
  adamw_b4k                 extend_with_piecewise_linear_lr_v2), and bert4keras Adam + the same two
                            extensions: bert4keras needs TensorFlow, which is not installed here, so
                            its code is ported line by line to numpy float32 below (b4k_* functions).
The script also checks that adamw_b4k equals torch AdamW driven by bert4keras's piecewise-linear
warm-up (the correspondence the C code relies on).
"""
import math
import os
import sys

import numpy as np
import torch
import transformers
from safetensors.numpy import save_file
from transformers.optimization import Adafactor, AdamW, get_linear_schedule_with_warmup

STEPS = 10
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

# name, shape, is_norm, init ("norm": 1 + 0.1 x, else scale * x), gradient scale
PARAMS = [
    ("enc.final_layer_norm.weight", (64,), 1, "norm", 0.01),
    ("vec", (5,), 0, 0.05, 0.02),
    ("q", (16, 24), 0, 0.05, 0.01),
    ("rel", (32, 4), 0, 0.5, 0.1),
    ("tall", (200, 8), 0, 0.05, 0.003),
    ("emb", (129, 128), 0, 0.05, 0.001),
    ("wo", (128, 129), 0, 0.05, 0.01),
    ("tiny", (3, 7), 0, 1e-4, 1e-3),
]
BIG = ("emb", "wo")  # stored for the af_b4k* variants only


def uniform(seed, n):
    """splitmix64 stream from seed: n floats (z >> 40) * 2^-24 * 2 - 1 in [-1, 1), exact in float32."""
    k = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + k * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    x = (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    return x * np.float32(2.0) - np.float32(1.0)


def init_weights():
    ws = []
    for k, (name, shape, norm, init, gs) in enumerate(PARAMS):
        x = uniform(1000 + k, int(np.prod(shape))).reshape(shape)
        if init == "norm":
            t = np.float32(0.1) * x
            w = np.float32(1.0) + t
        else:
            w = x * np.float32(init)
        ws.append(w.astype(np.float32))
    return ws


def grads(step):  # step 1..STEPS
    gs_all = []
    for k, (name, shape, norm, init, gs) in enumerate(PARAMS):
        x = uniform(100000 + 100 * k + step, int(np.prod(shape))).reshape(shape)
        g = x * np.float32(gs * ((step % 3) + 1) * 0.5)
        if name == "tall":
            g[0, :] = 0  # a row without gradient
        if name == "vec" and step == 4:
            g[:] = 0  # a step without gradient
        gs_all.append(g.astype(np.float32))
    return gs_all


def linear_warmup(warmup, total):  # transformers' get_linear_schedule_with_warmup lambda
    def f(s):
        if s < warmup:
            return float(s) / float(max(1, warmup))
        return max(0.0, float(total - s) / float(max(1, total - warmup)))
    return f


# ---------------------------------------------------------------- torch / transformers peers

def run_torch(make_opt, groups_by_norm, sched=None):
    ps = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in init_weights()]
    if groups_by_norm is not None:
        wd = groups_by_norm
        groups = [
            {"params": [p for p, d in zip(ps, PARAMS) if not d[2]], "weight_decay": wd},
            {"params": [p for p, d in zip(ps, PARAMS) if d[2]], "weight_decay": 0.0},
        ]
        opt = make_opt(groups)
    else:
        opt = make_opt(ps)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, sched) if sched else None
    for s in range(1, STEPS + 1):
        for p, g in zip(ps, grads(s)):
            p.grad = torch.from_numpy(g)
        opt.step()
        if lr_sched:
            lr_sched.step()
    return [p.detach().numpy().copy() for p in ps], opt, ps


# ---------------------------------------------------------------- bert4keras, ported to numpy float32

def b4k_piecewise_linear(t, schedule, from_zero=True):
    """bert4keras.backend.piecewise_linear, with K.switch -> if."""
    schedule = sorted(schedule.items())
    if from_zero and schedule[0][0] != 0:
        schedule = [(0, 0.0)] + schedule
    t = np.float32(t)
    x = np.float32(schedule[0][1])
    for i in range(len(schedule)):
        t_begin = schedule[i][0]
        x_begin = x
        if i != len(schedule) - 1:
            dx = schedule[i + 1][1] - schedule[i][1]
            dt = schedule[i + 1][0] - schedule[i][0]
            slope = 1.0 * dx / dt
            x = np.float32(schedule[i][1] + slope * (t - t_begin))
        else:
            x = np.float32(schedule[i][1])
        x = x if t >= t_begin else x_begin
    return x


def rms(x):  # bert4keras.backend.root_mean_square
    return np.sqrt(np.mean(x ** 2))


class B4KAdaFactor:
    """bert4keras.optimizers.AdaFactorBase + AdaFactorV2._resource_apply, with
    extend_with_weight_decay_v2 (new_x -= lr_t * weight_decay_rate * x, x the pre-update weight) and
    extend_with_piecewise_linear_lr_v2 (_decayed_lr multiplied by piecewise_linear(iterations))."""

    def __init__(self, learning_rate=1e-3, beta1=0.0, beta2=None, epsilon1=1e-30, epsilon2=1e-3,
                 multiply_by_parameter_scale=True, clipping_threshold=1.0, min_dim_size_to_factor=128,
                 weight_decay_rate=0.0, exclude_from_weight_decay=(), lr_schedule=None):
        self._learning_rate = learning_rate
        self.beta1 = beta1
        self._beta2 = beta2
        self.epsilon1 = epsilon1
        self.epsilon2 = epsilon2
        self.multiply_by_parameter_scale = multiply_by_parameter_scale
        self.clipping_threshold = clipping_threshold
        self.min_dim_size_to_factor = min_dim_size_to_factor
        self.weight_decay_rate = weight_decay_rate
        self.exclude = exclude_from_weight_decay
        self.lr_schedule = lr_schedule
        self.iterations = 0
        self.slots = {}

    @property
    def learning_rate(self):
        if self._learning_rate is None:
            iterations = np.float32(self.iterations + 1)
            learning_rate = np.minimum(np.float32(1.0) / np.sqrt(iterations), np.float32(0.01))
            if self.multiply_by_parameter_scale:
                return learning_rate
            else:
                return learning_rate * np.float32(0.05)
        return np.float32(self._learning_rate)

    @property
    def beta2(self):
        if self._beta2 is None:
            iterations = np.float32(self.iterations + 1)
            return np.float32(1.0) - np.power(iterations, np.float32(-0.8))
        return np.float32(self._beta2)

    def factored_shape(self, shape):
        if len(shape) < 2:
            return None
        shape = np.array(shape)
        indices = shape.argpartition(-2)
        if shape[indices[-2]] < self.min_dim_size_to_factor:
            return None
        shape1, shape2 = np.array(shape), np.array(shape)
        shape1[indices[-1]] = 1
        shape2[indices[-2]] = 1
        return shape1, indices[-1], shape2, indices[-2]

    def _decayed_lr(self):
        lr = self.learning_rate
        if self.lr_schedule is not None:
            lr = lr * b4k_piecewise_linear(self.iterations, self.lr_schedule)
        return np.float32(lr)

    def _resource_apply(self, grad, var, name):
        slots = self.slots.setdefault(name, {})
        lr = self._decayed_lr()
        g2 = np.square(grad) + np.float32(self.epsilon1)
        shape = var.shape
        factored_shape = self.factored_shape(shape)
        if factored_shape is None:
            v = slots.get("v", np.zeros(shape, np.float32))
            v_t = self.beta2 * v + (np.float32(1.0) - self.beta2) * g2
            slots["v"] = v_t
        else:
            shape1, axis1, shape2, axis2 = factored_shape
            vr = slots.get("vr", np.zeros(shape1, np.float32))
            vc = slots.get("vc", np.zeros(shape2, np.float32))
            g2r = np.mean(g2, axis=axis1, keepdims=True)
            g2c = np.mean(g2, axis=axis2, keepdims=True)
            vr_t = self.beta2 * vr + (np.float32(1.0) - self.beta2) * g2r
            vc_t = self.beta2 * vc + (np.float32(1.0) - self.beta2) * g2c
            slots["vr"], slots["vc"] = vr_t, vc_t
            v_t = vr_t * vc_t / np.mean(vr_t, axis=axis2, keepdims=True)
        u = grad / np.sqrt(v_t + np.float32(self.epsilon1))
        if self.clipping_threshold is not None:
            u = u / np.maximum(np.float32(1.0), rms(u) / np.float32(self.clipping_threshold))
        if self.beta1 > 0.0:
            m = slots.get("m", np.zeros(shape, np.float32))
            m_t = np.float32(self.beta1) * m + np.float32(1.0 - self.beta1) * u
            slots["m"] = m_t
            u = m_t
        if self.multiply_by_parameter_scale:
            u = u * np.maximum(rms(var), np.float32(self.epsilon2))
        new_x = var - lr * u
        if self.weight_decay_rate and not any(e in name for e in self.exclude):  # weight decay v2
            new_x = new_x - lr * np.float32(self.weight_decay_rate) * var
        return new_x.astype(np.float32)

    def apply(self, ws, gs):
        out = [self._resource_apply(g, w, d[0]) for w, g, d in zip(ws, gs, PARAMS)]
        self.iterations += 1
        return out


class B4KAdam:
    """bert4keras.optimizers.Adam._resource_apply (tf.keras) + weight decay v2 + piecewise lr v2."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-6, bias_correction=True,
                 weight_decay_rate=0.0, exclude_from_weight_decay=(), lr_schedule=None):
        self.lr, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.bias_correction = bias_correction
        self.weight_decay_rate, self.exclude, self.lr_schedule = weight_decay_rate, exclude_from_weight_decay, lr_schedule
        self.iterations = 0
        self.slots = {}

    def _resource_apply(self, grad, var, name):
        lr_t = np.float32(self.lr)
        if self.lr_schedule is not None:
            lr_t = np.float32(lr_t * b4k_piecewise_linear(self.iterations, self.lr_schedule))
        s = self.slots.setdefault(name, {"m": np.zeros_like(var), "v": np.zeros_like(var)})
        beta_1_t, beta_2_t = np.float32(self.beta_1), np.float32(self.beta_2)
        local_step = np.float32(self.iterations + 1)
        beta_1_t_power = np.power(beta_1_t, local_step)
        beta_2_t_power = np.power(beta_2_t, local_step)
        m_t = beta_1_t * s["m"] + (np.float32(1) - beta_1_t) * grad
        v_t = beta_2_t * s["v"] + (np.float32(1) - beta_2_t) * np.square(grad)
        s["m"], s["v"] = m_t, v_t
        if self.bias_correction:
            m_t = m_t / (np.float32(1.0) - beta_1_t_power)
            v_t = v_t / (np.float32(1.0) - beta_2_t_power)
        var_t = var - lr_t * m_t / (np.sqrt(v_t) + np.float32(self.epsilon))
        if self.weight_decay_rate and not any(e in name for e in self.exclude):
            var_t = var_t - lr_t * np.float32(self.weight_decay_rate) * var
        return var_t.astype(np.float32)

    def apply(self, ws, gs):
        out = [self._resource_apply(g, w, d[0]) for w, g, d in zip(ws, gs, PARAMS)]
        self.iterations += 1
        return out


def run_numpy(opt):
    ws = init_weights()
    for s in range(1, STEPS + 1):
        ws = opt.apply(ws, grads(s))
    return ws, opt


# ---------------------------------------------------------------- main

def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = os.path.join(root, "tests", "golden", "optim_ref.safetensors")
    torch.set_num_threads(1)
    print("torch", torch.__version__, "transformers", transformers.__version__, "numpy", np.__version__)
    res = {}

    w, opt, ps = run_torch(lambda p: Adafactor(p), None)
    res["af_hf"] = w
    hf_state = {d[0]: opt.state[p] for p, d in zip(ps, PARAMS)}
    res["af_hf_wi"] = run_torch(lambda p: Adafactor(p, warmup_init=True), None)[0]
    res["af_hf_m"] = run_torch(
        lambda g: Adafactor(g, lr=1e-2, relative_step=False, scale_parameter=False, warmup_init=False, beta1=0.9),
        0.01, linear_warmup(3, 20))[0]
    res["adam"] = run_torch(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.9, 0.999), eps=1e-6), None)[0]
    res["adam_keras"] = run_torch(
        lambda p: AdamW(p, lr=1e-2, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0, correct_bias=True,
                        no_deprecation_warning=True), None)[0]
    res["adamw"] = run_torch(lambda g: torch.optim.AdamW(g, lr=1e-2, betas=(0.9, 0.999), eps=1e-6), 0.01,
                             linear_warmup(3, 20))[0]

    w, b4k = run_numpy(B4KAdaFactor())
    res["af_b4k"] = w
    res["af_b4k_m"] = run_numpy(B4KAdaFactor(learning_rate=None, beta1=0.9, multiply_by_parameter_scale=False,
                                             weight_decay_rate=0.01, exclude_from_weight_decay=["norm"],
                                             lr_schedule={3: 1}))[0]
    res["adamw_b4k"] = run_numpy(B4KAdam(learning_rate=1e-2, epsilon=1e-6, weight_decay_rate=0.01,
                                         exclude_from_weight_decay=["norm"], lr_schedule={3: 1}))[0]

    # bert4keras AdamW + piecewise warm-up == torch AdamW with the same multiplier
    torch_b4k = run_torch(lambda g: torch.optim.AdamW(g, lr=1e-2, betas=(0.9, 0.999), eps=1e-6), 0.01,
                          lambda s: float(b4k_piecewise_linear(s, {3: 1})))[0]
    worst = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(res["adamw_b4k"], torch_b4k))
    print("bert4keras AdamW+warm-up vs torch AdamW+same schedule: max |diff| / max |w| = %.2e" % worst)
    assert worst < 1e-5, worst

    tensors = {}
    for v, ws in res.items():
        for w, d in zip(ws, PARAMS):
            if d[0] in BIG and not v.startswith("af_b4k"):
                continue  # the >= 128 matrices matter to bert4keras's factoring only: keeps the file small
            tensors["%s/%s" % (v, d[0])] = np.ascontiguousarray(w, dtype=np.float32)
    for d in PARAMS:  # factored second moments: rows x cols -> v_row [rows], v_col [cols]
        st = hf_state[d[0]]
        if "exp_avg_sq_row" in st:
            tensors["af_hf/%s.v_row" % d[0]] = st["exp_avg_sq_row"].numpy().astype(np.float32)
            tensors["af_hf/%s.v_col" % d[0]] = st["exp_avg_sq_col"].numpy().astype(np.float32)
        sl = b4k.slots[d[0]]
        if "vr" in sl:
            fs = b4k.factored_shape(d[1])
            axis1 = fs[1]  # vr averages over axis1 (the largest axis)
            vr, vc = sl["vr"].reshape(-1), sl["vc"].reshape(-1)
            rows_means, col_means = (vc, vr) if axis1 == 0 else (vr, vc)
            tensors["af_b4k/%s.v_row" % d[0]] = rows_means.astype(np.float32)
            tensors["af_b4k/%s.v_col" % d[0]] = col_means.astype(np.float32)
    tensors["rng_check"] = uniform(12345, 8)
    save_file(tensors, out, metadata={"format": "np", "steps": str(STEPS)})
    print("wrote", out, os.path.getsize(out), "bytes,", len(tensors), "tensors")


if __name__ == "__main__":
    sys.exit(main())
