"""The common form of an augmentation operation, input checks and gradient helpers.

Every operation in :data:`hf_faa.ops.OPERATIONS` is called as
``op(images, magnitude, generator=None) -> images`` with

* ``images``: float tensor ``[B, C, H, W]`` in ``[0, 1]``, ``C`` in ``{1, 3}``, any float dtype/device;
* ``magnitude``: tensor ``[B]`` in ``[0, 1]``, one strength per sample (ignored by ops without one);

and returns a tensor of the same shape, dtype and device, in ``[0, 1]`` (clamped, except where the op
cannot leave it: :attr:`Operation.bounded`).

uint8 images ``[B, C, H, W]`` in ``[0, 255]`` are taken too (no gradient) and give uint8 back,
rounded to 8 bits as PIL rounds every op's result: pointwise ops go through 256-entry lookup
tables, the others through a float copy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .lookup import apply_lookup_tables, level_ramp, to_uint8


def check_images(images: Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is a float or uint8 tensor ``[B, C, H, W]`` with ``C`` in ``{1, 3}``."""
    if not isinstance(images, Tensor):
        raise ValueError(f"images must be a torch.Tensor of shape [B, C, H, W], got {type(images).__name__}.")
    if not (images.is_floating_point() or images.dtype == torch.uint8):
        raise ValueError(
            f"images must be float with values in [0, 1] or uint8 in [0, 255], got dtype {images.dtype}; "
            "convert 8-bit levels with `images.to(torch.uint8)` or `images.float() / 255`."
        )
    if images.ndim != 4:
        raise ValueError(
            f"images must have 4 dimensions [B, C, H, W], got shape {tuple(images.shape)}; "
            "add a batch dimension with `images.unsqueeze(0)` for a single image."
        )
    if images.shape[1] not in (1, 3):
        raise ValueError(
            f"images must have 1 (grayscale) or 3 (RGB) channels in dimension 1, got shape {tuple(images.shape)}; "
            "channels-last images need `images.permute(0, 3, 1, 2)`, RGBA images need their alpha channel removed."
        )


def check_magnitude(magnitude: Tensor | None, images: Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``magnitude`` is a float tensor ``[B]`` matching the batch of ``images``."""
    if magnitude is None:
        raise ValueError(f"{name} needs a magnitude tensor of shape [{images.shape[0]}] with values in [0, 1].")
    if not isinstance(magnitude, Tensor) or not magnitude.is_floating_point():
        raise ValueError(f"{name}: magnitude must be a float tensor, got {type(magnitude).__name__}.")
    if magnitude.shape != images.shape[:1]:
        raise ValueError(
            f"{name}: magnitude must have shape [B] = [{images.shape[0]}] (one value per image), "
            f"got shape {tuple(magnitude.shape)}."
        )


@functools.lru_cache(maxsize=256)
def constant(values: tuple, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The tensor of ``values`` (numbers, or tuples of them) in ``dtype`` on ``device``, built once and shared: read
    it, never write it. Building a tensor from Python numbers costs more than an op on a few small images, and on
    CUDA it is a host-to-device copy that waits for the device."""
    with torch.inference_mode(False):  # one first built under inference mode could not be saved for a backward later
        return torch.tensor(values, dtype=dtype, device=device)


def random_uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """U(0, 1) samples of ``shape`` on the device and dtype of ``like``.

    Drawn on the generator's device (a CPU generator may drive CUDA images) and moved afterwards.
    """
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device).to(device=like.device, dtype=like.dtype)


