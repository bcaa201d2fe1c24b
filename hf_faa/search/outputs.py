"""What a finished search leaves behind: the facts recorded in the policy's ``search_info``, the card's
sample images, and the files (policy, card, curves) in ``output_dir`` and on the Hub."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from huggingface_hub import HfApi
from torch import Tensor

from ..data import PreparedDataset
from ..policy import FasterAutoAugmentPolicy
from ..sample_grid import MAX_SAMPLE_ROWS
from .checkpoints import SearchProgress
from .config import SearchConfig
from .report import LOG_NAME, LOSS_CURVE_NAME, SearchLog, write_loss_curves
from .step import MIN_IMAGES_PER_STEP

logger = get_logger(__name__)


def search_info(
    config: SearchConfig, data: PreparedDataset, accelerator: Accelerator, log: SearchLog, progress: SearchProgress,
    search_seconds: float,
) -> dict:  # fmt: skip
    """The facts about a finished search that go into the policy's ``search_info`` (and its card)."""
    final = log.records[-1] if log.records else {}
    return {
        "dataset_name": config.dataset_name,
        "dataset": data.description,
        "num_images": len(data.dataset),
        "skipped_images": progress.skipped_images,
        "skipped_steps": progress.skipped_steps,
        "unlabelled_images_left_out": data.unlabelled_rows,
        "steps": progress.global_step,
        "search_seconds": round(search_seconds, 1),
        "processes": accelerator.num_processes,
        "device": str(accelerator.device),
        "final_metrics": {
            name: round(value, 4)
            for name, value in final.items()
            if name not in ("step", "epoch") and not name.startswith("rate/")
        },
        "initial_augmentation_strength": round(progress.initial_strength, 4),
        "config": {
            key: value
            for key, value in config.to_dict().items()
            if key not in ("output_dir", "push_to_hub", "hub_model_id", "hub_private_repo", "resume_from_checkpoint")
        },
    }


def with_search_info(policy: FasterAutoAugmentPolicy, info: dict) -> FasterAutoAugmentPolicy:
    """The searched policy as it is saved: a copy of ``policy`` (same parameters and device, eval mode)
    built with ``info`` as its ``search_info``."""
    finished = FasterAutoAugmentPolicy(**{**policy.config, "search_info": info})
    finished.load_state_dict(policy.state_dict())
    return finished.to(policy.logits.device).eval()


def sample_images(data: PreparedDataset, count: int = MAX_SAMPLE_ROWS) -> tuple[Tensor | None, str]:
    """The first decodable image of each of the first ``count`` classes, uint8 ``[N, C, H, W]`` for the
    card (None without any decodable image: the card then shows the embedded digits), and a caption
    that names the classes shown and says how many were left out."""
    labels = np.asarray(data.dataset.with_format("numpy")[data.label_column])
    samples, shown = [], []
    for label in np.unique(labels)[:count]:
        rows = (data.dataset[int(row)] for row in np.flatnonzero(labels == label))
        first_valid = next((row["pixel_values"] for row in rows if row["valid"]), None)
        if first_valid is not None:
            samples.append(first_valid)
            shown.append(data.class_names[label] if label < len(data.class_names) else str(label))
    if not samples:
        return None, ""
    caption = f"Rows, top to bottom: one image of each class ({', '.join(shown)})"
    left_out = data.num_classes - len(shown)
    caption += f"; {left_out} of the {data.num_classes} classes are not shown." if left_out > 0 else "."
    return torch.stack(samples), caption


def write_outputs(
    config: SearchConfig, policy: FasterAutoAugmentPolicy, data, log: SearchLog, progress: SearchProgress, card: dict
) -> None:
    output_dir = Path(config.output_dir)
    card["sample_images"], card["samples_caption"] = sample_images(data)
    policy.save_pretrained(output_dir, model_card_kwargs=card)
    curves = write_loss_curves(log.records, output_dir / LOSS_CURVE_NAME)
    if progress.skipped_images:
        logger.warning(f"{progress.skipped_images} undecodable or missing image(s) were skipped during the search.")
    if progress.skipped_steps:
        logger.warning(
            f"{progress.skipped_steps} step(s) were skipped: some process had fewer than {MIN_IMAGES_PER_STEP} "
            "decodable images in its batch. Clean the dataset or use a larger --per_device_train_batch_size."
        )
    where = str(output_dir)
    if config.push_to_hub:
        # the full id (a bare name lands in the token's namespace), for the usage line below
        where = HfApi(token=config.hub_token).create_repo(config.hub_repo_name, private=config.hub_private_repo,
                                                          exist_ok=True).repo_id  # fmt: skip
        try:
            policy.push_to_hub(where, token=config.hub_token, private=config.hub_private_repo, model_card_kwargs=card)
        except Exception as error:  # any failure of the upload: the local policy is what must not be lost
            raise RuntimeError(
                f"The policy is saved in {output_dir}/, but pushing it to the Hub repo {where} failed "
                f'({type(error).__name__}: {error}). Retry the push alone:\n    python -c "from huggingface_hub '
                f"import upload_folder; upload_folder(repo_id='{where}', folder_path='{output_dir}', "
                "allow_patterns=['model.safetensors', 'config.json', 'README.md', '*.png'])\""
            ) from error
    logger.info(
        f"Policy saved to {output_dir}/ (model.safetensors, config.json, README.md, policy_samples.png"
        f"{', ' + LOSS_CURVE_NAME if curves else ''}, {LOG_NAME}).\n"
        f"Use it:\n"
        f"    from hf_faa import FasterAutoAugmentPolicy, PolicyTransform\n"
        f'    policy = FasterAutoAugmentPolicy.from_pretrained("{where}")\n'
        f"    train_dataset.set_transform(PolicyTransform(policy, image_processor=image_processor))"
    )
