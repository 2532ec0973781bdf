"""The torch modules that layer specs build when ``torch.nn`` has no exact match.

This file imports torch alone: the PyTorch code export copies it verbatim into the exported
``.py`` file, so an exported model runs with nothing but torch installed.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Affine(nn.Module):
    """Fully connected over all axes after the batch axis (NNC's Affine with base axis 1)."""

    def __init__(self, in_features: int, out_shape: tuple, bias: bool = True):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.linear = nn.Linear(in_features, math.prod(self.out_shape), bias=bias)

    def forward(self, x):
        # the common vector-in, vector-out case skips both reshapes
        y = self.linear(x if x.dim() == 2 else x.flatten(1))
        return y if len(self.out_shape) == 1 else y.unflatten(1, self.out_shape)


class Reshape(nn.Module):
    def __init__(self, out_shape: tuple):
        super().__init__()
        self.out_shape = tuple(out_shape)

    def forward(self, x):
        return x.reshape((-1,) + self.out_shape)


class Transpose(nn.Module):
    """Permutes the axes after the batch axis."""

    def __init__(self, axes: tuple):
        super().__init__()
        self.axes = (0,) + tuple(a + 1 for a in axes)

    def forward(self, x):
        return x.permute(self.axes)


class Slice(nn.Module):
    def __init__(self, start: tuple, stop: tuple, step: tuple):
        super().__init__()
        self.index = tuple(slice(a, b, c) for a, b, c in zip(start, stop, step))

    def forward(self, x):
        return x[(slice(None),) + self.index]


class Concatenate(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis + 1

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)


class Add2(nn.Module):
    def forward(self, a, b):
        return a + b


class Mul2(nn.Module):
    def forward(self, a, b):
        return a * b


class GlobalAveragePooling(nn.Module):
    """Mean over the last two axes, keeping them as 1×1 (NNC's output is C×1×1)."""

    def forward(self, x):
        return x.mean(dim=(-2, -1), keepdim=True)


class SELU(nn.Module):
    """scale * ELU(x, alpha); torch.nn.SELU with NNC's adjustable Scale and Alpha."""

    def __init__(self, scale: float, alpha: float):
        super().__init__()
        self.scale = scale
        self.alpha = alpha

    def forward(self, x):
        return self.scale * F.elu(x, self.alpha)


class Softmax(nn.Module):
    """Softmax over the first axis after the batch axis (NNC's default axis)."""

    def forward(self, x):
        return torch.softmax(x, dim=1)


class LogSoftmax(nn.Module):
    def forward(self, x):
        return torch.log_softmax(x, dim=1)


class Recurrent(nn.Module):
    """LSTM, GRU or RNN over a whole ``T×F`` sequence; returns every step or the last one."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int,
                 bidirectional: bool, return_sequences: bool):
        super().__init__()
        rnn = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[cell]
        self.rnn = rnn(input_size, hidden_size, num_layers, batch_first=True,
                       bidirectional=bidirectional)
        self.return_sequences = return_sequences

    def forward(self, x):
        y, _ = self.rnn(x)
        if self.return_sequences:
            return y
        if not self.rnn.bidirectional:
            return y[:, -1]
        # the backward direction has read the whole sequence at step 0, not at the last step
        h = self.rnn.hidden_size
        return torch.cat([y[:, -1, :h], y[:, 0, h:]], dim=1)


class Embed(nn.Module):
    """Class indices (any shape, stored as floats by datasets) to vectors."""

    def __init__(self, num_class: int, size: int):
        super().__init__()
        self.embedding = nn.Embedding(num_class, size)

    def forward(self, x):
        return self.embedding(x.long())


# Losses: forward(prediction, target) -> mean loss over the batch.

class SquaredError(nn.Module):
    def forward(self, y, t):
        return F.mse_loss(y, t)


class AbsoluteError(nn.Module):
    def forward(self, y, t):
        return F.l1_loss(y, t)


class HuberLoss(nn.Module):
    """NNC's Huber loss: d² for |d| ≤ delta, delta·(2|d| − delta) above (twice torch's)."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = delta

    def forward(self, y, t):
        return 2.0 * F.huber_loss(y, t, delta=self.delta)


class BinaryCrossEntropy(nn.Module):
    def forward(self, y, t):
        return F.binary_cross_entropy(y, t)


class SigmoidCrossEntropy(nn.Module):
    def forward(self, y, t):
        return F.binary_cross_entropy_with_logits(y, t)


class SoftmaxCrossEntropy(nn.Module):
    """Scores ``N×C`` against class indices ``N×1``."""

    def forward(self, y, t):
        return F.cross_entropy(y, t.reshape(-1).long())


class CategoricalCrossEntropy(nn.Module):
    """Probabilities ``N×C`` against class indices ``N×1``."""

    def forward(self, y, t):
        return F.nll_loss(torch.log(y.clamp_min(1e-12)), t.reshape(-1).long())


class KLMultinomial(nn.Module):
    """KL(t ‖ y) for probability vectors, summed over classes, mean over the batch."""

    def forward(self, y, t):
        t = t.clamp_min(1e-12)
        return (t * (torch.log(t) - torch.log(y.clamp_min(1e-12)))).flatten(1).sum(1).mean()