def random_integers(high: int, size: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``[size]`` integers uniform in ``[0, high)`` on ``like``'s device (drawn as :func:`random_uniform`)."""
    device = generator.device if generator is not None else like.device
    return torch.randint(high, (size,), generator=generator, device=device).to(like.device)


def random_signs(batch_size: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Tensor ``[batch_size]`` of ±1 drawn 50/50, on the device and dtype of ``like``."""
    return (random_integers(2, batch_size, like, generator) * 2 - 1).to(like.dtype)


def with_surrogate_gradient(output: Tensor, *surrogates: Tensor) -> Tensor:
    """``output``'s values, with the gradients of ``output`` plus those of every surrogate.

    The straight-through estimator: ``output.detach()`` paired with a surrogate ``x`` gives the
    forward value of the exact op and the backward of the identity; a smooth relaxation as a
    surrogate gives a gradient to a parameter the exact op is piecewise constant in.
    """
    for surrogate in surrogates:
        output = output + (surrogate - surrogate.detach())
    return output


def needs_gradient(*tensors: Tensor) -> bool:
    """Whether autograd will want a gradient from an op on ``tensors`` (skip surrogates otherwise)."""
    return torch.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors)


def per_sample(values: Tensor) -> Tensor:
    """``[B]`` -> ``[B, 1, 1, 1]``, to broadcast a per-sample value over an image batch."""
    return values.view(-1, 1, 1, 1)


def on_unit_floats(images: Tensor, function: Callable[[Tensor], Tensor], *, clamp: bool = True) -> Tensor:
    """``function`` of float ``images`` ``[B, C, H, W]``, clamped to [0, 1] (``clamp=False``: as it is, for a
    function that cannot leave [0, 1]); uint8 images go through a float copy in [0, 1] and come back as uint8,
    rounded to 8 bits."""
    if images.dtype != torch.uint8:
        return function(images).clamp(0, 1) if clamp else function(images)
    # the function's output is new, or the float copy itself: either way ours to overwrite
    return to_uint8(function(images.float().div_(255)).clamp_(0, 1), inplace=True)


@dataclass(frozen=True)
class Operation:
    """An augmentation operation in the policy's common form.

    ``function`` works in native units (degrees, shear factor, bits, ...): it is called as
    ``function(images)`` for ops without a magnitude, ``function(images, value)`` otherwise
    (``value`` ``[B]`` maps the magnitude linearly onto ``value_range``, with a random sign per
    sample when ``signed``), plus ``generator=`` for ops that draw random parameters of their own.
    ``color_only`` ops are the identity on grayscale images.

    On uint8 images, a ``pointwise`` op (each pixel's level maps on its own) is ``function``
    applied to the 256 levels, used as a lookup table; ``lookup_table(images, *values)`` gives
    the tables ``[B, C or 1, 1, 256]`` of ops that read image statistics (mean, range, histogram).
    A geometric op's ``affine_matrix(value, height, width)`` gives its per-image matrices ``[B, 2, 3]``
    (``function`` warps by them), so images that take different such ops can share one warp.
    A ``bounded`` op's ``function`` maps images in [0, 1] into [0, 1] exactly (a permutation of the pixels, an
    inversion, 8-bit levels, a fill), so its result is not clamped again: in the search's relaxed forward each
    clamp costs a pass over the batch and three more in the backward (the mask of its gradient).
    """

    name: str
    function: Callable[..., Tensor]
    value_range: tuple[float, float] | None = None
    unit: str = ""
    signed: bool = False
    random: bool = False
    color_only: bool = False
    pointwise: bool = False
    lookup_table: Callable[..., Tensor] | None = None
    affine_matrix: Callable[[Tensor, int, int], Tensor] | None = None
    bounded: bool = False

    @property
    def has_magnitude(self) -> bool:
        return self.value_range is not None

    @property
    def has_lookup_tables(self) -> bool:
        """Whether the op maps uint8 images through per-image lookup tables (see :meth:`lookup_tables`)."""
        return self.pointwise or self.lookup_table is not None

    def value(
        self,
        magnitude: Tensor,
        like: Tensor,
        generator: torch.Generator | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> Tensor:
        """Native parameter ``[B]`` for magnitudes ``[B]`` in [0, 1] (clamped), signed when the op is.

        On ``like``'s device, in its dtype (float32 for uint8 images).
        """
        low, high = value_range if value_range is not None else self.value_range
        dtype = like.dtype if like.is_floating_point() else torch.float32
        magnitude = magnitude.to(device=like.device, dtype=dtype).clamp(0, 1)
        value = low + magnitude * (high - low)
        if self.signed:
            value = value * random_signs(value.shape[0], value, generator)
        return value

    def values(
        self,
        images: Tensor,
        magnitude: Tensor | None,
        generator: torch.Generator | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> list[Tensor]:
        """The arguments ``function`` takes after the images: ``[value [B]]``, or ``[]`` for an op without a
        magnitude. Checks ``images`` and ``magnitude``; a signed op draws its signs from ``generator`` here."""
        check_images(images)
        if not self.has_magnitude:
            if magnitude is not None:
                check_magnitude(magnitude, images, self.name)
            return []
        check_magnitude(magnitude, images, self.name)
        return [self.value(magnitude, images, generator, value_range)]

    def __call__(
        self,
        images: Tensor,
        magnitude: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> Tensor:
        """Apply the op to ``images`` ``[B, C, H, W]`` at ``magnitude`` ``[B]``; see the module docstring."""
        return self.apply(images, self.values(images, magnitude, generator, value_range), generator)

    def apply(self, images: Tensor, values: list[Tensor], generator: torch.Generator | None = None) -> Tensor:
        """Apply the op to ``images`` ``[B, C, H, W]`` at native ``values`` (see :meth:`values`), unchecked."""
        if images.dtype == torch.uint8 and self.has_lookup_tables:
            return apply_lookup_tables(images, self.lookup_tables(images, values))
        kwargs = {"generator": generator} if self.random else {}
        return on_unit_floats(images, lambda floats: self.function(floats, *values, **kwargs), clamp=not self.bounded)

    def lookup_tables(self, images: Tensor, values: list[Tensor]) -> Tensor:
        """The op on uint8 ``images`` ``[B, C, H, W]`` as tables ``[B, C or 1, 1, 256]`` of floats in [0, 1]
        (for :func:`~hf_faa.ops.lookup.apply_lookup_tables`); ``values`` from :meth:`values`."""
        if self.pointwise:
            return self.function(level_ramp(images), *values)
        if self.lookup_table is None:
            raise ValueError(f"{self.name} has no lookup tables; check has_lookup_tables first.")
        return self.lookup_table(images, *values)
