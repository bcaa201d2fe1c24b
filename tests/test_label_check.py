"""The label check: each op applied on its own and scored by a judge, and the penalty on the policy."""

from __future__ import annotations

import pytest
import torch

from hf_faa import FasterAutoAugmentPolicy
from hf_faa.search import SearchConfig, run_search
from hf_faa.search.label_check import label_destruction, label_destruction_penalty

OPERATIONS = ["HorizontalFlip", "VerticalFlip", "Invert"]


def bright_side_images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[count, 1, 8, 8]`` images bright on the left half (label 0) or the right half (label 1)."""
    labels = torch.arange(count) % 2
    images = torch.full((count, 1, 8, 8), 0.1)
    for index, label in enumerate(labels.tolist()):
        images[index, :, :, 4 * label : 4 * label + 4] = 0.9
    return images, labels


def bright_side_judge(images: torch.Tensor) -> torch.Tensor:
    """Class logits ``[n, 2]``: which half of each image is brighter."""
    difference = images[..., :4].mean((1, 2, 3)) - images[..., 4:].mean((1, 2, 3))
    return 3 * torch.stack([difference, -difference], dim=1)


def test_ops_that_swap_the_bright_side_destroy_the_labels_and_the_others_do_not():
    policy = FasterAutoAugmentPolicy(operations=OPERATIONS, num_sub_policies=2)
    policy.reset_parameters("uniform")
    images, labels = bright_side_images(6)
    destruction = label_destruction(policy, bright_side_judge, images, labels)
    assert destruction.shape == (3,)
    # the judge's confidence on the originals is sigmoid(2 * 3 * 0.8) = 0.992; on the other side 0.008
    torch.testing.assert_close(destruction, torch.tensor([0.992, 0.0, 0.992]), atol=1e-3, rtol=0)


def test_the_penalty_turns_the_policy_away_from_label_destroying_ops_only():
    policy = FasterAutoAugmentPolicy(operations=OPERATIONS, num_sub_policies=2)
    policy.reset_parameters("uniform")
    penalty = label_destruction_penalty(policy, torch.tensor([1.0, 0.0, 1.0]))
    # uniform start: every op is a third of the selection, applied with probability 0.5
    assert penalty.item() == pytest.approx(2 / 3 * 0.5)
    penalty.backward()
    assert (policy.logits.grad[..., [0, 2]] > 0).all() and (policy.logits.grad[..., 1] < 0).all()
    assert (policy.probabilities.grad[..., [0, 2]] > 0).all() and (policy.probabilities.grad[..., 1] == 0).all()
    assert policy.magnitudes.grad is None


def test_the_check_measures_ops_at_the_policys_saved_magnitude():
    """Rotating by the full range (30 degrees) moves more of the bright side than by a tenth of it."""
    policy = FasterAutoAugmentPolicy(operations=["Rotate"], num_sub_policies=1)
    policy.reset_parameters("uniform")
    with torch.no_grad():
        policy.magnitudes.fill_(1.0)
    images, labels = bright_side_images(4)
    strong = label_destruction(policy, bright_side_judge, images, labels, magnitude_scale=1.0)
    weak = label_destruction(policy, bright_side_judge, images, labels, magnitude_scale=0.1)
    assert 0 <= weak.item() < strong.item() <= 1


def test_the_label_check_weighs_in_the_search(tmp_path):
    settings = {"max_train_samples": 256, "image_size": 16, "per_device_train_batch_size": 16,
                "num_sub_policies": 3, "max_steps": 6, "critic_warmup_steps": 1, "calibration": "none"}  # fmt: skip
    checked = run_search(SearchConfig(output_dir=str(tmp_path / "checked"), label_check_weight=10.0, **settings))
    # the same random draws (the check runs), a penalty too small to matter
    negligible = run_search(SearchConfig(output_dir=str(tmp_path / "negligible"), label_check_weight=1e-12, **settings))
    assert checked.search_info["config"]["label_check_weight"] == 10.0
    assert (checked.logits - negligible.logits).abs().max() > 1e-4
