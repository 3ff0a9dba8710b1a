"""Tests for the pure-PyTorch Shift-GCN encoder (neuron.models.shift_gcn)."""

import math

import pytest
import torch

from neuron.models.shift_gcn import (
    ShiftGCN,
    ShiftGraphConv,
    TemporalShift,
    spatial_shift_index,
    temporal_shift,
)

# State dict of the official Shift-GCN (kchengiva/Shift-GCN, model/shift_gcn.py) for 25 joints,
# 2 persons, 3 coordinates and 60 classes, written out from that code: name -> shape.
OFFICIAL_NTU60_STATE_SHAPES = {
    "data_bn.weight": (150,),
    "data_bn.bias": (150,),
    "data_bn.running_mean": (150,),
    "data_bn.running_var": (150,),
    "data_bn.num_batches_tracked": (),
    "l1.gcn1.Linear_weight": (3, 64),
    "l1.gcn1.Linear_bias": (1, 1, 64),
    "l1.gcn1.Feature_Mask": (1, 25, 3),
    "l1.gcn1.shift_in": (75,),
    "l1.gcn1.shift_out": (1600,),
    "l1.gcn1.down.0.weight": (64, 3, 1, 1),
    "l1.gcn1.down.0.bias": (64,),
    "l1.gcn1.down.1.weight": (64,),
    "l1.gcn1.down.1.bias": (64,),
    "l1.gcn1.down.1.running_mean": (64,),
    "l1.gcn1.down.1.running_var": (64,),
    "l1.gcn1.down.1.num_batches_tracked": (),
    "l1.gcn1.bn.weight": (1600,),
    "l1.gcn1.bn.bias": (1600,),
    "l1.gcn1.bn.running_mean": (1600,),
    "l1.gcn1.bn.running_var": (1600,),
    "l1.gcn1.bn.num_batches_tracked": (),
    "l1.tcn1.bn.weight": (64,),
    "l1.tcn1.bn.bias": (64,),
    "l1.tcn1.bn.running_mean": (64,),
    "l1.tcn1.bn.running_var": (64,),
    "l1.tcn1.bn.num_batches_tracked": (),
    "l1.tcn1.bn2.weight": (64,),
    "l1.tcn1.bn2.bias": (64,),
    "l1.tcn1.bn2.running_mean": (64,),
    "l1.tcn1.bn2.running_var": (64,),
    "l1.tcn1.bn2.num_batches_tracked": (),
    "l1.tcn1.shift_in.xpos": (64,),
    "l1.tcn1.shift_in.ypos": (64,),
    "l1.tcn1.shift_out.xpos": (64,),
    "l1.tcn1.shift_out.ypos": (64,),
    "l1.tcn1.temporal_linear.weight": (64, 64, 1, 1),
    "l1.tcn1.temporal_linear.bias": (64,),
    "l2.gcn1.Linear_weight": (64, 64),
    "l2.gcn1.Linear_bias": (1, 1, 64),
    "l2.gcn1.Feature_Mask": (1, 25, 64),
    "l2.gcn1.shift_in": (1600,),
    "l2.gcn1.shift_out": (1600,),
    "l2.gcn1.bn.weight": (1600,),
    "l2.gcn1.bn.bias": (1600,),
    "l2.gcn1.bn.running_mean": (1600,),
    "l2.gcn1.bn.running_var": (1600,),
    "l2.gcn1.bn.num_batches_tracked": (),
    "l2.tcn1.bn.weight": (64,),
    "l2.tcn1.bn.bias": (64,),
    "l2.tcn1.bn.running_mean": (64,),
    "l2.tcn1.bn.running_var": (64,),
    "l2.tcn1.bn.num_batches_tracked": (),
    "l2.tcn1.bn2.weight": (64,),
    "l2.tcn1.bn2.bias": (64,),
    "l2.tcn1.bn2.running_mean": (64,),
    "l2.tcn1.bn2.running_var": (64,),
    "l2.tcn1.bn2.num_batches_tracked": (),
    "l2.tcn1.shift_in.xpos": (64,),
    "l2.tcn1.shift_in.ypos": (64,),
    "l2.tcn1.shift_out.xpos": (64,),
    "l2.tcn1.shift_out.ypos": (64,),
    "l2.tcn1.temporal_linear.weight": (64, 64, 1, 1),
    "l2.tcn1.temporal_linear.bias": (64,),
    "l3.gcn1.Linear_weight": (64, 64),
    "l3.gcn1.Linear_bias": (1, 1, 64),
    "l3.gcn1.Feature_Mask": (1, 25, 64),
    "l3.gcn1.shift_in": (1600,),
    "l3.gcn1.shift_out": (1600,),
    "l3.gcn1.bn.weight": (1600,),
    "l3.gcn1.bn.bias": (1600,),
    "l3.gcn1.bn.running_mean": (1600,),
    "l3.gcn1.bn.running_var": (1600,),
    "l3.gcn1.bn.num_batches_tracked": (),
    "l3.tcn1.bn.weight": (64,),
    "l3.tcn1.bn.bias": (64,),
    "l3.tcn1.bn.running_mean": (64,),
    "l3.tcn1.bn.running_var": (64,),
    "l3.tcn1.bn.num_batches_tracked": (),
    "l3.tcn1.bn2.weight": (64,),
    "l3.tcn1.bn2.bias": (64,),
    "l3.tcn1.bn2.running_mean": (64,),
    "l3.tcn1.bn2.running_var": (64,),
    "l3.tcn1.bn2.num_batches_tracked": (),
    "l3.tcn1.shift_in.xpos": (64,),
    "l3.tcn1.shift_in.ypos": (64,),
    "l3.tcn1.shift_out.xpos": (64,),
    "l3.tcn1.shift_out.ypos": (64,),
    "l3.tcn1.temporal_linear.weight": (64, 64, 1, 1),
    "l3.tcn1.temporal_linear.bias": (64,),
    "l4.gcn1.Linear_weight": (64, 64),
    "l4.gcn1.Linear_bias": (1, 1, 64),
    "l4.gcn1.Feature_Mask": (1, 25, 64),
    "l4.gcn1.shift_in": (1600,),
    "l4.gcn1.shift_out": (1600,),
    "l4.gcn1.bn.weight": (1600,),
    "l4.gcn1.bn.bias": (1600,),
    "l4.gcn1.bn.running_mean": (1600,),
    "l4.gcn1.bn.running_var": (1600,),
    "l4.gcn1.bn.num_batches_tracked": (),
    "l4.tcn1.bn.weight": (64,),
    "l4.tcn1.bn.bias": (64,),
    "l4.tcn1.bn.running_mean": (64,),
    "l4.tcn1.bn.running_var": (64,),
    "l4.tcn1.bn.num_batches_tracked": (),
    "l4.tcn1.bn2.weight": (64,),
    "l4.tcn1.bn2.bias": (64,),
    "l4.tcn1.bn2.running_mean": (64,),
    "l4.tcn1.bn2.running_var": (64,),
    "l4.tcn1.bn2.num_batches_tracked": (),
    "l4.tcn1.shift_in.xpos": (64,),
    "l4.tcn1.shift_in.ypos": (64,),
    "l4.tcn1.shift_out.xpos": (64,),
    "l4.tcn1.shift_out.ypos": (64,),
    "l4.tcn1.temporal_linear.weight": (64, 64, 1, 1),
    "l4.tcn1.temporal_linear.bias": (64,),
    "l5.gcn1.Linear_weight": (64, 128),
    "l5.gcn1.Linear_bias": (1, 1, 128),
    "l5.gcn1.Feature_Mask": (1, 25, 64),
    "l5.gcn1.shift_in": (1600,),
    "l5.gcn1.shift_out": (3200,),
    "l5.gcn1.down.0.weight": (128, 64, 1, 1),
    "l5.gcn1.down.0.bias": (128,),
    "l5.gcn1.down.1.weight": (128,),
    "l5.gcn1.down.1.bias": (128,),
    "l5.gcn1.down.1.running_mean": (128,),
    "l5.gcn1.down.1.running_var": (128,),
    "l5.gcn1.down.1.num_batches_tracked": (),
    "l5.gcn1.bn.weight": (3200,),
    "l5.gcn1.bn.bias": (3200,),
    "l5.gcn1.bn.running_mean": (3200,),
    "l5.gcn1.bn.running_var": (3200,),
    "l5.gcn1.bn.num_batches_tracked": (),
    "l5.tcn1.bn.weight": (128,),
    "l5.tcn1.bn.bias": (128,),
    "l5.tcn1.bn.running_mean": (128,),
    "l5.tcn1.bn.running_var": (128,),
    "l5.tcn1.bn.num_batches_tracked": (),
    "l5.tcn1.bn2.weight": (128,),
    "l5.tcn1.bn2.bias": (128,),
    "l5.tcn1.bn2.running_mean": (128,),
    "l5.tcn1.bn2.running_var": (128,),
    "l5.tcn1.bn2.num_batches_tracked": (),
    "l5.tcn1.shift_in.xpos": (128,),
    "l5.tcn1.shift_in.ypos": (128,),
    "l5.tcn1.shift_out.xpos": (128,),
    "l5.tcn1.shift_out.ypos": (128,),
    "l5.tcn1.temporal_linear.weight": (128, 128, 1, 1),
    "l5.tcn1.temporal_linear.bias": (128,),
    "l5.residual.conv.weight": (128, 64, 1, 1),
    "l5.residual.conv.bias": (128,),
    "l5.residual.bn.weight": (128,),
    "l5.residual.bn.bias": (128,),
    "l5.residual.bn.running_mean": (128,),
    "l5.residual.bn.running_var": (128,),
    "l5.residual.bn.num_batches_tracked": (),
    "l6.gcn1.Linear_weight": (128, 128),
    "l6.gcn1.Linear_bias": (1, 1, 128),
    "l6.gcn1.Feature_Mask": (1, 25, 128),
    "l6.gcn1.shift_in": (3200,),
    "l6.gcn1.shift_out": (3200,),
    "l6.gcn1.bn.weight": (3200,),
    "l6.gcn1.bn.bias": (3200,),
    "l6.gcn1.bn.running_mean": (3200,),
    "l6.gcn1.bn.running_var": (3200,),
    "l6.gcn1.bn.num_batches_tracked": (),
    "l6.tcn1.bn.weight": (128,),
    "l6.tcn1.bn.bias": (128,),
    "l6.tcn1.bn.running_mean": (128,),
    "l6.tcn1.bn.running_var": (128,),
    "l6.tcn1.bn.num_batches_tracked": (),
    "l6.tcn1.bn2.weight": (128,),
    "l6.tcn1.bn2.bias": (128,),
    "l6.tcn1.bn2.running_mean": (128,),
    "l6.tcn1.bn2.running_var": (128,),
    "l6.tcn1.bn2.num_batches_tracked": (),
    "l6.tcn1.shift_in.xpos": (128,),
    "l6.tcn1.shift_in.ypos": (128,),
    "l6.tcn1.shift_out.xpos": (128,),
    "l6.tcn1.shift_out.ypos": (128,),
    "l6.tcn1.temporal_linear.weight": (128, 128, 1, 1),
    "l6.tcn1.temporal_linear.bias": (128,),
    "l7.gcn1.Linear_weight": (128, 128),
    "l7.gcn1.Linear_bias": (1, 1, 128),
    "l7.gcn1.Feature_Mask": (1, 25, 128),
    "l7.gcn1.shift_in": (3200,),
    "l7.gcn1.shift_out": (3200,),
    "l7.gcn1.bn.weight": (3200,),
    "l7.gcn1.bn.bias": (3200,),
    "l7.gcn1.bn.running_mean": (3200,),
    "l7.gcn1.bn.running_var": (3200,),
    "l7.gcn1.bn.num_batches_tracked": (),
    "l7.tcn1.bn.weight": (128,),
    "l7.tcn1.bn.bias": (128,),
    "l7.tcn1.bn.running_mean": (128,),
    "l7.tcn1.bn.running_var": (128,),
    "l7.tcn1.bn.num_batches_tracked": (),
    "l7.tcn1.bn2.weight": (128,),
    "l7.tcn1.bn2.bias": (128,),
    "l7.tcn1.bn2.running_mean": (128,),
    "l7.tcn1.bn2.running_var": (128,),
    "l7.tcn1.bn2.num_batches_tracked": (),
    "l7.tcn1.shift_in.xpos": (128,),
    "l7.tcn1.shift_in.ypos": (128,),
    "l7.tcn1.shift_out.xpos": (128,),
    "l7.tcn1.shift_out.ypos": (128,),
    "l7.tcn1.temporal_linear.weight": (128, 128, 1, 1),
    "l7.tcn1.temporal_linear.bias": (128,),
    "l8.gcn1.Linear_weight": (128, 256),
    "l8.gcn1.Linear_bias": (1, 1, 256),
    "l8.gcn1.Feature_Mask": (1, 25, 128),
    "l8.gcn1.shift_in": (3200,),
    "l8.gcn1.shift_out": (6400,),
    "l8.gcn1.down.0.weight": (256, 128, 1, 1),
    "l8.gcn1.down.0.bias": (256,),
    "l8.gcn1.down.1.weight": (256,),
    "l8.gcn1.down.1.bias": (256,),
    "l8.gcn1.down.1.running_mean": (256,),
    "l8.gcn1.down.1.running_var": (256,),
    "l8.gcn1.down.1.num_batches_tracked": (),
    "l8.gcn1.bn.weight": (6400,),
    "l8.gcn1.bn.bias": (6400,),
    "l8.gcn1.bn.running_mean": (6400,),
    "l8.gcn1.bn.running_var": (6400,),
    "l8.gcn1.bn.num_batches_tracked": (),
    "l8.tcn1.bn.weight": (256,),
    "l8.tcn1.bn.bias": (256,),
    "l8.tcn1.bn.running_mean": (256,),
    "l8.tcn1.bn.running_var": (256,),
    "l8.tcn1.bn.num_batches_tracked": (),
    "l8.tcn1.bn2.weight": (256,),
    "l8.tcn1.bn2.bias": (256,),
    "l8.tcn1.bn2.running_mean": (256,),
    "l8.tcn1.bn2.running_var": (256,),
    "l8.tcn1.bn2.num_batches_tracked": (),
    "l8.tcn1.shift_in.xpos": (256,),
    "l8.tcn1.shift_in.ypos": (256,),
    "l8.tcn1.shift_out.xpos": (256,),
    "l8.tcn1.shift_out.ypos": (256,),
    "l8.tcn1.temporal_linear.weight": (256, 256, 1, 1),
    "l8.tcn1.temporal_linear.bias": (256,),
    "l8.residual.conv.weight": (256, 128, 1, 1),
    "l8.residual.conv.bias": (256,),
    "l8.residual.bn.weight": (256,),
    "l8.residual.bn.bias": (256,),
    "l8.residual.bn.running_mean": (256,),
    "l8.residual.bn.running_var": (256,),
    "l8.residual.bn.num_batches_tracked": (),
    "l9.gcn1.Linear_weight": (256, 256),
    "l9.gcn1.Linear_bias": (1, 1, 256),
    "l9.gcn1.Feature_Mask": (1, 25, 256),
    "l9.gcn1.shift_in": (6400,),
    "l9.gcn1.shift_out": (6400,),
    "l9.gcn1.bn.weight": (6400,),
    "l9.gcn1.bn.bias": (6400,),
    "l9.gcn1.bn.running_mean": (6400,),
    "l9.gcn1.bn.running_var": (6400,),
    "l9.gcn1.bn.num_batches_tracked": (),
    "l9.tcn1.bn.weight": (256,),
    "l9.tcn1.bn.bias": (256,),
    "l9.tcn1.bn.running_mean": (256,),
    "l9.tcn1.bn.running_var": (256,),
    "l9.tcn1.bn.num_batches_tracked": (),
    "l9.tcn1.bn2.weight": (256,),
    "l9.tcn1.bn2.bias": (256,),
    "l9.tcn1.bn2.running_mean": (256,),
    "l9.tcn1.bn2.running_var": (256,),
    "l9.tcn1.bn2.num_batches_tracked": (),
    "l9.tcn1.shift_in.xpos": (256,),
    "l9.tcn1.shift_in.ypos": (256,),
    "l9.tcn1.shift_out.xpos": (256,),
    "l9.tcn1.shift_out.ypos": (256,),
    "l9.tcn1.temporal_linear.weight": (256, 256, 1, 1),
    "l9.tcn1.temporal_linear.bias": (256,),
    "l10.gcn1.Linear_weight": (256, 256),
    "l10.gcn1.Linear_bias": (1, 1, 256),
    "l10.gcn1.Feature_Mask": (1, 25, 256),
    "l10.gcn1.shift_in": (6400,),
    "l10.gcn1.shift_out": (6400,),
    "l10.gcn1.bn.weight": (6400,),
    "l10.gcn1.bn.bias": (6400,),
    "l10.gcn1.bn.running_mean": (6400,),
    "l10.gcn1.bn.running_var": (6400,),
    "l10.gcn1.bn.num_batches_tracked": (),
    "l10.tcn1.bn.weight": (256,),
    "l10.tcn1.bn.bias": (256,),
    "l10.tcn1.bn.running_mean": (256,),
    "l10.tcn1.bn.running_var": (256,),
    "l10.tcn1.bn.num_batches_tracked": (),
    "l10.tcn1.bn2.weight": (256,),
    "l10.tcn1.bn2.bias": (256,),
    "l10.tcn1.bn2.running_mean": (256,),
    "l10.tcn1.bn2.running_var": (256,),
    "l10.tcn1.bn2.num_batches_tracked": (),
    "l10.tcn1.shift_in.xpos": (256,),
    "l10.tcn1.shift_in.ypos": (256,),
    "l10.tcn1.shift_out.xpos": (256,),
    "l10.tcn1.shift_out.ypos": (256,),
    "l10.tcn1.temporal_linear.weight": (256, 256, 1, 1),
    "l10.tcn1.temporal_linear.bias": (256,),
    "fc.weight": (60, 256),
    "fc.bias": (60,),
}


