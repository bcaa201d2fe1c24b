"""Policies in Hugging Face pipelines: set_transform + Trainer, the collator, map-based offline
augmentation, streaming datasets, loading policies by name, and input errors."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Trainer, TrainingArguments, ViTConfig, ViTForImageClassification, ViTImageProcessorPil

from hf_faa import FasterAutoAugmentPolicy, PolicyCollator, PolicyTransform, augment_dataset
from hf_faa.data import decode_once, encode_images, load_image_dataset, prepare_dataset


@pytest.fixture(scope="module")
def digits() -> datasets.Dataset:
    return load_image_dataset().select(range(48))


@pytest.fixture
def policy() -> FasterAutoAugmentPolicy:
    return FasterAutoAugmentPolicy.from_preset("randaugment", magnitude=20)


def tiny_vit(num_labels: int = 10) -> ViTForImageClassification:
    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=num_labels)  # fmt: skip
    return ViTForImageClassification(config)


def processor() -> ViTImageProcessorPil:
    return ViTImageProcessorPil(size={"height": 32, "width": 32})


def test_policy_transform_through_trainer(digits, policy, tmp_path):
    train = digits.with_transform(PolicyTransform(policy, image_processor=processor()))
    batch = train[:4]
    assert batch["pixel_values"].shape == (4, 3, 32, 32) and batch["pixel_values"].dtype == torch.float32
    assert list(batch["labels"]) == list(digits[:4]["label"])
    assert -1.0 <= batch["pixel_values"].min() and batch["pixel_values"].max() <= 1.0  # normalised with 0.5/0.5
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=3, logging_steps=1,
                             remove_unused_columns=False, use_cpu=True, report_to=[], save_strategy="no")  # fmt: skip
    result = Trainer(model=tiny_vit(), args=args, train_dataset=train, processing_class=processor()).train()
    assert np.isfinite(result.training_loss) and result.global_step == 3


def test_set_transform_draws_fresh_augmentations_and_is_reproducible_with_a_seed(digits, policy):
    unseeded = digits.with_transform(PolicyTransform(policy, size=32))
    assert not torch.equal(unseeded[:16]["pixel_values"], unseeded[:16]["pixel_values"])  # new draws per access
    first = digits.with_transform(PolicyTransform(policy, size=32, seed=3))
    second = digits.with_transform(PolicyTransform(policy, size=32, seed=3))
    epoch_one, epoch_two = first[:16]["pixel_values"], first[:16]["pixel_values"]
    assert not torch.equal(epoch_one, epoch_two)
    torch.testing.assert_close(second[:16]["pixel_values"], epoch_one)
    torch.testing.assert_close(second[:16]["pixel_values"], epoch_two)


def test_without_processor_pixel_values_are_in_unit_range_and_grayscale_works(digits, policy):
    batch = digits.with_transform(PolicyTransform(policy, mode="L"))[:8]
    assert batch["pixel_values"].shape == (8, 1, 28, 28)
    assert 0 <= batch["pixel_values"].min() and batch["pixel_values"].max() <= 1


def test_undecodable_images_are_skipped_and_counted(policy):
    good = io.BytesIO()
    Image.new("RGB", (10, 10), (10, 200, 30)).save(good, format="PNG")
    dataset = datasets.Dataset.from_dict({"image": [good.getvalue(), b"broken", good.getvalue()], "label": [0, 1, 2]})
    dataset = dataset.cast_column("image", datasets.Image(decode=False))
    transform = PolicyTransform(policy)
    batch = dataset.with_transform(transform)[:3]
    assert batch["labels"] == [0, 2] and len(batch["pixel_values"]) == 2
    assert transform.skipped == 1


def test_policy_collator_augments_whole_batches(digits, policy):
    collator = PolicyCollator(policy, image_processor=processor(), seed=0)
    rows = [{"pixel_values": torch.full((3, 32, 32), 100, dtype=torch.uint8), "label": i % 10} for i in range(16)]
    batch = collator(rows)
    assert batch["pixel_values"].shape == (16, 3, 32, 32) and batch["labels"].tolist() == [i % 10 for i in range(16)]
    unaugmented = (100 / 255 - 0.5) / 0.5
    assert (batch["pixel_values"] - unaugmented).abs().amax(dim=(1, 2, 3)).gt(1e-3).sum() >= 8
    with pytest.raises(ValueError, match="needs a 'pixel_values' column.*Decode the images first"):
        collator([{"image": 1}])


def test_policy_collator_takes_decoded_rows_and_leaves_out_undecodable_ones(policy):
    collator = PolicyCollator(policy, image_mean=[0.5], image_std=[0.5], seed=0)
    rows = [{"pixel_values": torch.full((1, 8, 8), 100, dtype=torch.uint8), "labels": i, "valid": i != 1}
            for i in range(4)]  # fmt: skip
    batch = collator(rows)
    assert set(batch) == {"pixel_values", "labels"} and batch["labels"].tolist() == [0, 2, 3]
    assert batch["pixel_values"].shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="without a single decodable image"):
        collator([{**rows[1]}])


def encoded_images(dataset: datasets.Dataset) -> list[bytes]:
    return [image["bytes"] for image in dataset.cast_column("image", datasets.Image(decode=False))["image"]]


def test_augment_dataset_is_deterministic_per_seed_and_keeps_labels(digits, policy):
    small = digits.select(range(12))
    first = augment_dataset(small, policy, num_copies=2, seed=5, batch_size=5)
    again = augment_dataset(small, policy, num_copies=2, seed=5, batch_size=5)
    other = augment_dataset(small, policy, num_copies=2, seed=6, batch_size=5)
    assert len(first) == 24 and first.features == small.features
    assert list(first["label"]) == list(small["label"]) * 2
    raw = encoded_images(first)
    assert raw == encoded_images(again)
    assert sum(a != b for a, b in zip(raw, encoded_images(other), strict=True)) > 6
    assert raw[:12] != raw[12:]  # the two copies differ


def test_augment_dataset_with_several_processes_is_reproducible(digits, policy):
    small = digits.select(range(10))
    first = augment_dataset(small, policy, seed=1, batch_size=4, num_proc=2)
    assert encoded_images(first) == encoded_images(augment_dataset(small, policy, seed=1, batch_size=4, num_proc=2))
    assert list(first["label"]) == list(small["label"])


def test_augment_dataset_cache_is_keyed_by_seed_and_policy(digits, policy, tmp_path):
    """datasets fingerprints the map by hashing the augmenter: the same call reads the same cache file back, another
    seed or another policy's parameters write another."""
    digits.select(range(8)).save_to_disk(str(tmp_path / "saved"))
    on_disk = datasets.load_from_disk(str(tmp_path / "saved"))  # has cache files, so map results are cached
    five, six = augment_dataset(on_disk, policy, seed=5), augment_dataset(on_disk, policy, seed=6)
    again = augment_dataset(on_disk, policy, seed=5)
    with torch.no_grad():
        next(policy.parameters()).add_(0.01)
    changed = augment_dataset(on_disk, policy, seed=5)
    cache_file = {name: augmented.cache_files[0]["filename"] for name, augmented in
                  [("five", five), ("six", six), ("again", again), ("changed", changed)]}  # fmt: skip
    assert cache_file["again"] == cache_file["five"] and encoded_images(again) == encoded_images(five)
    assert len({cache_file["five"], cache_file["six"], cache_file["changed"]}) == 3
    assert encoded_images(five) != encoded_images(six)


