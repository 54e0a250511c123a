#!/usr/bin/env python3
"""Runs Synapse's RNN benchmark and the same model in PyTorch in one run, and prints the ratios.

    swift build -c release --product rnn-benchmark
    /usr/bin/python3 Scripts/bench/rnn_vs_pytorch.py          # needs Debian's python3-torch

The model is the sentiment sample's: Embedding(20,000, 64) -> nn.RNN(64, 64, tanh, batch_first)
-> last state -> Linear(64, 1) -> BCEWithLogitsLoss, Adam, batch 64 x 200 random token ids.
Figures are training tokens (batch x steps) per second, for 1 and 2 threads; PyTorch runs each thread count in a process of its own with
OMP_NUM_THREADS and OPENBLAS_NUM_THREADS pinned before torch is imported.
"""
import argparse
import os

import torch

from common import pinned_peer, run_synapse, serve_peer, timed


class Model(torch.nn.Module):
    def __init__(self, vocabulary, embedding, hidden):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocabulary, embedding, padding_idx=0)
        self.rnn = torch.nn.RNN(embedding, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, 1)

    def forward(self, ids):
        _, h_n = self.rnn(self.embedding(ids))
        return self.fc(h_n[0])


def pytorch_tokens_per_second(threads, seconds, batch=64, steps=200, vocabulary=20_000, embedding=64, hidden=64):
    torch.set_num_threads(threads)
    torch.manual_seed(3)
    model = Model(vocabulary, embedding, hidden)
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
    parser.add_argument("--peer-threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_threads:
        return serve_peer(args.peer_threads, pytorch_tokens_per_second, args.seconds)

    synapse = run_synapse(args.binary, args.seconds)
    print(f"PyTorch {torch.__version__} nn.RNN vs Synapse SimpleRNN, same machine, same run")
    print("threads  training tokens/s: Synapse  PyTorch  ratio")
    for threads in (1, 2):
        theirs = pinned_peer(__file__, threads, args.seconds)
        ours = synapse[("train_tokens_per_s", threads)]
        print(f"{threads:7d}  {ours:26.0f}  {theirs:7.0f}  {ours / theirs:5.2f}")


if __name__ == "__main__":
    main()
