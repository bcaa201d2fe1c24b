"""SearchConfig: every setting of a policy search, as a dataclass that ``transformers.HfArgumentParser``
turns into command-line flags (or reads from a .json/.yaml file)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..data import DatasetArguments
from ..policy import MAGNITUDE_SAMPLINGS, POLICY_INITS, PRESETS, SELECTIONS
from .base_augmentation import BASE_AUGMENTATIONS
from .losses import STRENGTH_FLOOR_SCOPES

GRADIENT_PENALTY_NORMS = ("image", "channel")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
CALIBRATIONS = ("validation", "none")
CLASSIFIERS = ("separate", "shared")
OPERATION_CHECK_PRECISIONS = ("auto", "fp32", "bf16")
SAVED_MAGNITUDE_SAMPLINGS = ("auto", "fixed", "uniform")
# --validation_share holds out at most this many images: enough for a per-step validation batch and a
# validation set the judge cannot memorise, without taking much of a large dataset from the search.
MAX_VALIDATION_IMAGES = 1000


def _help(text: str, **kwargs) -> dict:
    return {"metadata": {"help": text, **kwargs}}


@dataclass
class SearchConfig(DatasetArguments):
    """Settings of a Faster AutoAugment search. Defaults search the embedded MNIST-5k offline in a few
    minutes on a CPU; the paper's CIFAR-10 setting is ``--dataset_name uoft-cs/cifar10
    --max_train_samples 4000 --critic_depth 40 --critic_widen_factor 2 --max_steps -1 --num_train_epochs 20``
    and its objective ``--classifier shared --classification_weight 0.1 --policy_learning_rate 1e-3
    --critic_warmup_steps 0 --min_strength_ratio 0 --magnitude_scale 1 --operation_check false``
    (docs/search-research.md says why the defaults differ)."""

    # data (and the fields of hf_faa.data.DatasetArguments)
    image_size: int = field(default=32, **_help("Images are resized (shorter side) and centre-cropped to this."))
    dataloader_num_workers: int = field(default=0, **_help("DataLoader worker processes that decode images."))

    # policy
    operations: list[str] | None = field(
        default=None,
        **_help(
            "Operation names; if unset, hf_faa.ops.DEFAULT_OPERATIONS (all but Elastic), without the colour-only ones "
            "on grayscale data."
        ),
    )
    num_sub_policies: int = field(default=10, **_help("Sub-policies of the policy (of each search of the ensemble)."))
    ensemble_size: int = field(
        default=1,
        **_help(
            "Independent searches run side by side, each with its own policy, critic, label judge, random draws "
            "and data order; the saved policy holds all their sub-policies (ensemble_size x "
            "num_sub_policies) and each image picks one. Each step costs ensemble_size times a single search's. "
            "Three searches merged varied less than one search on the evaluation suite but were not better on "
            "average (docs/search-research.md, session 8)."
        ),  # fmt: skip
    )
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
    classifier: str = field(
        default="separate",
        **_help(
            "Which network judges whether augmented images keep their labels: a separate classifier of the "
            "critic's size trained on the real images only (separate), or the critic's own class head (shared, "
            "the paper).",
            choices=CLASSIFIERS,
        ),  # fmt: skip
    )
    classifier_model_name_or_path: str | None = field(
        default=None,
        **_help(
            "A transformers image classifier (a Hub id or a local folder with its image processor's config) as the "
            "separate label judge instead of a WideResNet: its head is replaced for this dataset's classes, it sees "
            "the search images resized and normalised as its processor prepares images, and it is fine-tuned on the "
            "real half of every batch at --classifier_learning_rate. Needs --classifier separate."
        ),  # fmt: skip
    )
    classifier_learning_rate: float | None = field(
        default=None,
        **_help(
            "Adam learning rate of the separate label judge (None: --learning_rate). A pretrained "
            "--classifier_model_name_or_path usually wants a smaller one than a WideResNet trained from scratch."
        ),  # fmt: skip
    )

    # optimisation
    num_train_epochs: int = field(default=20, **_help("Passes over the search data, when --max_steps is -1."))
    max_steps: int = field(
        default=200,
        **_help(
            "Steps of the search, a budget in images seen whatever the dataset's size (200 x 128 = 25,600 "
            "images, as scripts/evaluate.py's 400 x 64; the paper: 20 epochs of 4,000 images, about 625 steps "
            "of 128). -1: --num_train_epochs passes instead."
        ),  # fmt: skip
    )
    per_device_train_batch_size: int = field(
        default=128, **_help("Images per step and process: the first half is augmented, the second half is real.")
    )
    learning_rate: float = field(
        default=1e-3, **_help("Adam learning rate of the critic (and of the classifier: --classifier_learning_rate).")
    )
    policy_learning_rate: float | None = field(
        default=1e-2, **_help("Adam learning rate of the policy (None: --learning_rate; the paper: 1e-3 for both).")
    )
    selection_learning_rate: float | None = field(
        default=None,
        **_help(
            "Adam learning rate of the policy's operation-selection logits alone (None: --policy_learning_rate), "
            "so the choice of operations can move at another pace than the apply probabilities and magnitudes "
            "(a slower selection was not better on the evaluation suite: docs/search-research.md, session 10)."
        ),
    )
    critic_warmup_steps: int = field(
        default=50, **_help("Steps that train only the critic (and classifier) before the policy starts to learn.")
    )
    adam_beta1: float = field(default=0.0, **_help("Adam beta1 (WGAN-GP: 0)."))
    adam_beta2: float = field(default=0.999, **_help("Adam beta2."))
    gradient_penalty_weight: float = field(default=10.0, **_help("WGAN-GP gradient-penalty weight."))
    gradient_penalty_share: float = field(
        default=0.25,
        **_help(
            "Share of the step's pairs of real and augmented images that the gradient penalty is computed on (at "
            "least one pair): the penalty's pass, with its double backward, costs about three critic passes, and "
            "fewer interpolates still estimate the same expectation. A quarter made the search step 1.5-1.8x faster "
            "and the policies as good on the evaluation suite (docs/search-research.md, session 31). 1: every pair "
            "(the paper)."
        ),  # fmt: skip
    )
    gradient_penalty_norm: str = field(
        default="image",
        **_help(
            "Gradient norm of the penalty: per image (WGAN-GP) or per pixel over channels (the official code).",
            choices=GRADIENT_PENALTY_NORMS,
        ),  # fmt: skip
    )
    base_augmentation: str = field(
        default="none",
        **_help(
            "Before each step, shift every image of the batch by up to 4 pixels (crop: a random crop of the "
            "reflect-padded image) and also flip half of them horizontally (crop-flip): the official loader's base "
            "augmentation, so that the critic does not learn to flag small shifts as augmented.",
            choices=BASE_AUGMENTATIONS,
        ),  # fmt: skip
    )
    classification_weight: float = field(
        default=10.0,
        **_help(
            "Weight of the label-preserving classification loss against the critic's (the paper: 0.1, shared "
            "head). 10 trained the best or tied-best classifiers on the evaluation suite (docs/search-research.md)."
        ),
    )
    min_strength_ratio: float = field(
        default=1.0,
        **_help(
            "Floor on the augmentation strength (mean absolute pixel change) as a share of the initial policy's: "
            "the critic's objective alone is minimised by no augmentation. 0 turns the floor off (the paper)."
        ),  # fmt: skip
    )
    strength_floor_scope: str = field(
        default="batch",
        **_help(
            "batch: the batch's mean strength must reach the floor; image: every image's must, so stages spent on "
            "an op that changes nothing on this data cost the policy (not better on the evaluation suite: "
            "docs/search-research.md, session 7); capped: the batch's mean with each image counting at most twice "
            "the floor, so a few drastic changes (Invert on digits) cannot stand in for many unchanged images.",
            choices=STRENGTH_FLOOR_SCOPES,
        ),  # fmt: skip
    )
    strength_penalty_weight: float = field(
        default=100.0, **_help("Weight of the penalty on the strength's shortfall below the floor.")
    )
    min_entropy_ratio: float = field(
        default=0.0,
        **_help(
            "Floor on the op selection's mean entropy, as a share of its maximum log(number of ops): keeps each "
            "stage a mixture of operations. 0 turns it off."
        ),  # fmt: skip
    )
    validation_weight: float = field(
        default=0.0,
        **_help(
            "Weight of the validation term: the policy is rewarded by the cosine between the label judge's "
            "gradient on the augmented images and its gradient on held-out real images (--validation_share), "
            "so it learns augmentations that help a classifier generalise (a one-step form of MADAO's validation "
            "objective). Needs --classifier separate. 0 turns it off (the paper's objective); weight 10 was not "
            "better on the evaluation suite's digits (docs/search-research.md, session 11)."
        ),  # fmt: skip
    )
    validation_share: float = field(
        default=0.2,
        **_help(
            "Share of the search images held out from the critic and the judge for --validation_weight "
            f"(at most {MAX_VALIDATION_IMAGES} images); unused when the weight is 0."
        ),
    )

    # how much to augment
    magnitude_scale: float = field(
        default=0.5,
        **_help(
            "The searched magnitudes are multiplied by this before the policy is saved (1: as searched, the "
            "paper). The strength floor keeps the starting policy's strength, about twice what trained best on "
            "every dataset of the evaluation suite (docs/search-research.md)."
        ),
    )
    operation_check: bool = field(
        default=True,
        **_help(
            "After the search (and --magnitude_scale), test each operation the policy applies in a share of "
            "0.005 or more of its stages on its own: small classifiers, each trained (on images shifted by up to 4 "
            "pixels) with one fifth of the search images held out, compare their gradient on the op's images with "
            "their gradient on the held-out images, against the same for unaugmented images; an op whose cosine is "
            "more than --operation_check_margin below (the median over the classifiers), or under which they "
            "recognise less than 0.6 of what they recognise unaugmented, is switched off (apply probability 0). It "
            "catches label-destroying ops the search kept (flips on digits, Equalize where colour is the class). "
            "It is skipped, with a warning, when its classifiers barely beat chance. --operation_check false skips it."
        ),  # fmt: skip
    )
    operation_check_margin: float = field(
        default=0.3, **_help("How far below unaugmented images an op's median cosine must be to be switched off.")
    )
    operation_check_steps: int = field(
        default=300,
        **_help(
            "Training steps (of 32 images) of each of the operation check's five classifiers; at 150 its verdicts "
            "on the evaluation suite missed a flip that 300 caught (docs/search-research.md, session 12)."
        ),
    )
    selection_spread: float = field(
        default=0.5,
        **_help(
            "With the operation check: the share of each stage's op selection given to a uniform choice among the "
            "ops that pass the check, train its classifiers much as real images do (a median gradient cosine at "
            "most 0.4 below that of unaugmented images), keep most labels (its classifiers keep 0.92 of their held-out "
            "accuracy under the op; where they learned the data poorly, training them with the op does not raise "
            "their held-out loss much more than the other ops do; where the images' intensity histograms carry little "
            "of the label, the tone ops that keep the data's tones pass both tests) and change the images (a mean "
            "pixel change of 0.01 or more at the policy's magnitude, or at the starting one where the search shrank it "
            "under a fifth of that); those ops keep at least their starting "
            "magnitude (after --magnitude_scale) and are applied with probability 0.9 or more. A search settles on "
            "a few ops by the luck of its first batches; several harmless ops together trained better than any one "
            "of them (docs/search-research.md, sessions 14-18). 0 keeps the searched selection."
        ),
    )
    saved_magnitude_sampling: str = field(
        default="auto",
        **_help(
            "How the saved policy applies the magnitudes of a search with --magnitude_sampling fixed: fixed (as "
            "searched), uniform (each image's magnitude drawn from 0 to twice the searched one, TrivialAugment's "
            "draws with the same mean), or auto: uniform when the operation check's classifiers train more like "
            "held-out images at twice the magnitude for more than half of the --selection_spread ops that have one, "
            "else fixed (without the check or a spread: fixed). Uniform draws gained on a dataset whose geometric ops "
            "keep every label and lost up to 0.9 points on digits, where the classifiers voted for fixed "
            "(docs/search-research.md, session 24).",
            choices=SAVED_MAGNITUDE_SAMPLINGS,
        ),
    )
    operation_check_precision: str = field(
        default="fp32",
        **_help(
            "The operation check's classifiers: fp32, bf16 (bf16 autocast and channels_last), or auto (bf16 on a "
            "CPU with bfloat16 instructions, AVX512-BF16 or AMX, fp32 elsewhere). bf16 ran the check 1.56x faster "
            "on such a CPU but changed 2 of its 20 verdicts on the evaluation suite, one that had gained 0.9 "
            "points (docs/search-research.md, session 13), so fp32 is the default.",
            choices=OPERATION_CHECK_PRECISIONS,
        ),
    )
    calibration: str = field(
        default="none",
        **_help(
            "After the search (and --magnitude_scale), scale the apply probabilities and magnitudes by the "
            "candidate factors (no augmentation, or one of --calibration_apply_factors x "
            "--calibration_magnitude_factors) whose policy trains the best small classifier on held-out folds of "
            "the search data (validation), or keep the policy as it is (none). On the evaluation suite the "
            "held-out folds were too small to rank the candidates, so it is off by default.",
            choices=CALIBRATIONS,
        ),  # fmt: skip
    )
    calibration_apply_factors: list[float] = field(
        default_factory=lambda: [1.0, 2.0], **_help("Candidate factors on the apply probabilities.")
    )
    calibration_magnitude_factors: list[float] = field(
        default_factory=lambda: [0.5, 1.0], **_help("Candidate factors on the magnitudes.")
    )
    calibration_folds: int = field(default=2, **_help("Cross-validation folds of the calibration."))
    calibration_epochs: int = field(default=30, **_help("Epochs of each calibration classifier."))
    calibration_max_samples: int = field(
        default=500, **_help("Calibrate (and check the operations) on at most this many search images.")
    )
    policy_candidates: list[str] = field(
        default_factory=lambda: ["elastic"],
        **_help(
            "Presets to compare the searched policy with after the search (hf_faa.policy.PRESETS), or none: each, "
            "and the searched policy, trains the evaluation's small ResNet from scratch on all but one of "
            "--policy_choice_folds folds of the search images (--calibration_epochs epochs, at most "
            "--calibration_max_samples images), tested on the fold held out, --policy_choice_repeats times; a "
            "candidate with a higher mean held-out accuracy and a lower mean held-out loss than the searched policy "
            "is saved instead. The elastic distortion alone beat the search on mnist by 0.4-1.1 points on each of "
            "ten draws and lost to it on most other data; the choice took it where it won (docs/search-research.md, "
            "session 46)."
        ),
    )
    policy_choice_folds: int = field(default=5, **_help("Cross-validation folds of --policy_candidates."))
    policy_choice_repeats: int = field(
        default=3, **_help("Times --policy_candidates' cross-validation runs, each with other folds and seeds.")
    )
    gradient_accumulation_steps: int = field(default=1, **_help("Batches accumulated per optimiser step."))
    mixed_precision: str | None = field(
        default=None, **_help("no, fp16 or bf16; if unset, accelerate's config.", choices=MIXED_PRECISIONS)
    )
    channels_last: bool = field(
        default=False,
        **_help("Feed the critic (and classifier) channels_last images in their plain passes; the gradient "
                "penalty's pass stays contiguous, which is faster there."),
    )  # fmt: skip
    compile_critic: bool = field(
        default=False,
        **_help("torch.compile the critic for its plain passes (the real, the augmented and the policy's); the "
                "gradient penalty's pass stays eager, since torch.compile cannot take its double backward. On a "
                "2-core CPU it made the plain passes of WRN-40-2 1.3-1.4x faster in fp32 and 1.4-2.0x in bf16 after a "
                "compile of 1-2 minutes: worth it for long searches with a large critic. With several processes, "
                "only the policy's pass is compiled."),
    )  # fmt: skip
    seed: int = field(default=42, **_help("Seed of initialisation, data order and augmentation draws."))
    ddp_timeout: int = field(
        default=600,
        **_help(
            "Seconds a process waits in a collective (e.g. for a stuck peer) before the run fails; a peer that "
            "crashes ends the run at once. Raise it when the main process first downloads a large dataset."
        ),
    )

    # outputs
    output_dir: str = field(default="faa-policy", **_help("Where the policy, logs and checkpoints go."))
    logging_steps: int = field(default=10, **_help("Log metrics every this many steps."))
    report_to: str = field(
        default="none", **_help("Trackers, comma-separated (tensorboard, trackio, wandb, ...), all or none.")
    )
    checkpointing_steps: int | None = field(
        default=None, **_help("Checkpoint every this many steps (there is always one at the end of each epoch).")
    )
    checkpoints_total_limit: int | None = field(
        default=2,
        **_help("Keep at most this many checkpoints (the newest; older ones are deleted after each save). None: all."),
    )
    resume_from_checkpoint: str | None = field(
        default=None, **_help("Resume from a checkpoint folder, or 'latest' in output_dir/checkpoints.")
    )
    push_to_hub: bool = field(default=False, **_help("Push the policy to the Hub at the end."))
    hub_model_id: str | None = field(default=None, **_help("Repo id to push to; if unset, the output_dir name."))
    hub_token: str | None = field(default=None, **_help("Hub token; if unset, the logged-in one."))
    hub_private_repo: bool | None = field(default=None, **_help("Create the Hub repo as private."))

    def __post_init__(self) -> None:
        if self.policy_candidates == ["none"]:  # --policy_candidates none
            self.policy_candidates = []
        positive_list = "a non-empty list of numbers above 0"
        checks = {  # setting: (valid?, what it must be)
            "image_size": (self.image_size >= 8, "at least 8"),
            "ensemble_size": (self.ensemble_size >= 1, "at least 1"),
            "per_device_train_batch_size": (
                self.per_device_train_batch_size >= 2,
                "at least 2 (half real, half augmented)",
            ),
            "num_train_epochs": (self.num_train_epochs >= 1 or self.max_steps > 0, "at least 1 when --max_steps is -1"),
            "learning_rate": (self.learning_rate > 0, "above 0"),
            "policy_learning_rate": (self.policy_learning_rate is None or self.policy_learning_rate > 0, "above 0"),
            "classifier_learning_rate": (
                self.classifier_learning_rate is None or self.classifier_learning_rate > 0,
                "above 0",
            ),
            "selection_learning_rate": (
                self.selection_learning_rate is None or self.selection_learning_rate > 0,
                "above 0",
            ),
            "critic_warmup_steps": (self.critic_warmup_steps >= 0, "0 or more"),
            "min_strength_ratio": (self.min_strength_ratio >= 0, "0 or more"),
            "magnitude_scale": (0 < self.magnitude_scale <= 1, "in (0, 1]"),
            "strength_penalty_weight": (self.strength_penalty_weight >= 0, "0 or more"),
            "gradient_penalty_share": (0 < self.gradient_penalty_share <= 1, "in (0, 1]"),
            "min_entropy_ratio": (0 <= self.min_entropy_ratio <= 1, "between 0 and 1"),
            "validation_weight": (self.validation_weight >= 0, "0 or more"),
            "validation_share": (0 < self.validation_share < 1, "between 0 and 1"),
            "operation_check_margin": (self.operation_check_margin >= 0, "0 or more"),
            "selection_spread": (0 <= self.selection_spread <= 1, "between 0 and 1"),
            "operation_check_steps": (self.operation_check_steps >= 1, "at least 1"),
            "calibration_apply_factors": (
                bool(self.calibration_apply_factors) and min(self.calibration_apply_factors) > 0,
                positive_list,
            ),
            "calibration_magnitude_factors": (
                bool(self.calibration_magnitude_factors) and min(self.calibration_magnitude_factors) > 0,
                positive_list,
            ),
            "calibration_folds": (self.calibration_folds >= 2, "at least 2"),
            "calibration_epochs": (self.calibration_epochs >= 1, "at least 1"),
            "calibration_max_samples": (
                self.calibration_max_samples >= 2 * self.calibration_folds,
                "at least 2 x --calibration_folds",
            ),
            "policy_candidates": (
                all(name in PRESETS for name in self.policy_candidates),
                f"presets among {', '.join(PRESETS)}, or none",
            ),
            "policy_choice_folds": (
                2 <= self.policy_choice_folds <= self.calibration_max_samples // 2,
                "at least 2, and at most half of --calibration_max_samples",
            ),
            "policy_choice_repeats": (self.policy_choice_repeats >= 1, "at least 1"),
            "logging_steps": (self.logging_steps >= 1, "at least 1"),
            "ddp_timeout": (self.ddp_timeout >= 1, "at least 1"),
            "gradient_accumulation_steps": (self.gradient_accumulation_steps >= 1, "at least 1"),
            "checkpointing_steps": (self.checkpointing_steps is None or self.checkpointing_steps >= 1, "at least 1"),
            "checkpoints_total_limit": (
                self.checkpoints_total_limit is None or self.checkpoints_total_limit >= 1,
                "at least 1 (or None)",
            ),
            "max_train_samples": (self.max_train_samples is None or self.max_train_samples >= 2, "at least 2"),
        }
        bad = [f"--{name} {getattr(self, name)!r} (must be {rule})" for name, (ok, rule) in checks.items() if not ok]
        if bad:
            raise ValueError(f"Invalid search setting(s): {'; '.join(bad)}.")
        if self.streaming and self.max_train_samples is None:
            raise ValueError(
                "--streaming searches on --max_train_samples rows of the stream; set it (the paper searched on 4000)."
            )
        if self.classifier_model_name_or_path is not None and self.classifier != "separate":
            raise ValueError("--classifier_model_name_or_path is a separate label judge: use --classifier separate.")
        if self.validation_weight > 0 and self.classifier != "separate":
            raise ValueError("--validation_weight needs the separate label judge: use --classifier separate.")
        for name, choices in (("gradient_penalty_norm", GRADIENT_PENALTY_NORMS), ("selection", SELECTIONS),
                              ("magnitude_sampling", MAGNITUDE_SAMPLINGS), ("policy_init", POLICY_INITS),
                              ("calibration", CALIBRATIONS), ("classifier", CLASSIFIERS),
                              ("operation_check_precision", OPERATION_CHECK_PRECISIONS),
                              ("saved_magnitude_sampling", SAVED_MAGNITUDE_SAMPLINGS),
                              ("strength_floor_scope", STRENGTH_FLOOR_SCOPES),
                              ("base_augmentation", BASE_AUGMENTATIONS)):  # fmt: skip
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}.")

    @property
    def hub_repo_name(self) -> str:
        """The repo to push to: ``hub_model_id``, else the output_dir's name (in the token's namespace), as
        ``transformers.Trainer`` does."""
        return self.hub_model_id or Path(self.output_dir).absolute().name

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
