#!/usr/bin/env python3
"""Runs Synapse's augmentation benchmark and the same work in Pillow in one run; prints the ratios.

    swift build -c release --product augment-benchmark
    /usr/bin/python3 Scripts/bench/augment_vs_pillow.py ../shared/data/images     # Debian python3-pil

The work, over the folder's PNG files repeated to --count images: load -> horizontal flip ->
rotate 15 degrees bilinear (same size) -> random crop of 80 % of each side -> save PNG at the
default compression. Reported: end-to-end images/s with 1 and 2 processes, output bytes, seconds
per stage, and transform-only images/s on decoded images: as three calls, and folded into one
pass (Synapse's Pipeline; in Pillow, one Image.transform with the composed affine matrix).
"""
import argparse
import math
import multiprocessing
import os
import random
import subprocess
import tempfile
import time

import PIL
from PIL import Image


def transform(image, rng):
    image = image.transpose(Image.FLIP_LEFT_RIGHT).rotate(15, resample=Image.BILINEAR)
    w, h = int(image.width * 0.8), int(image.height * 0.8)
    x, y = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
    return image.crop((x, y, x + w, y + h))


def fused_transform(image, rng):
    """The same three steps as one Image.transform: the crop box of the rotation of the mirror."""
    w, h = image.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    # Image.rotate(15)'s matrix (output point -> input point, about the centre), as Pillow builds it.
    angle = -math.radians(15)
    a, b, d, e = round(math.cos(angle), 15), round(math.sin(angle), 15), round(-math.sin(angle), 15), round(math.cos(angle), 15)
    c = a * (-w / 2) + b * (-h / 2) + w / 2
    f = d * (-w / 2) + e * (-h / 2) + h / 2
    # Shift by the box's corner, then mirror: input x -> w - x.
    matrix = (-a, -b, w - (a * x + b * y + c), d, e, d * x + e * y + f)
    return image.transform((cw, ch), Image.AFFINE, matrix, resample=Image.BILINEAR)


def work(args):
    files, out, seed = args
    rng = random.Random(seed)
    for i, f in files:
        image = Image.open(f)
        image.load()
        transform(image, rng).save(os.path.join(out, f"{i}.png"))


def pillow_figures(files, count):
    rng = random.Random(1)
    stages = dict.fromkeys(["decode", "flip", "rotate", "crop", "encode"], 0.0)
    total_bytes = 0
    decoded = []
    with tempfile.TemporaryDirectory() as out:
        for i, f in enumerate(files):
            t = time.perf_counter(); image = Image.open(f); image.load(); stages["decode"] += time.perf_counter() - t
            if len(decoded) < count:
                decoded.append(image)
            t = time.perf_counter(); image = image.transpose(Image.FLIP_LEFT_RIGHT); stages["flip"] += time.perf_counter() - t
            t = time.perf_counter(); image = image.rotate(15, resample=Image.BILINEAR); stages["rotate"] += time.perf_counter() - t
            t = time.perf_counter()
            w, h = int(image.width * 0.8), int(image.height * 0.8)
            x, y = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
            image = image.crop((x, y, x + w, y + h))
            stages["crop"] += time.perf_counter() - t
            path = os.path.join(out, f"{i}.png")
            t = time.perf_counter(); image.save(path); stages["encode"] += time.perf_counter() - t
            total_bytes += os.path.getsize(path)
        figures = {"end_to_end_images_per_s_1_job": len(files) / sum(stages.values()), "output_bytes": total_bytes}
        figures.update({f"seconds_{k}": v for k, v in stages.items()})
        t = time.perf_counter()
        for i in range(len(files)):
            transform(decoded[i % len(decoded)], rng)
        figures["transform_only_images_per_s"] = len(files) / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(len(files)):
            fused_transform(decoded[i % len(decoded)], rng)
        figures["transform_only_fused_images_per_s"] = len(files) / (time.perf_counter() - t)
        indexed = list(enumerate(files))
        t = time.perf_counter()
        with multiprocessing.Pool(2) as pool:
            pool.map(work, [(indexed[j::2], out, j + 2) for j in range(2)])
        figures["end_to_end_images_per_s_2_jobs"] = len(files) / (time.perf_counter() - t)
    return figures


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("images")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--compression", default="default")
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "augment-benchmark"))
    args = parser.parse_args()
    names = sorted(n for n in os.listdir(args.images) if n.endswith(".png"))
    files = [os.path.join(args.images, names[i % len(names)]) for i in range(args.count)]

    out = subprocess.run([args.binary, args.images, "--count", str(args.count), "--compression", args.compression, "--tsv"],
                         check=True, capture_output=True, text=True).stdout
    synapse = {line.split("\t")[0]: float(line.split("\t")[1]) for line in out.splitlines()}
    pillow = pillow_figures(files, len(names))
    print(f"Synapse (--compression {args.compression}) vs Pillow {PIL.__version__} (default), {args.count} images, same run")
    print(f"{'measure':34} {'Synapse':>12} {'Pillow':>12} {'ratio':>7}")
    for name, theirs in pillow.items():
        ours = synapse[name]
        better = theirs / ours if name.startswith("seconds_") or name == "output_bytes" else ours / theirs
        print(f"{name:34} {ours:12.3f} {theirs:12.3f} {better:7.2f}")
    print("(ratio: Synapse's advantage; for seconds and bytes, Pillow's figure over Synapse's)")


if __name__ == "__main__":
    main()