def test_augment_dataset_reads_pixel_arrays_as_images(digits, policy):
    """A column of pixel arrays (as Dataset.from_dict stores numpy arrays) augments as the same images would."""
    small = digits.select(range(6))
    arrays = datasets.Dataset.from_dict({"image": np.stack([np.asarray(image) for image in small["image"]]),
                                         "label": small["label"]})  # fmt: skip
    augmented = augment_dataset(arrays, policy, seed=2)
    assert isinstance(augmented.features["image"], datasets.Image) and list(augmented["label"]) == list(small["label"])
    from_images = augment_dataset(small.cast_column("label", datasets.Value("int64")), policy, seed=2)
    assert [np.asarray(image).tolist() for image in augmented["image"]] == [
        np.asarray(image).tolist() for image in from_images["image"]
    ]


def test_policy_transform_on_pixel_arrays_says_to_read_them_as_images_first(digits, policy):
    """set_transform hands rows, not features, so the transform cannot tell pixel arrays from other lists: it names
    the fix, and after it the transform gives the images' augmentations."""
    pixels = np.stack([np.asarray(image) for image in digits.select(range(4))["image"]])
    arrays = datasets.Dataset.from_dict({"image": pixels, "label": [0, 1, 2, 3]})
    for image_column, problem in ((None, "only pixel arrays \\(image\\)"), ("image", "'image' holds pixel arrays")):
        with pytest.raises(ValueError, match=f"{problem}.*hf_faa.data.encode_images\\(dataset, 'image'\\)"):
            arrays.with_transform(PolicyTransform(policy, image_column, size=32))[:2]
    read = encode_images(arrays).with_transform(PolicyTransform(policy, size=32, seed=0))
    images = digits.select(range(4)).with_transform(PolicyTransform(policy, size=32, seed=0))
    torch.testing.assert_close(read[:4]["pixel_values"], images[:4]["pixel_values"])


def test_streaming_dataset_with_map(digits, policy):
    streaming = digits.to_iterable_dataset(num_shards=2)
    augmented = streaming.map(PolicyTransform(policy, size=32), batched=True, batch_size=8,
                              remove_columns=["image", "label"])  # fmt: skip
    rows = list(augmented)
    assert len(rows) == 48 and rows[0]["pixel_values"].shape == (3, 32, 32)
    assert [row["labels"] for row in rows] == list(digits["label"])