def official_shift_index(num_joints, channels, sign):
    """The official index arrays, computed with its own loop arithmetic:
    shift_in[i*C + j] = (i*C + j + j*C) % (C*V), shift_out[i*C + j] = (i*C + j - j*C) % (C*V)."""
    return torch.tensor([
        (i * channels + j + sign * j * channels) % (channels * num_joints)
        for i in range(num_joints) for j in range(channels)
    ])


def naive_temporal_shift(x, ypos, stride):
    """Reference with explicit loops: frame h of channel c interpolates the input at
    h*stride + ypos[c] (+0.5 for stride 2), zero outside the sequence."""
    b, c, t, v = x.shape
    t_out = math.ceil(t / stride)
    out = torch.zeros(b, c, t_out, v, dtype=x.dtype)
    for ch in range(c):
        offset = float(ypos[ch]) + (0.5 if stride == 2 else 0.0)
        for h in range(t_out):
            p = h * stride + offset
            i = math.floor(p)
            w = p - i
            for frame, weight in ((i, 1 - w), (i + 1, w)):
                if 0 <= frame < t:
                    out[:, ch, h] += weight * x[:, ch, frame]
    return out


# ---------------------------------------------------------------- spatial shift

def test_spatial_shift_index_by_hand():
    # V=3 joints, C=2 channels, joint-major flat index v*C + c.
    # shift in: channel c of joint v reads joint (v + c) mod 3; shift out: joint (v - c) mod 3.
    assert spatial_shift_index(3, 2, step=1).tolist() == [0, 3, 2, 5, 4, 1]
    assert spatial_shift_index(3, 2, step=-1).tolist() == [0, 5, 2, 1, 4, 3]


