"""Shift-GCN skeleton encoder (Cheng et al., CVPR 2020) in plain PyTorch, CPU and GPU alike.

Parameter and buffer names and shapes follow the official implementation, so the state dict
of an official checkpoint loads with ``load_state_dict(strict=True)``.

Shapes: N samples, C channels, T frames, V joints, M persons. The network runs on the
N*M single-person sequences (B = N*M) in the (B, C, T, V) layout.

Two shift operations replace graph and temporal convolutions:

- Spatial (non-local) shift: channel c of joint v reads joint (v + c) mod V before the
  point-wise linear layer ("shift in") and joint (v - c) mod V after it ("shift out"):
  an ``index_select`` over the joint-major (V*C) feature axis of every frame.
- Temporal shift: channel c of output frame h reads the input at the fractional position
  h*stride + ypos[c] (+ 0.5 where stride is 2), linearly interpolated between the two
  neighbouring frames, zero outside the sequence; two gathers and a weighted sum,
  differentiable with respect to ``ypos``.

Where the official CUDA kernel does something unusual we follow it and say so (see
``TemporalShift``): its gradient for the positions is 0.01 * sign(true gradient), and
its ``xpos`` (shift along the joint axis) never moves from ~1e-8, so it is kept only as a
checkpoint entry.
"""

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from neuron.data.layouts import get_layout

PositionGrad = Literal["official", "exact"]
POSITION_GRADS = ("official", "exact")

# (in_channels, out_channels, temporal stride, residual) of units l1..l10; in_channels of l1
# is the input's coordinate count.
ARCHITECTURE = (
    (None, 64, 1, False),
    (64, 64, 1, True),
    (64, 64, 1, True),
    (64, 64, 1, True),
    (64, 128, 2, True),
    (128, 128, 1, True),
    (128, 128, 1, True),
    (128, 256, 2, True),
    (256, 256, 1, True),
    (256, 256, 1, True),
)
FEATURE_CHANNELS = ARCHITECTURE[-1][1]


def spatial_shift_index(num_joints: int, channels: int, step: int) -> torch.Tensor:
    """(V*C,) int64 index over a joint-major (V*C) axis: entry v*C + c points at
    ((v + step*c) mod V)*C + c, so channel c of joint v reads joint (v + step*c) mod V.

    The official arrays are step=+1 ("shift_in", before the linear layer) and step=-1
    ("shift_out", after it).
    """
    joint = torch.arange(num_joints).view(-1, 1)  # (V, 1)
    channel = torch.arange(channels).view(1, -1)  # (1, C)
    source_joint = (joint + step * channel) % num_joints  # (V, C); Python-style mod, never negative
    return (source_joint * channels + channel).reshape(-1)


