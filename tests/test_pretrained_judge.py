"""--classifier_model_name_or_path: a transformers image classifier as the search's label judge, offline (a tiny ViT
built from a config and saved with its image processor, by folder and through the Hub double)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from helpers import tiny_config
from PIL import Image
from transformers import (
    AutoImageProcessor,
    ConvNextImageProcessorPil,
    MobileNetV2ImageProcessorPil,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessorPil,
)

from hf_faa import cli
from hf_faa.data import tensor_to_pil
from hf_faa.search import loop as search_loop
from hf_faa.search import run_search
from hf_faa.search import step as search_step_module
from hf_faa.search.losses import normalize
from hf_faa.search.pretrained_judge import PretrainedJudge, _input_size, load_pretrained_judge

BACKBONE_WEIGHT = "model.vit.embeddings.patch_embeddings.projection.weight"


@pytest.fixture
def tiny_vit(tmp_path) -> Path:
    """A ViT for 48x48 images and 3 classes, with a processor that resizes bilinearly and normalises per channel."""
    folder = tmp_path / "tiny-vit"
    torch.manual_seed(0)
    config = ViTConfig(image_size=48, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=3)  # fmt: skip
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 48, "width": 48}, resample=Image.Resampling.BILINEAR,
                         image_mean=[0.2, 0.4, 0.6], image_std=[0.5, 0.25, 0.2]).save_pretrained(folder)  # fmt: skip
    return folder


def test_the_judge_sees_images_as_its_processor_prepares_them(tiny_vit):
    judge = load_pretrained_judge(str(tiny_vit), ["a", "b", "c", "d"])
    assert judge.model.config.num_labels == 4 and judge.size == (48, 48)  # a new head for the dataset's classes
    seen = {}
    judge.model.register_forward_pre_hook(lambda module, args, kwargs: seen.update(kwargs), with_kwargs=True)
    gray = torch.randint(0, 256, (3, 1, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    critic_inputs = normalize(gray.float() / 255).requires_grad_(True)
    logits = judge(critic_inputs)
    assert logits.shape == (3, 4)
    processor = AutoImageProcessor.from_pretrained(tiny_vit)
    prepared = processor([tensor_to_pil(image).convert("RGB") for image in gray], return_tensors="pt").pixel_values
    # in 8-bit levels: PIL resizes in fixed point and rounds to 8 bits, so a pixel may differ by one level
    levels = (seen["pixel_values"].detach() - prepared) * torch.tensor([0.5, 0.25, 0.2]).view(1, 3, 1, 1) * 255
    assert levels.abs().max() <= 1.01 and levels.abs().mean() < 0.5
    logits.sum().backward()  # the policy learns through the judge: its gradient reaches the images
    assert critic_inputs.grad.abs().sum() > 0 and torch.isfinite(critic_inputs.grad).all()


@pytest.mark.parametrize(
    ("processor", "size"),
    [(ViTImageProcessorPil(size={"height": 40, "width": 36}), (40, 36)),
     (ConvNextImageProcessorPil(size={"shortest_edge": 64}), (64, 64)),
     (MobileNetV2ImageProcessorPil(), (224, 224))],  # resizes to 256, then crops 224
)  # fmt: skip
def test_the_input_size_is_the_processor_s_crop_or_resize(processor, size):
    assert _input_size(processor, "model") == size


def test_a_judge_that_cannot_be_loaded_is_a_one_line_user_error(tmp_path):
    with pytest.raises(ValueError, match="Cannot load the label judge --classifier_model_name_or_path") as error:
        load_pretrained_judge("someone/not-on-the-hub", ["a", "b"])
    assert cli.is_user_error(error.value)


def test_a_search_fine_tunes_a_judge_from_the_hub_on_real_images(tmp_path, tiny_vit, hub, monkeypatch, caplog):
    hub.publish("someone/tiny-vit", tiny_vit)
    judges = []

    def recording_step(state, *args, **kwargs):
        judges.append(state.accelerator.unwrap_model(state.classifier))
        return search_step_module.search_step(state, *args, **kwargs)

    monkeypatch.setattr(search_loop, "search_step", recording_step)
    loaded = load_pretrained_judge("someone/tiny-vit", [str(digit) for digit in range(10)]).state_dict()
    with caplog.at_level(logging.INFO):
        # with the validation term, whose gradient differentiates the judge's own gradient (through its attention)
        policy = run_search(tiny_config(tmp_path / "search", calibration="none", validation_weight=1.0,
                                        classifier_model_name_or_path="someone/tiny-vit"))  # fmt: skip
    judge = judges[-1]
    assert isinstance(judge, PretrainedJudge) and judge.model.config.num_labels == 10
    assert not torch.equal(judge.state_dict()[BACKBONE_WEIGHT], loaded[BACKBONE_WEIGHT])  # fine-tuned
    assert policy.search_info["config"]["classifier_model_name_or_path"] == "someone/tiny-vit"
    assert "labels judged by someone/tiny-vit" in caplog.text