@pytest.mark.parametrize("num_joints,channels", [(25, 3), (25, 64), (20, 256), (4, 9)])
def test_spatial_shift_index_equals_official_arithmetic(num_joints, channels):
    assert torch.equal(spatial_shift_index(num_joints, channels, step=1), official_shift_index(num_joints, channels, 1))
    assert torch.equal(spatial_shift_index(num_joints, channels, step=-1),
                       official_shift_index(num_joints, channels, -1))


def test_spatial_shift_moves_channel_c_of_joint_v_to_joint_v_plus_c():
    v, c = 5, 7
    joint_id = torch.arange(v, dtype=torch.float32).view(v, 1).expand(v, c)  # feature (v, c) = v
    shifted = joint_id.reshape(1, v * c).index_select(1, spatial_shift_index(v, c, step=1)).view(v, c)
    for joint in range(v):
        for channel in range(c):
            assert shifted[joint, channel] == (joint + channel) % v


def test_shift_graph_conv_matches_loop_reference():
    torch.manual_seed(0)
    b, c_in, c_out, t, v = 2, 3, 5, 3, 4
    layer = ShiftGraphConv(c_in, c_out, num_joints=v)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
        for bn in (layer.bn, layer.down[1]):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    layer.eval()
    x = torch.randn(b, c_in, t, v)
    w, bias = layer.Linear_weight, layer.Linear_bias[0, 0]
    mask = torch.tanh(layer.Feature_Mask[0]) + 1  # (V, C_in)
    bn = layer.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    expected = torch.zeros(b, c_out, t, v)
    for n in range(b):
        for f in range(t):
            shifted = torch.stack([
                torch.stack([x[n, ch, f, (j + ch) % v] * mask[j, ch] for ch in range(c_in)]) for j in range(v)
            ])  # (V, C_in)
            z = shifted @ w + bias  # (V, C_out)
            for j in range(v):
                for d in range(c_out):
                    k = j * c_out + d
                    expected[n, d, f, j] = (z[(j - d) % v, d] - bn.running_mean[k]) * scale[k] + bn.bias[k]
    expected = torch.relu(expected + layer.down(x))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected.detach())


