"""Which searched operations work against what a classifier learns from the data: a post-search check.

The relaxed search judges the ops through a blend of all of them, so a label-destroying op (a flip on
digits, Equalize on colour-coded patches) can keep a few stages. This check applies each op on its own,
at the policy's magnitude for it, to training images, and asks small classifiers trained on the rest of
the search data whether a training step on those images points where a step on held-out real images
does: the cosine between a classifier's gradients on the two (the gradient matching of DeepAA, Zheng et
al., 2022; the one-step validation hypergradient of MADAO, Hataya et al., 2022), minus the same cosine for
unaugmented images. One classifier's verdict is noise (an op's difference moved by up to 1.0 between two
of them: docs/search-research.md, session 11), so each of :data:`FOLDS` folds of the images is held out
in turn from a classifier of its own, and an op whose mean difference is below ``-margin`` gets apply
probability 0 in every stage. Ops the policy applies in under :data:`MIN_CHECKED_RATE` of its stages are left
as they are: switching them off would change next to nothing, and each costs a gradient per batch and fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..ops import OPERATIONS
from ..policy import FasterAutoAugmentPolicy
from .critic import WideResNetClassifier
from .losses import judge_gradient, normalize

FOLDS = 5
MIN_CHECK_IMAGES = 2 * FOLDS  # each fold's classifier needs images to train on and to hold out
MIN_CHECKED_RATE = 0.005  # policy.operation_rates(): the share of stages that apply the op
# Each classifier: trained from scratch on the other folds, for ``steps`` steps (SearchConfig.operation_check_steps).
JUDGE_BATCH_SIZE = 32
JUDGE_LEARNING_RATE = 1e-3
# An op's cosine is the mean over this many batches of JUDGE_BATCH_SIZE training images.
CHECK_BATCHES = 12


@dataclass
class OperationCheck:
    """Per checked op, its cosine minus that of unaugmented images for each fold's classifier; the ops switched off."""

    differences: dict[str, list[float]]
    switched_off: list[str]
    skipped: str = ""  # why nothing was checked (empty when it ran)
    precision: str = "fp32"  # the classifiers' ("bf16": bf16 autocast and channels_last)

    @classmethod
    def from_table(cls, checked: list[str], table: Tensor, margin: float, precision: str = "fp32") -> OperationCheck:
        """The verdict on the full ``[FOLDS, len(checked)]`` table of :func:`fold_differences`."""
        differences = dict(zip(checked, table.t().tolist(), strict=True))
        check = cls(differences, [], precision=precision)
        check.switched_off = [name for name, value in check.mean_differences().items() if value < -margin]
        return check

    def mean_differences(self) -> dict[str, float]:
        return {name: sum(values) / len(values) for name, values in self.differences.items()}

    def as_dict(self) -> dict[str, object]:
        return {
            "cosine_minus_unaugmented": {name: round(value, 4) for name, value in self.mean_differences().items()},
            "switched_off": self.switched_off,
            **({"skipped": self.skipped} if self.skipped else {"precision": self.precision}),
        }


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a CPU with bfloat16 instructions (AVX512-BF16 or AMX-BF16), where the check's
    classifiers train faster in bf16 autocast and channels_last than in float32."""
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)  # absent from older torch: float32 there
    if device.type != "cpu" or get_capabilities is None:
        return False
    capabilities = get_capabilities()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def checked_operations(policy: FasterAutoAugmentPolicy) -> list[str]:
    """The ops ``policy`` applies in at least :data:`MIN_CHECKED_RATE` of its stages."""
    return [name for name, rate in policy.operation_rates().items() if rate >= MIN_CHECKED_RATE]


def fold_differences(
    policy: FasterAutoAugmentPolicy, checked: list[str], images: Tensor, labels: Tensor, num_classes: int, seed: int,
    steps: int, depth: int = 10, widen_factor: int = 1, rank: int = 0, world_size: int = 1, bf16: bool = False,
) -> Tensor:  # fmt: skip
    """Each ``checked`` op's cosine minus that of unaugmented images, ``[FOLDS, len(checked)]``, on ``images``
    (uint8 ``[N, C, H, W]``, ``N >= MIN_CHECK_IMAGES``) with ``labels`` ``[N]``, for this process's share of the
    folds (every ``world_size``-th from ``rank``); the other rows stay 0, so summing the tables of all processes
    gives the full one. Each fold's classifier is a WideResNet-``depth``-``widen_factor`` trained for ``steps``
    steps, seeded from ``seed`` and the fold alone; with ``bf16`` the classifiers run in bf16 autocast and
    channels_last (the ops in float32)."""
    images = images.float() / 255
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).to(labels.device)
    # each op's magnitude averaged over its stages, weighted by selection (0 for ops without one)
    magnitudes = {row["operation"]: row["magnitude"] or 0.0 for row in policy.summarize()}
    folds = order.tensor_split(FOLDS)
    table = torch.zeros(FOLDS, len(checked))
    for fold in range(rank, FOLDS, world_size):
        held_out = folds[fold]
        train = order[~torch.isin(order, held_out)]
        train_images, train_labels = images[train], labels[train]
        judge = _trained_judge(train_images, train_labels, num_classes, depth, widen_factor, steps, seed + fold, bf16)
        reference = _gradient(judge, images[held_out], labels[held_out], bf16)
        unaugmented = _mean_cosine(judge, train_images, train_labels, reference, None, seed + fold, bf16)
        for column, name in enumerate(checked):
            operation = (name, magnitudes[name], policy.value_range(name))
            cosine = _mean_cosine(judge, train_images, train_labels, reference, operation, seed + fold, bf16)
            table[fold, column] = cosine - unaugmented
    return table


@torch.no_grad()
def switch_off_(policy: FasterAutoAugmentPolicy, operations: list[str]) -> FasterAutoAugmentPolicy:
    """Set the apply probability of each of ``operations`` to 0 in every stage, in place; returns the policy."""
    for name in operations:
        policy.probabilities[..., policy.operations.index(name)] = 0
    return policy


def _judge_autocast(device: torch.device, bf16: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def _judge_inputs(images: Tensor, bf16: bool) -> Tensor:
    """Floats in [0, 1] -> a classifier's inputs: normalised, and channels_last with ``bf16``."""
    inputs = normalize(images)
    return inputs.contiguous(memory_format=torch.channels_last) if bf16 else inputs


