"""Small random-weight Hugging Face transformer folders and their reference logits.

Writes e2e/fixtures/hf-{gpt2,llama,qwen2}-tiny/: config.json, safetensors weights and
reference.json (input ids, logits of the reference implementation in transformer_reference.py,
and logits with some sublayers bypassed). Each fixture exercises a different storage dtype:
- hf-gpt2-tiny: float16, with a tiny byte-level BPE tokenizer.json trained here
  (its reference.json also holds the ids of a sample text);
- hf-llama-tiny: float32, grouped-query attention, untied lm_head;
- hf-qwen2-tiny: bfloat16, q/k/v biases, tied embeddings, two shards + model.safetensors.index.json.
The logits are computed from the weights as stored (rounded to the dtype), in float32.

Run: /usr/bin/python3 scripts/make_transformer_fixtures.py
"""

import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transformer_reference as ref  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "e2e" / "fixtures"
DIGITS = 6

GPT2 = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4,
    "n_positions": 32, "n_ctx": 32, "n_inner": None, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
    "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": True,
}
LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
    "vocab_size": 50, "bos_token_id": 1, "eos_token_id": 2, "attention_bias": False, "rope_scaling": None,
}
QWEN2 = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu", "tie_word_embeddings": True,
    "vocab_size": 50, "use_sliding_window": False, "sliding_window": 64, "max_window_layers": 2,
}

# ---- a tiny byte-level BPE tokenizer (GPT-2 conventions) -------------------------------------

CORPUS = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on. "
    "Whales swim in the sea, and the sea is wide. There they go, there she blows! "
    "It's the 3rd time we've seen the whale; they'll see it again in 2024."
) * 3
MERGES = 40
SPECIAL = "<|endoftext|>"
SAMPLE = "The whale's 12 tail-fins, there!  Über café<|endoftext|>"
# GPT-2's pre-tokenizer regex in Python's `re`: \p{L} as [^\W\d_], \p{N} as \d.
PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes)}


BYTE_CHARS = bytes_to_unicode()


def byte_word(piece):
    return [BYTE_CHARS[b] for b in piece.encode("utf-8")]


def train_merges(text, count):
    words = [byte_word(p) for p in PIECES.findall(text)]
    merges = []
    for _ in range(count):
        pairs = {}
        for word in words:
            for pair in zip(word, word[1:]):
                pairs[pair] = pairs.get(pair, 0) + 1
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        words = [apply_merge(word, best) for word in words]
    return merges


def apply_merge(word, pair):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def encode(text, vocab, ranks):
    ids = []
    for chunk in re.split(f"({re.escape(SPECIAL)})", text):
        if chunk == SPECIAL:
            ids.append(vocab[SPECIAL])
            continue
        for piece in PIECES.findall(chunk):
            word = byte_word(piece)
            while len(word) > 1:
                pair = min(zip(word, word[1:]), key=lambda p: ranks.get(p, float("inf")))
                if pair not in ranks:
                    break
                word = apply_merge(word, pair)
            ids.extend(vocab[token] for token in word)
    return ids


def gpt2_tokenizer():
    merges = train_merges(CORPUS, MERGES)
    vocab = {SPECIAL: 0}
    for ch in BYTE_CHARS.values():
        vocab[ch] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": 0, "content": SPECIAL, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges],
        },
    }
    ranks = {pair: i for i, pair in enumerate(merges)}
    return tokenizer, {"text": SAMPLE, "ids": encode(SAMPLE, vocab, ranks)}


# ---- random weights -------------------------------------------------------------------------


def gpt2_weights(cfg, g):
    d, inner = cfg["n_embd"], 4 * cfg["n_embd"]
    w = {"transformer.wte.weight": randn(g, cfg["vocab_size"], d, std=0.5), "transformer.wpe.weight": randn(g, cfg["n_positions"], d, std=0.3)}
    for i in range(cfg["n_layer"]):
        b = f"transformer.h.{i}."
        w.update({
            b + "ln_1.weight": 1 + randn(g, d, std=0.1), b + "ln_1.bias": randn(g, d, std=0.1),
            b + "attn.c_attn.weight": randn(g, d, 3 * d, std=0.3), b + "attn.c_attn.bias": randn(g, 3 * d, std=0.1),
            b + "attn.c_proj.weight": randn(g, d, d, std=0.2), b + "attn.c_proj.bias": randn(g, d, std=0.1),
            b + "ln_2.weight": 1 + randn(g, d, std=0.1), b + "ln_2.bias": randn(g, d, std=0.1),
            b + "mlp.c_fc.weight": randn(g, d, inner, std=0.3), b + "mlp.c_fc.bias": randn(g, inner, std=0.1),
            b + "mlp.c_proj.weight": randn(g, inner, d, std=0.15), b + "mlp.c_proj.bias": randn(g, d, std=0.1),
        })
    w.update({"transformer.ln_f.weight": 1 + randn(g, d, std=0.1), "transformer.ln_f.bias": randn(g, d, std=0.1)})
    return w


