#!/usr/bin/env python3
"""Cuts an image-classification folder out of a folder of PNG images: each source image is a
class, its patches are the samples.

    python3 Scripts/data/make_patch_folder.py IMAGES OUT [--size 32] [--train 160] [--test 40] [--seed 1]

writes OUT/train/<image stem>/<k>.png and OUT/test/<image stem>/<k>.png. Training patches come
from the left 60 % of each image, test patches from the right 40 %, so no test patch overlaps a
training one. Each patch keeps its source's PNG kind (gray, gray + alpha, RGB, RGBA; 8 or 16
bits), so the folder exercises every kind the loader converts. Needs pypng (pip install pypng).
"""
import argparse
import os
import random

import png


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("images")
    parser.add_argument("out")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--train", type=int, default=160)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    draw = random.Random(args.seed)
    s = args.size
    for name in sorted(os.listdir(args.images)):
        if not name.lower().endswith(".png"):
            continue
        width, height, rows, info = png.Reader(filename=os.path.join(args.images, name)).asDirect()
        planes, depth = info["planes"], info["bitdepth"]
        pixels = [list(row) for row in rows]
        split = int(0.6 * width)
        for part, count, low, high in (("train", args.train, 0, split - s), ("test", args.test, split, width - s)):
            if high < low or height < s:
                raise SystemExit(f"{name}: {width}x{height} is too small for {s}x{s} patches")
            folder = os.path.join(args.out, part, os.path.splitext(name)[0])
            os.makedirs(folder, exist_ok=True)
            for k in range(count):
                x, y = draw.randint(low, high), draw.randint(0, height - s)
                patch = [row[x * planes:(x + s) * planes] for row in pixels[y:y + s]]
                writer = png.Writer(s, s, greyscale=planes < 3, alpha=planes in (2, 4), bitdepth=depth)
                with open(os.path.join(folder, f"{k:04d}.png"), "wb") as f:
                    writer.write(f, patch)


if __name__ == "__main__":
    main()
