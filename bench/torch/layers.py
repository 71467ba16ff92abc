"""Building blocks shared by the PyTorch twins, matched to the TensorFlow.js layers they mirror."""

import torch
from torch import nn

# tfjs' batchNormalization epsilon; PyTorch's default is 1e-5.
TFJS_BN_EPSILON = 1e-3


def batch_norm(channels, tfjs_momentum):
    """A BN layer updating its running statistics like tfjs' (PyTorch's momentum is 1 - tfjs')."""
    return nn.BatchNorm2d(channels, eps=TFJS_BN_EPSILON, momentum=1 - tfjs_momentum)


def conv(in_channels, out_channels, kernel, stride=1, bias=False):
    # For odd kernels, padding k // 2 gives tfjs' "same" output size at stride 1 and 2 on even inputs.
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=bias)


class ConvBnRelu(nn.Sequential):
    def __init__(self, in_channels, out_channels, kernel=3, stride=1, tfjs_momentum=0.9):
        super().__init__(
            conv(in_channels, out_channels, kernel, stride),
            batch_norm(out_channels, tfjs_momentum),
            nn.ReLU(inplace=True),
        )


def adam(parameters, learning_rate):
    # tfjs' Adam uses the backend epsilon, 1e-7, where PyTorch defaults to 1e-8.
    return torch.optim.Adam(parameters, lr=learning_rate, betas=(0.9, 0.999), eps=1e-7)


def parameter_counts(trained, *modules):
    """Counted as tfjs counts them: trainable = the optimised weights; total = every weight of the
    modules, BN running means and variances included (tfjs keeps them as non-trainable weights)."""
    trainable = sum(p.numel() for p in trained if p.requires_grad)
    total = 0
    for module in modules:
        total += sum(p.numel() for p in module.parameters())
        total += sum(b.numel() for name, b in module.named_buffers() if not name.endswith("num_batches_tracked"))
    return {"trainable": trainable, "total": total}
