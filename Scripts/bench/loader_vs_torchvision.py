#!/usr/bin/env python3
"""The streamed image-folder loader against torchvision's ImageFolder + DataLoader, in one run.

    swift build -c release --product augment-benchmark
    /usr/bin/python3 Scripts/bench/loader_vs_torchvision.py --make photos ../shared/data/images   # once
    /usr/bin/python3 Scripts/bench/loader_vs_torchvision.py photos                                # Debian python3-torchvision

`--make` writes a class folder of photo-sized JPEGs (640 x 480, quality 90) cut from a folder of
pictures: each picture is a class, its files random crops of it resized to 640 x 480 (Pillow),
`--count` files in all. The benchmark fits every file to 64 x 64 RGB floats (`--size`), no
augmentation, no cache: Synapse's ImageFolderSource with 2 loader threads (a JPEG at least twice
the size on both sides is decoded at a reduced scale, here 1/4: 160 x 120, then resized bilinearly), and
torchvision's ImageFolder with Resize((64, 64)) + ToTensor in a DataLoader of 2 workers
(Pillow decodes the whole image, then resizes with antialiasing). Three passes each, one after the
other; images/s per pass, the medians and their ratio, and peak resident memory. With
`--stored-size`, Synapse decodes every file whole as well (as it does in training, where the
augmentation must see the stored size).
"""
import argparse
import os
import random
import resource
import subprocess
import sys
import time


def make(folder, images, count):
    from PIL import Image
    rng = random.Random(1)
    names = sorted(n for n in os.listdir(images) if n.endswith(".png"))
    for k in range(count):
        name = names[k % len(names)]
        picture = Image.open(os.path.join(images, name)).convert("RGB")
        w, h = picture.size
        scale = rng.uniform(0.5, 1.0)
        cw, ch = max(8, int(w * scale)), max(8, int(h * scale))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        photo = picture.crop((x, y, x + cw, y + ch)).resize((640, 480), Image.BICUBIC)
        target = os.path.join(folder, os.path.splitext(name)[0])
        os.makedirs(target, exist_ok=True)
        photo.save(os.path.join(target, f"{k:05d}.jpg"), quality=90)
    print(f"wrote {count} files to {folder}")


def torchvision_passes(folder, size, workers, batch):
    import torch
    import torchvision
    from torchvision import transforms
    torch.set_num_threads(1)
    dataset = torchvision.datasets.ImageFolder(folder, transform=transforms.Compose([
        transforms.Resize(size), transforms.ToTensor()]))
    rates = []
    for _ in range(3):
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers)
        start = time.perf_counter()
        n = sum(inputs.shape[0] for inputs, _ in loader)
        rates.append(n / (time.perf_counter() - start))
    return rates, len(dataset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("images", nargs="?")
    parser.add_argument("--make", action="store_true")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--binary", default=".build/release/augment-benchmark")
    parser.add_argument("--stored-size", action="store_true", help="Synapse decodes every file at its stored size too")
    args = parser.parse_args()
    if args.make:
        return make(args.folder, args.images, args.count)
    # One thread per worker on both sides (OpenBLAS and OpenMP are not used by either loader).
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    w, h = (int(v) for v in args.size.lower().split("x"))
    flags = ["--stored-size"] if args.stored_size else []
    out = subprocess.run([args.binary, args.folder, "--loader", "--size", args.size, "--loader-threads", "2", "--tsv"] + flags,
                         check=True, capture_output=True, text=True).stdout
    synapse = dict(line.split("\t") for line in out.strip().splitlines())
    ours = [float(synapse[f"loader_images_per_s_pass_{k}"]) for k in (1, 2, 3)]
    theirs, count = torchvision_passes(args.folder, (h, w), 2, 64)
    median = lambda values: sorted(values)[1]
    print(f"files: {count}, fitted to {w}x{h}, 2 loader threads / 2 DataLoader workers, batch 64")
    print("synapse images/s:     " + ", ".join(f"{r:.0f}" for r in ours) + f"  median {median(ours):.0f}")
    print("torchvision images/s: " + ", ".join(f"{r:.0f}" for r in theirs) + f"  median {median(theirs):.0f}")
    print(f"ratio (synapse / torchvision, medians): {median(ours) / median(theirs):.2f}")
    print(f"peak resident MB: synapse {float(synapse['peak_resident_mb']):.0f}, torchvision main process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}, largest worker "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    sys.exit(main())
