#!/usr/bin/env python3
"""Loads a model saved by `sentiment` (any --cell) into PyTorch and checks it predicts the same.

Proves that the recurrent layers' safetensors keys and layouts load into PyTorch unchanged:
the file is loaded with strict=True into Embedding, nn.LSTMCell / nn.GRUCell (or, for the simple
cell, whose one bias is PyTorch's two summed, a module of the same three tensors; for
--bidirectional, a module of both directions' tensors, the second with PyTorch's _reverse suffix)
and Linear, which run the reviews as `sentiment` does (the last N words, left padding, padded
steps keep the state; the reverse direction reads the real steps last first). Prints the IMDB test accuracy, and with --synapse compares P(positive) for the first
--compare test reviews with what `sentiment --predict` prints. Needs Debian's python3-torch and
`pip install safetensors`:

    /usr/bin/python3 Scripts/check_pytorch_load_recurrent.py runs/sentiment --data "$SYNAPSE_DATA" \
        --synapse .build/release/sentiment
"""
import argparse
import csv
import gzip
import json
import os
import re
import subprocess
import sys

import torch
from safetensors.torch import load_file


def words(text):
    """Tokenizer.words: lowercased ASCII letters and apostrophes (trimmed at the ends) and any
    non-ASCII bytes form words; everything else splits; <...> tags are dropped."""
    out, word, non_ascii, in_tag = [], bytearray(), False, False

    def finish():
        nonlocal word, non_ascii
        w = bytes(word).rstrip(b"'").lstrip(b"'")
        if w:
            s = w.decode("utf-8", errors="replace")
            out.append(s.lower() if non_ascii else s)
        word, non_ascii = bytearray(), False

    for b in text.encode("utf-8"):
        if in_tag:
            if b == ord(">"):
                in_tag = False
            continue
        if b == ord("<"):
            finish()
            in_tag = True
        elif ord("a") <= b <= ord("z") or b == ord("'"):
            word.append(b)
        elif ord("A") <= b <= ord("Z"):
            word.append(b + 32)
        elif b >= 0x80:
            word.append(b)
            non_ascii = True
        else:
            finish()
    finish()
    return out


