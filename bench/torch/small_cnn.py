"""Twin of shared/src/ml/model/small-cnn.ts at the default simulation's sizes (cli/simulate/config.ts)."""

import torch
from torch import nn

from layers import ConvBnRelu, adam, parameter_counts

WIDTHS = [16, 32, 64]
CLASSES = 4
LEARNING_RATE = 2e-3


class SmallCnn(nn.Module):
    def __init__(self, widths):
        super().__init__()
        units = []
        channels = 1
        for filters in widths:
            units.append(ConvBnRelu(channels, filters, stride=1, tfjs_momentum=0.9))
            units.append(ConvBnRelu(filters, filters, stride=2, tfjs_momentum=0.9))
            channels = filters
        self.features = nn.Sequential(*units)
        self.logits = nn.Linear(channels, CLASSES)

    def forward(self, x):
        return self.logits(self.features(x).mean(dim=(2, 3)))


def build(size, batch):
    model = SmallCnn(WIDTHS)
    optimizer = adam(model.parameters(), LEARNING_RATE)
    x = torch.randn(batch, 1, size, size)
    labels = torch.arange(batch) % CLASSES
    # The project's classifier weights each example by its class (inverse frequency; 1 when balanced).
    class_weights = torch.ones(CLASSES)

    def step():
        optimizer.zero_grad(set_to_none=True)
        per_example = nn.functional.cross_entropy(model(x), labels, reduction="none")
        loss = (per_example * class_weights[labels]).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, parameter_counts(model.parameters(), model)
