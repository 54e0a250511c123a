#!/usr/bin/env python3
"""Trains LeNet-5 on MNIST for one epoch with `lenet` and with PyTorch, and prints the ratios.

    swift build -c release --product lenet
    /usr/bin/python3 Scripts/bench/lenet_vs_pytorch.py --data DIR     # needs Debian's python3-torch

What is timed is the same on both sides: one epoch of the real MNIST training images less the
validation twelfth (55,000 images), shuffled, batch 32, Adam (learning rate 0.002), softmax
cross-entropy, followed by the validation pass over the 5,000 held-out images (batch 256).
Synapse's figure is the samples/s `lenet` prints for its epoch (`Epoch 1/1: ... samples/s`), which
covers the same training and validation. Each round runs, one after the other:

    lenet                          (defaults: 2 data-parallel workers of one OpenBLAS thread each)
    lenet --workers 1 --threads 1
    PyTorch with 1 thread, PyTorch with 2 threads

PyTorch runs each thread count in a process of its own with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set before torch is imported, and torch.set_num_threads as well. The figures
are the medians over the rounds (three by default); the ranges are printed beside them.
"""
import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import use_vector_kernels  # noqa: E402

import numpy as np

BATCH, RATE, VALIDATION_BATCH = 32, 0.002, 256


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def pytorch_epoch(data, threads):
    """In a process pinned to `threads`: images/s of one epoch and its validation, as lenet does."""
    import torch
    assert os.environ.get("OPENBLAS_NUM_THREADS") == str(threads), "start the peer through peer()"
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    images = read_idx(os.path.join(data, "mnist", "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data, "mnist", "train-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    order = torch.randperm(len(x))
    held = len(x) // 12
    train, valid = order[held:], order[:held]
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=RATE)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    shuffled = train[torch.randperm(len(train))]
    for first in range(0, len(shuffled), BATCH):
        rows = shuffled[first:first + BATCH]
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(x[rows]), y[rows]).backward()
        optimizer.step()
    correct = 0
    with torch.no_grad():
        for first in range(0, len(valid), VALIDATION_BATCH):
            rows = valid[first:first + VALIDATION_BATCH]
            correct += int((model(x[rows]).argmax(1) == y[rows]).sum())
    seconds = time.perf_counter() - start
    return len(train) / seconds, correct / len(valid)


def peer(threads, data):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--data", data, "--peer-threads", str(threads)],
                         env=env, check=True, capture_output=True, text=True).stdout
    rate, accuracy = out.split()
    return float(rate), float(accuracy)


def synapse(binary, data, extra):
    with tempfile.TemporaryDirectory() as output:
        run = subprocess.run([binary, "--data", data, "--epochs", "1", "--output", os.path.join(output, "m")] + extra,
                             check=True, capture_output=True, text=True)
    line = re.search(r"Epoch 1/1: .* - val_accuracy: ([0-9.]+) .* - (\d+) samples/s", run.stdout + run.stderr)
    if not line:
        sys.exit(f"no epoch line in lenet's output:\n{run.stdout}{run.stderr}")
    return float(line.group(2)), float(line.group(1))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "lenet"))
    parser.add_argument("--data", default=os.environ.get("SYNAPSE_DATA") or os.path.expanduser("~/.cache/synapse"),
                        help="data root holding mnist/ (default: $SYNAPSE_DATA, else ~/.cache/synapse)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_vector_kernels()
    if args.peer_threads:
        rate, accuracy = pytorch_epoch(args.data, args.peer_threads)
        print(rate, accuracy)
        return

    sides = [
        ("lenet (defaults: 2 workers)", lambda: synapse(args.binary, args.data, [])),
        ("lenet --workers 1 --threads 1", lambda: synapse(args.binary, args.data, ["--workers", "1", "--threads", "1"])),
        ("PyTorch, 1 thread", lambda: peer(1, args.data)),
        ("PyTorch, 2 threads", lambda: peer(2, args.data)),
    ]
    figures = {name: [] for name, _ in sides}
    for round in range(args.rounds):
        for name, measure in sides:
            rate, accuracy = measure()
            figures[name].append(rate)
            print(f"round {round + 1}: {name:32} {rate:9.0f} images/s  (validation accuracy {accuracy:.4f})", flush=True)

    import torch
    print(f"\nLeNet-5, one MNIST epoch, batch {BATCH}, Adam; Synapse vs PyTorch {torch.__version__}, "
          f"medians of {args.rounds} rounds")
    median = {name: statistics.median(values) for name, values in figures.items()}
    for name, values in figures.items():
        print(f"{name:32} {median[name]:9.0f} images/s  ({min(values):.0f}-{max(values):.0f})")
    best_peer = max(median["PyTorch, 1 thread"], median["PyTorch, 2 threads"])
    print(f"\nlenet defaults / PyTorch's best thread count:   {median['lenet (defaults: 2 workers)'] / best_peer:5.2f}")
    print(f"lenet 1 worker 1 thread / PyTorch 1 thread:     "
          f"{median['lenet --workers 1 --threads 1'] / median['PyTorch, 1 thread']:5.2f}")


if __name__ == "__main__":
    main()
