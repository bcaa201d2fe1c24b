"""One parametrised tester for every operation in the registry: shapes, dtypes, devices, ranges,
identity at magnitude 0, batch independence, randomness, gradients and input errors."""

from __future__ import annotations

import pytest
import torch
from helpers import seeded

from hf_faa.ops import OPERATIONS, apply_lookup_tables, cutout, elastic, to_uint8
from hf_faa.ops.base import constant
from hf_faa.ops.color import GRAY_WEIGHTS
from hf_faa.ops.elastic import smooth_field
from hf_faa.ops.lookup import histograms

ALL_OPS = sorted(OPERATIONS)
MAGNITUDE_OPS = [name for name in ALL_OPS if OPERATIONS[name].has_magnitude]
EXPECTED_OPS = {
    "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "HorizontalFlip", "VerticalFlip", "Invert",
    "Solarize", "Posterize", "Contrast", "Saturate", "Brightness", "Sharpness", "AutoContrast", "Equalize",
    "Cutout", "Elastic",
}  # fmt: skip
# Exact gradients (piecewise smooth in images and magnitude): checked with gradcheck.
SMOOTH_OPS = ["ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "HorizontalFlip", "VerticalFlip",
              "Invert", "Contrast", "Saturate", "Brightness", "Sharpness", "Elastic"]  # fmt: skip
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def random_batch(channels: int = 3, batch: int = 4, size: tuple[int, int] = (12, 16), dtype=torch.float32,
                 device="cpu") -> torch.Tensor:  # fmt: skip
    # a smooth image plus noise, away from the clamp at 0 and 1
    generator = seeded(1)
    base = torch.linspace(0.15, 0.85, size[1]).expand(batch, channels, *size)
    noise = 0.1 * torch.rand(batch, channels, *size, generator=generator)
    return (base + noise).to(device=device, dtype=dtype)


def test_registry_names_and_metadata():
    assert set(OPERATIONS) == EXPECTED_OPS
    for name, op in OPERATIONS.items():
        assert op.name == name
        if op.has_magnitude:
            low, high = op.value_range
            assert low == 0 < high, name
            assert op.unit, name
    assert not OPERATIONS["Equalize"].has_magnitude and OPERATIONS["Rotate"].signed
    assert OPERATIONS["Rotate"].value_range == (0.0, 30.0)
    assert OPERATIONS["TranslateX"].value_range == OPERATIONS["TranslateY"].value_range == (0.0, 0.45)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ALL_OPS)
def test_shape_dtype_device_and_range(name, channels, dtype, device):
    images = random_batch(channels, dtype=dtype, device=device)
    magnitude = torch.tensor([0.0, 0.3, 0.7, 1.0], device=device)
    out = OPERATIONS[name](images, magnitude, generator=seeded())
    assert out.shape == images.shape
    assert out.dtype == dtype and out.device == images.device
    assert torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1


# Ops whose result is not clamped (Operation.bounded): a permutation of the pixels, an inversion, 8-bit levels, a fill.
BOUNDED_OPS = ["AutoContrast", "Cutout", "Equalize", "HorizontalFlip", "Invert", "Posterize", "Solarize",
               "VerticalFlip"]  # fmt: skip


@pytest.mark.parametrize("requires_grad", [False, True])  # the relaxed forward's surrogate gradients too
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", BOUNDED_OPS)
def test_bounded_ops_keep_images_in_the_unit_interval_without_a_clamp(name, dtype, requires_grad):
    assert [op for op in ALL_OPS if OPERATIONS[op].bounded] == BOUNDED_OPS
    generator = seeded(2)
    images = torch.rand(8, 3, 16, 16, generator=generator)
    images[:, :, :4], images[:, :, -4:] = 0, 1  # exact extremes in every image
    images[0], images[1] = 1, 0  # constant images
    images = images.to(dtype).requires_grad_(requires_grad)
    magnitude = torch.linspace(0, 1, 8, requires_grad=requires_grad)
    out = OPERATIONS[name](images, magnitude, generator=generator)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("name", ALL_OPS)
def test_empty_batch_passes_through(name, dtype):
    images = torch.zeros(0, 3, 8, 8, dtype=dtype)
    out = OPERATIONS[name](images, torch.zeros(0))
    assert out.shape == images.shape and out.dtype == dtype


