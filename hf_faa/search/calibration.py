"""How much to augment: the critic's objective ranks operations (which ones look like real data), but it is minimised
by no augmentation at all, so it cannot say how strongly to augment. This step decides that by evidence: each candidate
scales the searched policy's apply probabilities and magnitudes by a pair of factors; a small classifier
(:func:`held_out_scores`) is trained from scratch with each on k-1 folds of the search data and tested on the held-out
fold, and the candidate with the best mean accuracy is kept. The candidate ``(0, 1)`` is no augmentation, so a dataset
that any augmentation hurts gets the identity policy. :func:`held_out_table` also serves the policy choice
(:mod:`.policy_choice`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import get_linear_schedule_with_warmup

from ..policy import FasterAutoAugmentPolicy
from ..training import small_resnet
from .losses import accuracy

# The held-out classifiers are the small ResNet scripts/evaluate.py trains (hf_faa.training.small_resnet), trained as
# it trains it with transformers.Trainer: AdamW with weight decay, a few warm-up steps then a linear decay to 0, and
# shuffled epochs. It learns the suite's datasets in about a quarter of the time of a WRN-10-1 on this CPU, and five
# folds of it saw that the elastic distortion trains mnist better than the searched policy, which five folds of the
# WRN-10-1 did not (docs/search-research.md, session 46).
CLASSIFIER_LEARNING_RATE = 3e-3
CLASSIFIER_WEIGHT_DECAY = 5e-4
CLASSIFIER_WARMUP_STEPS = 20
CLASSIFIER_BATCH_SIZE = 32


Candidate = tuple[float, float]  # (factor on the apply probabilities, factor on the magnitudes)
IDENTITY: Candidate = (0.0, 1.0)


@dataclass
class Calibration:
    """The candidates, the mean held-out accuracy of each, and the chosen one."""

    candidates: list[Candidate]
    accuracies: list[float]
    chosen: Candidate

    def as_dict(self) -> dict[str, object]:
        return {
            "candidates": [list(candidate) for candidate in self.candidates],
            "held_out_accuracy": [round(accuracy, 4) for accuracy in self.accuracies],
            "chosen": list(self.chosen),
        }


def candidate_grid(apply_factors: list[float], magnitude_factors: list[float]) -> list[Candidate]:
    """No augmentation, then every (apply factor, magnitude factor) pair."""
    return [IDENTITY] + [(apply, magnitude) for apply in apply_factors for magnitude in magnitude_factors]


@torch.no_grad()
def rescale_(policy: FasterAutoAugmentPolicy, candidate: Candidate) -> FasterAutoAugmentPolicy:
    """Multiply ``policy``'s apply probabilities and magnitudes by the candidate's factors, in place,
    clamped to [0, 1]; returns the policy."""
    apply, magnitude = candidate
    policy.probabilities.mul_(apply).clamp_(0, 1)
    policy.magnitudes.mul_(magnitude).clamp_(0, 1)
    return policy


def fold_indices(labels: Tensor, folds: int, generator: torch.Generator) -> list[Tensor]:
    """Stratified folds: indices ``[N]`` split into ``folds`` parts with every class spread evenly."""
    parts: list[list[Tensor]] = [[] for _ in range(folds)]
    for label in labels.unique().tolist():
        rows = torch.nonzero(labels == label).squeeze(1)
        rows = rows[torch.randperm(len(rows), generator=generator)]
        for fold, chunk in enumerate(rows.tensor_split(folds)):
            parts[fold].append(chunk)
    return [torch.cat(part) for part in parts]


def held_out_scores(
    policy: FasterAutoAugmentPolicy | None,
    train: tuple[Tensor, Tensor],
    held_out: tuple[Tensor, Tensor],
    num_classes: int,
    epochs: int,
    seed: int,
) -> tuple[float, float]:
    """Train the small ResNet from scratch on ``train`` (uint8 images ``[N, C, H, W]``, labels ``[N]``) as
    :data:`CLASSIFIER_LEARNING_RATE` and the constants next to it say, augmenting every batch with ``policy``
    (None: not at all); returns its accuracy and mean cross-entropy on ``held_out``."""
    images, labels = train
    device = images.device
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the global RNG as it was
        torch.manual_seed(seed)
        classifier = small_resnet([str(label) for label in range(num_classes)], images.shape[1]).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.AdamW(
        classifier.parameters(), lr=CLASSIFIER_LEARNING_RATE, weight_decay=CLASSIFIER_WEIGHT_DECAY
    )
    steps = epochs * math.ceil(len(labels) / CLASSIFIER_BATCH_SIZE)
    schedule = get_linear_schedule_with_warmup(optimizer, min(CLASSIFIER_WARMUP_STEPS, steps - 1), steps)
    classifier.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(labels), generator=generator, device=device).split(CLASSIFIER_BATCH_SIZE):
            if len(rows) == 1:  # batch norm cannot train on one image whose last feature map is 1x1 (small images)
                continue
            batch = images[rows]
            if policy is not None:
                batch = policy(batch, generator=generator)
            F.cross_entropy(classifier(_inputs(batch)).logits, labels[rows]).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
    classifier.eval()
    with torch.no_grad():
        test_images, test_labels = held_out
        logits = torch.cat([classifier(_inputs(chunk)).logits for chunk in test_images.split(256)])
    return float(accuracy(logits, test_labels)), float(F.cross_entropy(logits, test_labels))


def _inputs(images: Tensor) -> Tensor:
    """uint8 images -> the classifier's inputs, in [-1, 1] (the evaluation's image processor: mean and std 0.5)."""
    return images.float() / 127.5 - 1


def held_out_table(
    policies: list[FasterAutoAugmentPolicy | None],
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    folds: int,
    epochs: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
) -> Tensor:
    """Held-out accuracy and loss ``[len(policies), folds, 2]`` of a classifier trained with each of ``policies``
    (None: no augmentation) on the other folds of ``images`` (uint8 ``[N, C, H, W]``, labels ``[N]``), computed
    for this process's share of the (policy, fold) runs (``rank``-th of every ``world_size``); the others stay 0,
    so summing the tables of all processes gives the full one. Every policy sees the same folds and seeds."""
    fold_rows = fold_indices(labels.cpu(), folds, torch.Generator().manual_seed(seed))
    table = torch.zeros(len(policies), folds, 2)
    for run in range(rank, len(policies) * folds, world_size):
        policy_index, fold = divmod(run, folds)
        held_out = fold_rows[fold].to(images.device)
        kept = torch.cat([rows for other, rows in enumerate(fold_rows) if other != fold]).to(images.device)
        table[policy_index, fold] = torch.tensor(held_out_scores(
            policies[policy_index], (images[kept], labels[kept]), (images[held_out], labels[held_out]), num_classes,
            epochs, seed + fold,
        ))  # fmt: skip
    return table


def scaled_candidates(
    policy: FasterAutoAugmentPolicy, candidates: list[Candidate]
) -> list[FasterAutoAugmentPolicy | None]:
    """The policies the calibration trains with, for :func:`held_out_table`: per candidate a copy of ``policy``
    scaled by its factors, or None (no augmentation) for an apply factor of 0."""
    return [rescale_(copy.deepcopy(policy).eval(), candidate) if candidate[0] > 0 else None for candidate in candidates]


def choose(candidates: list[Candidate], table: Tensor) -> Calibration:
    """The candidate with the best mean held-out accuracy (ties: the weaker augmentation, by the product
    of its factors)."""
    means = table.mean(1).tolist()
    best = max(range(len(candidates)), key=lambda index: (means[index], -candidates[index][0] * candidates[index][1]))
    return Calibration(list(candidates), means, candidates[best])
