#!/usr/bin/env python3
"""Runs an ONNX model of MNIST (written by a sample's --export-onnx) in onnxruntime on the
10,000 test images and checks its accuracy.

    Scripts/check_onnx_mnist.py MODEL.onnx MIN_ACCURACY_PERCENT [SYNAPSE_ACCURACY_PERCENT]

The images come from $SYNAPSE_DATA/mnist (else ~/.cache/synapse/mnist) as the samples read them:
pixels / 255, shape (N, 784) or (N, 1, 28, 28) as the model's input says. The model must pass
onnx.checker.check_model; the script prints the accuracy and exits non-zero below the minimum,
or when it differs from the accuracy Synapse reported for the same model (to the 0.01 % printed).
"""
import gzip
import os
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort


def idx(path: pathlib.Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    path, minimum = sys.argv[1], float(sys.argv[2])
    root = pathlib.Path(os.environ.get("SYNAPSE_DATA") or pathlib.Path.home() / ".cache" / "synapse") / "mnist"
    images = idx(root / "t10k-images-idx3-ubyte.gz", 16).astype(np.float32) / 255
    labels = idx(root / "t10k-labels-idx1-ubyte.gz", 8)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rank = len(session.get_inputs()[0].shape)
    x = images.reshape(-1, 784) if rank == 2 else images.reshape(-1, 1, 28, 28)
    (logits,) = session.run(None, {session.get_inputs()[0].name: x})
    accuracy = 100 * float(np.mean(logits.argmax(axis=1) == labels))
    print(f"{path}: onnxruntime {ort.__version__}, accuracy on the {len(labels)} MNIST test images {accuracy:.2f} % "
          f"(at least {minimum} required)")
    if len(sys.argv) == 4 and f"{accuracy:.2f}" != f"{float(sys.argv[3]):.2f}":
        print(f"{path}: Synapse reported {float(sys.argv[3]):.2f} %, onnxruntime gives {accuracy:.2f} %")
        return 1
    return 0 if accuracy >= minimum else 1


if __name__ == "__main__":
    sys.exit(main())
