"""The data flags every script shares (``scripts/search.py``, ``train.py`` and ``evaluate.py``), declared once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DatasetArguments:
    """Which images, from which columns: :func:`hf_faa.data.load_image_dataset` and
    :func:`hf_faa.data.resolve_columns` read these."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A Hub dataset name, a save_to_disk folder, an image folder or a .parquet file. "
            "If unset, the MNIST-5k subset shipped in the package (offline)."
        },  # fmt: skip
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The Hub dataset's config name."})
    train_split: str = field(default="train", metadata={"help": "The training split."})
    image_column: str | None = field(default=None, metadata={"help": "Image column; if unset, detected."})
    label_column: str | None = field(
        default=None, metadata={"help": "Label column; if unset, the ClassLabel column (or an integer 'label' ...)."}
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={
            "help": "Use a stratified subset of this many training images (the paper searches on 4000 of CIFAR-10)."
        },
    )
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Stream the splits (a Hub dataset, image folder or file) instead of downloading and preparing "
            "them whole, and keep --max_train_samples shuffled rows (and, where the script evaluates, "
            "--max_eval_samples more): for datasets too large to download. Each process streams the same rows."
        },  # fmt: skip
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where datasets caches downloads."})