# ---------------------------------------------------------------- temporal shift

def test_integer_positions_are_a_roll_with_zero_fill():
    torch.manual_seed(0)
    shifts = [-2, 0, 1, 3]
    x = torch.randn(2, len(shifts), 6, 3)
    out = temporal_shift(x, torch.tensor(shifts, dtype=torch.float32), stride=1)
    for ch, k in enumerate(shifts):
        expected = torch.roll(x[:, ch], shifts=-k, dims=1)  # frame t reads frame t + k
        if k > 0:
            expected[:, -k:] = 0
        elif k < 0:
            expected[:, :-k] = 0
        assert torch.equal(out[:, ch], expected), f"shift {k}"


def test_fractional_positions_interpolate_linearly_by_hand():
    x = torch.tensor([1.0, 2.0, 4.0, 8.0]).view(1, 1, 4, 1).expand(1, 3, 4, 1)
    out = temporal_shift(x, torch.tensor([0.25, -0.5, -1.75]), stride=1)
    assert out[0, 0, :, 0].tolist() == [1.25, 2.5, 5.0, 6.0]  # 0.75 x[t] + 0.25 x[t+1]
    assert out[0, 1, :, 0].tolist() == [0.5, 1.5, 3.0, 6.0]  # 0.5 x[t-1] + 0.5 x[t]
    assert out[0, 2, :, 0].tolist() == [0.0, 0.25, 1.25, 2.5]  # 0.75 x[t-2] + 0.25 x[t-1]


