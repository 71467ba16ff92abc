"""Twin of the multi-task step of client/src/training/multitask.ts (tiny encoder, paper bench's CPU scale)."""

import torch
from torch import nn

from layers import adam, parameter_counts
from unet import MultitaskNetwork

CLASSES = 4
LEARNING_RATE = 2e-3
# multitask.ts' DEFAULT_SEGMENTATION_WEIGHT: 0.6 classification to 0.4 segmentation.
SEGMENTATION_WEIGHT = 0.4 / 0.6


def soft_dice_loss(logits, targets, smooth=1.0):
    p = torch.sigmoid(logits)
    return 1 - (2 * (p * targets).sum() + smooth) / (p.sum() + targets.sum() + smooth)


def build(size, batch):
    model = MultitaskNetwork(CLASSES)
    optimizer = adam(model.parameters(), LEARNING_RATE)
    x = torch.randn(batch, 1, size, size)
    labels = torch.arange(batch) % CLASSES
    masks = (torch.rand(batch, 1, size, size) > 0.8).float()
    class_weights = torch.ones(CLASSES)

    def step():
        optimizer.zero_grad(set_to_none=True)
        class_logits, mask_logits = model(x)
        log_probs = torch.log_softmax(class_logits, dim=1)
        picked = log_probs.gather(1, labels[:, None])[:, 0]
        classification = -(picked * class_weights[labels]).mean()
        bce = nn.functional.binary_cross_entropy_with_logits(mask_logits, masks)
        loss = classification + SEGMENTATION_WEIGHT * (bce + soft_dice_loss(mask_logits, masks))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, parameter_counts(model.parameters(), model)
