#!/usr/bin/env python3
"""resnet-small training images/s, Synapse against the same network in PyTorch, and the ratio.

    swift build -c release --product conv-benchmark
    /usr/bin/python3 Scripts/bench/resnet_vs_pytorch.py [--depth 20] [--rounds 3] [--seconds 10]

Both sides train the same network (Scripts/resnet_small.py is ResNetSmall in PyTorch) on a fixed
random batch of 32 colour images of 32 x 32, ten classes, Adam, softmax cross-entropy: one step is
forward, backward and the optimizer update. Synapse runs `conv-benchmark --resnet-depth D` with 1
and 2 data-parallel workers of one OpenBLAS thread each; PyTorch runs 1 and 2 threads, each in a
process of its own with its threads pinned before torch is imported. Medians of the rounds; the
ratio is the best thread count of each side.
"""
import argparse
import os
import statistics
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, ".."))
from common import pinned_peer, run_synapse, serve_peer, torch_training_images_per_s, use_vector_kernels  # noqa: E402

BATCH = 32


def measure(depth):
    def run(threads, seconds):
        import torch
        from resnet_small import ResNetSmall
        torch.manual_seed(1)
        model = ResNetSmall(channels=3, classes=10, depth=depth)
        return {"images_per_s": torch_training_images_per_s(model, BATCH, seconds)}
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "conv-benchmark"))
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_vector_kernels()
    if args.peer_threads:
        serve_peer(args.peer_threads, measure(args.depth), args.seconds)
        return
    ours = {1: [], 2: []}
    theirs = {1: [], 2: []}
    for round in range(args.rounds):
        figures = run_synapse(args.binary, args.seconds, ["--resnet-depth", str(args.depth), "--threads", "1,2"])
        for t in (1, 2):
            ours[t].append(figures[(f"resnet{args.depth}_train_images_per_s", t)])
            theirs[t].append(pinned_peer(__file__, t, args.seconds, ["--depth", str(args.depth)])["images_per_s"])
        print(f"round {round + 1}: Synapse {ours[1][-1]:.0f} / {ours[2][-1]:.0f}, "
              f"PyTorch {theirs[1][-1]:.0f} / {theirs[2][-1]:.0f} images/s (1 / 2 threads)", flush=True)
    import torch
    print(f"\nresnet-small depth {args.depth}, batch {BATCH}, 3x32x32, Adam; PyTorch {torch.__version__}; "
          f"medians of {args.rounds} rounds")
    for t in (1, 2):
        print(f"{t} thread(s): Synapse {statistics.median(ours[t]):7.1f}  PyTorch {statistics.median(theirs[t]):7.1f} images/s")
    best_ours = max(statistics.median(v) for v in ours.values())
    best_theirs = max(statistics.median(v) for v in theirs.values())
    print(f"best / best: {best_ours / best_theirs:.2f}")


if __name__ == "__main__":
    main()
