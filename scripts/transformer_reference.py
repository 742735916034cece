"""An independent PyTorch reference for the decoder-only transformers Lopper runs in tfjs.

Plain functions over a dict of Hugging Face parameter names -> tensors, written from the
architectures' definitions (no `transformers` import): GPT-2 and the LLaMA family
(LLaMA, Qwen2, Mistral). Also a safetensors writer and the windowed perplexity of
DESIGN §6. Used by make_transformer_fixtures.py and train_char_lm.py.
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn.functional as F

NEG_INF = torch.finfo(torch.float32).min


def causal_mask(length, window=None):
    """[T, T] additive mask: 0 where position i may attend to j (j <= i, within a sliding window)."""
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & (j > i - window)
    return torch.where(allowed, torch.tensor(0.0), torch.tensor(NEG_INF))


def attention(q, k, v, mask):
    """q [B, H, T, d], k/v [B, KV, T, d] (KV divides H) -> [B, T, H*d]."""
    batch, heads, length, dim = q.shape
    repeat = heads // k.shape[1]
    k = k.repeat_interleave(repeat, dim=1)
    v = v.repeat_interleave(repeat, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(dim) + mask
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(batch, length, heads * dim)


def split_heads(x, heads):
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads).transpose(1, 2)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gpt2_forward(w, cfg, ids, bypass=frozenset()):
    """GPT-2 logits [B, T, V]; Conv1D weights are [in, out]; `bypass` holds module paths."""
    p = "transformer."
    width, heads, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    length = ids.shape[1]
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][torch.arange(length)][None]
    mask = causal_mask(length)
    for i in range(cfg["n_layer"]):
        b = f"{p}h.{i}."
        if b + "attn" not in bypass:
            x = F.layer_norm(h, (width,), w[b + "ln_1.weight"], w[b + "ln_1.bias"], eps)
            qkv = x @ w[b + "attn.c_attn.weight"] + w[b + "attn.c_attn.bias"]
            q, k, v = (split_heads(t, heads) for t in qkv.split(width, dim=-1))
            h = h + attention(q, k, v, mask) @ w[b + "attn.c_proj.weight"] + w[b + "attn.c_proj.bias"]
        if b + "mlp" not in bypass:
            x = F.layer_norm(h, (width,), w[b + "ln_2.weight"], w[b + "ln_2.bias"], eps)
            x = gelu_tanh(x @ w[b + "mlp.c_fc.weight"] + w[b + "mlp.c_fc.bias"])
            h = h + x @ w[b + "mlp.c_proj.weight"] + w[b + "mlp.c_proj.bias"]
    h = F.layer_norm(h, (width,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    return h @ w[p + "wte.weight"].T


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rope_tables(length, dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_freq[None]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def linear(x, w, name):
    """HF Linear: weight [out, in], optional bias."""
    y = x @ w[name + ".weight"].T
    bias = w.get(name + ".bias")
    return y if bias is None else y + bias


def llama_forward(w, cfg, ids, bypass=frozenset()):
    """LLaMA / Qwen2 / Mistral logits [B, T, V]; `bypass` holds module paths."""
    heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    eps, length = cfg["rms_norm_eps"], ids.shape[1]
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window", cfg["model_type"] == "mistral") else None
    cos, sin = rope_tables(length, dim, cfg.get("rope_theta", 10000.0))
    mask = causal_mask(length, window)
    h = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        b = f"model.layers.{i}."
        if b + "self_attn" not in bypass:
            x = rms_norm(h, w[b + "input_layernorm.weight"], eps)
            q = split_heads(linear(x, w, b + "self_attn.q_proj"), heads)
            k = split_heads(linear(x, w, b + "self_attn.k_proj"), kv_heads)
            v = split_heads(linear(x, w, b + "self_attn.v_proj"), kv_heads)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            h = h + linear(attention(q, k, v, mask), w, b + "self_attn.o_proj")
        if b + "mlp" not in bypass:
            x = rms_norm(h, w[b + "post_attention_layernorm.weight"], eps)
            gate = F.silu(linear(x, w, b + "mlp.gate_proj"))
            h = h + linear(gate * linear(x, w, b + "mlp.up_proj"), w, b + "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return h @ head.T


def forward(w, cfg, ids, bypass=frozenset()):
    fn = gpt2_forward if cfg["model_type"] == "gpt2" else llama_forward
    return fn(w, cfg, ids, bypass)


def context_length(cfg):
    return cfg["n_positions"] if cfg["model_type"] == "gpt2" else cfg["max_position_embeddings"]


def windowed_nll(logits_fn, ids, context):
    """(Σ NLL, count) over consecutive non-overlapping windows of `context` tokens; the first
    token of each window is not scored (DESIGN §6)."""
    total, count = 0.0, 0
    for start in range(0, len(ids), context):
        window = torch.tensor(ids[start:start + context], dtype=torch.long)[None]
        if window.shape[1] < 2:
            continue
        with torch.no_grad():
            logp = torch.log_softmax(logits_fn(window).double(), dim=-1)[0]
        targets = window[0, 1:]
        total -= logp[torch.arange(len(targets)), targets].sum().item()
        count += len(targets)
    return total, count


SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def stored(tensor, dtype):
    """The float32 values a tensor has once stored as `dtype` (what a reader decodes)."""
    return tensor.to(SAFETENSORS_DTYPES[dtype]).float()


def safetensors_bytes(tensors, dtype="F32", metadata=None):
    """A safetensors file: 8-byte LE header length, JSON header, raw little-endian data."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, tensor in tensors.items():
        raw = tensor.detach().to(SAFETENSORS_DTYPES[dtype]).contiguous()
        if dtype == "BF16":
            data = raw.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            data = raw.numpy().astype(raw.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def read_safetensors(data):
    """name -> float32 tensor, from the bytes of a safetensors file (F32, F16 or BF16)."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header.pop("__metadata__", None)
    tensors = {}
    for name, entry in header.items():
        begin, end = (8 + length + offset for offset in entry["data_offsets"])
        raw = bytearray(data[begin:end])
        if entry["dtype"] == "BF16":
            values = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            values = torch.frombuffer(raw, dtype=SAFETENSORS_DTYPES[entry["dtype"]])
        tensors[name] = values.float().reshape(entry["shape"])
    return tensors


def write_json(path, value, indent=1):
    separators = None if indent else (",", ":")
    path.write_text(json.dumps(value, indent=indent, separators=separators) + "\n", encoding="utf-8")


def rounded(tensor, digits=7):
    """Nested lists of floats with `digits` significant digits (compact JSON)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"))(tensor.detach().double().numpy()).tolist()
