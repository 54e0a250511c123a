#!/usr/bin/env python3
"""Runs the sentiment sample's ONNX model (its --export-onnx file) in onnxruntime on the IMDB test
set the sample wrote (--write-test-set FOLDER) and compares with Synapse's outputs.

    Scripts/check_onnx_sentiment.py MODEL.onnx FOLDER [SYNAPSE_ACCURACY_PERCENT]

FOLDER holds input.bin (the token ids the model read, N x length, as floats), output.bin (the
logits Synapse computed, N x 1), targets.bin (the labels, N x 1), all float32 little-endian
row-major, and shapes.json (their shapes and "correct", the reviews Synapse classified right).
The model must pass onnx.checker.check_model; every onnxruntime output a must equal Synapse's b
with |a - b| <= 1e-5 * max(1, |b|); onnxruntime must classify exactly the reviews Synapse
classified right (logit > 0: positive), and its accuracy must be the one the sample printed (to
the 0.01 % printed). The reviews run in batches of 1,000 (the batch dimension is dynamic).
Exits non-zero on any failure.
"""
import json
import pathlib
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-5
BATCH = 1000


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    path, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    shapes = json.loads((folder / "shapes.json").read_text())
    ids = np.fromfile(folder / "input.bin", dtype="<f4").reshape(shapes["input"])
    expected = np.fromfile(folder / "output.bin", dtype="<f4").reshape(shapes["output"])
    labels = np.fromfile(folder / "targets.bin", dtype="<f4").reshape(shapes["targets"])
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    got = np.concatenate([session.run(["output"], {"input": ids[i:i + BATCH]})[0]
                          for i in range(0, len(ids), BATCH)])
    seconds = time.perf_counter() - start
    if got.shape != expected.shape:
        print(f"{path}: onnxruntime gives shape {got.shape}, Synapse {expected.shape}")
        return 1
    error = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    worst = float(error.max())
    correct = (got > 0) == (labels > 0.5)
    synapse_correct = (expected > 0) == (labels > 0.5)
    accuracy = 100 * float(correct.mean())
    print(f"{path}: onnxruntime {ort.__version__}, {len(ids)} IMDB test reviews of {ids.shape[1]} tokens in {seconds:.1f} s; "
          f"largest difference {worst:.2e} (|a-b| <= {TOLERANCE:g} * max(1, |b|) required); "
          f"accuracy {accuracy:.2f} % ({int(correct.sum())} right; Synapse {shapes['correct']})")
    ok = True
    if worst > TOLERANCE:
        print(f"{path}: {int((error > TOLERANCE).sum())} outputs differ from Synapse's by more than the tolerance")
        ok = False
    if int(synapse_correct.sum()) != shapes["correct"]:
        print(f"{path}: the outputs in {folder} classify {int(synapse_correct.sum())} right, shapes.json says {shapes['correct']}")
        ok = False
    if not np.array_equal(correct, synapse_correct):
        print(f"{path}: onnxruntime and Synapse disagree on {int((correct != synapse_correct).sum())} reviews")
        ok = False
    if len(sys.argv) == 4 and f"{accuracy:.2f}" != f"{float(sys.argv[3]):.2f}":
        print(f"{path}: Synapse reported {float(sys.argv[3]):.2f} %, onnxruntime gives {accuracy:.2f} %")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
