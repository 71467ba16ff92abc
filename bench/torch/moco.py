"""Twin of the MoCo v2 step of client/src/training/moco.ts (tiny encoder, MOCO_DEFAULTS.cpu)."""

import torch
from torch import nn

from layers import adam, parameter_counts
from unet import MocoNetwork

LEARNING_RATE = 2e-3
PROJECTION_DIM = 128
QUEUE_SIZE = 1024
MOMENTUM = 0.99
TEMPERATURE = 0.2
GROUPS = 2


def run_in_groups(network, x, order=None):
    """Shuffle BN: the network sees slices of the batch reordered by `order` (None: in order);
    outputs come back in x's order."""
    n = x.shape[0]
    ordered = x if order is None else x[order]
    outputs = [network(ordered[(i * n) // GROUPS : ((i + 1) * n) // GROUPS]) for i in range(GROUPS)]
    joined = torch.cat(outputs, dim=0)
    if order is None:
        return joined
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(n)
    return joined[inverse]


def build(size, batch):
    query = MocoNetwork(PROJECTION_DIM)
    key = MocoNetwork(PROJECTION_DIM)
    key.load_state_dict(query.state_dict())
    for p in key.parameters():
        p.requires_grad_(False)
    optimizer = adam(query.parameters(), LEARNING_RATE)
    query_view = torch.randn(batch, 1, size, size)
    key_view = torch.randn(batch, 1, size, size)
    queue = nn.functional.normalize(torch.randn(QUEUE_SIZE, PROJECTION_DIM), dim=1)
    state = {"head": 0}

    def step():
        with torch.no_grad():
            for k, q in zip(key.parameters(), query.parameters()):
                k.mul_(MOMENTUM).add_(q, alpha=1 - MOMENTUM)
            keys = nn.functional.normalize(run_in_groups(key, key_view, torch.randperm(batch)), dim=1)
        optimizer.zero_grad(set_to_none=True)
        queries = nn.functional.normalize(run_in_groups(query, query_view), dim=1)
        positive = (queries * keys).sum(dim=1, keepdim=True)
        logits = torch.cat([positive, queries @ queue.T], dim=1) / TEMPERATURE
        loss = (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()
        loss.backward()
        optimizer.step()
        # Read back like the tfjs step, which reports the positive's top-1 accuracy.
        (logits.argmax(dim=1) == 0).float().mean().item()
        # The FIFO queue: the newest keys replace the oldest rows.
        rows = (state["head"] + torch.arange(batch)) % QUEUE_SIZE
        queue[rows] = keys
        state["head"] = (state["head"] + batch) % QUEUE_SIZE
        return loss.item()

    return step, parameter_counts(query.parameters(), query, key)