@pytest.mark.parametrize("name", MAGNITUDE_OPS)
def test_magnitude_zero_is_identity(name):
    images = random_batch(dtype=torch.float64)
    out = OPERATIONS[name](images, torch.zeros(4), generator=seeded())
    torch.testing.assert_close(out, images, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", MAGNITUDE_OPS)
def test_full_magnitude_changes_the_image(name):
    images = random_batch(dtype=torch.float64, size=(16, 16))
    out = OPERATIONS[name](images, torch.ones(4), generator=seeded())
    assert (out - images).abs().mean() > 1e-3


@pytest.mark.parametrize("name", ALL_OPS)
def test_batch_equals_one_image_at_a_time(name):
    """Per-sample parameters: a batched call equals the op applied to each image alone."""
    images = random_batch(dtype=torch.float64)
    magnitude = torch.tensor([0.1, 0.4, 0.6, 0.9], dtype=torch.float64)
    op = OPERATIONS[name]
    if name == "Cutout":  # its random centres become explicit parameters
        function, params = cutout, (magnitude, torch.rand(4, 2, generator=seeded(3), dtype=torch.float64))
    elif name == "Elastic":  # and so does its displacement field
        function, params = elastic, (op.value(magnitude, images), smooth_field(4, 12, 16, images, seeded(3)))
    elif op.has_magnitude:
        function, params = op.function, (op.value(magnitude, images, seeded(3)),)
    else:
        function, params = op.function, ()
    batched = function(images, *params)
    for index in range(len(images)):
        single = function(images[index : index + 1], *(param[index : index + 1] for param in params))
        torch.testing.assert_close(batched[index : index + 1], single)


@pytest.mark.parametrize("name", [name for name in ALL_OPS if OPERATIONS[name].signed or OPERATIONS[name].random])
def test_generator_makes_random_draws_reproducible(name):
    images = random_batch(batch=32, dtype=torch.float64)
    magnitude = torch.full((32,), 0.8, dtype=torch.float64)
    op = OPERATIONS[name]
    first = op(images, magnitude, generator=seeded(5))
    torch.testing.assert_close(op(images, magnitude, generator=seeded(5)), first)
    assert not torch.allclose(op(images, magnitude, generator=seeded(6)), first)


@pytest.mark.parametrize("name", [name for name in ALL_OPS if OPERATIONS[name].signed])
def test_signed_ops_draw_both_signs_per_sample(name):
    images = random_batch(batch=64, dtype=torch.float64)
    op = OPERATIONS[name]
    magnitude = torch.full((64,), 0.6, dtype=torch.float64)
    value = op.value(magnitude, images, seeded(0))
    high = op.value_range[1]
    torch.testing.assert_close(value.abs(), torch.full_like(value, 0.6 * high))
    assert 16 < (value > 0).sum() < 48
    out = op(images, magnitude, generator=seeded(0))
    torch.testing.assert_close(out, op.function(images, value).clamp(0, 1))


def test_value_range_override_scales_the_parameter():
    images = random_batch(batch=2, dtype=torch.float64)
    op = OPERATIONS["Rotate"]
    value = op.value(torch.tensor([0.5, 1.0]), images, seeded(0), value_range=(0.0, 90.0))
    torch.testing.assert_close(value.abs(), torch.tensor([45.0, 90.0], dtype=torch.float64))


def test_magnitude_is_clamped_to_unit_interval():
    images = random_batch(batch=2, dtype=torch.float64)
    value = OPERATIONS["Posterize"].value(torch.tensor([-0.5, 1.5]), images)
    torch.testing.assert_close(value, torch.tensor([0.0, 8.0], dtype=torch.float64))


# ------------------------------------------------------------------------------------------ 8-bit images


def photo_like_uint8(batch: int = 4, channels: int = 3, size: tuple[int, int] = (20, 24)) -> torch.Tensor:
    return (random_batch(channels, batch, size) * 255).round().to(torch.uint8)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", ALL_OPS)
def test_uint8_images_equal_the_float_op_rounded_to_8_bits(name, channels):
    """uint8 in, uint8 out: through lookup tables or a float copy, the float op's result rounded."""
    images = photo_like_uint8(channels=channels)
    magnitude = torch.tensor([0.0, 0.3, 0.7, 1.0])
    op = OPERATIONS[name]
    out = op(images, magnitude, generator=seeded(2))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    expected = to_uint8(op(images.float() / 255, magnitude, generator=seeded(2)))
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    if op.has_magnitude:
        assert torch.equal(out[0], images[0]), "magnitude 0 is the identity on 8-bit images too"


def test_sampling_grid_equals_affine_grid():
    import torch.nn.functional as F

    from hf_faa.ops.geometric import _sampling_grid

    theta = torch.randn(5, 2, 3, generator=seeded(4), dtype=torch.float64)
    expected = F.affine_grid(theta, [5, 3, 17, 23], align_corners=False)
    torch.testing.assert_close(_sampling_grid(theta, 17, 23), expected)


def test_lookup_tables_map_each_channel_through_its_own_table():
    images = torch.tensor([[[[0, 1], [2, 255]], [[0, 1], [2, 255]]]], dtype=torch.uint8)  # [1, 2, 2, 2]
    levels = torch.arange(256.0) / 255
    tables = torch.stack([levels, 1 - levels]).view(1, 2, 1, 256)  # identity, inversion
    out = apply_lookup_tables(images, tables)
    assert torch.equal(out[0, 0], images[0, 0]) and torch.equal(out[0, 1], 255 - images[0, 1])
    shared = apply_lookup_tables(images, (1 - levels).view(1, 1, 1, 256))
    assert torch.equal(shared, 255 - images)


def test_histograms_count_levels_per_image_and_channel():
    images = photo_like_uint8(batch=3)
    counts = histograms(images)
    assert counts.shape == (3, 3, 256)
    for index in range(3):
        for channel in range(3):
            expected = torch.bincount(images[index, channel].flatten().long(), minlength=256)
            assert torch.equal(counts[index, channel], expected)


def test_constants_are_built_once_per_dtype_and_device_and_no_op_writes_them():
    cpu = torch.device("cpu")
    constant.cache_clear()
    with torch.inference_mode():  # built here first, they still serve a differentiable forward afterwards
        OPERATIONS["Saturate"](torch.rand(2, 3, 8, 8), torch.full((2,), 0.5))
    leaf = torch.rand(2, 3, 8, 8, requires_grad=True)
    OPERATIONS["Saturate"](leaf, torch.full((2,), 0.5)).sum().backward()
    assert leaf.grad is not None
    weights = constant(GRAY_WEIGHTS, torch.float32, cpu)
    assert constant(GRAY_WEIGHTS, torch.float32, cpu) is weights
    assert constant(GRAY_WEIGHTS, torch.float64, cpu).dtype == torch.float64
    to_normalised = constant(((2 / 16, 0, -1), (0, 2 / 16, -1)), torch.float32, cpu)  # affine_warp's, at 16x16
    expected = [weights.clone(), to_normalised.clone()]
    images = torch.rand(8, 3, 16, 16, generator=seeded(0))
    for op in OPERATIONS.values():
        op(images, torch.full((8,), 0.7), generator=seeded(1))
    assert torch.equal(weights, expected[0]) and torch.equal(to_normalised, expected[1])


# ---------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", SMOOTH_OPS)
def test_gradcheck_smooth_ops(name):
    images = random_batch(batch=2, size=(6, 7), dtype=torch.float64).requires_grad_()
    op = OPERATIONS[name]
    if op.has_magnitude:
        magnitude = torch.tensor([0.35, 0.65], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, m: op(x, m, generator=seeded(2)), (images, magnitude))
    else:
        assert torch.autograd.gradcheck(op, (images,))


@pytest.mark.parametrize("size", [(8, 8), (32, 32), (40, 100), (224, 224)])
def test_elastic_fields_are_smooth_and_alike_at_every_size(size):
    field = smooth_field(32, *size, torch.zeros(1), seeded(0))
    assert field.shape == (32, 2, *size)
    # U(-1, 1) smoothed by a Gaussian of 4/28 of the side: displacements of about 0.045 of the side at every size
    assert 0.035 < field.std() < 0.055
    # neighbouring pixels move together (on 8x8 images they are 4 grid points apart: a correlation of about 0.83)
    for dim in (2, 3):
        first, second = field.narrow(dim, 0, size[dim - 2] - 1), field.narrow(dim, 1, size[dim - 2] - 1)
        assert torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1] > 0.8


