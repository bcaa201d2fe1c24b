"""SearchConfig: every setting of a policy search, as a dataclass that ``transformers.HfArgumentParser``
turns into command-line flags (or reads from a .json/.yaml file)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..policy import MAGNITUDE_SAMPLINGS, POLICY_INITS, SELECTIONS

GRADIENT_PENALTY_NORMS = ("image", "channel")
MIXED_PRECISIONS = ("no", "fp16", "bf16")


def _help(text: str, **kwargs) -> dict:
    return {"metadata": {"help": text, **kwargs}}


@dataclass
class SearchConfig:
    """Settings of a Faster AutoAugment search. Defaults search the embedded MNIST-5k offline in a few
    minutes on a CPU; the paper's CIFAR-10 setting is ``--dataset_name uoft-cs/cifar10
    --max_train_samples 4000 --critic_depth 40 --critic_widen_factor 2 --num_train_epochs 20``."""

    # data
    dataset_name: str | None = field(
        default=None,
        **_help(
            "A Hub dataset name, a save_to_disk folder, an image folder or a .parquet file. "
            "Default: the MNIST-5k subset shipped in the package (offline)."
        ),  # fmt: skip
    )
    dataset_config_name: str | None = field(default=None, **_help("The Hub dataset's config name."))
    train_split: str = field(default="train", **_help("The split to search on."))
    image_column: str | None = field(default=None, **_help("Image column (default: the datasets.Image column)."))
    label_column: str | None = field(default=None, **_help("Label column (default: the ClassLabel column)."))
    image_size: int = field(default=32, **_help("Images are resized (shorter side) and centre-cropped to this."))
    max_train_samples: int | None = field(
        default=None, **_help("Search on a stratified subset of this many images (the paper uses 4000 of CIFAR-10).")
    )
    dataloader_num_workers: int = field(default=0, **_help("DataLoader worker processes that decode images."))
    cache_dir: str | None = field(default=None, **_help("Where datasets caches downloads."))

    # policy
    operations: list[str] | None = field(
        default=None,
        **_help("Operation names (default: all of hf_faa.ops, without the colour-only ones on grayscale data)."),
    )
    num_sub_policies: int = field(default=10, **_help("Sub-policies of the policy."))
    operation_count: int = field(default=2, **_help("Operations per sub-policy."))
    temperature: float = field(default=0.05, **_help("Softmax temperature of the operation selection."))
    magnitude_sampling: str = field(default="fixed", **_help("fixed or uniform.", choices=MAGNITUDE_SAMPLINGS))
    policy_init: str = field(
        default="uniform",
        **_help(
            "Initial policy: uniform (every op equally likely, magnitudes and probabilities 0.5) or "
            "random (U(0, 1), the official search's).",
            choices=POLICY_INITS,
        ),  # fmt: skip
    )
    selection: str = field(
        default="weighted",
        **_help(
            "Relaxed op selection: weighted (the paper: runs every op, every op learns every step) or "
            "gumbel (runs only the sampled op: cheaper, slower to learn).",
            choices=SELECTIONS,
        ),  # fmt: skip
    )

    # critic
    critic_depth: int = field(default=10, **_help("WideResNet depth of the critic (paper: 40)."))
    critic_widen_factor: int = field(default=1, **_help("WideResNet widen factor of the critic (paper: 2)."))

    # optimisation
    num_train_epochs: int = field(default=20, **_help("Passes over the search data (20, as in the paper)."))
    max_steps: int = field(default=-1, **_help("Stop after this many steps (overrides num_train_epochs when > 0)."))
    per_device_train_batch_size: int = field(
        default=128, **_help("Images per step and process: the first half is augmented, the second half is real.")
    )
    learning_rate: float = field(default=1e-3, **_help("Adam learning rate of critic and policy."))
    adam_beta1: float = field(default=0.0, **_help("Adam beta1 (WGAN-GP: 0)."))
    adam_beta2: float = field(default=0.999, **_help("Adam beta2."))
    gradient_penalty_weight: float = field(default=10.0, **_help("WGAN-GP gradient-penalty weight."))
    gradient_penalty_norm: str = field(
        default="image",
        **_help(
            "Gradient norm of the penalty: per image (WGAN-GP) or per pixel over channels (the official code).",
            choices=GRADIENT_PENALTY_NORMS,
        ),  # fmt: skip
    )
    classification_weight: float = field(default=0.1, **_help("Weight of the label-preserving classification loss."))
    gradient_accumulation_steps: int = field(default=1, **_help("Batches accumulated per optimiser step."))
    mixed_precision: str | None = field(
        default=None, **_help("no, fp16 or bf16 (default: accelerate's config).", choices=MIXED_PRECISIONS)
    )
    channels_last: bool = field(default=False, **_help("Run the critic in channels_last memory format."))
    seed: int = field(default=42, **_help("Seed of initialisation, data order and augmentation draws."))

    # outputs
    output_dir: str = field(default="faa-policy", **_help("Where the policy, logs and checkpoints go."))
    logging_steps: int = field(default=10, **_help("Log metrics every this many steps."))
    report_to: str = field(
        default="none", **_help("Trackers, comma-separated (tensorboard, trackio, wandb, ...), all or none.")
    )
    checkpointing_steps: int | None = field(
        default=None, **_help("Checkpoint every this many steps (there is always one at the end of each epoch).")
    )
    resume_from_checkpoint: str | None = field(
        default=None, **_help("Resume from a checkpoint folder, or 'latest' in output_dir/checkpoints.")
    )
    push_to_hub: bool = field(default=False, **_help("Push the policy to the Hub at the end."))
    hub_model_id: str | None = field(default=None, **_help("Repo id to push to (default: the output_dir name)."))
    hub_token: str | None = field(default=None, **_help("Hub token (default: the logged-in one)."))
    hub_private_repo: bool | None = field(default=None, **_help("Create the Hub repo as private."))

    def __post_init__(self) -> None:
        checks = {
            "image_size": self.image_size >= 8,
            "per_device_train_batch_size": self.per_device_train_batch_size >= 2,
            "num_train_epochs": self.num_train_epochs >= 1 or self.max_steps > 0,
            "learning_rate": self.learning_rate > 0,
            "logging_steps": self.logging_steps >= 1,
            "gradient_accumulation_steps": self.gradient_accumulation_steps >= 1,
            "checkpointing_steps": self.checkpointing_steps is None or self.checkpointing_steps >= 1,
            "max_train_samples": self.max_train_samples is None or self.max_train_samples >= 2,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"Invalid search setting(s) {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}.")
        for name, choices in (("gradient_penalty_norm", GRADIENT_PENALTY_NORMS), ("selection", SELECTIONS),
                              ("magnitude_sampling", MAGNITUDE_SAMPLINGS), ("policy_init", POLICY_INITS)):  # fmt: skip
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}.")
        if self.push_to_hub and self.hub_model_id is None:
            raise ValueError("--push_to_hub needs --hub_model_id user/name (the repo to create or update).")

    @property
    def trackers(self) -> list[str] | str | None:
        """``report_to`` as accelerate's ``log_with``."""
        if self.report_to in ("none", ""):
            return None
        if self.report_to == "all":
            return "all"
        return [name.strip() for name in self.report_to.split(",") if name.strip()]

    def to_dict(self) -> dict:
        """JSON-serialisable settings, without the Hub token."""
        return {name: value for name, value in asdict(self).items() if name != "hub_token"}