def _gradient(judge: WideResNetClassifier, images: Tensor, labels: Tensor, bf16: bool) -> Tensor:
    """:func:`judge_gradient` on ``images`` (floats in [0, 1]), in the check's precision."""
    with _judge_autocast(images.device, bf16):
        return judge_gradient(judge, _judge_inputs(images, bf16), labels)


def _trained_judge(
    images: Tensor, labels: Tensor, num_classes: int, depth: int, widen_factor: int, steps: int, seed: int,
    bf16: bool = False,
) -> WideResNetClassifier:  # fmt: skip
    """A classifier trained on ``images`` (floats in [0, 1]) for ``steps`` steps, in eval mode."""
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the caller's RNG alone
        torch.manual_seed(seed)
        judge = WideResNetClassifier(num_classes, images.shape[1], depth, widen_factor).to(images.device)
    if bf16:
        judge = judge.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(judge.parameters(), lr=JUDGE_LEARNING_RATE)
    draws = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(len(labels), (JUDGE_BATCH_SIZE,), generator=draws).to(labels.device)
        with _judge_autocast(images.device, bf16):
            loss = F.cross_entropy(judge(_judge_inputs(images[rows], bf16)), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return judge.eval()


def _mean_cosine(
    judge: WideResNetClassifier, images: Tensor, labels: Tensor, reference: Tensor,
    operation: tuple[str, float, tuple[float, float] | None] | None, seed: int, bf16: bool = False,
) -> float:  # fmt: skip
    """Mean over :data:`CHECK_BATCHES` batches of ``images`` of the cosine between ``judge``'s gradient on the
    batch and ``reference``; ``operation`` (name, magnitude, the policy's value range) is applied to each batch
    first (None: as it is). The batches and draws depend on ``seed`` alone, so every op of a fold is tested on
    the same images."""
    draws = torch.Generator(device=images.device).manual_seed(seed)
    total = 0.0
    for _ in range(CHECK_BATCHES):
        rows = torch.randint(len(labels), (JUDGE_BATCH_SIZE,), generator=draws, device=images.device)
        batch = images[rows]
        if operation is not None:
            name, magnitude, value_range = operation
            batch = OPERATIONS[name](batch, batch.new_full((len(rows),), magnitude), generator=draws,
                                     value_range=value_range)  # fmt: skip
        total += float(F.cosine_similarity(_gradient(judge, batch, labels[rows], bf16), reference, dim=0))
    return total / CHECK_BATCHES
