"""A tiny LLaMA on which FinerCut's greedy removal order differs from the one-shot ranking.

Writes e2e/fixtures/hf-removal-tiny/: config.json, model.safetensors (float32),
char-tokenizer.json, calibration.txt (the text whose characters are the token ids),
tokens.json ({text, ids, windows}) and reference.json.

The weights are those of make_transformer_fixtures.llama_weights for the first seed (from
SEED_START on) whose greedy search, run here in torch with the Jensen-Shannon divergence of
DESIGN §3 on the calibration windows, removes the sublayers in an order that differs from
ranking them all by their single-removal score (the scores of step 0), with clear margins:
at every greedy step the chosen candidate scores at least MARGIN (relative) below the
runner-up, and the step-0 scores are MARGIN apart, so both orders are unambiguous in float32.

Calibration windows follow the rule of src/core/removal/calibration.ts: windows of
min(256, context length, tokens) tokens, at most 10 of them, consecutive from the start.

reference.json: {metric, windows, candidates, steps: [{removed, scores}], greedy, one_shot,
block_influence: [{block, influence}], dense}. Block influence (ShortGPT) is
1 - mean over tokens of cos(hidden before block i, hidden after it).

Run: /usr/bin/python3 scripts/make_removal_fixture.py
"""

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_transformer_fixtures as fixtures  # noqa: E402
import transformer_reference as ref  # noqa: E402

FOLDER = fixtures.FIXTURES / "hf-removal-tiny"
VOCAB = list(" abcdefghijklmnopqrstuvwxyz.,;'")
TEXT = (
    "call me ishmael. some years ago, never mind how long precisely, "
    "having little or no money in my purse; i thought i would sail about."
)
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 32,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
    "vocab_size": len(VOCAB), "attention_bias": False, "rope_scaling": None,
}
SAMPLES, SAMPLE_LENGTH = 10, 256
SEED_START = 100
MARGIN = 0.05


