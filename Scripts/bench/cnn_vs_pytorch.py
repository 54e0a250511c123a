#!/usr/bin/env python3
"""vgg-small and resnet-small against the same networks in PyTorch: training and inference
images/s, the ratios, and each 3x3 layer's share of the machine's multiply-add peak.

    swift build -c release --product conv-benchmark
    /usr/bin/python3 Scripts/bench/cnn_vs_pytorch.py [--network vgg,resnet] [--rounds 3] [--seconds 5]

Both sides train the same network on a fixed random batch of 32 colour images of 32 x 32, ten
classes, Adam, softmax cross-entropy (one step: forward, backward, the optimizer update), and
run inference on batches of 256. Synapse runs `conv-benchmark --network N` with 1 and 2
data-parallel workers of one OpenBLAS thread each (as its samples train); PyTorch runs 1 and 2
threads, each in a process of its own with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set before
torch is imported. Each round measures every configuration of both sides once, one after the
other; the figures are medians of the rounds.

The ratios printed are the issue's: Synapse with one worker against PyTorch with one thread, and
the best thread count of each side, for training and for inference. The per-layer lines are each
distinct 3x3 layer's forward GFLOP/s on its batch-32 input with one thread, in CPU time (the time
the process had a core, so a shared machine does not lower it), and the share of the multiply-add
peak that conv-benchmark measures in the same run (a loop of independent FMAs, CPU time).
"""
import argparse
import os
import statistics
import sys
from collections import OrderedDict, defaultdict

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, ".."))
from common import pinned_peer, run_synapse, serve_peer, timed, torch_training_images_per_s, use_vector_kernels  # noqa: E402

BATCH = 32
INFERENCE_BATCH = 256


def vgg_small():
    """VGGSmall.make (Sources/Conv/VGGSmall.swift) for 3 x 32 x 32 images and ten classes."""
    from torch import nn
    layers, inputs = OrderedDict(), 3
    for block, outputs in enumerate((16, 32, 64), start=1):
        for k in (1, 2):
            layers[f"block{block}_conv{k}"] = nn.Conv2d(inputs, outputs, 3, padding=1, bias=False)
            layers[f"block{block}_bn{k}"] = nn.BatchNorm2d(outputs)
            layers[f"block{block}_relu{k}"] = nn.ReLU()
            inputs = outputs
        layers[f"block{block}_pool"] = nn.MaxPool2d(2)
    layers["flatten"] = nn.Flatten()
    layers["fc1"] = nn.Linear(64 * 4 * 4, 128)
    layers["relu"] = nn.ReLU()
    layers["dropout"] = nn.Dropout(0.3)
    layers["fc2"] = nn.Linear(128, 10)
    return nn.Sequential(layers)


def measure(network):
    def run(threads, seconds):
        import torch
        torch.manual_seed(1)
        if network == "vgg":
            model = vgg_small()
        else:
            from resnet_small import ResNetSmall
            model = ResNetSmall(channels=3, classes=10, depth=20)
        figures = {"train": torch_training_images_per_s(model, BATCH, seconds)}
        model.eval()
        xi = torch.rand(INFERENCE_BATCH, 3, 32, 32) * 2 - 1
        with torch.no_grad():
            figures["inference"] = INFERENCE_BATCH / timed(lambda: model(xi), seconds)
        return figures
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "conv-benchmark"))
    parser.add_argument("--network", default="vgg,resnet", help="vgg, resnet or both, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_vector_kernels()
    networks = args.network.split(",")
    if args.peer_threads:
        serve_peer(args.peer_threads, measure(networks[0]), args.seconds)
        return

    ours = defaultdict(list)    # (network, what, threads) -> [images/s]
    theirs = defaultdict(list)
    layers = defaultdict(list)  # (network, layer) -> [CPU-time GFLOP/s]
    peaks = []
    for round in range(args.rounds):
        for network in networks:
            figures = run_synapse(args.binary, args.seconds, ["--network", network, "--threads", "1,2"])
            peaks.append(figures[("peak_fma_cpu_gflops", 1)])
            prefix, suffix = f"{network}_", "_forward_cpu_gflops"
            for (name, threads), value in figures.items():
                if name.startswith(prefix) and name.endswith(suffix):
                    layers[(network, name[len(prefix):-len(suffix)])].append(value)
            for t in (1, 2):
                for what in ("train", "inference"):
                    key = "train_images_per_s" if what == "train" else "inference_images_per_s"
                    ours[(network, what, t)].append(figures[(f"{network}_{key}", t)])
                peer = pinned_peer(__file__, t, args.seconds, ["--network", network])
                for what in ("train", "inference"):
                    theirs[(network, what, t)].append(peer[what])
            print(f"round {round + 1}, {network}: training Synapse "
                  f"{ours[(network, 'train', 1)][-1]:.0f} / {ours[(network, 'train', 2)][-1]:.0f}, PyTorch "
                  f"{theirs[(network, 'train', 1)][-1]:.0f} / {theirs[(network, 'train', 2)][-1]:.0f} images/s "
                  f"(1 / 2 threads)", flush=True)

    import torch
    median = statistics.median
    print(f"\nSynapse vs PyTorch {torch.__version__}, same machine, same sitting; medians of {args.rounds} rounds; "
          f"training batch {BATCH} (Adam), inference batch {INFERENCE_BATCH}; 3 x 32 x 32, ten classes")
    print(f"{'network':8} {'measure':10} {'threads':>7} {'Synapse':>9} {'PyTorch':>9} {'ratio':>6}")
    for network in networks:
        for what in ("train", "inference"):
            for t in (1, 2):
                a, b = median(ours[(network, what, t)]), median(theirs[(network, what, t)])
                print(f"{network:8} {what:10} {t:7d} {a:9.1f} {b:9.1f} {a / b:6.2f}")
            best_ours = max(median(ours[(network, what, t)]) for t in (1, 2))
            best_theirs = max(median(theirs[(network, what, t)]) for t in (1, 2))
            print(f"{network:8} {what:10} {'best':>7} {best_ours:9.1f} {best_theirs:9.1f} {best_ours / best_theirs:6.2f}")
    peak = median(peaks)
    print(f"\nmultiply-add peak of one core: {peak:.1f} GFLOP/s (CPU time, median of {len(peaks)})")
    print(f"{'network':8} {'3x3 layer':14} {'GFLOP/s':>8} {'of peak':>8}   (forward, batch {BATCH}, one thread, CPU time)")
    for (network, layer), values in layers.items():
        print(f"{network:8} {layer:14} {median(values):8.1f} {100 * median(values) / peak:7.0f}%")


if __name__ == "__main__":
    main()