@pytest.mark.parametrize("stride", [1, 2])
def test_temporal_shift_matches_loop_reference(stride):
    torch.manual_seed(1)
    x = torch.randn(2, 6, 9, 3, dtype=torch.float64)
    ypos = torch.tensor([-3.7, -1.0, -0.2, 0.0, 1.4, 9.5], dtype=torch.float64)
    torch.testing.assert_close(temporal_shift(x, ypos, stride), naive_temporal_shift(x, ypos, stride))


def test_stride_two_samples_the_middle_of_each_pair_by_hand():
    x = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0]).view(1, 1, 5, 1).expand(1, 3, 5, 1)
    out = temporal_shift(x, torch.tensor([0.0, -0.5, 1.0]), stride=2)
    assert out.shape == (1, 3, 3, 1)
    assert out[0, 0, :, 0].tolist() == [1.5, 6.0, 8.0]  # positions 0.5, 2.5, 4.5
    assert out[0, 1, :, 0].tolist() == [1.0, 4.0, 16.0]  # positions 0, 2, 4: x[::2]
    assert out[0, 2, :, 0].tolist() == [3.0, 12.0, 0.0]  # positions 1.5, 3.5, 5.5


@pytest.mark.parametrize("frames,expected", [(64, 32), (63, 32), (7, 4), (1, 1)])
def test_stride_two_output_length(frames, expected):
    shift = TemporalShift(8, stride=2)
    assert shift(torch.randn(2, 8, frames, 3)).shape == (2, 8, expected, 3)


