#!/usr/bin/env python3
"""Runs Synapse's dense benchmark and the same work in PyTorch in one run, and prints the ratios.

    swift build -c release --product dense-benchmark
    /usr/bin/python3 Scripts/bench/dense_vs_pytorch.py          # needs Debian's python3-torch

Measured for each thread count (1 and 2): Linear 784 -> 256 forward + backward at batch 256 in
GFLOP/s (three GEMMs' worth of flops), and a training step of the mlp-mnist network
(784-256-128-10 ReLU, cross-entropy, Adam) at batch 64 in samples/s. PyTorch runs each thread count in a process of its own with OMP_NUM_THREADS
and OPENBLAS_NUM_THREADS pinned before torch is imported.
"""
import argparse
import os

import torch

from common import pinned_peer, run_synapse, serve_peer, timed, use_vector_kernels




def pytorch_figures(threads, seconds, batch=256, n_in=784, n_out=256, mlp_batch=64):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    layer = torch.nn.Linear(n_in, n_out)
    x = torch.rand(batch, n_in) * 2 - 1
    x.requires_grad_(True)
    dy = torch.full((batch, n_out), 0.01)

    def linear_step():
        layer.zero_grad(set_to_none=False)
        x.grad = None
        layer(x).backward(dy)

    linear = 3 * 2 * batch * n_in * n_out / timed(linear_step, seconds) / 1e9

    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    mx = torch.rand(mlp_batch, 784)
    my = torch.arange(mlp_batch) % 10

    def mlp_step():
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(mx), my).backward()
        optimizer.step()

    mlp = mlp_batch / timed(mlp_step, seconds)
    return linear, mlp


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "dense-benchmark"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_vector_kernels()
    if args.peer_threads:
        return serve_peer(args.peer_threads, pytorch_figures, args.seconds)

    synapse = run_synapse(args.binary, args.seconds)

    print(f"PyTorch {torch.__version__} vs Synapse, same machine, same run")
    print("threads  Linear GFLOP/s: Synapse  PyTorch  ratio | MLP train samples/s: Synapse  PyTorch  ratio | Synapse Linear/sgemm")
    for threads in (1, 2):
        linear, mlp = pinned_peer(__file__, threads, args.seconds)
        s_linear, s_mlp = synapse[("linear_gflops", threads)], synapse[("mlp_samples_per_s", threads)]
        print(f"{threads:7d}  {s_linear:23.1f}  {linear:7.1f}  {s_linear / linear:5.2f} | "
              f"{s_mlp:28.0f}  {mlp:7.0f}  {s_mlp / mlp:5.2f} | {s_linear / synapse[('sgemm_gflops', threads)]:20.3f}")


if __name__ == "__main__":
    main()
