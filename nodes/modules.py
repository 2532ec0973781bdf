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


# Losses: forward(prediction, target) -> the loss per value (per sample, N×1, for the losses of
# class scores and distributions); training minimises its mean, as Neural Network Console does.

class SquaredError(nn.Module):
    def forward(self, y, t):
        return F.mse_loss(y, t, reduction="none")


class AbsoluteError(nn.Module):
    def forward(self, y, t):
        return F.l1_loss(y, t, reduction="none")


class HuberLoss(nn.Module):
    """NNC's Huber loss: d² for |d| ≤ delta, delta·(2|d| − delta) above (twice torch's)."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = delta

    def forward(self, y, t):
        return 2.0 * F.huber_loss(y, t, delta=self.delta, reduction="none")


class BinaryCrossEntropy(nn.Module):
    def forward(self, y, t):
        return F.binary_cross_entropy(y, t, reduction="none")


class SigmoidCrossEntropy(nn.Module):
    def forward(self, y, t):
        return F.binary_cross_entropy_with_logits(y, t, reduction="none")


class SoftmaxCrossEntropy(nn.Module):
    """Scores ``N×C`` against class indices ``N×1``: ``N×1``."""

    def forward(self, y, t):
        return F.cross_entropy(y, t.reshape(-1).long(), reduction="none").unsqueeze(1)


class CategoricalCrossEntropy(nn.Module):
    """Probabilities ``N×C`` against class indices ``N×1``: ``N×1``."""

    def forward(self, y, t):
        return F.nll_loss(torch.log(y.clamp_min(1e-12)), t.reshape(-1).long(),
                          reduction="none").unsqueeze(1)


class KLMultinomial(nn.Module):
    """KL(t ‖ y) for probability vectors, summed over classes: ``N×1``."""

    def forward(self, y, t):
        t = t.clamp_min(1e-12)
        return (t * (torch.log(t) - torch.log(y.clamp_min(1e-12)))).flatten(1).sum(1,
                                                                                  keepdim=True)


def constant_like(x, shape: tuple, value: float):
    """A batch of ``shape`` (batch axis first, as long as ``x``'s) filled with ``value``: a
    target or an initial state made in the graph (an ONNX ConstantOfShape)."""
    return torch.full((x.shape[0],) + tuple(shape), value, dtype=x.dtype, device=x.device)


# PReLU, binary layers, arithmetic, reductions, array layers and data augmentation.

class PReLU(nn.Module):
    """max(0, x) + slope·min(0, x), one learned slope per index of axis ``axis``."""

    def __init__(self, channels: int, axis: int, rank: int):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), 0.25))
        self.axis, self.rank = axis, rank
        self.view = (channels,) + (1,) * (rank - 1 - axis)  # broadcasts from the right

    def forward(self, x):
        return torch.where(x >= 0, x, x * self.weight.reshape(self.view))


def binarize(w, scale_dims: tuple, training: bool):
    """sign(w) with sign(0) = +1, times the mean |w| over ``scale_dims`` when given; in
    training the gradient passes straight through to w (an exact ±1 forward all the same)."""
    binary = (w >= 0).to(w.dtype) * 2 - 1
    if scale_dims:
        binary = binary * w.detach().abs().mean(dim=scale_dims, keepdim=True)
    if not training:
        return binary
    return binary.detach() + (w - w.detach())


class BinaryAffine(nn.Module):
    """Affine with binarised weights: sign(W) (BinaryConnect) or sign(W)·mean|W| per output
    (BinaryWeight); W keeps learning in full precision."""

    def __init__(self, in_features: int, out_shape: tuple, bias: bool, scaled: bool):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.scaled = scaled
        out = math.prod(self.out_shape)
        self.weight = nn.Parameter(torch.empty(out, in_features).uniform_(-1, 1))
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None

    def forward(self, x):
        w = binarize(self.weight, (1,) if self.scaled else (), self.training)
        y = F.linear(x.flatten(1), w, self.bias)
        return y if len(self.out_shape) == 1 else y.unflatten(1, self.out_shape)


class BinaryConvolution(nn.Module):
    """Convolution (1-D or 2-D) with binarised kernels, as BinaryAffine."""

    def __init__(self, in_maps: int, out_maps: int, kernel: tuple, stride: tuple, padding: tuple,
                 dilation: tuple, bias: bool, scaled: bool):
        super().__init__()
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        self.scaled = scaled
        self.weight = nn.Parameter(torch.empty((out_maps, in_maps) + tuple(kernel)).uniform_(-1, 1))
        self.bias = nn.Parameter(torch.zeros(out_maps)) if bias else None

    def forward(self, x):
        dims = tuple(range(1, self.weight.dim())) if self.scaled else ()
        w = binarize(self.weight, dims, self.training)
        conv = F.conv1d if self.weight.dim() == 3 else F.conv2d
        return conv(x, w, self.bias, self.stride, self.padding, self.dilation)


class BinaryTanh(nn.Module):
    """+1 where x > 0, else −1; in training the gradient is 1 where |x| < 1, 0 elsewhere."""

    def forward(self, x):
        y = (x > 0).to(x.dtype) * 2 - 1
        if not self.training:
            return y
        soft = F.hardtanh(x)
        return y.detach() + (soft - soft.detach())


class BinarySigmoid(nn.Module):
    """1 where x > 0, else 0; in training the gradient is ½ where |x| < 1, 0 elsewhere."""

    def forward(self, x):
        y = (x > 0).to(x.dtype)
        if not self.training:
            return y
        soft = 0.5 * F.hardtanh(x)
        return y.detach() + (soft - soft.detach())


class ScalarOp(nn.Module):
    """x + v, x·v, v − x, v / x, x^v, max(x, v) or min(x, v)."""

    def __init__(self, op: str, value: float):
        super().__init__()
        self.op, self.value = op, value

    def forward(self, x):
        v = self.value
        if self.op == "add":
            return x + v
        if self.op == "mul":
            return x * v
        if self.op == "rsub":
            return v - x
        if self.op == "rdiv":
            return v / x
        if self.op == "pow":
            return x ** v
        if self.op == "max":
            return torch.clamp(x, min=v)
        return torch.clamp(x, max=v)


class Sub2(nn.Module):
    def forward(self, a, b):
        return a - b


class Div2(nn.Module):
    def forward(self, a, b):
        return a / b


class Maximum2(nn.Module):
    def forward(self, a, b):
        return torch.maximum(a, b)


class Minimum2(nn.Module):
    def forward(self, a, b):
        return torch.minimum(a, b)


class Abs(nn.Module):
    def forward(self, x):
        return torch.abs(x)


class Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


class Reduce(nn.Module):
    """Sum, mean, max or min over axes (counted without the batch axis)."""

    def __init__(self, op: str, axes: tuple, keep_dims: bool):
        super().__init__()
        self.op, self.keep_dims = op, keep_dims
        self.axes = tuple(a + 1 for a in axes)

    def forward(self, x):
        reduce = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax,
                  "min": torch.amin}[self.op]
        return reduce(x, dim=self.axes, keepdim=self.keep_dims)


def _edge_indices(size: int, before: int, after: int, mode: str) -> list:
    """Source index of each padded position: mirrored without repeating the edge (reflect)
    or the edge repeated (repeat)."""
    out = []
    for i in range(-before, size + after):
        if mode == "repeat" or size == 1:
            out.append(min(max(i, 0), size - 1))
        else:
            j = i % (2 * size - 2)
            out.append(j if j < size else 2 * size - 2 - j)
    return out


class Pad(nn.Module):
    """Pads the last len(widths)/2 axes by (before, after) pairs, first axis first."""

    def __init__(self, widths: tuple, mode: str, value: float):
        super().__init__()
        self.pairs = [tuple(widths[i:i + 2]) for i in range(0, len(widths), 2)]
        self.mode, self.value = mode, value

    def forward(self, x):
        if self.mode == "constant":
            flat = [w for pair in reversed(self.pairs) for w in pair]  # last axis first
            return F.pad(x, flat, value=self.value)
        first = x.dim() - len(self.pairs)
        for axis, (before, after) in enumerate(self.pairs, start=first):
            if before or after:
                index = _edge_indices(x.shape[axis], before, after, self.mode)
                x = x.index_select(axis, torch.tensor(index, device=x.device))
        return x


class Flip(nn.Module):
    def __init__(self, axes: tuple):
        super().__init__()
        self.axes = tuple(a + 1 for a in axes)

    def forward(self, x):
        return torch.flip(x, self.axes)


class Unpooling(nn.Module):
    """Each value repeated k times along each of the last len(kernel) axes."""

    def __init__(self, kernel: tuple):
        super().__init__()
        self.kernel = tuple(kernel)

    def forward(self, x):
        lead = x.dim() - len(self.kernel)
        shape, expanded, view = list(x.shape[:lead]), list(x.shape[:lead]), list(x.shape[:lead])
        for size, k in zip(x.shape[lead:], self.kernel):
            view += [size, 1]
            expanded += [size, k]
            shape.append(size * k)
        return x.reshape(view).expand(expanded).reshape(shape)


class SumPooling(nn.Module):
    """The sum of each window: a convolution with a kernel of ones per map; IgnoreBorder=False
    windows running past the input are padded with zeros (as torch's ceil mode counts them)."""

    def __init__(self, maps: int, kernel: tuple, stride: tuple, padding: tuple, extra: tuple):
        super().__init__()
        self.maps = maps
        self.kernel, self.stride, self.padding = tuple(kernel), tuple(stride), tuple(padding)
        self.extra = tuple(extra)  # zeros added after the end of each axis

    def forward(self, x):
        pads = []
        for p, e in zip(reversed(self.padding), reversed(self.extra)):
            pads += [p, p + e]
        x = F.pad(x, pads)
        ones = torch.ones((self.maps, 1) + self.kernel, dtype=x.dtype, device=x.device)
        conv = F.conv1d if len(self.kernel) == 1 else F.conv2d
        return conv(x, ones, stride=self.stride, groups=self.maps)


class OneHot(nn.Module):
    """The last axis holds len(shape) class indices; they become a one-hot block of ``shape``
    (an index below 0 counts from the end; one out of range gives zeros)."""

    def __init__(self, shape: tuple):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        index = x.long()
        sizes = torch.tensor(self.shape, device=x.device)
        index = torch.where(index < 0, index + sizes, index)
        valid = ((index >= 0) & (index < sizes)).all(dim=-1, keepdim=True)
        strides = [math.prod(self.shape[i + 1:]) for i in range(len(self.shape))]
        flat = (index * torch.tensor(strides, device=x.device)).sum(dim=-1, keepdim=True)
        hot = (flat == torch.arange(math.prod(self.shape), device=x.device)) & valid
        return hot.to(torch.float32).reshape(tuple(x.shape[:-1]) + self.shape)


class RandomFlip(nn.Module):
    """In training, each sample is reversed along each axis with probability ½."""

    def __init__(self, axes: tuple):
        super().__init__()
        self.axes = tuple(a + 1 for a in axes)

    def forward(self, x):
        if not self.training:
            return x
        for axis in self.axes:
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            flip = flip.reshape((-1,) + (1,) * (x.dim() - 1))
            x = torch.where(flip, x.flip(axis), x)
        return x


class RandomShift(nn.Module):
    """In training, each sample is shifted by a whole number in [−s, s] along each of the last
    len(shifts) axes; the border repeats its edge (nearest) or mirrors (reflect)."""

    def __init__(self, shifts: tuple, mode: str):
        super().__init__()
        self.shifts, self.mode = tuple(shifts), mode

    def forward(self, x):
        if not self.training:
            return x
        first = x.dim() - len(self.shifts)
        for axis, s in enumerate(self.shifts, start=first):
            if s == 0:
                continue
            n = x.shape[axis]
            t = torch.randint(-s, s + 1, (x.shape[0], 1), device=x.device)
            i = torch.arange(n, device=x.device) - t  # (batch, n)
            if self.mode == "nearest":
                i = i.clamp(0, n - 1)
            else:
                a = (i + 2 * n).remainder(2 * n)
                i = torch.where(a < n, a, 2 * n - 1 - a)
            shape = [x.shape[0]] + [1] * (x.dim() - 1)
            shape[axis] = n
            x = x.gather(axis, i.reshape(shape).expand(x.shape))
        return x


class ImageAugmentation(nn.Module):
    """In training, each image is resampled (scale, aspect ratio, rotation, distortion, random
    position, padding) into an output window of ``size`` (H, W), randomly flipped, and given
    random brightness, contrast and noise. At inference the image is centre-cropped (or padded)
    to the window, which leaves it unchanged when the sizes agree."""

    def __init__(self, size: tuple, pad: tuple, min_scale: float, max_scale: float,
                 angle: float, aspect_ratio: float, distortion: float, flip_lr: bool,
                 flip_ud: bool, brightness: float, brightness_each: bool, contrast: float,
                 contrast_center: float, contrast_each: bool, noise: float):
        super().__init__()
        self.size, self.pad = tuple(size), tuple(pad)
        self.settings = (min_scale, max_scale, angle, aspect_ratio, distortion, flip_lr,
                         flip_ud, brightness, brightness_each, contrast, contrast_center,
                         contrast_each, noise)

    def forward(self, x):
        if not self.training:
            return self._centre(x)
        (min_scale, max_scale, angle, aspect, distortion, flip_lr, flip_ud, brightness,
         brightness_each, contrast, center, contrast_each, noise) = self.settings
        n, (h, w), (oh, ow) = x.shape[0], x.shape[-2:], self.size
        lead = x.shape[1:-2]
        images = x.reshape((n, -1, h, w))

        def uniform(low, high, count=n):
            return torch.rand(count, device=x.device, dtype=x.dtype) * (high - low) + low

        scale = torch.exp(uniform(math.log(min_scale), math.log(max_scale)))
        ratio = torch.exp(uniform(-0.5, 0.5) * math.log(aspect))
        sx, sy = scale * ratio, scale / ratio  # input pixels per output pixel: 1 / scale
        theta = uniform(-angle, angle)
        # the window's centre moves where the scaled image (padded) still covers it
        room_x = ((w + 2 * self.pad[1]) - ow / sx).clamp_min(0) / 2
        room_y = ((h + 2 * self.pad[0]) - oh / sy).clamp_min(0) / 2
        cx, cy = uniform(-1, 1) * room_x, uniform(-1, 1) * room_y
        # output pixel centres, in output pixels from the window's centre
        ys = torch.arange(oh, device=x.device, dtype=x.dtype) - (oh - 1) / 2
        xs = torch.arange(ow, device=x.device, dtype=x.dtype) - (ow - 1) / 2
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        if distortion:
            r2 = (gx / (ow / 2)) ** 2 + (gy / (oh / 2)) ** 2
            gx, gy = gx * (1 + distortion * r2), gy * (1 + distortion * r2)
        gx, gy = gx.expand(n, oh, ow), gy.expand(n, oh, ow)
        cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
        px = (cos * gx - sin * gy) / sx[:, None, None] + cx[:, None, None]
        py = (sin * gx + cos * gy) / sy[:, None, None] + cy[:, None, None]
        if flip_lr:
            px = torch.where((torch.rand(n, device=x.device) < 0.5)[:, None, None], -px, px)
        if flip_ud:
            py = torch.where((torch.rand(n, device=x.device) < 0.5)[:, None, None], -py, py)
        grid = torch.stack([px / (w / 2), py / (h / 2)], dim=-1)  # the input spans −1..1
        y = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
        channels = y.shape[1]
        if brightness:
            b = uniform(-brightness, brightness, n * (channels if brightness_each else 1))
            y = y + b.reshape(n, -1, 1, 1)
        if contrast != 1:
            c = torch.exp(uniform(-math.log(contrast), math.log(contrast),
                                  n * (channels if contrast_each else 1)))
            y = (y - center) * c.reshape(n, -1, 1, 1) + center
        if noise:
            y = y + torch.randn_like(y) * uniform(0, noise).reshape(n, 1, 1, 1)
        return y.reshape((n,) + tuple(lead) + (oh, ow))

    def _centre(self, x):
        pads, starts = [], []
        for size, out in zip(x.shape[-2:], self.size):
            grow = max(out - size, 0)
            pads.append((grow // 2, grow - grow // 2))
            starts.append(max(size - out, 0) // 2)
        if any(sum(p) for p in pads):
            x = F.pad(x, [*pads[1], *pads[0]])  # the last axis first
        (top, left), (oh, ow) = starts, self.size
        return x[..., top:top + oh, left:left + ow]
