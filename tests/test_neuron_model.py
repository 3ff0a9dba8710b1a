"""Tests for the Neuron matching head (neuron.models.neuron) and the global baseline
(neuron.models.baseline)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuron.data.layouts import get_layout
from neuron.models.baseline import GLOBAL_STREAM, GlobalBaseline
from neuron.models.neuron import (
    MASKED_WEIGHT,
    STREAMS,
    TABLE6_ROWS,
    MatchingOutput,
    NeuronHead,
    joint_keep_mask,
    matching_loss,
    segment_bounds,
)
from neuron.models.shift_gcn import ShiftGCN

# Small dimensions for the mechanism tests: C channels, D text dims, A_s / A_t prototypes.
C, D, A_S, A_T = 16, 12, 8, 6


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


def make_text(num_classes=5, descriptions=4, dim=D, phases=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {s: torch.randn(phases, num_classes, descriptions, dim, generator=g) for s in STREAMS}


def small_head(**kwargs):
    torch.manual_seed(0)
    return NeuronHead(feature_dim=C, text_dim=D, num_spatial=A_S, num_temporal=A_T, **kwargs)


def feature_map(n=2, channels=C, steps=16, joints=25, seed=1):
    return torch.randn(n, channels, steps, joints, generator=torch.Generator().manual_seed(seed))


def set_final_layer(mlp, weight=0.0, bias=0.0):
    """Make an official Linear-ReLU-Linear-ReLU MLP output the constant relu(bias)."""
    with torch.no_grad():
        mlp[2].weight.fill_(weight)
        mlp[2].bias.fill_(bias)


# ---------------------------------------------------------------- shapes and interface


@pytest.mark.parametrize("layout", ["ntu25", "kinect20"])
def test_official_sizes_give_per_phase_logits_and_features(layout):
    joints = get_layout(layout).num_joints
    torch.manual_seed(0)
    head = NeuronHead()  # C = 256, D = 768, 80 + 80 prototypes, 3 phases
    text = make_text(num_classes=5, descriptions=10, dim=768)
    out = head(feature_map(n=2, channels=256, steps=16, joints=joints), text)
    assert isinstance(out, MatchingOutput)
    for stream in STREAMS:
        assert [tuple(x.shape) for x in out.logits_per_phase[stream]] == [(2, 5)] * 3
        assert [tuple(x.shape) for x in out.features_per_phase[stream]] == [(2, 256)] * 3
        # cosine times the official 0.1
        assert all(x.abs().max() <= 0.1 + 1e-6 for x in out.logits_per_phase[stream])
    final = out.final_logits()
    assert set(final) == set(STREAMS)
    assert torch.equal(final["spatial"], out.logits_per_phase["spatial"][2])
    assert torch.equal(final["temporal"], out.logits_per_phase["temporal"][2])


def test_each_phase_is_scored_against_its_own_descriptions():
    head = small_head()
    features, text = feature_map(), make_text()
    before = head(features, text)
    changed = {s: t.clone() for s, t in text.items()}
    changed["spatial"][1] = torch.randn_like(changed["spatial"][1])
    after = head(features, changed)
    same = [torch.equal(a, b) for a, b in zip(before.logits_per_phase["spatial"], after.logits_per_phase["spatial"])]
    assert same == [True, False, True]
    assert all(torch.equal(a, b) for a, b in zip(before.logits_per_phase["temporal"],
                                                 after.logits_per_phase["temporal"]))


def test_loss_is_the_mean_of_the_six_cross_entropies():
    head = small_head()
    labels = torch.tensor([3, 0])
    out = head(feature_map(), make_text())
    terms = [F.cross_entropy(x, labels) for s in STREAMS for x in out.logits_per_phase[s]]
    assert len(terms) == 6
    torch.testing.assert_close(matching_loss(out, labels), sum(terms) / 6)


# ---------------------------------------------------------------- spatial compression


def test_official_keep_counts():
    assert NeuronHead().spatial.keep_counts == (60, 40, 20)
    assert NeuronHead(num_spatial=100).spatial.keep_counts == (75, 50, 25)


def test_compression_keeps_each_joints_top_attributes():
    torch.manual_seed(0)
    head = NeuronHead()
    # Small features so no softmax weight underflows to 0 (a masked 0 would look kept).
    spatial_feature = 0.01 * torch.randn(2, 25, 256)
    prototypes = head.spatial.prototypes.expand(2, -1, -1)
    scores = torch.einsum("nvc,nac->nva", spatial_feature, prototypes)
    softmax_over_joints = scores.softmax(dim=1)
    assert softmax_over_joints.min() > 0
    for phase, keep in enumerate((60, 40, 20)):
        weights = head.spatial.assignment(spatial_feature, prototypes, phase)
        kept = weights == softmax_over_joints  # (N, V, A)
        assert (kept.sum(dim=2) == keep).all()
        torch.testing.assert_close(weights[~kept], softmax_over_joints[~kept] * MASKED_WEIGHT)
        # the kept attributes are the highest-scoring ones of each joint
        lowest_kept = scores.masked_fill(~kept, math.inf).amin(dim=2)
        highest_masked = scores.masked_fill(kept, -math.inf).amax(dim=2)
        assert (lowest_kept > highest_masked).all()


def test_without_compression_nothing_is_masked():
    torch.manual_seed(0)
    head = NeuronHead(spatial_compression=False)
    assert head.spatial.keep_counts is None
    spatial_feature = torch.randn(2, 25, 256)
    prototypes = head.spatial.prototypes.expand(2, -1, -1)
    scores = torch.einsum("nvc,nac->nva", spatial_feature, prototypes)
    for phase in range(3):
        assert torch.equal(head.spatial.assignment(spatial_feature, prototypes, phase), scores.softmax(dim=1))


def test_joint_keep_mask_marks_the_largest_scores():
    scores = torch.tensor([[[0.3, -1.0, 2.0, 0.5], [4.0, 3.0, 2.0, 1.0]]])  # (1, V=2, A=4)
    expected = torch.tensor([[[False, False, True, True], [True, True, False, False]]])
    assert torch.equal(joint_keep_mask(scores, 2), expected)


def test_spatial_stream_matches_hand_computation():
    torch.manual_seed(0)
    head = NeuronHead(feature_dim=4, text_dim=3, num_spatial=6, num_temporal=2, keep_fractions=(0.5, 1 / 3, 1 / 6))
    spatial_feature = torch.randn(2, 5, 4)  # (N, V, C)
    expected, prototypes = [], head.spatial.prototypes.detach().expand(2, -1, -1)
    for phase, keep in enumerate((3, 2, 1)):
        scores = spatial_feature @ prototypes.transpose(1, 2)  # (N, V, A)
        weights = scores.exp() / scores.exp().sum(dim=1, keepdim=True)
        order = scores.argsort(dim=2, descending=True)
        factor = torch.full_like(scores, MASKED_WEIGHT).scatter(2, order[:, :, :keep], 1.0)
        aggregated = (weights * factor).transpose(1, 2) @ spatial_feature  # (N, A, C)
        prototypes = head.spatial.refine[phase](aggregated)
        expected.append(prototypes)
    for got, want in zip(head.spatial(spatial_feature), expected):
        torch.testing.assert_close(got, want)


# ---------------------------------------------------------------- temporal memory


def test_recall_gate_one_and_no_update_keeps_the_old_prototypes():
    head = small_head()
    set_final_layer(head.temporal.recall[0], bias=30.0)  # sigmoid(relu(30)) == 1 in float32
    set_final_layer(head.temporal.update[0])  # phi = relu(0) = 0
    states = head.temporal(torch.randn(2, 16, C))
    assert torch.equal(states[0], head.temporal.prototypes.expand(2, -1, -1))


def test_remember_gate_one_and_empty_memory_takes_the_new_prototypes():
    head = small_head()
    with torch.no_grad():
        head.temporal.prototypes.zero_()  # nothing to recall; scores 0 -> uniform attention
    set_final_layer(head.temporal.remember[0], bias=30.0)
    temporal_feature = torch.randn(2, 16, C)
    states = head.temporal(temporal_feature)
    segment_mean = temporal_feature[:, :5].mean(dim=1, keepdim=True).expand(-1, A_T, -1)  # (N, A, C)
    torch.testing.assert_close(states[0], head.temporal.update[0](segment_mean))


def test_official_gate_mlps_never_close_below_one_half():
    # The gate MLPs end in ReLU, so a zero pre-activation gives the smallest gate, 0.5.
    head = small_head()
    set_final_layer(head.temporal.recall[0])
    set_final_layer(head.temporal.remember[0])
    temporal_feature = torch.randn(2, 16, C)
    old = head.temporal.prototypes.expand(2, -1, -1)
    segment = temporal_feature[:, :5]
    weights = torch.einsum("ntc,nac->nta", segment, old).softmax(dim=1)
    new = head.temporal.update[0](torch.einsum("nta,ntc->nac", weights, segment))
    torch.testing.assert_close(head.temporal(temporal_feature)[0], 0.5 * old + 0.5 * new)


def test_temporal_stream_matches_hand_computation():
    torch.manual_seed(0)
    head = NeuronHead(feature_dim=4, text_dim=3, num_spatial=4, num_temporal=3)
    temporal_feature = torch.randn(2, 7, 4)  # (N, T', C); prefixes [:2], [:4], [:7]
    stream = head.temporal

    def sigmoid(x):
        return 1 / (1 + torch.exp(-x))

    expected, prototypes = [], stream.prototypes.detach().expand(2, -1, -1)
    for phase, stop in enumerate((2, 4, 7)):
        segment = temporal_feature[:, :stop]
        scores = segment @ prototypes.transpose(1, 2)  # (N, T_e, A)
        weights = scores.exp() / scores.exp().sum(dim=1, keepdim=True)
        p_hat = weights.transpose(1, 2) @ segment  # (N, A, C)
        prototypes = (sigmoid(stream.recall[phase](p_hat)) * prototypes
                      + sigmoid(stream.remember[phase](p_hat)) * stream.update[phase](p_hat))
        expected.append(prototypes)
    for got, want in zip(stream(temporal_feature), expected):
        torch.testing.assert_close(got, want)


# ---------------------------------------------------------------- temporal segments


def test_segment_bounds():
    assert segment_bounds(16, 3, "prefix") == [(0, 5), (0, 10), (0, 16)]  # official [:5], [:10], [:]
    assert segment_bounds(16, 3, "thirds") == [(0, 5), (5, 10), (10, 16)]
    assert segment_bounds(3, 3, "thirds") == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(ValueError, match="cannot be split"):
        segment_bounds(2, 3, "prefix")
    with pytest.raises(ValueError, match="segment mode"):
        segment_bounds(16, 3, "halves")


def _zero_steps(features, start, stop, inside):
    """Copy of features (N, C, T', V) with the steps in [start, stop) zeroed (inside) or all others zeroed."""
    keep = torch.zeros(features.shape[2], dtype=torch.bool)
    keep[start:stop] = True
    if inside:
        keep = ~keep
    return features * keep.view(1, 1, -1, 1)


@pytest.mark.parametrize("mode", ["prefix", "thirds"])
@pytest.mark.parametrize("evolving", [False, True])
def test_each_temporal_phase_reads_only_its_time_steps(mode, evolving):
    head = small_head(temporal_segments=mode, temporal_evolving=evolving)
    features, text = feature_map(), make_text()
    reference = head(features, text).features_per_phase["temporal"]
    for phase, (start, stop) in enumerate(segment_bounds(16, 3, mode)):
        # An evolving phase also carries what the earlier phases read.
        first = 0 if evolving else start
        outside_zeroed = head(_zero_steps(features, first, stop, inside=False), text)
        torch.testing.assert_close(outside_zeroed.features_per_phase["temporal"][phase], reference[phase],
                                   rtol=0, atol=0)
        inside_zeroed = head(_zero_steps(features, start, stop, inside=True), text)
        assert not torch.allclose(inside_zeroed.features_per_phase["temporal"][phase], reference[phase])


def test_prefix_and_thirds_differ_in_the_early_steps_of_later_phases():
    features, text = feature_map(), make_text()
    early_zeroed = _zero_steps(features, 0, 5, inside=True)
    for mode, middle_phase_changes in (("prefix", True), ("thirds", False)):
        head = small_head(temporal_segments=mode, temporal_evolving=False)
        a = head(features, text).features_per_phase["temporal"][1]
        b = head(early_zeroed, text).features_per_phase["temporal"][1]
        assert (not torch.equal(a, b)) == middle_phase_changes, mode


# ---------------------------------------------------------------- ablation switches


def test_table6_rows_add_one_component_each():
    rows = list(TABLE6_ROWS.values())
    assert list(TABLE6_ROWS) == ["neither", "+spatial_granularity", "+temporal_evolving",
                                 "+spatial_compression", "full"]
    assert sum(rows[0].values()) == 0 and all(rows[-1].values())
    for before, after in zip(rows, rows[1:]):
        added = [k for k in after if after[k] and not before[k]]
        assert len(added) == 1 and all(after[k] for k in before if before[k])


@pytest.mark.parametrize("row", list(TABLE6_ROWS))
def test_every_table6_row_trains(row):
    head = small_head(**TABLE6_ROWS[row])
    loss = matching_loss(head(feature_map(), make_text()), torch.tensor([1, 4]))
    loss.backward()
    assert torch.isfinite(loss)
    for name, param in head.named_parameters():
        assert param.grad is not None, f"{row}: {name} has no gradient"
    assert head.spatial.prototypes.grad.abs().sum() > 0
    assert head.temporal.prototypes.grad.abs().sum() > 0
    assert (head.temporal.recall is not None) == TABLE6_ROWS[row]["temporal_memory"]


@pytest.mark.parametrize("evolving", [False, True])
def test_evolution_switches_carry_prototypes_between_phases(evolving):
    # With evolution, phase 2 starts from phase 1's prototypes, so phase 1's MLP reaches it.
    head = small_head(spatial_granularity=evolving, temporal_evolving=evolving)
    features, text = feature_map(), make_text()
    before = head(features, text).features_per_phase
    set_final_layer(head.spatial.refine[0], weight=0.1, bias=0.5)
    set_final_layer(head.temporal.update[0], weight=0.1, bias=0.5)
    after = head(features, text).features_per_phase
    for stream in STREAMS:
        assert not torch.equal(before[stream][0], after[stream][0])
        assert (not torch.equal(before[stream][1], after[stream][1])) == evolving, stream


# ---------------------------------------------------------------- training with the frozen encoder


def test_gradients_reach_the_head_but_not_the_frozen_encoder():
    torch.manual_seed(0)
    encoder = ShiftGCN(num_classes=4, layout="kinect20", num_persons=2).requires_grad_(False)
    head = NeuronHead(text_dim=D, num_spatial=A_S, num_temporal=A_T)
    x = torch.randn(2, 3, 16, 20, 2)  # (N, C, T, V, M) -> T' = 4
    features = encoder.features(x).mean(dim=1)  # (N, 256, T', V)
    loss = matching_loss(head(features, make_text()), torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is None for p in encoder.parameters())
    assert head.spatial.prototypes.grad.abs().sum() > 0
    assert head.temporal.prototypes.grad.abs().sum() > 0
    for name, param in head.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_forward_is_deterministic_on_cpu():
    features, text, labels = feature_map(), make_text(), torch.tensor([2, 3])
    runs = []
    for _ in range(2):
        head = small_head()
        out = head(features, text)
        matching_loss(out, labels).backward()
        runs.append((out, head.temporal.prototypes.grad.clone()))
    (a, grad_a), (b, grad_b) = runs
    for stream in STREAMS:
        assert all(torch.equal(x, y) for x, y in zip(a.logits_per_phase[stream], b.logits_per_phase[stream]))
    assert torch.equal(grad_a, grad_b)


# ---------------------------------------------------------------- input checks


def test_bad_inputs_are_rejected_with_clear_errors():
    head = small_head()
    text = make_text()
    with pytest.raises(ValueError, match=r"feature map \(N, C=16"):
        head(feature_map(channels=8), text)
    with pytest.raises(ValueError, match="fewer than the 3 temporal phases"):
        head(feature_map(steps=2), text)
    with pytest.raises(ValueError, match="text must map"):
        head(feature_map(), {"spatial": text["spatial"]})
    with pytest.raises(ValueError, match=r"text\['temporal'\] must have shape \(P=3"):
        head(feature_map(), {"spatial": text["spatial"], "temporal": text["temporal"][:2]})
    with pytest.raises(ValueError, match="different class counts"):
        head(feature_map(), {"spatial": text["spatial"], "temporal": text["temporal"][:, :3]})
    with pytest.raises(ValueError, match="one fraction per phase"):
        small_head(keep_fractions=(0.5, 0.25))
    with pytest.raises(ValueError, match="keep counts"):
        small_head(keep_fractions=(0.5, 0.25, 0.01))
    with pytest.raises(ValueError, match="segment mode"):
        small_head(temporal_segments="halves")


# ---------------------------------------------------------------- baseline


def test_baseline_logits_match_hand_computation():
    torch.manual_seed(0)
    model = GlobalBaseline(feature_dim=3, text_dim=2)
    with torch.no_grad():
        model.project[0].weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]))
        model.project[0].bias.copy_(torch.tensor([0.1, -0.2]))
    features = torch.randn(2, 3, 4, 5)
    text = make_text(num_classes=3, descriptions=2, dim=2, phases=3)

    f = features.numpy().astype(np.float64)
    w = model.project[0].weight.detach().numpy().astype(np.float64)
    b = model.project[0].bias.detach().numpy().astype(np.float64)
    expected = np.zeros((2, 3))
    for n in range(2):
        z = np.maximum(w @ f[n].mean(axis=(1, 2)) + b, 0)
        z /= np.linalg.norm(z)
        for k in range(3):
            cosines = [z @ t / np.linalg.norm(t)
                       for s in STREAMS for t in text[s][:, k].reshape(-1, 2).numpy().astype(np.float64)]
            assert len(cosines) == 2 * 3 * 2  # both streams, 3 phases, 2 descriptions
            expected[n, k] = 0.1 * np.mean(cosines)

    out = model(features, text)
    assert list(out.logits_per_phase) == [GLOBAL_STREAM]
    np.testing.assert_allclose(out.final_logits()[GLOBAL_STREAM].detach().numpy(), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out.features_per_phase[GLOBAL_STREAM][0], features.mean(dim=(2, 3)))


def test_baseline_shares_the_training_interface():
    torch.manual_seed(0)
    model = GlobalBaseline(feature_dim=C, text_dim=D)
    out = model(feature_map(joints=20), make_text())
    labels = torch.tensor([0, 4])
    loss = matching_loss(out, labels)
    torch.testing.assert_close(loss, F.cross_entropy(out.final_logits()[GLOBAL_STREAM], labels))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(ValueError, match=r"feature map \(N, C=16"):
        model(feature_map(channels=8), make_text())
