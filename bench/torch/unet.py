"""Twin of the tiny U-Net multi-task network (shared/src/ml/model/{resnet,unet,heads,networks}.ts)."""

import torch
from torch import nn

from layers import ConvBnRelu, batch_norm, conv

# ENCODER_PRESETS.tiny and DECODER_PRESETS.tiny.
ENCODER_WIDTHS = [8, 16, 32, 64]
DECODER_WIDTHS = [32, 16, 8, 8]
BN_MOMENTUM = 0.9


class BasicBlock(nn.Module):
    def __init__(self, in_channels, filters, stride):
        super().__init__()
        self.first = ConvBnRelu(in_channels, filters, stride=stride)
        self.conv2 = conv(filters, filters, 3)
        self.bn2 = batch_norm(filters, BN_MOMENTUM)
        self.shortcut = None
        if stride != 1 or in_channels != filters:
            self.shortcut = nn.Sequential(conv(in_channels, filters, 1, stride), batch_norm(filters, BN_MOMENTUM))

    def forward(self, x):
        residual = self.bn2(self.conv2(self.first(x)))
        return torch.relu(residual + (self.shortcut(x) if self.shortcut is not None else x))


class TinyEncoder(nn.Module):
    """Stem 3x3/2, one basic block per stage; returns the skip features and the bottleneck."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBnRelu(1, ENCODER_WIDTHS[0], stride=2)
        blocks = []
        channels = ENCODER_WIDTHS[0]
        for stage, filters in enumerate(ENCODER_WIDTHS):
            blocks.append(BasicBlock(channels, filters, 2 if stage > 0 else 1))
            channels = filters
        self.stages = nn.ModuleList(blocks)

    def forward(self, x):
        skips = []
        y = self.stem(x)
        for i, stage in enumerate(self.stages):
            y = stage(y)
            if i < len(self.stages) - 1:
                skips.append(y)
        return skips, y


class UnetDecoder(nn.Module):
    """Nearest x2 up-sampling, concatenation with the skip of that resolution, conv-BN-ReLU."""

    def __init__(self):
        super().__init__()
        skip_channels = list(reversed(ENCODER_WIDTHS[:-1]))
        steps = []
        channels = ENCODER_WIDTHS[-1]
        for i, filters in enumerate(DECODER_WIDTHS):
            skip = skip_channels[i] if i < len(skip_channels) else 0
            steps.append(ConvBnRelu(channels + skip, filters))
            channels = filters
        self.steps = nn.ModuleList(steps)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, skips, bottleneck):
        skips = list(reversed(skips))
        y = bottleneck
        for i, step in enumerate(self.steps):
            y = self.upsample(y)
            if i < len(skips):
                # The tfjs concatenation puts the up-sampled map first, then the skip.
                y = torch.cat([y, skips[i]], dim=1)
            y = step(y)
        return y


class MultitaskNetwork(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.encoder = TinyEncoder()
        self.decoder = UnetDecoder()
        self.classifier = nn.Linear(ENCODER_WIDTHS[-1], classes)
        self.mask = nn.Conv2d(DECODER_WIDTHS[-1], 1, 1)

    def forward(self, x):
        skips, bottleneck = self.encoder(x)
        class_logits = self.classifier(bottleneck.mean(dim=(2, 3)))
        return class_logits, self.mask(self.decoder(skips, bottleneck))


class MocoNetwork(nn.Module):
    """Encoder + projection head (dense 64 ReLU, dense projection_dim)."""

    def __init__(self, projection_dim):
        super().__init__()
        self.encoder = TinyEncoder()
        width = ENCODER_WIDTHS[-1]
        self.projection = nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, projection_dim))

    def forward(self, x):
        _, bottleneck = self.encoder(x)
        return self.projection(bottleneck.mean(dim=(2, 3)))
