"""Each discrete op agrees with PIL's version of it on real photographs (scikit-image's sample images).

Errors are in 8-bit levels (0-255). PIL works in uint8 and rounds or truncates every result, so a
float op is at most one level off wherever the computation is the same; that is the tolerance of
the pixel ops. Exact integer ops (flips, invert, solarize, posterize, equalize) must match exactly.
"""

from __future__ import annotations

import random

import pytest
import torch
from PIL import Image
from pil_reference import PIL_OPERATIONS

from hf_faa.data import pil_to_tensor, tensor_to_pil
from hf_faa.ops import OPERATIONS

skimage_data = pytest.importorskip("skimage.data")


def photographs() -> list[Image.Image]:
    """Three RGB photos and a grayscale one, downsized (non-square too) to keep the test fast."""
    return [
        Image.fromarray(skimage_data.astronaut()).resize((96, 96), Image.BILINEAR),
        Image.fromarray(skimage_data.chelsea()).resize((90, 60), Image.BILINEAR),
        Image.fromarray(skimage_data.coffee()).resize((64, 48), Image.BILINEAR),
        Image.fromarray(skimage_data.camera()).resize((64, 64), Image.BILINEAR),
    ]


PHOTOS = photographs()
PHOTO_IDS = ["astronaut", "chelsea", "coffee", "camera"]


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image -> float64 ``[1, C, H, W]`` in [0, 1]."""
    return pil_to_tensor(image).unsqueeze(0).double() / 255


def level_errors(name: str, value: float, photo: Image.Image) -> torch.Tensor:
    """|our op − PIL's| in 8-bit levels, ``[1, C, H, W]``, both given the same native parameter."""
    ours = OPERATIONS[name].function(*op_arguments(name, to_tensor(photo), value)).clamp(0, 1)
    return (ours - to_tensor(PIL_OPERATIONS[name](photo, value))).abs() * 255


def op_arguments(name: str, images: torch.Tensor, value: float) -> tuple:
    if OPERATIONS[name].has_magnitude:
        return images, torch.tensor([value], dtype=images.dtype)
    return (images,)


# (op, native parameter) pairs, in the units of OPERATIONS[name].function
GEOMETRIC_CASES = [("ShearX", 0.25), ("ShearY", -0.2), ("TranslateX", 0.3), ("TranslateY", -0.41),
                   ("Rotate", 23.0), ("Rotate", -30.0)]  # fmt: skip
EXACT_CASES = [("HorizontalFlip", 0), ("VerticalFlip", 0), ("Invert", 0), ("Solarize", 0.3), ("Solarize", 0.9),
               ("Posterize", 3.0), ("Posterize", 7.0), ("Equalize", 0)]  # fmt: skip
ROUNDING_CASES = [("Contrast", 0.6), ("Contrast", -0.7), ("Saturate", 0.7), ("Saturate", -1.0),
                  ("Brightness", 0.4), ("Brightness", -0.5), ("Sharpness", 0.9), ("Sharpness", -0.9),
                  ("AutoContrast", 0)]  # fmt: skip


def case_id(case) -> str:
    return f"{case[0]}({case[1]})"


@pytest.mark.parametrize("photo", PHOTOS, ids=PHOTO_IDS)
@pytest.mark.parametrize(("name", "value"), EXACT_CASES, ids=[case_id(case) for case in EXACT_CASES])
def test_integer_ops_match_pil_exactly(name, value, photo):
    assert level_errors(name, value, photo).max() < 1e-6


@pytest.mark.parametrize("photo", PHOTOS, ids=PHOTO_IDS)
@pytest.mark.parametrize(("name", "value"), EXACT_CASES, ids=[case_id(case) for case in EXACT_CASES])
def test_uint8_images_through_the_registry_match_pil_exactly(name, value, photo):
    """The 8-bit path (lookup tables) as the policy runs it on decoded images: no rounding left."""
    op = OPERATIONS[name]
    magnitude = torch.tensor([value / op.value_range[1] if op.has_magnitude else 0.0])
    ours = op(pil_to_tensor(photo).unsqueeze(0), magnitude)
    assert torch.equal(ours[0], pil_to_tensor(PIL_OPERATIONS[name](photo, value)))


@pytest.mark.parametrize("photo", PHOTOS, ids=PHOTO_IDS)
@pytest.mark.parametrize(("name", "value"), ROUNDING_CASES, ids=[case_id(case) for case in ROUNDING_CASES])
def test_enhance_ops_match_pil_up_to_its_rounding(name, value, photo):
    errors = level_errors(name, value, photo)
    # PIL rounds the blend (and the smoothed image for Sharpness, twice) to uint8 and truncates in
    # AutoContrast's lookup table: at most ~1 level per rounding, well under 1 on average.
    assert errors.max() <= 1.5
    assert errors.mean() < 0.6


@pytest.mark.parametrize("photo", PHOTOS, ids=PHOTO_IDS)
@pytest.mark.parametrize(("name", "value"), GEOMETRIC_CASES, ids=[case_id(case) for case in GEOMETRIC_CASES])
def test_geometric_ops_match_pil_bilinear(name, value, photo):
    errors = level_errors(name, value, photo)
    # Where the 2x2 bilinear footprint lies inside the source, both interpolate the same four pixels:
    # only PIL's uint8 rounding differs. Warping an all-ones image with our op finds those pixels.
    ones = torch.ones_like(to_tensor(photo)[:, :1])
    inside = (OPERATIONS[name].function(*op_arguments(name, ones, value)) > 1 - 1e-9).expand_as(errors)
    assert errors[inside].max() <= 1 + 1e-6
    assert errors[inside].mean() < 0.6
    # Along the edge of the warped image PIL blends partial footprints with the black fill
    # differently; that band is one pixel wide, so the whole-image mean stays small.
    assert errors.mean() < 2.0


def test_registry_magnitude_maps_onto_the_native_parameter():
    """Through the registry, magnitude m is the PIL op at m × the op's maximum (sign drawn per sample)."""
    photo = PHOTOS[1]
    image, magnitude = to_tensor(photo), torch.tensor([0.5], dtype=torch.float64)
    posterized = OPERATIONS["Posterize"](image, magnitude)
    torch.testing.assert_close(posterized, to_tensor(PIL_OPERATIONS["Posterize"](photo, 4.0)))
    rotated = OPERATIONS["Rotate"](image, magnitude, generator=torch.Generator().manual_seed(0))
    references = [to_tensor(PIL_OPERATIONS["Rotate"](photo, degrees)) for degrees in (15.0, -15.0)]
    errors = [(rotated - reference).abs().mean() * 255 for reference in references]
    assert min(errors) < 2.0 < max(errors)


def test_pil_cutout_reference_fills_a_gray_square():
    photo = PHOTOS[3]
    random.seed(0)
    out = pil_to_tensor(PIL_OPERATIONS["Cutout"](photo, 0.5)).double()
    gray_share = (out == 128).double().mean()
    assert 0.05 < gray_share <= 0.3
    assert tensor_to_pil(pil_to_tensor(photo)).tobytes() == photo.tobytes()