def temporal_shift(x: torch.Tensor, ypos: torch.Tensor, stride: int) -> torch.Tensor:
    """Shift every channel along time by its own fractional offset, with linear interpolation.

    x: (B, C, T, V); ypos: (C,). Returns (B, C, ceil(T / stride), V) with
    out[b, c, h, v] = (1 - w) * x[b, c, i, v] + w * x[b, c, i + 1, v], where
    p = h*stride + ypos[c] (+ 0.5 for stride 2), i = floor(p), w = p - i, and frames outside
    [0, T) read as zero. Differentiable with respect to x and ypos (d out / d ypos is
    x[i + 1] - x[i], one-sided at integer positions like the official kernel).

    The official kernel emits floor(T / stride) frames; ceil matches the strided 1x1
    residual convolution, and the two agree whenever T is divisible by the stride (the
    only case in which the official network runs).
    """
    if stride not in (1, 2):
        raise ValueError(f"temporal shift supports stride 1 or 2, got {stride}")
    b, c, t, v = x.shape
    t_out = -(-t // stride)
    # The official stride-2 shift adds half a frame, so ypos = 0 samples the middle of each pair.
    pos = ypos + 0.5 if stride == 2 else ypos  # (C,)
    base = pos.detach().floor()  # (C,) integer part carries no gradient
    frac = (pos - base).view(c, 1)  # (C, 1), d frac / d ypos = 1
    lo = torch.arange(t_out, device=x.device).view(1, t_out) * stride + base.long().view(c, 1)  # (C, T')
    hi = lo + 1
    # Zero padding without data-dependent shapes: clamp the index, zero the weight.
    w_lo = (1 - frac) * ((lo >= 0) & (lo < t))  # (C, T')
    w_hi = frac * ((hi >= 0) & (hi < t))  # (C, T')
    row = torch.arange(c, device=x.device).view(c, 1) * t  # (C, 1): offset of channel c in (C*T)
    flat = x.reshape(b, c * t, v)
    x_lo = flat.index_select(1, (row + lo.clamp(0, t - 1)).view(-1)).view(b, c, t_out, v)
    x_hi = flat.index_select(1, (row + hi.clamp(0, t - 1)).view(-1)).view(b, c, t_out, v)
    return x_lo * w_lo.view(1, c, t_out, 1) + x_hi * w_hi.view(1, c, t_out, 1)


class _OfficialPositionGrad(torch.autograd.Function):
    """Identity whose backward replaces the gradient g of the shift positions by
    0.01 * sign(g), or 1e-4 where g == 0: the official kernel's ``applyShiftConstraint``
    (it keeps the positions from jumping under large gradients)."""

    @staticmethod
    def forward(ctx, ypos):
        return ypos.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.where(grad == 0, torch.full_like(grad, 1e-4), 0.01 * grad.sign())


class TemporalShift(nn.Module):
    """Learnable per-channel temporal shift: (B, C, T, V) -> (B, C, ceil(T / stride), V).

    ``ypos`` (C,) are the learned positions, initialised U(-1, 1) as in the official
    ``Shift(..., init_scale=1)``. ``xpos`` (C,) is the official kernel's shift along the joint
    axis: initialised U(-1e-8, 1e-8) there and its gradient multiplied by 0, so in float32 it
    samples the joint itself; we keep it as a zero buffer so checkpoints load, and do not apply it.

    position_grad: "official" trains ``ypos`` with the official kernel's gradient,
    0.01 * sign(true gradient) (see ``_OfficialPositionGrad``); "exact" uses the true gradient.
    """

    def __init__(self, channels: int, stride: int, position_grad: PositionGrad = "official"):
        super().__init__()
        if position_grad not in POSITION_GRADS:
            raise ValueError(f"position_grad must be one of {POSITION_GRADS}, got {position_grad!r}")
        self.stride = stride
        self.position_grad = position_grad
        self.register_buffer("xpos", torch.zeros(channels))
        self.ypos = nn.Parameter(torch.empty(channels).uniform_(-1.0, 1.0))

    def forward(self, x):  # (B, C, T, V) -> (B, C, T', V)
        ypos = _OfficialPositionGrad.apply(self.ypos) if self.position_grad == "official" else self.ypos
        return temporal_shift(x, ypos, self.stride)

    def extra_repr(self):
        return f"channels={self.ypos.numel()}, stride={self.stride}, position_grad={self.position_grad!r}"


class ShiftGraphConv(nn.Module):
    """Spatial shift graph convolution ("gcn1"): (B, C_in, T, V) -> (B, C_out, T, V).

    Per frame: shift in over joints, scale by the learned mask tanh(Feature_Mask) + 1,
    point-wise linear layer, shift out, BatchNorm over the (V*C_out) joint-channel axis;
    then add the (projected) input and apply ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, num_joints: int):
        super().__init__()
        self.out_channels = out_channels
        if in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
            nn.init.kaiming_normal_(self.down[0].weight, mode="fan_out")
            nn.init.zeros_(self.down[0].bias)
        else:
            self.down = nn.Identity()
        self.Linear_weight = nn.Parameter(torch.randn(in_channels, out_channels) / math.sqrt(out_channels))
        self.Linear_bias = nn.Parameter(torch.zeros(1, 1, out_channels))
        self.Feature_Mask = nn.Parameter(torch.zeros(1, num_joints, in_channels))  # tanh(0) + 1 = 1
        self.bn = nn.BatchNorm1d(num_joints * out_channels)
        self.register_buffer("shift_in", spatial_shift_index(num_joints, in_channels, step=1))
        self.register_buffer("shift_out", spatial_shift_index(num_joints, out_channels, step=-1))

    def forward(self, x):  # (B, C_in, T, V)
        b, c, t, v = x.shape
        y = x.permute(0, 2, 3, 1).reshape(b * t, v * c)  # (B*T, V*C_in), joint-major
        y = y.index_select(1, self.shift_in).view(b * t, v, c)
        y = y * (torch.tanh(self.Feature_Mask) + 1)  # (B*T, V, C_in)
        y = torch.matmul(y, self.Linear_weight) + self.Linear_bias  # (B*T, V, C_out)
        y = y.reshape(b * t, v * self.out_channels).index_select(1, self.shift_out)
        y = self.bn(y)  # (B*T, V*C_out)
        y = y.view(b, t, v, self.out_channels).permute(0, 3, 1, 2)  # (B, C_out, T, V)
        return F.relu(y + self.down(x))


class ShiftTemporalConv(nn.Module):
    """Temporal shift convolution ("tcn1"): (B, C, T, V) -> (B, C, ceil(T / stride), V).

    BatchNorm, shift in (stride 1), point-wise conv, ReLU, shift out (with the stride), BatchNorm.
    """

    def __init__(self, channels: int, stride: int, position_grad: PositionGrad):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shift_in = TemporalShift(channels, stride=1, position_grad=position_grad)
        self.shift_out = TemporalShift(channels, stride=stride, position_grad=position_grad)
        self.temporal_linear = nn.Conv2d(channels, channels, 1)
        nn.init.kaiming_normal_(self.temporal_linear.weight, mode="fan_out")  # bias keeps PyTorch's default

    def forward(self, x):  # (B, C, T, V)
        x = self.shift_in(self.bn(x))
        x = F.relu(self.temporal_linear(x))
        return self.bn2(self.shift_out(x))  # (B, C, T', V)


class ResidualProjection(nn.Module):
    """Strided 1x1 convolution + BatchNorm for a residual whose width or length changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1))
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out")
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):  # (B, C_in, T, V) -> (B, C_out, ceil(T / stride), V)
        return self.bn(self.conv(x))


