"""FasterAutoAugmentPolicy as a module: relaxed and discrete forwards, gradients, sampling
statistics, description and JSON export, presets."""

from __future__ import annotations

import json
import math

import pytest
import torch
from helpers import seeded

from hf_faa import OPERATIONS, FasterAutoAugmentPolicy
from hf_faa import preset_tables as tables
from hf_faa.ops import DEFAULT_OPERATIONS
from hf_faa.policy import PRESETS


def images(batch: int = 16, channels: int = 3, size: int = 12, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=seeded(1)).to(dtype)


@pytest.fixture
def policy() -> FasterAutoAugmentPolicy:
    torch.manual_seed(0)
    return FasterAutoAugmentPolicy()


def test_defaults_follow_the_paper(policy):
    assert policy.operations == list(DEFAULT_OPERATIONS) == [name for name in OPERATIONS if name != "Elastic"]
    assert (policy.num_sub_policies, policy.operation_count, policy.temperature) == (10, 2, 0.05)
    for name in ("logits", "magnitudes", "probabilities"):
        parameter = getattr(policy, name)
        assert parameter.shape == (10, 2, 17)
        assert 0 <= parameter.min() and parameter.max() <= 1  # U(0, 1) initialisation
    assert sum(p.numel() for p in policy.parameters()) == 3 * 10 * 2 * 17


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_keeps_shape_and_dtype(policy, mode, dtype, channels):
    getattr(policy, mode)()
    batch = images(channels=channels)
    batch = (batch * 255).to(torch.uint8) if dtype == torch.uint8 else batch.to(dtype)
    out = policy(batch, generator=seeded())
    assert out.shape == batch.shape and out.dtype == dtype
    if dtype != torch.uint8:
        assert 0 <= out.min() and out.max() <= 1


AUTOCAST = [
    ("cpu", torch.bfloat16),
    ("cpu", torch.float16),
    *[pytest.param("cuda", dtype, marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))
      for dtype in (torch.bfloat16, torch.float16)],
]  # fmt: skip


def forward_and_gradients(policy, batch, seed, autocast_dtype=None):
    """The policy's output on ``batch`` and its parameters' gradients, optionally inside ``torch.autocast``."""
    policy.zero_grad()
    torch.manual_seed(seed)
    with torch.autocast(batch.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        out = policy(batch)
    if policy.training:
        (out * torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)).sum().backward()
    return out, {name: parameter.grad for name, parameter in policy.named_parameters()}


@pytest.mark.parametrize(("device", "autocast_dtype"), AUTOCAST)
@pytest.mark.parametrize("mode", ["weighted", "gumbel", "eval"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_op_runs_in_full_precision_under_autocast(name, channels, mode, device, autocast_dtype):
    """A bf16/fp16 critic runs the search under autocast: the policy's ops keep float32 math, so
    images and gradients are those of a float32 run (the bf16 crash in Saturate's blend was this)."""
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(operations=[name], num_sub_policies=2, operation_count=2, temperature=1.0,
                                     selection="gumbel" if mode == "gumbel" else "weighted").to(device)  # fmt: skip
    policy.train(mode != "eval")
    batch = images(batch=8, channels=channels).to(device)
    expected, expected_gradients = forward_and_gradients(policy, batch, seed=3)
    out, gradients = forward_and_gradients(policy, batch, seed=3, autocast_dtype=autocast_dtype)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
    for parameter, gradient in gradients.items():
        torch.testing.assert_close(gradient, expected_gradients[parameter], msg=parameter)


def test_empty_batch_passes_through(policy):
    empty = torch.zeros(0, 3, 8, 8)
    assert policy.eval()(empty).shape == empty.shape
    assert policy.train()(empty).shape == empty.shape


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(2, 3, 8, 8, dtype=torch.int32), "float with values in \\[0, 1\\] or uint8 in \\[0, 255\\]"),
        (torch.zeros(3, 8, 8), "4 dimensions"),
        (torch.zeros(2, 2, 8, 8), "1 \\(grayscale\\) or 3 \\(RGB\\)"),
    ],
)
def test_bad_images_raise(policy, bad, message):
    with pytest.raises(ValueError, match=message):
        policy.eval()(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operations": ["Rotate", "Twirl"]}, "Unknown operation\\(s\\) \\['Twirl'\\]"),
        ({"operations": []}, "non-empty"),
        ({"operations": ["Rotate", "Rotate"]}, "distinct"),
        ({"num_sub_policies": 0}, "num_sub_policies must be a positive integer"),
        ({"operation_count": 1.5}, "operation_count must be a positive integer"),
        ({"temperature": 0}, "temperature must be a positive number"),
        ({"magnitude_sampling": "gaussian"}, "magnitude_sampling must be one of"),
        ({"selection": "hard"}, "selection must be one of"),
        ({"magnitude_ranges": {"Invert": [0, 1]}}, "not an operation of this policy with a magnitude"),
        ({"magnitude_ranges": {"Rotate": [0]}}, "must be \\[low, high\\]"),
    ],
)
def test_invalid_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FasterAutoAugmentPolicy(**kwargs)