def test_unsupported_stride_is_rejected():
    with pytest.raises(ValueError, match="stride 1 or 2"):
        temporal_shift(torch.randn(1, 2, 6, 1), torch.zeros(2), stride=3)


@pytest.mark.parametrize("stride", [1, 2])
def test_exact_gradient_matches_finite_differences(stride):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 7, 2, dtype=torch.float64, requires_grad=True)
    ypos = torch.tensor([0.3, -1.6, 2.45], dtype=torch.float64, requires_grad=True)  # away from the kinks
    assert torch.autograd.gradcheck(lambda a, y: temporal_shift(a, y, stride), (x, ypos))


def test_official_position_gradient_is_a_fixed_step_in_the_sign_direction():
    torch.manual_seed(3)
    ypos = torch.tensor([0.3, -1.6, 2.45, 50.0])  # channel 3 reads only frames outside the sequence
    official = TemporalShift(4, stride=2, position_grad="official")
    exact = TemporalShift(4, stride=2, position_grad="exact")
    with torch.no_grad():
        official.ypos.copy_(ypos)
        exact.ypos.copy_(ypos)
    x, upstream = torch.randn(2, 4, 8, 3), torch.randn(2, 4, 4, 3)
    (official(x) * upstream).sum().backward()
    (exact(x) * upstream).sum().backward()
    g = exact.ypos.grad
    assert torch.all(g[:3] != 0) and g[3] == 0
    torch.testing.assert_close(official.ypos.grad[:3], 0.01 * g[:3].sign())
    assert official.ypos.grad[3].item() == pytest.approx(1e-4)


