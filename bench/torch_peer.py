"""The PyTorch CPU peer of `npm run bench`: a JSON-lines server on stdin/stdout.

Each request is one JSON object with "cmd"; each reply one JSON object. The forward pass is the plain
reference in scripts/transformer_reference.py (no `transformers` import), on the same safetensors
weights Lopper reads. Commands:
  {"cmd": "info"}                                   -> torch version, threads, the BLAS library loaded
  {"cmd": "load", "folder": F}                      -> loads config.json + model.safetensors
  {"cmd": "perplexity", "ids": [...], "context": C} -> {"nll", "tokens", "seconds"}: windows as DESIGN §6
  {"cmd": "stats", "ids": [[...]], "units": [...]}  -> {"seconds"}: Σx² and XᵀX of each unit's inputs (dense model)
  {"cmd": "prune", "unit": U, "criterion": "wanda"|"sparsegpt", "sparsity": S}
                                                    -> {"seconds", "mask": packed bits, base64}
Run by bench/run.ts: /usr/bin/python3 bench/torch_peer.py <threads>
"""

import base64
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import transformer_reference as ref  # noqa: E402

STATE = {}


def blas_library():
    """The BLAS shared library this process has mapped (after a matmul has run)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    names = set()
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            path = line.split()[-1]
            if any(key in path for key in ("blas", "mkl", "blis", "atlas")) and path.startswith("/"):
                names.add(Path(path).resolve().as_posix())
    return sorted(names)


def load(folder):
    folder = Path(folder)
    STATE["cfg"] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    STATE["w"] = ref.read_safetensors((folder / "model.safetensors").read_bytes())
    return {"parameters": sum(t.numel() for t in STATE["w"].values())}


def perplexity(ids, context):
    started = time.perf_counter()
    total, count = 0.0, 0
    cfg, w = STATE["cfg"], STATE["w"]
    with torch.no_grad():
        for start in range(0, len(ids), context):
            window = torch.tensor(ids[start:start + context], dtype=torch.long)[None]
            if window.shape[1] < 2:
                continue
            logits = ref.forward(w, cfg, window)[0, :-1]
            targets = window[0, 1:]
            total += F.cross_entropy(logits, targets, reduction="sum").item()
            count += len(targets)
    return {"nll": total / count, "tokens": count, "seconds": time.perf_counter() - started}


def unit_inputs(cfg, w, ids, units):
    """GPT-2 only: the input rows of each unit in `units` during a dense forward over `ids` [B, T], which
    ends after the block of the last unit (as Lopper's statistics pass and the Wanda reference's
    layer-by-layer capture do); the logits only when a unit is missing."""
    p, width, heads, eps = "transformer.", cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    length = ids.shape[1]
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][:length][None]
    mask = ref.causal_mask(length)
    seen = {}
    for i in range(cfg["n_layer"]):
        b = f"{p}h.{i}."
        x = F.layer_norm(h, (width,), w[b + "ln_1.weight"], w[b + "ln_1.bias"], eps)
        seen[b + "attn.c_attn"] = x
        qkv = x @ w[b + "attn.c_attn.weight"] + w[b + "attn.c_attn.bias"]
        q, k, v = (ref.split_heads(t, heads) for t in qkv.split(width, dim=-1))
        context = ref.attention(q, k, v, mask)
        seen[b + "attn.c_proj"] = context
        h = h + context @ w[b + "attn.c_proj.weight"] + w[b + "attn.c_proj.bias"]
        x = F.layer_norm(h, (width,), w[b + "ln_2.weight"], w[b + "ln_2.bias"], eps)
        seen[b + "mlp.c_fc"] = x
        x = ref.gelu_tanh(x @ w[b + "mlp.c_fc.weight"] + w[b + "mlp.c_fc.bias"])
        seen[b + "mlp.c_proj"] = x
        h = h + x @ w[b + "mlp.c_proj.weight"] + w[b + "mlp.c_proj.bias"]
        if all(u in seen for u in units):
            return {u: seen[u].reshape(-1, seen[u].shape[-1]) for u in units}
    h = F.layer_norm(h, (width,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    (h @ w[p + "wte.weight"].T).sum().item()
    return {u: seen[u].reshape(-1, seen[u].shape[-1]) for u in units}


def stats(ids, units):
    started = time.perf_counter()
    with torch.no_grad():
        inputs = unit_inputs(STATE["cfg"], STATE["w"], torch.tensor(ids, dtype=torch.long), units)
        STATE["stats"] = {u: (x.pow(2).sum(0).double(), (x.T @ x).double(), x.shape[0]) for u, x in inputs.items()}
    return {"seconds": time.perf_counter() - started}


def lowest(scores, count):
    """Mask (True = kept) that prunes the `count` lowest of a flat tensor, ties by lower index first."""
    order = torch.sort(scores, stable=True).indices
    keep = torch.ones(scores.numel(), dtype=torch.bool)
    keep[order[:count]] = False
    return keep


def wanda(weight, norms_sq, sparsity):
    """W [out, in]: |W|·‖X_j‖, the ⌊s·in⌋ lowest of each row pruned."""
    score = weight.abs().double() * norms_sq.sqrt()[None]
    count = math.floor(sparsity * weight.shape[1] + 1e-9)
    return torch.stack([lowest(row, count) for row in score])


def sparsegpt(weight, gram, samples, sparsity, block=128, damp=0.01):
    """DESIGN §3 SparseGPT in float64, blocks of 128 columns, ⌊s·n⌋ per block cumulative count."""
    w = weight.double().clone()
    rows, cols = w.shape
    h = gram * (2.0 / samples)
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += torch.eye(cols, dtype=torch.float64) * damp * torch.mean(torch.diag(h))
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    keep = torch.ones(rows, cols, dtype=torch.bool)
    for start in range(0, cols, block):
        end = min(start + block, cols)
        count = math.floor(sparsity * rows * end + 1e-9) - math.floor(sparsity * rows * start + 1e-9)
        d = torch.diag(u)[start:end]
        score = (w[:, start:end] ** 2) / (d[None] ** 2)
        mask = lowest(score.flatten(), count).reshape(rows, end - start)
        keep[:, start:end] = mask
        errors = torch.zeros(rows, end - start, dtype=torch.float64)
        for c in range(start, end):
            col = w[:, c]
            err = torch.where(mask[:, c - start], torch.zeros_like(col), col / u[c, c])
            w[:, c] = torch.where(mask[:, c - start], col, torch.zeros_like(col))
            w[:, c + 1:end] -= err[:, None] * u[c, c + 1:end][None]
            errors[:, c - start] = err
        w[:, end:] -= errors @ u[start:end, end:]
    return keep


def prune(unit, criterion, sparsity):
    started = time.perf_counter()
    norms_sq, gram, samples = STATE["stats"][unit]
    weight = STATE["w"][unit + ".weight"].T  # GPT-2 Conv1D [in, out] -> W [out, in]
    with torch.no_grad():
        keep = wanda(weight, norms_sq, sparsity) if criterion == "wanda" else sparsegpt(weight, gram, samples, sparsity)
    seconds = time.perf_counter() - started
    bits = np.packbits(keep.numpy().astype(np.uint8).flatten())
    return {"seconds": seconds, "mask": base64.b64encode(bits.tobytes()).decode("ascii")}


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request["cmd"]
        if cmd == "info":
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library()}
        elif cmd == "load":
            reply = load(request["folder"])
        elif cmd == "perplexity":
            reply = perplexity(request["ids"], request["context"])
        elif cmd == "stats":
            reply = stats(request["ids"], request["units"])
        elif cmd == "prune":
            reply = prune(request["unit"], request["criterion"], request["sparsity"])
        else:
            reply = {"error": f"unknown command {cmd}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