# ----------------------------------------------------------------------------------------- relaxed mode


@pytest.mark.parametrize("selection", ["weighted", "gumbel"])
def test_relaxed_forward_gives_every_parameter_a_gradient(selection):
    # temperature 1 and a large batch: every sub-policy and (for gumbel) every op gets sampled
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(num_sub_policies=2, temperature=1.0, selection=selection).train()
    with torch.no_grad():
        policy.magnitudes.fill_(0.5)  # no op is the identity at this magnitude (Posterize is at 0)
    batch = torch.rand(1024, 3, 8, 8, generator=seeded(2))
    weights = torch.randn(batch.shape, generator=seeded(3))
    (policy(batch, generator=seeded(4)) * weights).sum().backward()
    has_magnitude = torch.tensor([OPERATIONS[name].has_magnitude for name in policy.operations])
    for name, parameter in policy.named_parameters():
        assert torch.isfinite(parameter.grad).all(), name
        if name == "magnitudes":  # ops without a magnitude (flips, Invert, ...) ignore theirs
            assert (parameter.grad[..., has_magnitude] != 0).all()
            assert (parameter.grad[..., ~has_magnitude] == 0).all()
        else:
            assert (parameter.grad != 0).all(), (name, (parameter.grad == 0).sum())


@pytest.mark.parametrize("selection", ["weighted", "gumbel"])
def test_relaxed_forward_is_reproducible_and_differentiable_to_images(policy, selection):
    policy.selection = selection
    policy.train()
    batch = images().requires_grad_()
    first = policy(batch, generator=seeded(5))
    torch.testing.assert_close(policy(batch, generator=seeded(5)), first)
    first.sum().backward()
    assert torch.isfinite(batch.grad).all() and batch.grad.abs().sum() > 0


def test_gradients_pass_parameter_bounds(policy):
    """A parameter outside [0, 1] is clamped in the forward pass but keeps its gradient."""
    with torch.no_grad():
        policy.probabilities.fill_(1.5)
        policy.magnitudes.fill_(-0.5)
    policy.train()
    policy(images(1024, size=8), generator=seeded()).mean().backward()
    assert (policy.magnitudes.grad != 0).any()
    # gates at p = 1 - epsilon are nearly always saturated, but not always: the gradient still flows
    assert (policy.probabilities.grad != 0).any()
    policy.clamp_parameters_()
    assert policy.probabilities.max() == 1 and policy.magnitudes.min() == 0


def test_gumbel_matches_weighted_in_expectation_with_one_hot_selection():
    """With a single op per stage, both relaxations compute the same thing."""
    torch.manual_seed(0)
    weighted = FasterAutoAugmentPolicy(operations=["Brightness"], num_sub_policies=1, selection="weighted").train()
    gumbel = FasterAutoAugmentPolicy(operations=["Brightness"], num_sub_policies=1, selection="gumbel").train()
    gumbel.load_state_dict(weighted.state_dict())
    batch = images(8)
    # same generator stream: the gumbel stage draws extra noise first, so compare the means over many draws
    mean_weighted = torch.stack([weighted(batch, generator=seeded(i)) for i in range(200)]).mean(0)
    mean_gumbel = torch.stack([gumbel(batch, generator=seeded(i)) for i in range(200)]).mean(0)
    assert (mean_weighted - mean_gumbel).abs().mean() < 0.005
    assert (weighted(batch, generator=seeded(0)) - batch).abs().mean() > 0.01