def test_invalid_position_grad_is_rejected():
    with pytest.raises(ValueError, match="position_grad"):
        ShiftGCN(10, position_grad="sign")


# ---------------------------------------------------------------- whole network

@pytest.mark.parametrize("layout,persons,frames,expected_frames,joints", [
    ("ntu25", 2, 64, 16, 25),
    ("kinect20", 1, 64, 16, 20),
    ("ntu25", 1, 30, 8, 25),
])
def test_feature_and_logit_shapes(layout, persons, frames, expected_frames, joints):
    torch.manual_seed(0)
    model = ShiftGCN(7, layout=layout, num_persons=persons).eval()
    x = torch.randn(2, 3, frames, joints, persons)
    with torch.no_grad():
        features = model.features(x)
        logits = model(x)
    assert features.shape == (2, persons, 256, expected_frames, joints)
    assert logits.shape == (2, 7)
    torch.testing.assert_close(logits, model.fc(features.mean(dim=(1, 3, 4))))


def test_data_bn_normalises_each_person_joint_coordinate_in_the_official_order():
    # The official data_bn feature of (person m, joint v, coordinate c) is m*V*C + v*C + c, and
    # sequences reach l1 as (N*M, C, T, V) with sample n, person m at row n*M + m.
    torch.manual_seed(7)
    n, c, t, v, m = 2, 3, 4, 20, 2
    model = ShiftGCN(5, layout="kinect20", num_persons=m).eval()
    bn = model.data_bn
    with torch.no_grad():
        bn.running_mean.copy_(torch.arange(m * v * c, dtype=torch.float32))
        bn.running_var.fill_(1.0 - bn.eps)
        bn.weight.copy_(torch.arange(m * v * c, dtype=torch.float32) + 1)
    seen = []
    model.l1.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.randn(n, c, t, v, m)
    with torch.no_grad():
        model(x)
    (l1_input,) = seen
    assert l1_input.shape == (n * m, c, t, v)
    for sample in range(n):
        for person in range(m):
            for joint in (0, 7, v - 1):
                for coord in range(c):
                    k = person * v * c + joint * c + coord
                    expected = (x[sample, coord, :, joint, person] - bn.running_mean[k]) * bn.weight[k] + bn.bias[k]
                    torch.testing.assert_close(l1_input[sample * m + person, coord, :, joint], expected)