def calibration_windows(ids, context):
    length = min(SAMPLE_LENGTH, context, len(ids))
    count = min(SAMPLES, len(ids) // length)
    return [ids[i * length:(i + 1) * length] for i in range(count)]


def candidates(cfg):
    return [f"model.layers.{i}.{part}" for i in range(cfg["num_hidden_layers"]) for part in ("self_attn", "mlp")]


def js_divergence(dense, pruned):
    """Mean over positions of JS(softmax(dense), softmax(pruned)), natural log, in float64."""
    log_p = torch.log_softmax(dense.double(), dim=-1)
    log_q = torch.log_softmax(pruned.double(), dim=-1)
    log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - math.log(2)
    kl = lambda a, b: (a.exp() * (a - b)).sum(-1)  # noqa: E731
    return (0.5 * kl(log_p, log_m) + 0.5 * kl(log_q, log_m)).mean().item()


def greedy(weights, cfg, ids):
    """FinerCut: at each step remove the candidate whose removal (on top of the earlier ones) changes the logits least."""
    with torch.no_grad():
        dense = ref.forward(weights, cfg, ids)
        remaining, removed, steps = candidates(cfg), [], []
        while remaining:
            scores = {c: js_divergence(dense, ref.forward(weights, cfg, ids, frozenset(removed + [c]))) for c in remaining}
            best = min(remaining, key=lambda c: (scores[c], remaining.index(c)))
            steps.append({"removed": best, "scores": scores})
            removed.append(best)
            remaining.remove(best)
    return steps


def hidden_states(w, cfg, ids):
    """The residual stream entering each block and after the last one (LLaMA), as ref.llama_forward computes it."""
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dim, eps, length = cfg["hidden_size"] // heads, cfg["rms_norm_eps"], ids.shape[1]
    cos, sin = ref.rope_tables(length, dim, cfg["rope_theta"])
    mask = ref.causal_mask(length)
    h = w["model.embed_tokens.weight"][ids]
    states = [h]
    for i in range(cfg["num_hidden_layers"]):
        b = f"model.layers.{i}."
        x = ref.rms_norm(h, w[b + "input_layernorm.weight"], eps)
        q = ref.split_heads(ref.linear(x, w, b + "self_attn.q_proj"), heads)
        k = ref.split_heads(ref.linear(x, w, b + "self_attn.k_proj"), kv_heads)
        v = ref.split_heads(ref.linear(x, w, b + "self_attn.v_proj"), kv_heads)
        q, k = q * cos + ref.rotate_half(q) * sin, k * cos + ref.rotate_half(k) * sin
        h = h + ref.linear(ref.attention(q, k, v, mask), w, b + "self_attn.o_proj")
        x = ref.rms_norm(h, w[b + "post_attention_layernorm.weight"], eps)
        h = h + ref.linear(F.silu(ref.linear(x, w, b + "mlp.gate_proj")) * ref.linear(x, w, b + "mlp.up_proj"), w, b + "mlp.down_proj")
        states.append(h)
    logits = ref.rms_norm(h, w["model.norm.weight"], eps) @ w["lm_head.weight"].T
    return states, logits


def block_influence(weights, cfg, ids):
    with torch.no_grad():
        states, logits = hidden_states(weights, cfg, ids)
        assert torch.allclose(logits, ref.forward(weights, cfg, ids), atol=1e-5), "hidden_states disagrees with the reference forward pass"
        out = []
        for i in range(cfg["num_hidden_layers"]):
            cosine = F.cosine_similarity(states[i].double(), states[i + 1].double(), dim=-1)
            out.append({"block": f"model.layers.{i}", "influence": 1 - cosine.mean().item()})
    return out


def unambiguous(steps):
    """Every greedy choice beats the runner-up by MARGIN, and the step-0 scores are MARGIN apart."""
    for step in steps:
        values = sorted(step["scores"].values())
        if len(values) > 1 and values[1] - values[0] < MARGIN * values[1]:
            return False
    first = sorted(steps[0]["scores"].values())
    return all(b - a >= MARGIN * b for a, b in zip(first, first[1:]))


def main():
    ids = [VOCAB.index(ch) for ch in TEXT]
    windows = calibration_windows(ids, CONFIG["max_position_embeddings"])
    batch = torch.tensor(windows)
    for seed in range(SEED_START, SEED_START + 1000):
        g = torch.Generator().manual_seed(seed)
        weights = {n: ref.stored(t, "F32") for n, t in fixtures.llama_weights(CONFIG, g, False).items()}
        steps = greedy(weights, CONFIG, batch)
        order = [s["removed"] for s in steps]
        one_shot = sorted(candidates(CONFIG), key=lambda c: steps[0]["scores"][c])
        if order != one_shot and unambiguous(steps):
            break
    else:
        sys.exit("no seed gave a greedy order that differs from the one-shot ranking")
    print(f"seed {seed}\n greedy   {order}\n one-shot {one_shot}")

    FOLDER.mkdir(parents=True, exist_ok=True)
    ref.write_json(FOLDER / "config.json", dict(CONFIG, torch_dtype="float32"))
    (FOLDER / "model.safetensors").write_bytes(ref.safetensors_bytes(weights, "F32", {"format": "pt"}))
    ref.write_json(FOLDER / "char-tokenizer.json", {"type": "char", "vocab": VOCAB}, indent=None)
    (FOLDER / "calibration.txt").write_text(TEXT, encoding="utf-8")
    ref.write_json(FOLDER / "tokens.json", {"text": TEXT, "ids": ids, "windows": windows}, indent=None)
    ref.write_json(FOLDER / "reference.json", {
        "seed": seed,
        "metric": "js",
        "windows": windows,
        "candidates": candidates(CONFIG),
        "steps": steps,
        "greedy": order,
        "one_shot": one_shot,
        "block_influence": block_influence(weights, CONFIG, batch),
        "dense": 0,
    })


if __name__ == "__main__":
    main()
