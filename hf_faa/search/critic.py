"""The Faster AutoAugment critic: a wide residual network with a critic head and a class head.

One backbone, a pre-activation WideResNet (Zagoruyko & Komodakis, 2016; the paper uses WRN-40-2
with BatchNorm and no dropout), maps normalised images ``[B, C, H, W]`` to a globally
average-pooled feature ``[B, F]`` with ``F = 64 * widen_factor``. Two heads share it:

* the critic head ``Linear(F, F) - ReLU - Linear(F, 1)`` gives one Wasserstein critic score per image;
* the class head ``Linear(F, num_classes)`` gives class logits (the label-preserving loss).

The network is safe for the WGAN-GP gradient penalty: it has no in-place operations, so the
gradient of the scores with respect to the input can itself be differentiated
(``torch.autograd.grad(..., create_graph=True)``). Global average pooling makes it work for any
input size (28x28 MNIST, 32x32 CIFAR, 64x64 and up); the two stride-2 groups shrink the input
by 4, so inputs of at least 8x8 pixels keep a spatial map larger than one pixel.

Typical use::

    critic = WideResNetCritic(num_classes=10)  # WRN-40-2, as in the paper
    scores, logits = critic(images)  # [B], [B, 10]
    small = WideResNetCritic.from_preset("small", num_classes=10, in_channels=1)  # WRN-10-1
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

# Named (depth, widen_factor) pairs: the paper's critic and a small, fast one for CPU searches.
CRITIC_PRESETS: dict[str, dict[str, int]] = {
    "paper": {"depth": 40, "widen_factor": 2},
    "small": {"depth": 10, "widen_factor": 1},
}

_BASE_WIDTHS = (16, 32, 64)  # channels of the three groups before widening
_GROUP_STRIDES = (1, 2, 2)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class _PreActBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3, plus a shortcut.

    When the shape changes (other width or stride), the shortcut is a 1x1 convolution of the
    pre-activated input; otherwise it is the input itself.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        activated = F.relu(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(activated)
        out = self.conv1(activated)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + residual


class WideResNetCritic(nn.Module):
    """WideResNet-``depth``-``widen_factor`` backbone shared by a critic head and a class head.

    Args:
        num_classes: number of classes of the class head (at least 2).
        in_channels: image channels, 1 (grayscale) or 3 (RGB).
        depth: network depth; ``(depth - 4)`` must be a positive multiple of 6 (10, 16, 22, 28, 40, ...).
            Each of the three groups has ``(depth - 4) / 6`` basic blocks.
        widen_factor: width multiplier ``k`` (at least 1); the groups have 16k, 32k and 64k channels.
        dropout: dropout probability between the two convolutions of each block, in ``[0, 1)``.

    Attributes:
        critic_head: ``[B, F] -> [B, 1]``, ``Linear(F, F) - ReLU - Linear(F, 1)``.
        class_head: ``[B, F] -> [B, num_classes]``, ``Linear(F, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        depth: int = 40,
        widen_factor: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_arguments(num_classes, in_channels, depth, widen_factor, dropout)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.depth = depth
        self.widen_factor = widen_factor
        self.dropout = dropout

        blocks_per_group = (depth - 4) // 6
        width = 16
        self.stem = _conv3x3(in_channels, width)
        groups = []
        for base_width, stride in zip(_BASE_WIDTHS, _GROUP_STRIDES, strict=True):
            out_width = base_width * widen_factor
            blocks = []
            for index in range(blocks_per_group):
                blocks.append(_PreActBlock(width, out_width, stride if index == 0 else 1, dropout))
                width = out_width
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.Sequential(*groups)
        self.final_bn = nn.BatchNorm2d(width)
        self._feature_size = width

        self.critic_head = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
        self.class_head = nn.Linear(width, num_classes)
        self._init_weights()

    @classmethod
    def from_preset(cls, name: str, num_classes: int, in_channels: int = 3, **kwargs: Any) -> WideResNetCritic:
        """Build a critic from a named size in :data:`CRITIC_PRESETS`: ``"paper"`` (WRN-40-2, about
        2.3M parameters) or ``"small"`` (WRN-10-1, about 80k parameters). ``kwargs`` go to the constructor.
        """
        if name not in CRITIC_PRESETS:
            raise ValueError(f"Unknown critic preset {name!r}; choose one of {sorted(CRITIC_PRESETS)}.")
        return cls(num_classes=num_classes, in_channels=in_channels, **CRITIC_PRESETS[name], **kwargs)

    @property
    def feature_size(self) -> int:
        """Size ``F = 64 * widen_factor`` of the pooled feature shared by both heads."""
        return self._feature_size

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def features(self, images: Tensor) -> Tensor:
        """Pooled backbone feature.

        Args:
            images: normalised float images ``[B, C, H, W]`` with ``C == in_channels``; any memory format.

        Returns:
            ``[B, F]`` with ``F = feature_size``.
        """
        self._check_images(images)
        x = self.groups(self.stem(images))
        x = F.relu(self.final_bn(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Critic scores and class logits of a batch.

        Args:
            images: normalised float images ``[B, C, H, W]`` with ``C == in_channels``.

        Returns:
            ``(scores, logits)``: critic scores ``[B]`` (higher = more like the real images) and
            class logits ``[B, num_classes]``.
        """
        feature = self.features(images)
        return self.critic_head(feature).squeeze(1), self.class_head(feature)

    def extra_repr(self) -> str:
        return (
            f"depth={self.depth}, widen_factor={self.widen_factor}, in_channels={self.in_channels}, "
            f"num_classes={self.num_classes}, dropout={self.dropout}"
        )

    def _check_images(self, images: Tensor) -> None:
        if not isinstance(images, Tensor) or not images.is_floating_point() or images.ndim != 4:
            description = (
                f"{images.dtype} tensor of shape {tuple(images.shape)}"
                if isinstance(images, Tensor)
                else type(images).__name__
            )
            raise ValueError(f"The critic needs float images of shape [B, C, H, W], got {description}.")
        if images.shape[1] != self.in_channels:
            raise ValueError(
                f"The critic was built for {self.in_channels}-channel images, got shape {tuple(images.shape)}; "
                f"build it with in_channels={images.shape[1]} or convert the images."
            )


class WideResNetClassifier(WideResNetCritic):
    """The same backbone with the class head only: ``classifier(images)`` returns class logits
    ``[B, num_classes]``. Every parameter takes part in the loss, as DistributedDataParallel needs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.critic_head

    def forward(self, images: Tensor) -> Tensor:
        return self.class_head(self.features(images))


def _check_arguments(num_classes: int, in_channels: int, depth: int, widen_factor: int, dropout: float) -> None:
    if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6 != 0:
        raise ValueError(
            f"WideResNet depth must satisfy (depth - 4) % 6 == 0 with at least one block per group, got {depth!r}; "
            "valid depths are 10, 16, 22, 28, 34, 40, ... (the paper's critic uses 40)."
        )
    if not isinstance(widen_factor, int) or widen_factor < 1:
        raise ValueError(f"widen_factor must be an integer >= 1, got {widen_factor!r} (the paper uses 2).")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 (grayscale) or 3 (RGB), got {in_channels!r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