def test_reviews(data):
    path = os.path.join(data, "imdb", "imdb-50k-reviews.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [(r[0], r[1] == "positive") for r in rows[25000:] if len(r) == 2 and r[0].strip()]


class SimpleCell(torch.nn.Module):
    """Synapse's SimpleRNN tensors: weight_ih, weight_hh and one bias (bias_ih + bias_hh)."""

    def __init__(self, f, h, nonlinearity):
        super().__init__()
        self.weight_ih = torch.nn.Parameter(torch.zeros(h, f))
        self.weight_hh = torch.nn.Parameter(torch.zeros(h, h))
        self.bias = torch.nn.Parameter(torch.zeros(h))
        self.act = torch.tanh if nonlinearity == "tanh" else torch.relu

    def forward(self, x, h):
        return self.act(x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias)


def step(kind, p, x, h, c, nonlinearity, suffix=""):
    """One step of the cell `kind` with the tensors p[name + suffix] (PyTorch's equations)."""
    w_ih, w_hh = p["weight_ih" + suffix], p["weight_hh" + suffix]
    if kind == "LSTM":
        gates = x @ w_ih.T + p["bias_ih" + suffix] + h @ w_hh.T + p["bias_hh" + suffix]
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if kind == "GRU":
        ir, iz, i_n = (x @ w_ih.T + p["bias_ih" + suffix]).chunk(3, dim=1)
        hr, hz, h_n = (h @ w_hh.T + p["bias_hh" + suffix]).chunk(3, dim=1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h, c
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    return act(x @ w_ih.T + h @ w_hh.T + p["bias" + suffix]), c


class BothWays(torch.nn.Module):
    """Synapse's Bidirectional: the wrapped layer's tensors, then the same names + _reverse."""

    def __init__(self, kind, f, h, nonlinearity):
        super().__init__()
        gates = {"LSTM": 4, "GRU": 3}.get(kind, 1)
        names = [("weight_ih", (gates * h, f)), ("weight_hh", (gates * h, h))]
        names += [("bias_ih", (gates * h,)), ("bias_hh", (gates * h,))] if kind in ("LSTM", "GRU") else [("bias", (h,))]
        for suffix in ["", "_reverse"]:
            for name, shape in names:
                self.register_parameter(name + suffix, torch.nn.Parameter(torch.zeros(shape)))
        self.kind, self.hidden, self.nonlinearity = kind, h, nonlinearity

    def forward(self, x, mask):
        p = dict(self.named_parameters())
        finals = []
        for suffix, steps in [("", range(x.shape[1])), ("_reverse", reversed(range(x.shape[1])))]:
            h = torch.zeros(x.shape[0], self.hidden)
            c = torch.zeros_like(h)
            for t in steps:
                h2, c2 = step(self.kind, p, x[:, t], h, c, self.nonlinearity, suffix)
                h, c = torch.where(mask[:, t], h2, h), torch.where(mask[:, t], c2, c)
            finals.append(h)
        return finals


class Model(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        layers = {entry["name"]: entry for entry in config["layers"]}
        emb, rnn, fc = layers["embedding"]["options"], layers["rnn"], layers["fc"]["options"]
        self.kind = rnn["type"]
        o = rnn["options"]
        self.merge = None
        if self.kind == "Bidirectional":
            self.merge = o.get("merge", "concatenate")
            self.kind, o = o["layer"]["type"], o["layer"]["options"]
        f, h = int(o["inputFeatures"]), int(o["hiddenSize"])
        self.embedding = torch.nn.Embedding(int(emb["vocabularySize"]), int(emb["dimension"]))
        if self.merge:
            self.rnn = BothWays(self.kind, f, h, o.get("nonlinearity", "tanh"))
        elif self.kind == "LSTM":
            self.rnn = torch.nn.LSTMCell(f, h)
        elif self.kind == "GRU":
            self.rnn = torch.nn.GRUCell(f, h)
        else:
            self.rnn = SimpleCell(f, h, o.get("nonlinearity", "tanh"))
        self.fc = torch.nn.Linear(int(fc["inputFeatures"]) if "inputFeatures" in fc else h, 1)
        self.hidden = h

    def forward(self, ids):
        x = self.embedding(ids)
        mask = (ids != 0).unsqueeze(-1)
        if self.merge:
            forward, backward = self.rnn(x, mask)
            return self.fc(torch.cat([forward, backward], 1) if self.merge == "concatenate" else forward + backward)[:, 0]
        h = torch.zeros(ids.shape[0], self.hidden)
        c = torch.zeros_like(h)
        for t in range(ids.shape[1]):
            if self.kind == "LSTM":
                h2, c2 = self.rnn(x[:, t], (h, c))
                c = torch.where(mask[:, t], c2, c)
            else:
                h2 = self.rnn(x[:, t], h)
            h = torch.where(mask[:, t], h2, h)
        return self.fc(h)[:, 0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", help="a sentiment --output folder")
    parser.add_argument("--data", default=os.environ.get("SYNAPSE_DATA", os.path.expanduser("~/.cache/synapse")))
    parser.add_argument("--synapse", help="the sentiment binary, to compare its --predict output")
    parser.add_argument("--compare", type=int, default=5, help="test reviews to compare with --predict")
    args = parser.parse_args()

    with open(os.path.join(args.folder, "model.json")) as f:
        config = json.load(f)
    with open(os.path.join(args.folder, "vocabulary.json")) as f:
        ids = {w: i for i, w in enumerate(json.load(f)["words"])}
    length = int(config["inputShape"][0])
    model = Model(config)
    model.load_state_dict(load_file(os.path.join(args.folder, "model.safetensors")), strict=True)
    model.eval()
    print(f"PyTorch {torch.__version__}, strict load of {args.folder}/model.safetensors "
          f"({model.kind}{', bidirectional' if model.merge else ''})")

    def encode(text):
        tokens = [ids.get(w, 1) for w in words(text)][-length:]
        return [0] * (length - len(tokens)) + tokens

    reviews = test_reviews(args.data)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(reviews), 500):
            batch = reviews[start:start + 500]
            logits = model(torch.tensor([encode(text) for text, _ in batch]))
            correct += sum(int((l > 0).item() == positive) for l, (_, positive) in zip(logits, batch))
    print(f"test accuracy: {100 * correct / len(reviews):.2f}% of {len(reviews)} reviews")

    if args.synapse:
        worst = 0.0
        for text, _ in reviews[:args.compare]:
            with torch.no_grad():
                p = torch.sigmoid(model(torch.tensor([encode(text)]))).item()
            printed = subprocess.run([args.synapse, "--output", args.folder, "--predict", text],
                                     capture_output=True, text=True, check=True).stdout
            q = float(re.search(r"P\(positive\) = ([0-9.]+)", printed).group(1))
            worst = max(worst, abs(p - q))
            print(f"P(positive): PyTorch {p:.4f}, Synapse {q:.4f}")
        print(f"largest difference {worst:.5f} (Synapse prints 4 decimals)")
        sys.exit(0 if worst <= 1.5e-4 else 1)


if __name__ == "__main__":
    main()