class ShiftGCNUnit(nn.Module):
    """One unit: relu(tcn1(gcn1(x)) + residual(x)); (B, C_in, T, V) -> (B, C_out, T', V)."""

    def __init__(self, in_channels, out_channels, num_joints, stride, residual, position_grad):
        super().__init__()
        self.gcn1 = ShiftGraphConv(in_channels, out_channels, num_joints)
        self.tcn1 = ShiftTemporalConv(out_channels, stride, position_grad)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = ResidualProjection(in_channels, out_channels, stride)

    def forward(self, x):
        y = self.tcn1(self.gcn1(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


class ShiftGCN(nn.Module):
    """Shift-GCN classifier over skeleton sequences x of shape (N, C, T, V, M).

    num_classes: classifier outputs; layout: joint layout name (``neuron.data.layouts``),
    which fixes V; num_persons: M; in_channels: C (3 for xyz).
    position_grad: how the temporal shift positions are trained, see ``TemporalShift``.

    ``features(x)`` gives the last feature map (N, M, 256, T', V) with T' = ceil(ceil(T/2)/2)
    (16 for 64 frames); ``forward(x)`` averages it over M, T' and V and applies ``fc``.
    """

    def __init__(self, num_classes: int, layout: str = "ntu25", num_persons: int = 2, in_channels: int = 3,
                 position_grad: PositionGrad = "official"):
        super().__init__()
        self.num_joints = get_layout(layout).num_joints
        self.num_persons = num_persons
        self.in_channels = in_channels
        # BatchNorm per (person, joint, coordinate), over samples and frames.
        self.data_bn = nn.BatchNorm1d(num_persons * self.num_joints * in_channels)
        for i, (c_in, c_out, stride, residual) in enumerate(ARCHITECTURE, start=1):
            unit = ShiftGCNUnit(c_in or in_channels, c_out, self.num_joints, stride, residual, position_grad)
            self.add_module(f"l{i}", unit)
        self.fc = nn.Linear(FEATURE_CHANNELS, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_classes))

    def units(self) -> list[ShiftGCNUnit]:
        return [getattr(self, f"l{i}") for i in range(1, len(ARCHITECTURE) + 1)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, T, V, M) -> feature map (N, M, 256, T', V), T' = ceil(ceil(T / 2) / 2)."""
        self._check_input(x)
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t)  # (N, M*V*C, T)
        x = self.data_bn(x)
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)  # (N*M, C, T, V)
        for unit in self.units():
            x = unit(x)
        return x.view(n, m, *x.shape[1:])  # (N, M, 256, T', V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, T, V, M) -> logits (N, num_classes)."""
        pooled = self.features(x).mean(dim=(3, 4)).mean(dim=1)  # (N, 256)
        return self.fc(pooled)

    def _check_input(self, x):
        expected = f"(N, C={self.in_channels}, T, V={self.num_joints}, M={self.num_persons})"
        if x.dim() != 5:
            raise ValueError(f"ShiftGCN expects input {expected}, got {x.dim()} dimensions {tuple(x.shape)}")
        _, c, t, v, m = x.shape
        if (c, v, m) != (self.in_channels, self.num_joints, self.num_persons) or t < 1:
            raise ValueError(f"ShiftGCN expects input {expected}, got shape {tuple(x.shape)}")