# ----------------------------------------------------------------------------------------- discrete mode


def test_eval_forward_builds_no_graph_and_is_reproducible(policy):
    policy.eval()
    batch = images()
    out = policy(batch, generator=seeded(7))
    assert not out.requires_grad and out.grad_fn is None
    torch.testing.assert_close(policy(batch, generator=seeded(7)), out)
    assert not torch.equal(policy(batch, generator=seeded(8)), out)


def test_eval_choices_are_per_image(policy):
    choices = policy.sample_choices(256, generator=seeded())
    assert choices.sub_policy.shape == (256,)
    assert choices.operation.shape == choices.applied.shape == choices.magnitude.shape == (2, 256)
    assert len(choices.sub_policy.unique()) == 10
    assert len(choices.operation[0].unique()) > 5


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_eval_forward_applies_the_sampled_choices(dtype):
    """With one stage, each image equals its sampled op applied alone (or is unchanged); uint8
    images go through the ops' 8-bit path."""
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(operations=["Invert", "Solarize", "Equalize", "HorizontalFlip", "Posterize"],
                                     operation_count=1, temperature=1.0).eval()  # fmt: skip
    batch = images(64) if dtype.is_floating_point else (images(64) * 255).to(dtype)
    out = policy(batch, generator=seeded(11))
    choices = policy.sample_choices(64, generator=seeded(11))
    assert 10 < choices.applied.sum() < 54
    for index in range(64):
        expected = batch[index : index + 1]
        if choices.applied[0, index]:
            op = OPERATIONS[policy.operations[choices.operation[0, index]]]
            expected = op(expected, choices.magnitude[0, index : index + 1])
        assert expected.dtype == dtype
        torch.testing.assert_close(out[index : index + 1], expected)


@pytest.mark.parametrize("chunk_bytes", [None, 1])  # one chunk, one image per chunk
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_fused_eval_stages_equal_each_op_run_on_its_own_images(monkeypatch, dtype, chunk_bytes):
    """The eval forward warps all of a stage's affine ops at once and (uint8) gathers all its table ops at
    once; the images, random draws included, equal those of running each chosen op on its images in turn."""
    import hf_faa.policy.grouping as grouping

    if chunk_bytes is not None:
        monkeypatch.setattr(grouping, "CPU_CHUNK_BYTES", chunk_bytes)
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(list(OPERATIONS), temperature=1.0, magnitude_ranges={"Rotate": [0.0, 45.0]})
    policy.eval()
    batch = images(96, size=10)
    batch = (batch * 255).to(dtype) if dtype == torch.uint8 else batch
    out = policy(batch, generator=seeded(3))

    generator = seeded(3)
    choices = policy.sample_choices(len(batch), generator)
    expected = batch.clone()
    for stage in range(policy.operation_count):
        op_index = torch.where(choices.applied[stage], choices.operation[stage], -1)
        assert len(op_index.unique()) > 12
        for op in op_index.unique().tolist():
            if op >= 0:
                rows = (op_index == op).nonzero().squeeze(1)
                name = policy.operations[op]
                expected[rows] = OPERATIONS[name](expected[rows], choices.magnitude[stage, rows], generator=generator,
                                                  value_range=policy.value_range(name))  # fmt: skip
    if dtype == torch.uint8:
        assert torch.equal(out, expected)
    else:
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(torch.rand(1, generator=generator), torch.rand(1, generator=seeded_after(policy, batch, 3)))


def seeded_after(policy: FasterAutoAugmentPolicy, batch: torch.Tensor, seed: int) -> torch.Generator:
    """The generator ``seeded(seed)`` after the policy's eval forward on ``batch`` drew from it."""
    generator = seeded(seed)
    policy(batch, generator=generator)
    return generator


