#!/usr/bin/env python3
"""Loads a model saved by `mlp-mnist`, `lenet` or `classify train --model resnet-small` (28x28, 1 channel)
into PyTorch and prints its MNIST (or Fashion-MNIST) test accuracy.

Proves that Synapse's safetensors files and key names load into PyTorch unchanged.
Needs Debian's python3-torch and python3-numpy, and `pip install safetensors`:

    /usr/bin/python3 Scripts/check_pytorch_load.py runs/mlp-mnist/model.safetensors --data "$SYNAPSE_DATA"
    /usr/bin/python3 Scripts/check_pytorch_load.py runs/lenet/model.safetensors --model lenet
    /usr/bin/python3 Scripts/check_pytorch_load.py runs/resnet/model.safetensors --model resnet-small --depth 20 \
        --dataset fashion-mnist --classes 10

resnet-small is Scripts/resnet_small.py, the same module written in PyTorch.
"""
import argparse
import gzip
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
from safetensors.torch import load_file


def read_idx(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            rank = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)
    raise SystemExit(f"{name} not found in {folder}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("--data", default=os.environ.get("SYNAPSE_DATA", os.path.expanduser("~/.cache/synapse")))
    parser.add_argument("--model", choices=["mlp", "lenet", "resnet-small"], default="mlp")
    parser.add_argument("--depth", type=int, default=20, help="resnet-small's depth")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    args = parser.parse_args()

    nn = torch.nn
    if args.model == "mlp":
        model = nn.Sequential(OrderedDict(
            fc1=nn.Linear(784, 256), relu1=nn.ReLU(), fc2=nn.Linear(256, 128), relu2=nn.ReLU(), fc3=nn.Linear(128, 10)))
    elif args.model == "resnet-small":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from resnet_small import ResNetSmall
        model = ResNetSmall(channels=1, classes=args.classes, depth=args.depth)
    else:
        model = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(1, 6, 5, padding=2), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(6, 16, 5), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2), flatten=nn.Flatten(),
            fc1=nn.Linear(400, 120), relu3=nn.ReLU(), fc2=nn.Linear(120, 84), relu4=nn.ReLU(), fc3=nn.Linear(84, 10)))
    model.load_state_dict(load_file(args.weights), strict=True)
    model.eval()

    folder = os.path.join(args.data, args.dataset)
    images = torch.from_numpy(read_idx(folder, "t10k-images-idx3-ubyte").astype(np.float32) / 255)
    images = images.reshape(-1, 784) if args.model == "mlp" else images.reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(read_idx(folder, "t10k-labels-idx1-ubyte").astype(np.int64))
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    accuracy = (predicted == labels).float().mean().item()
    print(f"PyTorch {torch.__version__}, strict load of {args.weights}")
    print(f"test accuracy: {100 * accuracy:.2f}%")


if __name__ == "__main__":
    main()
