#!/usr/bin/env python3
"""Runs Synapse's RNN benchmark and the same model in PyTorch in one run, and prints the ratios.

    swift build -c release --product rnn-benchmark
    /usr/bin/python3 Scripts/bench/rnn_vs_pytorch.py [--cell simple|lstm|gru] [--repeats 3]
                                                     # needs Debian's python3-torch

The model is the sentiment sample's: Embedding(20,000, 64) -> nn.RNN(64, 64, tanh), nn.LSTM(64, 64)
or nn.GRU(64, 64) (batch_first) -> last h -> Linear(64, 1) -> BCEWithLogitsLoss, Adam, batch 64 x
200 random token ids for the simple cell, 400 for the gated ones (the sample's review lengths).
Figures are training tokens (batch x steps) per second, for 1 and 2 threads; PyTorch runs each
thread count in a process of its own with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS pinned before
torch is imported. With --repeats R, Synapse and PyTorch take turns R times (A, B, A, B, ...) and
the figures are the medians; the last line compares each side at its best thread count.
"""
import argparse
import os
import statistics

import torch

from common import pinned_peer, run_synapse, serve_peer, timed, use_vector_kernels


class Model(torch.nn.Module):
    def __init__(self, cell, vocabulary, embedding, hidden):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocabulary, embedding, padding_idx=0)
        layer = {"simple": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.rnn = layer(embedding, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, 1)

    def forward(self, ids):
        _, state = self.rnn(self.embedding(ids))
        h_n = state[0] if isinstance(state, tuple) else state  # the LSTM's state is (h_n, c_n)
        return self.fc(h_n[0])


def default_steps(cell):
    return 200 if cell == "simple" else 400


def pytorch_tokens_per_second(threads, seconds, cell="simple", batch=64, steps=None, vocabulary=20_000,
                              embedding=64, hidden=64):
    steps = steps or default_steps(cell)
    torch.set_num_threads(threads)
    torch.manual_seed(3)
    model = Model(cell, vocabulary, embedding, hidden)
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.BCEWithLogitsLoss()
    ids = torch.randint(1, vocabulary, (batch, steps))
    targets = (torch.arange(batch) % 2).float().unsqueeze(1)

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(ids), targets).backward()
        optimizer.step()

    return batch * steps / timed(step, seconds)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(here, "..", "..", ".build", "release", "rnn-benchmark"))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--cell", choices=("simple", "lstm", "gru"), default="simple")
    parser.add_argument("--repeats", type=int, default=1, help="turns each side takes; the figures are medians")
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_vector_kernels()
    if args.peer_threads:
        return serve_peer(args.peer_threads, lambda t, s: pytorch_tokens_per_second(t, s, cell=args.cell),
                          args.seconds)

    ours, theirs = {1: [], 2: []}, {1: [], 2: []}
    for _ in range(args.repeats):
        synapse = run_synapse(args.binary, args.seconds, extra=("--cell", args.cell))
        for threads in (1, 2):
            ours[threads].append(synapse[("train_tokens_per_s", threads)])
            theirs[threads].append(pinned_peer(__file__, threads, args.seconds, extra=("--cell", args.cell)))
    layer = {"simple": ("nn.RNN", "SimpleRNN"), "lstm": ("nn.LSTM", "LSTM"), "gru": ("nn.GRU", "GRU")}[args.cell]
    print(f"PyTorch {torch.__version__} {layer[0]} vs Synapse {layer[1]}, batch 64 x {default_steps(args.cell)} steps,"
          f" same machine, same run, medians of {args.repeats}")
    print("threads  training tokens/s: Synapse  PyTorch  ratio")
    median = {}
    for threads in (1, 2):
        median[threads] = (statistics.median(ours[threads]), statistics.median(theirs[threads]))
        a, b = median[threads]
        print(f"{threads:7d}  {a:26.0f}  {b:7.0f}  {a / b:5.2f}")
    best_ours = max((1, 2), key=lambda t: median[t][0])
    best_theirs = max((1, 2), key=lambda t: median[t][1])
    a, b = median[best_ours][0], median[best_theirs][1]
    print(f"best     {a:20.0f} ({best_ours}t)  {b:7.0f} ({best_theirs}t)  {a / b:5.2f}")


if __name__ == "__main__":
    main()
