#!/usr/bin/env python3
"""Checks Synapse's ONNX exports in onnxruntime.

    Scripts/check_onnx.py FOLDER

FOLDER holds what Tests/ONNXCheck wrote: for each model NAME, NAME.onnx, NAME.input.bin,
NAME.output.bin (float32, little-endian, row-major) and NAME.json (the two shapes). Each model
must pass onnx.checker.check_model (full check, shapes inferred), load in onnxruntime, and give
Synapse's outputs within 1e-5 (absolute, or relative to the value where it is larger than 1)
with the same decisions (argmax of the last axis, or the sign of a single output);
the batch dimension is dynamic, so the first half of the batch is run alone as well.
Exits non-zero on any failure.
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-5


def check(folder: pathlib.Path, name: str) -> bool:
    shapes = json.loads((folder / f"{name}.json").read_text())
    x = np.fromfile(folder / f"{name}.input.bin", dtype="<f4").reshape(shapes["input"])
    expected = np.fromfile(folder / f"{name}.output.bin", dtype="<f4").reshape(shapes["output"])
    model = onnx.load(str(folder / f"{name}.onnx"))
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(str(folder / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    ok = True
    for rows in (x.shape[0], x.shape[0] // 2):
        (got,) = session.run(["output"], {"input": x[:rows]})
        want = expected[:rows]
        if got.shape != want.shape:
            print(f"{name}: onnxruntime gives shape {got.shape}, Synapse {want.shape}")
            return False
        error = np.abs(got - want) / np.maximum(1.0, np.abs(want))
        worst = float(error.max()) if error.size else 0.0
        # The decisions: the class (argmax of the last axis), or the sign of a single logit.
        if got.shape[-1] > 1:
            same = np.array_equal(got.argmax(axis=-1), want.argmax(axis=-1))
        else:
            same = np.array_equal(got > 0, want > 0)
        good = worst <= TOLERANCE and same
        ok = ok and good
        print(f"{name}: batch {rows}, output {tuple(got.shape)}, largest difference {worst:.2e} "
              f"(tolerance {TOLERANCE:g}), same decisions: {same}: {'ok' if good else 'FAILED'}")
    return ok


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = pathlib.Path(sys.argv[1])
    names = sorted(p.name[: -len(".onnx")] for p in folder.glob("*.onnx"))
    if not names:
        print(f"{folder}: no .onnx files", file=sys.stderr)
        return 1
    failed = [n for n in names if not check(folder, n)]
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}: {len(names) - len(failed)} of {len(names)} models match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