def llama_weights(cfg, g, qkv_bias):
    d, inner = cfg["hidden_size"], cfg["intermediate_size"]
    kv = d // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    w = {"model.embed_tokens.weight": randn(g, cfg["vocab_size"], d, std=0.5)}
    for i in range(cfg["num_hidden_layers"]):
        b = f"model.layers.{i}."
        w.update({
            b + "input_layernorm.weight": 1 + randn(g, d, std=0.1),
            b + "self_attn.q_proj.weight": randn(g, d, d, std=0.3),
            b + "self_attn.k_proj.weight": randn(g, kv, d, std=0.3),
            b + "self_attn.v_proj.weight": randn(g, kv, d, std=0.3),
            b + "self_attn.o_proj.weight": randn(g, d, d, std=0.2),
            b + "post_attention_layernorm.weight": 1 + randn(g, d, std=0.1),
            b + "mlp.gate_proj.weight": randn(g, inner, d, std=0.3),
            b + "mlp.up_proj.weight": randn(g, inner, d, std=0.3),
            b + "mlp.down_proj.weight": randn(g, d, inner, std=0.2),
        })
        if qkv_bias:
            for name, size in (("q_proj", d), ("k_proj", kv), ("v_proj", kv)):
                w[f"{b}self_attn.{name}.bias"] = randn(g, size, std=0.2)
    w["model.norm.weight"] = 1 + randn(g, d, std=0.1)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = randn(g, cfg["vocab_size"], d, std=0.3)
    return w


def randn(g, *shape, std):
    return torch.randn(*shape, generator=g) * std


# ---- writing --------------------------------------------------------------------------------


def write_fixture(name, cfg, weights, dtype, ids, bypass, shards=1, extra=None):
    folder = FIXTURES / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.safetensors*"):
        old.unlink()
    ref.write_json(folder / "config.json", dict(cfg, torch_dtype={"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]))
    names = list(weights)
    if shards == 1:
        (folder / "model.safetensors").write_bytes(ref.safetensors_bytes(weights, dtype, {"format": "pt"}))
    else:
        weight_map = {}
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: weights[n] for n in names[s::shards]}
            (folder / file).write_bytes(ref.safetensors_bytes(part, dtype, {"format": "pt"}))
            weight_map.update({n: file for n in part})
        total = sum(t.numel() * (4 if dtype == "F32" else 2) for t in weights.values())
        ref.write_json(folder / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    stored = {n: ref.stored(t, dtype) for n, t in weights.items()}
    with torch.no_grad():
        logits = ref.forward(stored, cfg, torch.tensor(ids))
        bypassed = ref.forward(stored, cfg, torch.tensor(ids[:1]), frozenset(bypass))
    reference = {
        "dtype": dtype,
        "input_ids": ids,
        "logits": ref.rounded(logits, DIGITS),
        "bypass": {"removed": bypass, "input_ids": ids[:1], "logits": ref.rounded(bypassed, DIGITS)},
    }
    ref.write_json(folder / "reference.json", dict(reference, **(extra or {})), indent=None)
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"{name}: {sum(t.numel() for t in weights.values())} parameters, {size} bytes")


def main():
    torch.manual_seed(0)
    tokenizer, sample = gpt2_tokenizer()
    gpt2 = dict(GPT2, vocab_size=len(tokenizer["model"]["vocab"]))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, gpt2["vocab_size"], (2, 8), generator=g).tolist()
    write_fixture("hf-gpt2-tiny", gpt2, gpt2_weights(gpt2, g), "F16", ids, ["transformer.h.0.attn", "transformer.h.1.mlp"], extra={"tokenizer": sample})
    ref.write_json(FIXTURES / "hf-gpt2-tiny" / "tokenizer.json", tokenizer)

    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, LLAMA["vocab_size"], (2, 9), generator=g).tolist()
    write_fixture("hf-llama-tiny", LLAMA, llama_weights(LLAMA, g, False), "F32", ids, ["model.layers.0.mlp", "model.layers.1.self_attn"])

    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, QWEN2["vocab_size"], (2, 7), generator=g).tolist()
    write_fixture("hf-qwen2-tiny", QWEN2, llama_weights(QWEN2, g, True), "BF16", ids, ["model.layers.1.self_attn"], shards=2)


if __name__ == "__main__":
    main()