def test_policy_by_hub_name_and_by_preset(digits, policy, hub, tmp_path):
    policy.save_pretrained(tmp_path)
    hub.publish("someone/digits-policy", tmp_path)
    by_name = PolicyTransform("someone/digits-policy", size=32, seed=0)
    torch.testing.assert_close(by_name.policy.logits, policy.logits)
    assert digits.with_transform(by_name)[:2]["pixel_values"].shape == (2, 3, 32, 32)
    assert PolicyTransform("preset:trivialaugment").policy.magnitude_sampling == "uniform"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"image_column": "picture"},
            ValueError,
            "Image column 'picture' is not in the dataset.*columns: image .*label ",
        ),
        ({"image_column": "label"}, ValueError, r"Column 'label' is not an image column \(it holds int values\)"),
        ({"label_column": "class_id"}, ValueError, "Label column 'class_id' is not in the dataset.*label_column"),
    ],
)
def test_bad_columns_are_clear_errors(digits, policy, kwargs, error, message):
    with pytest.raises(error, match=message):
        digits.with_transform(PolicyTransform(policy, **kwargs))[:2]


def test_a_batch_that_trainer_stripped_of_its_images_names_the_fix(digits, policy):
    """Trainer's default remove_unused_columns=True leaves only the label column for the transform."""
    with pytest.raises(ValueError, match="only \\['label'\\].*remove_unused_columns=False"):
        digits.select_columns(["label"]).with_transform(PolicyTransform(policy))[:2]


def test_unknown_policy_name_is_a_clear_error(hub):
    with pytest.raises(FileNotFoundError, match="Could not load a policy from 'nobody/no-policy'"):
        PolicyTransform("nobody/no-policy")
    with pytest.raises(ValueError, match="Unknown preset"):
        PolicyTransform("preset:autoaugment-mnist")


def test_a_preset_name_without_its_prefix_names_the_fix_without_asking_the_hub(hub, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'trivialaugment' is the name of a preset.*write 'preset:trivialaugment'"):
        PolicyTransform("trivialaugment")
    monkeypatch.chdir(tmp_path)  # a folder of that name is a folder
    FasterAutoAugmentPolicy.from_preset("randaugment").save_pretrained("randaugment")
    assert PolicyTransform("randaugment").policy.operation_count == 2


def assorted_images() -> datasets.Dataset:
    """Images that each take another decoding step: a large JPEG, transparency, a palette, 16 bits, EXIF
    orientation, gray and already-small ones, and a missing image."""

    def encoded(image: Image.Image, image_format: str = "PNG", **options) -> dict:
        buffer = io.BytesIO()
        image.save(buffer, format=image_format, **options)
        return {"bytes": buffer.getvalue(), "path": None}

    rotated = Image.Exif()
    rotated[Image.ExifTags.Base.Orientation] = 6
    translucent = Image.effect_noise((40, 24), 50).convert("RGBA")
    translucent.putalpha(96)
    images = [
        encoded(Image.effect_noise((300, 200), 60).convert("RGB"), "JPEG", quality=90),
        encoded(translucent),
        encoded(Image.effect_noise((33, 47), 40).convert("P")),
        encoded(Image.fromarray(np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 20), "TIFF"),
        encoded(Image.effect_noise((64, 36), 30).convert("RGB"), "JPEG", exif=rotated),
        encoded(Image.effect_noise((28, 28), 70)),
        encoded(Image.effect_noise((32, 32), 70).convert("RGB")),
        None,
    ]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"image": images, "label": list(range(len(images)))}, features=features)


@pytest.mark.parametrize("with_policy", [False, True])
def test_decode_once_gives_the_pixels_and_augmentations_of_decoding_each_time(policy, with_policy):
    source = assorted_images()

    def transform() -> PolicyTransform:
        return PolicyTransform(policy if with_policy else None, image_processor=processor(), seed=4)

    decoded = transform().decode_once(source)
    assert decoded.features == source.features and decoded["label"] == source["label"]
    assert all(image.size == (32, 32) and image.mode == "RGB" for image in decoded["image"][:-1])
    assert decoded[len(source) - 1]["image"] is None
    each_time, once = transform(), transform()
    expected, actual = source.with_transform(each_time)[:], decoded.with_transform(once)[:]
    assert torch.equal(actual["pixel_values"], expected["pixel_values"]) and actual["labels"] == expected["labels"]
    assert once.skipped == each_time.skipped == 1


def test_decode_once_from_encoded_images_gives_the_pixels_of_the_search_data():
    """The search decodes the encoded images (Image(decode=False)) in the mode it infers, and so does
    decode_once on them (what the search decodes once when it draws each image more than once)."""
    source = assorted_images().select([0, 4, 5]).cast_column("image", datasets.Image(decode=False))
    for dataset, mode in ((source, "RGB"), (source.select([2]), "L")):  # row 5 of assorted_images is gray
        decoded = decode_once(dataset, "image", mode, 16)
        expected = prepare_dataset(dataset=dataset, image_size=16)
        actual = prepare_dataset(dataset=decoded, image_size=16)
        assert expected.mode == actual.mode == mode
        for row in range(len(dataset)):
            assert torch.equal(actual.dataset[row]["pixel_values"], expected.dataset[row]["pixel_values"])