@pytest.mark.parametrize("size", [16, 96])  # below and above the row-copy bounds of uint8 and float images
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_eval_forward_gives_the_same_images_in_chunks_and_channels_last(monkeypatch, size, dtype):
    """On CPU the ops run on chunks of rows; neither the chunk size nor the memory layout matters."""
    import hf_faa.policy.grouping as grouping

    assert grouping.copies_one_row_at_a_time(torch.empty(1, 3, size, size, dtype=dtype)) == (size == 96)
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(operations=["Invert", "Posterize", "Equalize", "AutoContrast"]).eval()
    batch = images(32, size=size)
    batch = (batch * 255).to(dtype) if dtype == torch.uint8 else batch
    whole = policy(batch, generator=seeded(4))
    monkeypatch.setattr(grouping, "CPU_CHUNK_BYTES", 1)  # one image per chunk
    assert torch.equal(policy(batch, generator=seeded(4)), whole)
    channels_last = batch.contiguous(memory_format=torch.channels_last)
    assert torch.equal(policy(channels_last, generator=seeded(4)), whole)
    assert (whole != batch).any()


def test_inplace_eval_forward_writes_into_the_batch(policy):
    policy.eval()
    batch = (images(16) * 255).to(torch.uint8)
    expected = policy(batch, generator=seeded(5))
    out = policy(batch, generator=seeded(5), inplace=True)
    assert out is batch and torch.equal(batch, expected)
    with pytest.raises(ValueError, match="inplace=True needs eval mode"):
        policy.train()(images(4), inplace=True)


def chi_square_p_value(observed: torch.Tensor, expected: torch.Tensor) -> float:
    """Upper-tail p-value of Pearson's chi-square statistic (Wilson-Hilferty normal approximation)."""
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = len(observed) - 1
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_eval_op_frequencies_and_apply_rates_match_the_parameters():
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(num_sub_policies=1, operation_count=1, temperature=0.5).eval()
    samples = 40_000
    choices = policy.sample_choices(samples, generator=seeded(12))
    weights = policy.selection_weights()[0, 0].detach()
    observed = torch.bincount(choices.operation[0], minlength=len(policy.operations)).double()
    assert chi_square_p_value(observed, weights.double() * samples) > 0.001
    # apply rate of each op: a binomial proportion within 4 standard errors of its probability
    for op in range(len(policy.operations)):
        chosen = choices.operation[0] == op
        probability = float(policy.probabilities[0, 0, op].detach())
        rate = choices.applied[0][chosen].double().mean()
        standard_error = math.sqrt(probability * (1 - probability) / chosen.sum())
        assert abs(rate - probability) < 4 * standard_error + 1e-9, policy.operations[op]


def test_uniform_magnitude_sampling_draws_below_the_magnitude():
    policy = FasterAutoAugmentPolicy(operations=["Rotate"], num_sub_policies=1, operation_count=1,
                                     magnitude_sampling="uniform")  # fmt: skip
    with torch.no_grad():
        policy.magnitudes.fill_(0.8)
    magnitudes = policy.sample_choices(10_000, generator=seeded()).magnitude[0]
    assert magnitudes.max() <= 0.8 and magnitudes.min() >= 0
    assert abs(magnitudes.mean() - 0.4) < 0.01


def test_union_holds_every_sub_policy_and_each_image_picks_one():
    """Invert always (2 sub-policies) and Invert never (1): about 2/3 of the images are inverted."""
    always, never = (FasterAutoAugmentPolicy(operations=["Invert", "Rotate"], num_sub_policies=count,
                                             operation_count=1) for count in (2, 1))  # fmt: skip
    with torch.no_grad():
        for part, probability in ((always, 1.0), (never, 0.0)):
            part.logits.copy_(torch.tensor([1.0, 0.0]))  # Invert, at temperature 0.05: weight 1 - 2e-9
            part.probabilities.fill_(probability)
    union = FasterAutoAugmentPolicy.union([always, never])
    assert union.num_sub_policies == 3 and union.search_info == {} and union.training
    for name in ("logits", "magnitudes", "probabilities"):
        assert torch.equal(getattr(union, name), torch.cat([getattr(always, name), getattr(never, name)]))
    batch = torch.full((3000, 1, 2, 2), 10, dtype=torch.uint8)
    inverted = (union.eval()(batch, generator=seeded(3))[:, 0, 0, 0] == 245).double().mean()
    assert abs(inverted - 2 / 3) < 4 * math.sqrt(2 / 9 / 3000)


