"""Twin of bench/reference-model.ts: 4 x [conv3x3-BN-ReLU, conv3x3/2-BN-ReLU], GAP, dense softmax."""

import torch
from torch import nn

from layers import ConvBnRelu, adam, parameter_counts

STAGE_FILTERS = [16, 32, 64, 128]
CLASSES = 4


class ReferenceModel(nn.Module):
    def __init__(self):
        super().__init__()
        units = []
        channels = 1
        for filters in STAGE_FILTERS:
            # tfjs' batchNormalization default momentum (0.99): the reference model keeps it.
            units.append(ConvBnRelu(channels, filters, stride=1, tfjs_momentum=0.99))
            units.append(ConvBnRelu(filters, filters, stride=2, tfjs_momentum=0.99))
            channels = filters
        self.features = nn.Sequential(*units)
        self.dense = nn.Linear(channels, CLASSES)

    def forward(self, x):
        return self.dense(self.features(x).mean(dim=(2, 3)))


def build(size, batch):
    model = ReferenceModel()
    optimizer = adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 1, size, size)
    labels = torch.arange(batch) % CLASSES

    def step():
        optimizer.zero_grad(set_to_none=True)
        # softmax then categorical cross-entropy, as the tfjs side: log_softmax + NLL is the same loss.
        loss = nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, parameter_counts(model.parameters(), model)
