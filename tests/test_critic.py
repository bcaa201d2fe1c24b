"""The WideResNet critic: shapes, argument checks, size, WGAN-GP double backward, memory format,
autocast, BatchNorm modes and seeding; the validation term's gradients of the label judge."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hf_faa.search.critic import CRITIC_PRESETS, WideResNetClassifier, WideResNetCritic
from hf_faa.search.losses import judge_gradient, validation_alignment


def small_critic(num_classes: int = 10, in_channels: int = 3, seed: int = 0, **kwargs) -> WideResNetCritic:
    torch.manual_seed(seed)
    return WideResNetCritic(num_classes=num_classes, in_channels=in_channels, depth=10, widen_factor=1, **kwargs)


def images(batch: int = 4, channels: int = 3, size: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


def num_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 32, 64])
def test_output_shapes(channels, size):
    critic = small_critic(num_classes=7, in_channels=channels)
    x = images(batch=3, channels=channels, size=size)
    scores, logits = critic(x)
    assert scores.shape == (3,)
    assert logits.shape == (3, 7)
    assert critic.features(x).shape == (3, critic.feature_size)
    assert torch.isfinite(scores).all() and torch.isfinite(logits).all()


def test_paper_critic_shapes_and_feature_size():
    critic = WideResNetCritic(num_classes=10)
    assert critic.feature_size == 128  # 64 * widen_factor 2, as in the paper
    scores, logits = critic(images(batch=2))
    assert scores.shape == (2,) and logits.shape == (2, 10)


def test_parameter_counts():
    # The standard WRN-40-2 CIFAR-10 classifier (backbone + Linear(128, 10)) has 2,243,546 parameters
    # ("2.2M" in Zagoruyko & Komodakis, Table 1). The critic is that network plus the critic head
    # Linear(128, 128) + Linear(128, 1) = 16,512 + 129 parameters; allow 1% either way for the total.
    critic = WideResNetCritic(num_classes=10, depth=40, widen_factor=2)
    classifier_part = num_parameters(critic) - num_parameters(critic.critic_head)
    assert classifier_part == 2_243_546
    assert 0.99 * 2_260_187 <= num_parameters(critic) <= 1.01 * 2_260_187
    # the small preset stays small
    assert num_parameters(WideResNetCritic.from_preset("small", num_classes=10, in_channels=1)) < 100_000


@pytest.mark.parametrize("depth", [4, 12, 41, 0])
def test_depth_validation(depth):
    with pytest.raises(ValueError, match=r"\(depth - 4\) % 6 == 0.*10, 16, 22, 28"):
        WideResNetCritic(num_classes=10, depth=depth)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widen_factor": 0}, "widen_factor"),
        ({"num_classes": 1}, "num_classes"),
        ({"in_channels": 4}, "in_channels"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_argument_validation(kwargs, message):
    arguments = {"num_classes": 10, "depth": 10, "widen_factor": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        WideResNetCritic(**arguments)


def test_input_validation_and_presets():
    critic = small_critic(in_channels=1)
    with pytest.raises(ValueError, match="1-channel"):
        critic(images(channels=3))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        critic(torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        critic(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="preset"):
        WideResNetCritic.from_preset("huge", num_classes=10)
    for name, sizes in CRITIC_PRESETS.items():
        critic = WideResNetCritic.from_preset(name, num_classes=10)
        assert (critic.depth, critic.widen_factor) == (sizes["depth"], sizes["widen_factor"])


def gradient_penalty(critic: WideResNetCritic, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    scores, _ = critic(x)
    (gradient,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return ((gradient.norm(dim=1) - 1) ** 2).mean()  # norm over channels, as in the official code


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradient_penalty_double_backward(channels_last):
    critic = small_critic().train()
    x = images(batch=6)
    if channels_last:
        critic = critic.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    gradient_penalty(critic, x).backward()
    # The penalty reaches every weight of the backbone and of the critic head with a finite, non-zero
    # gradient. The class head is not in the graph; the critic head's biases only shift the score or a
    # ReLU kink, so they get no (or a zero) gradient.
    for name, parameter in critic.named_parameters():
        if name.startswith("class_head"):
            assert parameter.grad is None, name
        elif name.startswith("critic_head") and name.endswith("bias"):
            assert parameter.grad is None or torch.count_nonzero(parameter.grad) == 0, name
        else:
            assert parameter.grad is not None, name
            assert torch.isfinite(parameter.grad).all(), name
            if name.endswith("weight"):
                assert torch.count_nonzero(parameter.grad) > 0, name


def test_channels_last_matches_contiguous():
    critic = small_critic().train()
    critic(images(seed=5))  # record non-trivial running statistics
    critic.eval()
    x = images()
    expected = critic(x)
    critic_cl = critic.to(memory_format=torch.channels_last)
    actual = critic_cl(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_autocast_bfloat16_cpu():
    critic = small_critic().train()
    x = images()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores, logits = critic(x)
        penalty = gradient_penalty(critic, x)
    assert scores.shape == (4,) and logits.shape == (4, 10)
    assert torch.isfinite(scores.float()).all() and torch.isfinite(logits.float()).all()
    penalty.float().backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in critic.parameters())


def test_batchnorm_train_and_eval_differ():
    critic = small_critic()
    x = images(batch=8)
    running_mean = critic.final_bn.running_mean.clone()
    critic.train()
    train_scores, _ = critic(x)
    assert not torch.equal(running_mean, critic.final_bn.running_mean)  # batch statistics were recorded
    critic.eval()
    with torch.no_grad():
        eval_scores, _ = critic(x)
        eval_again, _ = critic(x)
    assert not torch.allclose(train_scores, eval_scores)
    assert torch.equal(eval_scores, eval_again)  # eval mode is a pure function of the input


def test_seeded_construction_is_deterministic():
    first, second, other = small_critic(seed=3), small_critic(seed=3), small_critic(seed=4)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    x = images()
    assert all(torch.equal(a, b) for a, b in zip(first(x), second(x), strict=True))
    assert not torch.equal(first.stem.weight, other.stem.weight)


def test_initialisation():
    critic = small_critic()
    for module in critic.modules():
        if isinstance(module, nn.Linear):
            assert torch.count_nonzero(module.bias) == 0
    # Kaiming (fan_out, ReLU): std of a 3x3 conv weight is sqrt(2 / (out_channels * 9))
    weight = critic.groups[2][0].conv2.weight
    expected_std = (2 / (weight.shape[0] * 9)) ** 0.5
    assert abs(weight.std().item() - expected_std) / expected_std < 0.1


def test_dropout_is_used_only_in_training():
    critic = small_critic(dropout=0.5)
    x = images()
    critic.train()
    torch.manual_seed(0)
    a, _ = critic(x)
    torch.manual_seed(1)
    b, _ = critic(x)
    assert not torch.allclose(a, b)
    critic.eval()
    with torch.no_grad():
        assert torch.equal(critic(x)[0], critic(x)[0])


def test_validation_alignment_is_a_cosine_of_the_judge_s_gradients_that_reaches_the_images():
    judge = WideResNetClassifier(10, 3, depth=10, widen_factor=1).eval()
    reference_images, labels = images(8, seed=1), torch.arange(8)
    reference = judge_gradient(judge, reference_images, labels)
    augmented = images(8, seed=2).requires_grad_(True)
    same = validation_alignment(judge, reference_images, labels, reference)
    other = validation_alignment(judge, augmented, labels, reference)
    torch.testing.assert_close(same, torch.tensor(1.0))
    assert -1 < other < 0.999
    other.backward()
    assert augmented.grad.abs().sum() > 0 and torch.isfinite(augmented.grad).all()
