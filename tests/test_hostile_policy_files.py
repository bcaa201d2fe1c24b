"""Hostile policy files: random mutations of ``config.json`` and ``model.safetensors`` always end in a
``ValueError`` or ``FileNotFoundError`` that names the file: never another exception, a hang, a huge
allocation or code execution (safetensors holds no code, and nothing is loaded with pickle)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from hf_faa import FasterAutoAugmentPolicy
from hf_faa.policy import CONFIG_NAME, WEIGHTS_NAME

hypothesis = pytest.importorskip("hypothesis")
# mutations that add keys are ignored with a warning, which is the behaviour under test, not noise
pytestmark = pytest.mark.filterwarnings("ignore:.*ignoring unknown field")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Cases per fuzz test; the README's reliability table reports these counts.
FUZZ_CASES = 100
FUZZ = settings(max_examples=FUZZ_CASES, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture],
                database=None, derandomize=True)  # fmt: skip


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("good-policy")
    torch.manual_seed(0)
    FasterAutoAugmentPolicy(operations=["Rotate", "Invert", "Contrast"], num_sub_policies=2).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def good(good_folder) -> dict[str, str | bytes]:
    """The good policy's files: ``config`` (text) and ``weights`` (bytes)."""
    return {"config": (good_folder / CONFIG_NAME).read_text(), "weights": (good_folder / WEIGHTS_NAME).read_bytes()}


def load_from(folder: Path, config: str, weights: bytes) -> None:
    """Write a policy folder with these files and load it; returns on success."""
    (folder / CONFIG_NAME).write_text(config)
    (folder / WEIGHTS_NAME).write_bytes(weights)
    FasterAutoAugmentPolicy.from_pretrained(folder)


def assert_clear_error(folder: Path, config: str, weights: bytes) -> None:
    """Loading either succeeds (a mutation can leave a valid policy, e.g. an unknown extra key) or raises
    a ValueError / FileNotFoundError that names the file at fault."""
    try:
        load_from(folder, config, weights)
    except (ValueError, FileNotFoundError) as error:
        assert CONFIG_NAME in str(error) or WEIGHTS_NAME in str(error), str(error)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
huge_or_odd_numbers = st.sampled_from([0, -1, 2**31, 10**12, 10**30, float("nan"), float("inf"), 1e308, -0.0, True])


@FUZZ
@given(
    key=st.sampled_from(
        [
            "operations",
            "num_sub_policies",
            "operation_count",
            "temperature",
            "magnitude_sampling",
            "selection",
            "apply_temperature",
            "magnitude_ranges",
            "search_info",
            "an_unknown_key",
        ]
    ),  # fmt: skip
    value=json_values | huge_or_odd_numbers | st.text(min_size=1000, max_size=5000),
)
def test_mutated_config_values(tmp_path, good, key, value):
    config = json.loads(good["config"])
    config[key] = value
    assert_clear_error(tmp_path, json.dumps(config), good["weights"])


@FUZZ
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_config_replaced_by_garbage(tmp_path, good, data):
    assert_clear_error(tmp_path, data.decode("utf-8", errors="replace"), good["weights"])


def test_deeply_nested_config_is_a_clear_error(tmp_path, good):
    for config in ("[" * 100_000 + "]" * 100_000, '{"operations": ' + "[" * 100_000 + "]" * 100_000 + "}"):
        with pytest.raises(ValueError, match=CONFIG_NAME):
            load_from(tmp_path, config, good["weights"])


def test_a_config_that_asks_for_a_huge_policy_allocates_nothing(tmp_path, good):
    """num_sub_policies 10**9 would need 40 GB of parameters: the shapes are checked against the weights
    file's header before anything is allocated."""
    config = json.loads(good["config"])
    config["num_sub_policies"] = 10**9
    with pytest.raises(ValueError, match=f"{WEIGHTS_NAME}.*does not match"):
        load_from(tmp_path, json.dumps(config), good["weights"])


@FUZZ
@given(position=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_one_corrupted_byte_of_the_weights(tmp_path, good, position, byte):
    weights = bytearray(good["weights"])
    weights[position % len(weights)] = byte
    assert_clear_error(tmp_path, good["config"], bytes(weights))


@FUZZ
@given(length=st.integers(min_value=0, max_value=2**64 - 1), cut=st.integers(min_value=0, max_value=2000))
def test_weights_with_a_hostile_header_length_or_truncated(tmp_path, good, length, cut):
    weights = good["weights"]
    assert_clear_error(tmp_path, good["config"], struct.pack("<Q", length) + weights[8:])
    assert_clear_error(tmp_path, good["config"], weights[: cut % len(weights)])


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["logits", "magnitudes", "probabilities", "__metadata__", "x"]),
                              st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "F16", "I64", "BOOL", "??"]),
                                                     "shape": st.lists(st.integers(-2, 2**40), max_size=4),
                                                     "data_offsets": st.lists(st.integers(-2, 2**40), max_size=3)}),
                              max_size=4))  # fmt: skip
def test_weights_with_a_hostile_header(tmp_path, good, header):
    """Offsets past the end, overlapping tensors, wrong dtypes and shapes, in a well-formed container."""
    encoded = json.dumps(header).encode()
    assert_clear_error(tmp_path, good["config"], struct.pack("<Q", len(encoded)) + encoded + b"\0" * 64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int32, torch.bool])
def test_weights_of_another_dtype_or_non_finite(tmp_path, good, good_folder, dtype):
    policy = FasterAutoAugmentPolicy.from_pretrained(good_folder)
    tensors = {name: parameter.detach().to(dtype) for name, parameter in policy.named_parameters()}
    save_file(tensors, tmp_path / "weights")
    if dtype.is_floating_point:
        load_from(tmp_path, good["config"], (tmp_path / "weights").read_bytes())  # any float dtype is accepted
        tensors["logits"][0, 0, 0] = float("nan")
        save_file(tensors, tmp_path / "weights")
    with pytest.raises(ValueError, match="must hold finite floats"):
        load_from(tmp_path, good["config"], (tmp_path / "weights").read_bytes())