def gradients(name: str, images: torch.Tensor, magnitude: torch.Tensor, weights: torch.Tensor | None = None):
    images = images.clone().requires_grad_()
    magnitude = magnitude.clone().requires_grad_()
    out = OPERATIONS[name](images, magnitude, generator=seeded(4))
    (out if weights is None else out * weights).sum().backward()
    return images.grad, magnitude.grad


@pytest.mark.parametrize("name", ALL_OPS)
def test_every_op_passes_finite_nonzero_gradients(name):
    images = random_batch(dtype=torch.float64, size=(16, 16))
    magnitude = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=torch.float64)
    weights = torch.randn(images.shape, generator=seeded(9), dtype=torch.float64)
    image_grad, magnitude_grad = gradients(name, images, magnitude, weights)
    assert torch.isfinite(image_grad).all() and image_grad.abs().sum() > 0
    if OPERATIONS[name].has_magnitude:
        assert torch.isfinite(magnitude_grad).all()
        assert (magnitude_grad != 0).all(), magnitude_grad
    else:
        assert magnitude_grad is None


@pytest.mark.parametrize("name", ["AutoContrast", "Equalize", "Posterize"])
def test_straight_through_image_gradient_is_identity(name):
    images = random_batch(dtype=torch.float64)
    weights = torch.randn(images.shape, generator=seeded(8), dtype=torch.float64)
    image_grad, _ = gradients(name, images, torch.full((4,), 0.5, dtype=torch.float64), weights)
    torch.testing.assert_close(image_grad, weights)