@pytest.mark.parametrize(("other", "message"), [({"temperature": 0.5}, "differs from policy 0"),
                                                ({"operations": ["Rotate"]}, "differs from policy 0")])  # fmt: skip
def test_union_refuses_policies_with_other_settings(other, message):
    base = {"operations": ["Invert", "Rotate"], "num_sub_policies": 1, "operation_count": 1}
    with pytest.raises(ValueError, match=message):
        FasterAutoAugmentPolicy.union([FasterAutoAugmentPolicy(**base), FasterAutoAugmentPolicy(**{**base, **other})])
    with pytest.raises(ValueError, match="at least one policy"):
        FasterAutoAugmentPolicy.union([])


def test_uniform_initialisation_has_no_preference(policy):
    policy.reset_parameters("uniform")
    torch.testing.assert_close(policy.selection_weights(), torch.full((10, 2, 17), 1 / 17))
    assert (policy.magnitudes == 0.5).all() and (policy.probabilities == 0.5).all()
    policy.reset_parameters("random")
    assert policy.logits.std() > 0.2
    with pytest.raises(ValueError, match="init must be one of"):
        policy.reset_parameters("zeros")


def test_selection_entropy(policy):
    uniform = FasterAutoAugmentPolicy(num_sub_policies=1, temperature=1.0)
    with torch.no_grad():
        uniform.logits.zero_()
    torch.testing.assert_close(uniform.selection_entropy(), torch.tensor(math.log(17)))
    assert 0 < policy.selection_entropy() < math.log(17)


# ----------------------------------------------------------------------------------------- description


def test_describe_rows_and_markdown(policy):
    rows = policy.describe()
    assert {row["sub_policy"] for row in rows} == set(range(10))
    for row in rows:
        assert row["weight"] >= 0.01 and 0 <= row["probability"] <= 1
        op = OPERATIONS[row["operation"]]
        if op.has_magnitude:
            assert row["value"] == pytest.approx(row["magnitude"] * op.value_range[1])
        else:
            assert row["magnitude"] is None and row["value"] is None
    everything = policy.describe(min_weight=0)
    assert len(everything) == 10 * 2 * 17
    markdown = policy.describe_markdown()
    assert markdown.count("\n") == len(rows) + 1
    assert "| sub-policy | stage | operation |" in markdown


def test_summary_per_operation(policy):
    rows = policy.summarize()
    assert [row["operation"] for row in rows] == sorted(
        policy.operations, key=lambda name: -policy.operation_rates()[name]
    )
    assert sum(row["chosen"] for row in rows) == pytest.approx(1)
    for row in rows:
        assert row["rate"] == pytest.approx(policy.operation_rates()[row["operation"]], rel=1e-5)
        assert 0 <= row["probability"] <= 1
    # one op selected everywhere at one magnitude: its summary is that magnitude, in native units
    preset = FasterAutoAugmentPolicy.from_preset("randaugment", magnitude=9)
    rotate = next(row for row in preset.summarize() if row["operation"] == "Rotate")
    assert rotate["magnitude"] == pytest.approx(0.3) and rotate["value"] == pytest.approx(9)
    assert "| Rotate |" in preset.summary_markdown() and "\\|factor - 1\\|" in preset.summary_markdown()


def test_json_round_trip_is_exact(policy):
    text = policy.to_json()
    assert json.loads(text)["config"]["operations"] == list(DEFAULT_OPERATIONS)
    restored = FasterAutoAugmentPolicy.from_json(text)
    for name, parameter in policy.named_parameters():
        assert torch.equal(parameter, getattr(restored, name))
    policy.eval(), restored.eval()
    torch.testing.assert_close(restored(images(), generator=seeded(3)), policy(images(), generator=seeded(3)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "Not a policy JSON document"),
        ('{"config": {}}', "Not a policy JSON document"),
        ('{"config": {"operations": ["Rotate"]}, "parameters": {}}', "missing field"),
    ],
)
def test_from_json_rejects_bad_documents(text, message):
    with pytest.raises(ValueError, match=message):
        FasterAutoAugmentPolicy.from_json(text)


# ----------------------------------------------------------------------------------------- presets


