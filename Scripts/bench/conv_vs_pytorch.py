#!/usr/bin/env python3
"""Runs Synapse's conv benchmark and the same work in PyTorch in one run, and prints the ratios.

    swift build -c release --product conv-benchmark
    /usr/bin/python3 Scripts/bench/conv_vs_pytorch.py           # needs Debian's python3-torch

For 1 and 2 threads: LeNet-5 training images/s (batch 32 as `lenet` trains, or --batch-size; Adam,
cross-entropy), inference
images/s (batch 1000), and each benchmark convolution's forward and forward + backward GFLOP/s.
Synapse's LeNet-5 uses its threads as `lenet` does: that many data-parallel workers of one
OpenBLAS thread each; PyTorch uses them within each operator, in a process of its own per thread
count with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set before torch is imported (its own
OpenBLAS would otherwise use every core whatever torch.set_num_threads says).
The best thread count of each side is compared at the end.
Peak memory is each process's maximum resident set (ru_maxrss) after all of its measurements
(PyTorch's: the larger of its two processes).
"""
import argparse
import functools
import os
import resource
from collections import OrderedDict

import torch

from common import pinned_peer, run_synapse, serve_peer, timed, use_vector_kernels

LAYERS = [
    ("conv_64x1x28x28_k5p2_o6", 64, 1, 28, 28, 6, 5, 1, 2),
    ("conv_64x6x14x14_k5_o16", 64, 6, 14, 14, 16, 5, 1, 0),
    ("conv_32x64x56x56_k3p1_o64", 32, 64, 56, 56, 64, 3, 1, 1),
    ("conv_32x64x56x56_k3p1s2_o128", 32, 64, 56, 56, 128, 3, 2, 1),
]




def lenet():
    nn = torch.nn
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 6, 5, padding=2), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(6, 16, 5), relu2=nn.ReLU(), pool2=nn.MaxPool2d(2), flatten=nn.Flatten(),
        fc1=nn.Linear(400, 120), relu3=nn.ReLU(), fc2=nn.Linear(120, 84), relu4=nn.ReLU(), fc3=nn.Linear(84, 10)))


def pytorch_figures(threads, seconds, batch=32):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    figures = {}
    model = lenet()
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.rand(batch, 1, 28, 28), torch.arange(batch) % 10

    def train_step():
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()
        optimizer.step()

    figures["lenet_train_images_per_s"] = batch / timed(train_step, seconds)
    xi = torch.rand(1000, 1, 28, 28)
    with torch.no_grad():
        figures["lenet_inference_images_per_s"] = 1000 / timed(lambda: model(xi), seconds)
    for name, n, c, h, w, o, k, s, p in LAYERS:
        conv = torch.nn.Conv2d(c, o, k, stride=s, padding=p)
        xc = torch.rand(n, c, h, w) * 2 - 1
        out = conv(xc)
        flops = 2 * n * o * out.shape[2] * out.shape[3] * c * k * k
        dy = torch.full_like(out, 0.01)
        xg = xc.clone().requires_grad_(True)

        def both():
            conv.zero_grad(set_to_none=False)
            xg.grad = None
            conv(xg).backward(dy)

        with torch.no_grad():
            figures[f"{name}_forward_gflops"] = flops / timed(lambda: conv(xc), seconds) / 1e9
        figures[f"{name}_forward_backward_gflops"] = 3 * flops / timed(both, seconds) / 1e9
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "conv-benchmark"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=32, help="LeNet-5 training batch size (both sides)")
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_vector_kernels()
    if args.peer_threads:
        return serve_peer(args.peer_threads, functools.partial(pytorch_figures, batch=args.batch_size), args.seconds)

    batch = ("--batch-size", str(args.batch_size))
    synapse = run_synapse(args.binary, args.seconds, batch)

    print(f"Synapse vs PyTorch {torch.__version__}, same machine, same run; LeNet-5 training at batch {args.batch_size}")
    print(f"{'measure':48} {'thr':>3} {'Synapse':>10} {'PyTorch':>10} {'ratio':>6}  Synapse/sgemm")
    best, peak = {}, 0
    for threads in (1, 2):
        theirs = pinned_peer(__file__, threads, args.seconds, batch)
        peak = max(peak, theirs.pop("peak_rss_mb"))
        for name in ("lenet_train_images_per_s", "lenet_inference_images_per_s"):
            ours, peer = best.get(name, (0, 0))
            best[name] = (max(ours, synapse[(name, threads)]), max(peer, theirs[name]))
        for name, value in theirs.items():
            ours = synapse[(name, threads)]
            gemm = ""
            if name.endswith("_forward_gflops"):
                gemm = f"{ours / synapse[(name.replace('_forward_gflops', '_sgemm_gflops'), threads)]:.2f}"
            print(f"{name:48} {threads:3d} {ours:10.1f} {value:10.1f} {ours / value:6.2f}  {gemm}")
    for name, (ours, peer) in best.items():
        print(f"{name + ', best thread count of each':52} {ours:10.1f} {peer:10.1f} {ours / peer:6.2f}")
    print(f"{'peak resident memory, MB':48} {'':3} {synapse[('peak_rss_mb', 0)]:10.0f} {peak:10.0f} "
          f"{synapse[('peak_rss_mb', 0)] / peak:6.2f}")


if __name__ == "__main__":
    main()