def test_surrogate_gradients_point_the_sensible_way():
    bright = torch.full((2, 3, 8, 8), 0.9, dtype=torch.float64) - 0.3 * torch.rand(2, 3, 8, 8, generator=seeded(0))
    half = torch.full((2,), 0.5, dtype=torch.float64)
    # inverting a larger share of a bright image darkens it
    assert (gradients("Solarize", bright, half)[1] < 0).all()
    # removing more bits floors more: darker
    assert (gradients("Posterize", bright, half)[1] < 0).all()
    # a larger gray square brightens a black image
    assert (gradients("Cutout", torch.zeros(2, 3, 8, 8, dtype=torch.float64), half)[1] > 0).all()


# ---------------------------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("images", "magnitude", "message"),
    [
        (torch.zeros(2, 3, 8, 8, dtype=torch.int64), torch.zeros(2), "float with values in \\[0, 1\\] or uint8"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.bool), torch.zeros(2), "got dtype torch.bool"),
        (torch.zeros(3, 8, 8), torch.zeros(3), "4 dimensions"),
        (torch.zeros(2, 4, 8, 8), torch.zeros(2), "1 \\(grayscale\\) or 3 \\(RGB\\) channels"),
        (torch.zeros(2, 8, 8, 3), torch.zeros(2), "channels"),
        ([[0.0]], torch.zeros(1), "torch.Tensor"),
        (torch.zeros(2, 3, 8, 8), torch.zeros(2, 1), "shape \\[B\\] = \\[2\\]"),
        (torch.zeros(2, 3, 8, 8), torch.zeros(3), "shape \\[B\\] = \\[2\\]"),
        (torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), "float tensor"),
        (torch.zeros(2, 3, 8, 8), None, "needs a magnitude"),
    ],
)
def test_bad_input_raises_value_error(images, magnitude, message):
    with pytest.raises(ValueError, match=message):
        OPERATIONS["Rotate"](images, magnitude)


def test_ops_without_magnitude_still_check_a_given_magnitude():
    OPERATIONS["Equalize"](torch.zeros(2, 3, 8, 8))  # magnitude is optional
    with pytest.raises(ValueError, match="shape \\[B\\]"):
        OPERATIONS["Equalize"](torch.zeros(2, 3, 8, 8), torch.zeros(5))
