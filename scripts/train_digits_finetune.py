"""Fine-tune the demo digits CNN on inverted digits: the fine-tuned half of Lopper's delta-pruning pair.

Loads the committed base model from public/models/digits-cnn/ (Keras layouts turned back
into PyTorch ones), trains it for a few epochs on the same 8,000 training digits with every
pixel inverted (x -> 1 - x), and writes public/models/digits-cnn-inverted/: model.json + two
weight shards in the base's layout (same topology, same weight names), eval.json (the base's
2,000 held-out digits, inverted), reference.json (PyTorch outputs and accuracies).

Run: /usr/bin/python3 scripts/train_digits_finetune.py (after scripts/train_digits.py)
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_digits as base  # noqa: E402

BASE_DIR = base.ROOT / "public" / "models" / "digits-cnn"
OUT_DIR = base.ROOT / "public" / "models" / "digits-cnn-inverted"

FINETUNE_SEED = 1
EPOCHS = 4
LEARNING_RATE = 2e-3


def invert(images):
    return 1 - images


def read_base_weights():
    """The base model's weights by manifest name, as float32 arrays in Keras layouts."""
    model_json = json.loads((BASE_DIR / "model.json").read_text())
    [group] = model_json["weightsManifest"]
    data = b"".join((BASE_DIR / path).read_bytes() for path in group["paths"])
    weights, offset = {}, 0
    for spec in group["weights"]:
        count = int(np.prod(spec["shape"]))
        values = np.frombuffer(data, dtype="<f4", count=count, offset=offset)
        weights[spec["name"]] = values.reshape(spec["shape"])
        offset += count * 4
    if offset != len(data):
        raise ValueError(f"base shards hold {len(data)} bytes, the manifest needs {offset}")
    return weights


def torch_state(keras):
    """Keras layouts -> the state dict of train_digits.DigitsCnn (inverse of keras_weights)."""
    channels, height, width = base.POOL2_SHAPE

    def conv(kernel):  # [kh, kw, in, out] -> [out, in, kh, kw]
        return kernel.transpose(3, 2, 0, 1)

    def flattened_dense(kernel):  # [(h, w, c), units] -> [units, (c, h, w)]
        units = kernel.shape[1]
        hwc = kernel.reshape(height, width, channels, units)
        return hwc.transpose(3, 2, 0, 1).reshape(units, channels * height * width)

    arrays = {
        "conv1.weight": conv(keras["conv1/kernel"]),
        "conv1.bias": keras["conv1/bias"],
        "conv2.weight": conv(keras["conv2/kernel"]),
        "conv2.bias": keras["conv2/bias"],
        "dense1.weight": flattened_dense(keras["dense1/kernel"]),
        "dense1.bias": keras["dense1/bias"],
        "dense2.weight": keras["dense2/kernel"].T,
        "dense2.bias": keras["dense2/bias"],
    }
    return {name: torch.tensor(np.ascontiguousarray(value)) for name, value in arrays.items()}


def read_base_eval():
    """(pixel texts, pixels, labels) of the base's eval.json."""
    dataset = json.loads((BASE_DIR / "eval.json").read_text())
    pixels = np.asarray(dataset["inputs"], dtype=np.float64).reshape(-1, base.PIXELS)
    return pixels, np.asarray(dataset["labels"], dtype=np.int64)


def finetune(model, images, labels):
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, EPOCHS)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), base.BATCH_SIZE):
            batch = order[start:start + base.BATCH_SIZE]
            shifted = base.random_shift(images[batch])
            loss = F.cross_entropy(model(invert(shifted)), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        print(f"epoch {epoch + 1}/{EPOCHS}: last batch loss {loss.item():.4f}")


def write_layers_model(model):
    weights = base.keras_weights(model)
    data = b"".join(np.ascontiguousarray(value).astype("<f4").tobytes() for _, value in weights)
    cut = len(data) // base.SHARD_COUNT // 4 * 4
    paths = [f"group1-shard{i + 1}of{base.SHARD_COUNT}.bin" for i in range(base.SHARD_COUNT)]
    for path, shard in zip(paths, [data[:cut], data[cut:]]):
        (OUT_DIR / path).write_bytes(shard)
    manifest = [{
        "paths": paths,
        "weights": [{"name": name, "shape": list(value.shape), "dtype": "float32"} for name, value in weights],
    }]
    write_json("model.json", {
        "format": "layers-model",
        "generatedBy": f"scripts/train_digits_finetune.py (PyTorch {torch.__version__})",
        "convertedBy": None,
        "modelTopology": base.keras_topology(),
        "weightsManifest": manifest,
    }, indent=2)


def write_dataset(pixel_texts, labels):
    shape = [len(labels), base.IMAGE_SIZE, base.IMAGE_SIZE, 1]
    text = (
        '{"inputs":[' + ",".join(pixel_texts) + "],"
        f'"shape":{json.dumps(shape, separators=(",", ":"))},'
        f'"labels":{json.dumps(labels.tolist(), separators=(",", ":"))}}}'
    )
    (OUT_DIR / "eval.json").write_text(text + "\n")


def write_json(filename, value, indent=None):
    (OUT_DIR / filename).write_text(json.dumps(value, indent=indent) + "\n")


def main():
    started = time.time()
    base.seed_everything(base.SEED)
    rng = np.random.default_rng(base.SEED)
    images, labels = base.load_digits()
    (train_images, train_labels), (_, split_labels) = base.split_held_out(images, labels, rng)
    eval_pixels, eval_labels = read_base_eval()
    if not np.array_equal(split_labels, eval_labels):
        raise ValueError("the held-out split differs from the base model's eval.json; retrain the base first")

    inverted_texts = [base.format_pixel(1 - value) for value in eval_pixels.ravel()]
    inverted_pixels = np.array([float(text) for text in inverted_texts]).reshape(eval_pixels.shape)

    model = base.DigitsCnn()
    model.load_state_dict(torch_state(read_base_weights()))
    normal_x, eval_y = base.to_tensor(eval_pixels), torch.tensor(eval_labels)
    inverted_x = base.to_tensor(inverted_pixels)
    base_normal, _, _ = base.evaluate(model, normal_x, eval_y)
    base_inverted, _, _ = base.evaluate(model, inverted_x, eval_y)
    print(f"base model: accuracy {base_normal:.4f} on normal digits, {base_inverted:.4f} on inverted")

    torch.manual_seed(FINETUNE_SEED)
    finetune(model, base.to_tensor(train_images), torch.tensor(train_labels))

    accuracy, loss, outputs = base.evaluate(model, inverted_x, eval_y)
    normal_accuracy, normal_loss, _ = base.evaluate(model, normal_x, eval_y)
    print(f"fine-tuned: accuracy {accuracy:.4f} (loss {loss:.4f}) on inverted digits, "
          f"{normal_accuracy:.4f} (loss {normal_loss:.4f}) on normal digits")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_layers_model(model)
    write_dataset(inverted_texts, eval_labels)
    write_json("reference.json", {
        "samples": base.REFERENCE_SAMPLES,
        "outputs": outputs[:base.REFERENCE_SAMPLES].numpy().tolist(),
        "accuracy": accuracy,
        "loss": loss,
        "normalAccuracy": normal_accuracy,
        "normalLoss": normal_loss,
        "baseAccuracy": base_inverted,
        "seed": FINETUNE_SEED,
    })
    print(f"wrote {OUT_DIR.relative_to(base.ROOT)} in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
