"""ResNetSmall (Sources/Conv/ResNetSmall.swift) written as a PyTorch module, with the same
parameter names, so that a Synapse-saved resnet-small loads into it with strict=True.

Synapse saves no BatchNorm `num_batches_tracked` counter (with a momentum set PyTorch does not use
it): loading a file without that key, BatchNorm fills it in itself, so strict=True holds; a
state_dict written for Synapse leaves it out.
"""
import torch
from torch import nn
import torch.nn.functional as F


def batch_norm(features):
    return nn.BatchNorm2d(features)


class BasicBlock(nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = batch_norm(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = batch_norm(outputs)
        self.downsample = None
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), batch_norm(outputs))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNetSmall(nn.Module):
    def __init__(self, channels, classes, depth=20):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(channels, 16, 3, padding=1, bias=False)
        self.bn1 = batch_norm(16)
        inputs = 16
        for stage, outputs in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(inputs, outputs, 2 if stage > 0 and b == 0 else 1))
                inputs = outputs
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))