@pytest.mark.parametrize("dataset", ["cifar10", "svhn", "imagenet"])
def test_autoaugment_presets_reproduce_the_published_tables(dataset):
    policy = FasterAutoAugmentPolicy.from_preset(f"autoaugment-{dataset}")
    table = tables.AUTOAUGMENT_POLICIES[dataset]
    assert (policy.num_sub_policies, policy.operation_count) == (25, 2)
    rows = policy.describe()
    assert len(rows) == 50  # exactly one op per stage
    for row in rows:
        name, probability, level = table[row["sub_policy"]][row["stage"]]
        assert row["operation"] == name and row["weight"] == 1.0
        assert row["probability"] == pytest.approx(probability)
        if row["magnitude"] is not None:
            assert row["magnitude"] == pytest.approx(level / 9)
            assert row["value"] == pytest.approx(tables.AUTOAUGMENT_RANGES[name][1] * level / 9)


def test_autoaugment_cifar10_first_sub_policy_spot_check():
    row = FasterAutoAugmentPolicy.from_preset("autoaugment-cifar10").describe()[0]
    assert (row["operation"], row["probability"]) == ("Invert", pytest.approx(0.1))


def test_randaugment_preset_draws_each_op_and_identity_equally():
    policy = FasterAutoAugmentPolicy.from_preset("randaugment", num_ops=3, magnitude=15)
    assert policy.operation_count == 3 and policy.num_sub_policies == 1
    assert set(policy.operations) == set(tables.RANDAUGMENT_OPERATIONS)
    choices = policy.sample_choices(26_000, generator=seeded())
    outcome = torch.where(choices.applied[0], choices.operation[0], len(policy.operations))  # 13 = identity
    observed = torch.bincount(outcome, minlength=14).double()
    assert chi_square_p_value(observed, torch.full((14,), 26_000 / 14, dtype=torch.float64)) > 0.001
    assert torch.allclose(choices.magnitude, torch.tensor(0.5))
    assert policy.value_range("Rotate") == (0.0, 30.0)


def test_trivialaugment_preset_uses_wide_ranges_and_uniform_magnitudes():
    policy = FasterAutoAugmentPolicy.from_preset("trivialaugment")
    assert policy.operation_count == 1 and policy.magnitude_sampling == "uniform"
    assert policy.value_range("Rotate") == (0.0, 135.0) and policy.value_range("Posterize") == (0.0, 6.0)
    magnitudes = policy.sample_choices(10_000, generator=seeded()).magnitude[0]
    assert abs(magnitudes.mean() - 0.5) < 0.02


def test_elastic_preset_distorts_every_image_at_simards_scale():
    policy = FasterAutoAugmentPolicy.from_preset("elastic")
    assert (policy.operations, policy.num_sub_policies, policy.operation_count) == (["Elastic"], 1, 1)
    choices = policy.sample_choices(1000, generator=seeded())
    assert choices.applied.all() and torch.all(choices.magnitude == tables.ELASTIC_MAGNITUDE)
    assert policy.native_value("Elastic", tables.ELASTIC_MAGNITUDE) == pytest.approx(34 / 28, rel=0.02)
    batch = torch.linspace(0, 1, 32).expand(64, 1, 32, 32)  # a ramp: its change follows the horizontal shifts
    change = (policy(batch, generator=seeded()) - batch).abs().mean((1, 2, 3))
    assert (change > 0).all()  # every image distorted
    # as strong as the op at that magnitude (other fields), well above it at half of it
    at_scale, at_half = ((OPERATIONS["Elastic"](batch, torch.full((64,), magnitude), generator=seeded(1)) - batch)
                         .abs().mean() for magnitude in (0.5, 0.25))  # fmt: skip
    assert abs(change.mean() / at_scale - 1) < 0.1 and at_half < 0.8 * change.mean()


def test_presets_run_on_uint8_batches():
    batch = (images(32) * 255).to(torch.uint8)
    for name in PRESETS:
        out = FasterAutoAugmentPolicy.from_preset(name)(batch, generator=seeded())
        assert out.dtype == torch.uint8 and out.shape == batch.shape
        assert (out != batch).any()


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="Unknown preset 'autoaugment-mnist'; choose one of autoaugment-cifar10"):
        FasterAutoAugmentPolicy.from_preset("autoaugment-mnist")
