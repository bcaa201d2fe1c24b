"""The policy's Hub format: save/load round trips, load by name from an offline cache, push through
a Hub double, strict loading of tampered files, and the model card."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch
from helpers import seeded
from PIL import Image
from safetensors.torch import save_file

from hf_faa import FasterAutoAugmentPolicy
from hf_faa.policy import CONFIG_NAME, SAMPLES_NAME, WEIGHTS_NAME


@pytest.fixture
def policy() -> FasterAutoAugmentPolicy:
    torch.manual_seed(0)
    policy = FasterAutoAugmentPolicy(num_sub_policies=4, search_info={"dataset_name": "uoft-cs/cifar10"})
    return policy.eval()


def assert_same_policy(first: FasterAutoAugmentPolicy, second: FasterAutoAugmentPolicy) -> None:
    assert first.config == second.config
    for name, parameter in first.named_parameters():
        assert torch.equal(parameter, getattr(second, name)), name
    batch = torch.rand(32, 3, 16, 16, generator=seeded(1))
    first.eval(), second.eval()
    torch.testing.assert_close(first(batch, generator=seeded(2)), second(batch, generator=seeded(2)))


def test_save_writes_the_hub_files_and_loads_back_identically(policy, tmp_path):
    policy.save_pretrained(tmp_path / "policy")
    files = sorted(path.name for path in (tmp_path / "policy").iterdir())
    assert files == sorted(["README.md", CONFIG_NAME, WEIGHTS_NAME, SAMPLES_NAME])
    config = json.loads((tmp_path / "policy" / CONFIG_NAME).read_text())
    assert config["num_sub_policies"] == 4 and config["search_info"]["dataset_name"] == "uoft-cs/cifar10"
    loaded = FasterAutoAugmentPolicy.from_pretrained(tmp_path / "policy")
    assert not loaded.training
    assert_same_policy(policy, loaded)


def test_saving_again_replaces_every_file_and_leaves_no_staging_folder(policy, tmp_path):
    policy.save_pretrained(tmp_path)
    with torch.no_grad():
        policy.logits.mul_(-1)
    policy.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []
    assert_same_policy(policy, FasterAutoAugmentPolicy.from_pretrained(tmp_path))


def test_presets_round_trip(tmp_path):
    preset = FasterAutoAugmentPolicy.from_preset("trivialaugment")
    preset.save_pretrained(tmp_path)
    loaded = FasterAutoAugmentPolicy.from_pretrained(tmp_path)
    assert loaded.value_range("Rotate") == (0.0, 135.0) and loaded.magnitude_sampling == "uniform"
    assert_same_policy(preset, loaded)


def test_load_by_name_from_a_prepopulated_offline_cache(policy, tmp_path, hub, offline_hub_cache):
    policy.save_pretrained(tmp_path)
    hub.publish("someone/cifar10-policy", tmp_path)
    assert (offline_hub_cache / "models--someone--cifar10-policy" / "refs" / "main").is_file()
    assert_same_policy(policy, FasterAutoAugmentPolicy.from_pretrained("someone/cifar10-policy"))


def test_push_then_load_by_name(policy, hub):
    policy.push_to_hub("someone/pushed-policy")
    assert hub.pushes == ["someone/pushed-policy"]
    assert hub.files("someone/pushed-policy") == sorted(["README.md", CONFIG_NAME, WEIGHTS_NAME, SAMPLES_NAME])
    snapshot_card = FasterAutoAugmentPolicy.from_pretrained("someone/pushed-policy")
    assert_same_policy(policy, snapshot_card)


def test_pushed_card_shows_the_repo_name_in_its_usage_snippet(policy, hub, offline_hub_cache):
    policy.push_to_hub("someone/pushed-policy")
    card = next(offline_hub_cache.glob("models--someone--pushed-policy/snapshots/*/README.md")).read_text()
    assert 'FasterAutoAugmentPolicy.from_pretrained("someone/pushed-policy")' in card


def test_save_pretrained_with_push_to_hub_uses_the_folder_name(policy, hub, tmp_path):
    policy.save_pretrained(tmp_path / "my-policy", push_to_hub=True, repo_id="someone/my-policy")
    assert hub.pushes == ["someone/my-policy"]


@pytest.mark.parametrize("name", ["nobody/nothing", "./no/such/folder"])
def test_unknown_repo_or_folder_is_a_clear_error(hub, name):
    with pytest.raises(FileNotFoundError, match=f"Could not load a policy from '{name}': it is not a local folder"):
        FasterAutoAugmentPolicy.from_pretrained(name)


# ----------------------------------------------------------------------------------------- tampering


@pytest.fixture
def saved(policy, tmp_path):
    policy.save_pretrained(tmp_path)
    return tmp_path


def edit_config(folder, edit) -> None:
    config = json.loads((folder / CONFIG_NAME).read_text())
    edit(config)
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def test_truncated_safetensors_is_a_clear_error(saved):
    weights = saved / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable safetensors file .* truncated or corrupted"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_tensor_of_the_wrong_shape_is_a_clear_error(saved):
    save_file({"logits": torch.zeros(4, 2, 17), "magnitudes": torch.zeros(4, 2, 16),
               "probabilities": torch.zeros(4, 2, 17)}, saved / WEIGHTS_NAME)  # fmt: skip
    with pytest.raises(ValueError, match="tensor 'magnitudes' has shape \\[4, 2, 16\\], .* needs \\[4, 2, 17\\]"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_missing_and_unexpected_tensors_are_clear_errors(saved):
    save_file({"logits": torch.zeros(4, 2, 17), "extra": torch.zeros(1)}, saved / WEIGHTS_NAME)
    with pytest.raises(ValueError, match="missing tensors \\['magnitudes', 'probabilities'\\], unexpected tensors"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_non_finite_tensor_is_a_clear_error(saved):
    save_file({"logits": torch.full((4, 2, 17), float("nan")), "magnitudes": torch.zeros(4, 2, 17),
               "probabilities": torch.zeros(4, 2, 17)}, saved / WEIGHTS_NAME)  # fmt: skip
    with pytest.raises(ValueError, match="tensor 'logits' must hold finite floats"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_unknown_op_in_config_is_a_clear_error(saved):
    edit_config(saved, lambda config: config["operations"].__setitem__(0, "Twirl"))
    with pytest.raises(ValueError, match="invalid policy config: Unknown operation\\(s\\) \\['Twirl'\\]"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_config_with_a_missing_field_is_a_clear_error(saved):
    edit_config(saved, lambda config: config.pop("operation_count"))
    with pytest.raises(ValueError, match="is missing field\\(s\\) \\['operation_count'\\]"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_missing_files_are_clear_errors(saved):
    (saved / WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        FasterAutoAugmentPolicy.from_pretrained(saved)
    (saved / CONFIG_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


def test_pickle_weights_are_never_loaded(saved):
    (saved / WEIGHTS_NAME).rename(saved / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        FasterAutoAugmentPolicy.from_pretrained(saved)


# ----------------------------------------------------------------------------------------- model card


def test_model_card_content(saved):
    card = (saved / "README.md").read_text()
    front_matter = card.split("---")[1]
    for line in ("library_name: hf-faa", "license: apache-2.0", "pipeline_tag: image-to-image",
                 "- faster-autoaugment", "- data-augmentation", "datasets:", "- uoft-cs/cifar10"):  # fmt: skip
        assert line in front_matter, line
    assert "| sub-policy | stage | operation |" in card and "<details>" in card
    assert card.index("| operation | applied in (share of stages) |") < card.index("| sub-policy | stage |")
    assert f"![Original and augmented samples]({SAMPLES_NAME})" in card
    assert "@inproceedings{hataya2020faster" in card
    assert '"num_sub_policies": 4' in card and "## How it was made" in card
    assert "arxiv.org/abs/1911.06987" in card


def test_model_card_tables_keep_their_columns(saved):
    """Units such as ``|factor - 1|`` are escaped: every row of a table has its header's cell count."""
    cells = None
    for line in (saved / "README.md").read_text().splitlines():
        if not line.startswith("|"):
            cells = None
            continue
        count = len(re.findall(r"(?<!\\)\|", line))
        cells = cells or count
        assert count == cells, line


def test_sample_grid_shows_originals_and_augmentations(saved, policy):
    grid = Image.open(saved / SAMPLES_NAME)
    assert grid.mode == "RGB"
    columns, rows = grid.size[0] // 96, grid.size[1] // 96
    assert (columns, rows) == (7, 10)  # original + 6 augmentations, one embedded digit per class
    cells = [grid.crop((column * 100, 0, column * 100 + 96, 96)) for column in range(7)]
    assert any(cell.tobytes() != cells[0].tobytes() for cell in cells[1:])


def test_sample_grid_uses_the_sample_images_given_with_the_card(policy, tmp_path):
    policy.save_pretrained(
        tmp_path, model_card_kwargs={"sample_images": torch.full((3, 3, 20, 20), 200, dtype=torch.uint8)}
    )
    assert Image.open(tmp_path / SAMPLES_NAME).size[1] == 3 * 96 + 2 * 4


def test_saved_files_get_the_umask_permissions_not_private_ones(policy, tmp_path):
    previous = os.umask(0o027)
    try:
        policy.save_pretrained(tmp_path)
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777 for path in tmp_path.iterdir() if path.is_file()}
    assert modes and set(modes.values()) == {0o640}, modes