def test_features_of_each_sample_and_person_come_from_that_sequence_alone():
    # In eval mode nothing mixes sequences, so editing sample 1 / person 0 changes only its slice.
    torch.manual_seed(8)
    model = ShiftGCN(5, layout="ntu25", num_persons=2).eval()
    x = torch.randn(3, 3, 8, 25, 2)
    edited = x.clone()
    edited[1, :, :, :, 0] += 1.0
    with torch.no_grad():
        before, after = model.features(x), model.features(edited)
    changed = (before != after).flatten(2).any(dim=2)  # (N, M)
    assert changed.tolist() == [[False, False], [True, False], [False, False]]


@pytest.mark.parametrize("shape", [(2, 3, 16, 20, 2), (2, 3, 16, 25, 1), (2, 2, 16, 25, 2), (3, 16, 25, 2)])
def test_wrong_input_shape_is_rejected(shape):
    model = ShiftGCN(5, layout="ntu25", num_persons=2)
    with pytest.raises(ValueError, match=r"expects input \(N, C=3, T, V=25, M=2\)"):
        model(torch.randn(*shape))


def test_unknown_layout_is_rejected():
    with pytest.raises(ValueError, match="unknown joint layout"):
        ShiftGCN(5, layout="openpose18")


def test_state_dict_has_the_official_names_and_shapes():
    state = ShiftGCN(60, layout="ntu25", num_persons=2).state_dict()
    assert set(state) == set(OFFICIAL_NTU60_STATE_SHAPES)  # order is irrelevant to loading
    assert {k: tuple(v.shape) for k, v in state.items()} == OFFICIAL_NTU60_STATE_SHAPES


def official_format_state_dict():
    """A state dict with the official key set, shapes, dtypes and index arrays; random values."""
    generator = torch.Generator().manual_seed(4)
    state = {}
    for name, shape in OFFICIAL_NTU60_STATE_SHAPES.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(123)
        elif name.endswith(("gcn1.shift_in", "gcn1.shift_out")):  # (25*C,) int64 index arrays
            state[name] = official_shift_index(25, shape[0] // 25, 1 if name.endswith("shift_in") else -1)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[name] = 0.1 * torch.randn(shape, generator=generator)
    return state


def test_official_format_state_dict_loads_strictly():
    official = official_format_state_dict()
    model = ShiftGCN(60, layout="ntu25", num_persons=2)
    own_index = {k: v.clone() for k, v in model.state_dict().items() if k.endswith(("shift_in", "shift_out"))}
    model.load_state_dict(official, strict=True)
    loaded = model.state_dict()
    for name, value in official.items():
        assert loaded[name].dtype == value.dtype and torch.equal(loaded[name], value), name
    for name, value in own_index.items():  # the official index arrays are the ones we build
        assert torch.equal(value, official[name]), name
    with torch.no_grad():
        logits = model.eval()(torch.randn(2, 3, 16, 25, 2))
    assert logits.shape == (2, 60) and torch.isfinite(logits).all()


def train_steps(seed, steps):
    """A few SGD steps on one random batch; returns the losses and the final logits."""
    torch.manual_seed(seed)
    model = ShiftGCN(4, layout="kinect20", num_persons=1)
    x = torch.randn(8, 3, 8, 20, 1)
    labels = torch.arange(8) % 4
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses, model(x).detach()


def test_training_reduces_the_loss_and_reaches_every_unit():
    model, losses, _ = train_steps(seed=0, steps=8)
    assert losses[-1] < 0.5 * losses[0], losses
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for unit in model.units():
        for p in (unit.gcn1.Linear_weight, unit.gcn1.Feature_Mask, unit.tcn1.temporal_linear.weight,
                  unit.tcn1.shift_in.ypos, unit.tcn1.shift_out.ypos):
            assert p.grad.abs().sum() > 0
    assert model.data_bn.weight.grad.abs().sum() > 0


def test_cpu_runs_are_bit_identical():
    _, losses_a, logits_a = train_steps(seed=5, steps=2)
    _, losses_b, logits_b = train_steps(seed=5, steps=2)
    assert losses_a == losses_b
    assert torch.equal(logits_a, logits_b)


@pytest.mark.slow
def test_traces_as_one_graph_for_torch_compile():
    torch.manual_seed(6)
    model = ShiftGCN(5, layout="kinect20", num_persons=1).eval()
    x = torch.randn(2, 3, 8, 20, 1)
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # fullgraph: a graph break raises
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
