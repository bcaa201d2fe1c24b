"""The search loop under Accelerate: each batch's first half is augmented by the policy, its second
half stays real; the critic learns to tell them apart (WGAN-GP) and the policy learns to fool it
while keeping the augmented images classifiable (Hataya et al., 2020, section 3)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import datasets
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.logging import get_logger
from accelerate.utils import InitProcessGroupKwargs, set_seed
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import PreparedDataset, collate_valid, decode_prepared_once, prepare_dataset
from ..ops import DEFAULT_OPERATIONS, OPERATIONS
from ..policy import WEIGHTS_NAME, FasterAutoAugmentPolicy
from .calibration import Calibration, candidate_grid, choose, held_out_table, rescale_, scaled_candidates
from .checkpoints import (
    SearchProgress,
    latest_checkpoint,
    load_checkpoint,
    remove_checkpoints,
    resolve_checkpoint,
    save_checkpoint,
)
from .config import MAX_VALIDATION_IMAGES, SearchConfig
from .critic import WideResNetClassifier, WideResNetCritic
from .diagnostics import augmentation_strength, search_verdict, window_diagnostics
from .operation_check import (
    MIN_CHECK_IMAGES,
    MIN_CHECKED_RATE,
    MIN_PRESERVATION_TO_STAY,
    SPREAD_APPLY_PROBABILITY,
    TRAINING_TEST_STEPS,
    OperationCheck,
    checked_operations,
    checked_settings,
    doubled_cosine_changes,
    fold_judges,
    judge_table,
    native_bf16,
    near_chance,
    operation_settings,
    spread_selection_,
    switch_off_,
    tested_operations,
    tone_clause,
    trained_loss_rises,
    training_test_clause,
    uniform_magnitudes_,
)
from .outputs import search_info, with_search_info, write_outputs
from .policy_choice import SEARCHED, PolicyChoice, choice_sentence, choose_policy
from .pretrained_judge import load_pretrained_judge
from .report import LOG_NAME, SearchLog, summary_markdown
from .step import METRICS, MIN_IMAGES_PER_STEP, SearchState, search_step

logger = get_logger(__name__)

# The most decoded pixels (bytes) a process keeps in memory to skip decoding its search images on every draw.
DECODE_ONCE_MAX_BYTES = 2**30

# The seeds of the policy choice's repeated cross-validations, this far apart: each repeat's folds and classifiers are
# seeded from its seed plus the fold, so the repeats share none.
REPEAT_SEED_STRIDE = 1000

# what a post-search stage returns (it has as_dict())
Stage = TypeVar("Stage", Calibration, OperationCheck, PolicyChoice)


def default_operations(num_channels: int) -> list[str]:
    """:data:`~hf_faa.ops.DEFAULT_OPERATIONS`, except the colour-only ones (the identity there) on
    grayscale data: a no-op would be an easy way for the policy to look real to the critic without augmenting
    anything."""
    return [name for name in DEFAULT_OPERATIONS if num_channels == 3 or not OPERATIONS[name].color_only]


def initial_policy(config: SearchConfig, num_channels: int) -> FasterAutoAugmentPolicy:
    """The policy a search with ``config`` starts from on images of ``num_channels`` channels: the
    initial sub-policies of all ``ensemble_size`` searches together (draws from the global RNG when
    ``policy_init="random"``)."""
    return FasterAutoAugmentPolicy.union([_member_policy(config, num_channels) for _ in range(config.ensemble_size)])


def _member_policy(config: SearchConfig, num_channels: int) -> FasterAutoAugmentPolicy:
    """The initial policy of one search of the ensemble."""
    policy = FasterAutoAugmentPolicy(
        operations=config.operations or default_operations(num_channels),
        num_sub_policies=config.num_sub_policies,
        operation_count=config.operation_count,
        temperature=config.temperature,
        magnitude_sampling=config.magnitude_sampling,
        selection=config.selection,
    )
    policy.reset_parameters(config.policy_init)
    return policy


def build_accelerator(config: SearchConfig) -> Accelerator:
    return Accelerator(
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=config.trackers,
        project_dir=config.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=config.seed),
        kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=config.ddp_timeout))],
    )


def load_search_data(
    config: SearchConfig, accelerator: Accelerator, dataset: datasets.Dataset | None = None
) -> PreparedDataset:
    """The search images: ``dataset`` if given, else the dataset ``config`` names, loaded now; decoded once
    into memory where :func:`_decodes_once` says so, else on each access."""
    with accelerator.main_process_first():  # one process downloads and caches, the others reuse it (not a stream)
        data = prepare_dataset(
            config.dataset_name,
            config.dataset_config_name,
            split=config.train_split,
            image_column=config.image_column,
            label_column=config.label_column,
            image_size=config.image_size,
            max_samples=config.max_train_samples,
            seed=config.seed,
            cache_dir=config.cache_dir,
            min_samples=config.per_device_train_batch_size * accelerator.num_processes,
            dataset=dataset,
            streaming=config.streaming,
        )
    if _decodes_once(config, len(data.dataset), data.num_channels, accelerator.num_processes):
        data = decode_prepared_once(data)
    return data


def _decodes_once(config: SearchConfig, rows: int, channels: int, processes: int) -> bool:
    """Whether to decode the search images once, up front: when each process will draw more images than there
    are (so decoding them on every draw costs more) and their pixels take at most ``DECODE_ONCE_MAX_BYTES``."""
    if config.max_steps > 0:
        draws = config.max_steps * config.per_device_train_batch_size
    else:
        draws = config.num_train_epochs * rows // processes
    pixels = rows * channels * config.image_size**2
    return draws * config.ensemble_size > rows and pixels <= DECODE_ONCE_MAX_BYTES


def run_search(config: SearchConfig, dataset: datasets.Dataset | None = None) -> FasterAutoAugmentPolicy:
    """Search a policy as ``config`` says; returns it (in eval mode) after saving it to ``config.output_dir``.
    ``dataset`` searches on an in-memory ``datasets.Dataset`` instead of the one ``config.dataset_name``
    names (the column, subset and size settings of ``config`` still apply).

    Runs on whatever Accelerate was launched with (CPU, one GPU, several processes); only the main
    process writes files, logs and pushes.
    """
    accelerator = build_accelerator(config)
    output_dir = Path(config.output_dir)
    set_seed(config.seed)  # identical initialisation on every process
    data, held_out = _hold_out(config, load_search_data(config, accelerator, dataset), accelerator)
    # each search of the ensemble sees the data in its own order: which ops a search settles on depends
    # mostly on the order of its first batches (docs/search-research.md, session 8)
    loaders = [accelerator.prepare(_search_loader(config, data.dataset, member))
               for member in range(config.ensemble_size)]  # fmt: skip
    members = [_search_member(config, data, accelerator, held_out) for _ in range(config.ensemble_size)]
    start = _ensemble_policy(members)
    initial_parameters = {name: parameter.detach().clone() for name, parameter in start.named_parameters()}
    initial_rates = start.operation_rates()
    progress = SearchProgress()
    accelerator.register_for_checkpointing(progress)

    steps_per_epoch = len(loaders[0])
    total_steps = config.max_steps if config.max_steps > 0 else config.num_train_epochs * steps_per_epoch
    if config.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(output_dir, config.resume_from_checkpoint)
        load_checkpoint(accelerator, checkpoint)  # models, optimisers, RNG states, progress
        logger.info(f"Resumed from {checkpoint} at step {progress.global_step}.", main_process_only=True)
    else:
        set_seed(config.seed, device_specific=True)  # different augmentation draws on each process
        _warn_about_an_earlier_search(output_dir)

    log = SearchLog(output_dir / LOG_NAME, writer=accelerator.is_main_process, resume_step=progress.global_step)
    accelerator.init_trackers("hf-faa-search", config=_tracker_config(config))
    if data.unlabelled_rows:
        logger.warning(f"{data.unlabelled_rows} unlabelled image(s) (label -1) are left out of the search.",
                       main_process_only=True)  # fmt: skip
    logger.info(
        f"Searching on {data.description}: {len(data.dataset)} images, {data.num_classes} classes, "
        f"{accelerator.num_processes} process(es) on {accelerator.device}{_cpu_threads(accelerator)}, "
        f"{total_steps} steps, the critic in {_critic_precision(config, accelerator)}, {_label_judge(config)}.",
        main_process_only=True,
    )
    search_seconds = _search(members, loaders, progress, log, steps_per_epoch, total_steps, initial_parameters)

    policy = _ensemble_policy(members).eval()
    verdict, verdict_sentence = search_verdict(log.records, progress.initial_strength)
    info = search_info(config, data, accelerator, log, progress, search_seconds)
    info["verdict"] = verdict
    if held_out is not None:
        info["validation_images"] = len(held_out[1])  # held out of the search for --validation_weight
    messages = [verdict_sentence]
    if config.ensemble_size > 1:
        messages.append(f"The saved policy merges the {policy.num_sub_policies} sub-policies of {config.ensemble_size} "
                        "independent searches (--ensemble_size).")  # fmt: skip
    rescale_(policy, (1.0, config.magnitude_scale))
    start_magnitude = float(initial_parameters["magnitudes"].mean()) * config.magnitude_scale
    if config.magnitude_scale != 1:
        messages.append(f"Magnitudes scaled by {config.magnitude_scale:g} (--magnitude_scale).")
    check = None
    if config.operation_check:
        check = _timed(info, "operation_check",
                       lambda: _check_operations(config, data, accelerator, policy, start_magnitude))  # fmt: skip
        messages.append(
            f"Operation check: skipped ({check.skipped})." if check.skipped else
            f"Operation check: switched off {', '.join(check.switched_off) or 'nothing'} (median gradient "
            f"cosine more than {config.operation_check_margin:g} below that of unaugmented images, or under "
            f"{MIN_PRESERVATION_TO_STAY:g} of the labels kept; classifiers in {check.precision})."
        )  # fmt: skip
        if tone := tone_clause(check.tone_label_share, check.tone_exempt()):
            messages.append(tone)
        if check.spread_over:
            messages.append(f"Selection spread: {check.spread_share:g} of each stage's selection over "
                            f"{', '.join(check.spread_over)}, at magnitudes of at least {start_magnitude:.3g}, applied "
                            f"with probability {SPREAD_APPLY_PROBABILITY:g} or more (--selection_spread)"
                            f"{training_test_clause(check.classifier_accuracy, check.trained_loss_rise)}.")  # fmt: skip
    if config.magnitude_sampling == "fixed":
        sampling, why = _saved_magnitude_sampling(config, check)
        if sampling == "uniform":
            uniform_magnitudes_(policy)
        messages.append(f"Magnitudes: {_SAMPLING_WORDS[sampling]} ({why}).")
    if config.calibration == "validation":
        calibration = _timed(info, "calibration", lambda: _calibrate(config, data, accelerator, policy))
        rescale_(policy, calibration.chosen)
        messages.append(
            f"Calibration: held-out accuracy {[round(value, 3) for value in calibration.accuracies]} for the "
            f"(apply, magnitude) factors {calibration.candidates}; keeping {calibration.chosen}."
        )
    info["operation_rates"] = {
        name: {"initial": round(initial_rates[name], 4), "final": round(rate, 4)}
        for name, rate in policy.operation_rates().items()
    }
    if config.policy_candidates:
        choice = _timed(info, "policy_choice", lambda: _choose_policy(config, data, accelerator, policy))
        messages.append(choice_sentence(info["policy_choice"]))
        if choice.chosen != SEARCHED:
            policy = FasterAutoAugmentPolicy.from_preset(choice.chosen).to(accelerator.device)
    policy = with_search_info(policy, info)
    if accelerator.is_main_process:
        logger.info("\n".join(messages))
        card = {"search_summary": summary_markdown(info, log.records, verdict_sentence)}
        write_outputs(config, policy, data, log, progress, card)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes the trackers (and the process group)
    return policy


_SAMPLING_WORDS = {
    "fixed": "fixed, as searched",
    "uniform": "each image's drawn uniformly from 0 to twice the searched one",
}


def _saved_magnitude_sampling(config: SearchConfig, check: OperationCheck | None) -> tuple[str, str]:
    """How the saved policy draws its magnitudes (fixed or uniform) and why, in words."""
    if config.saved_magnitude_sampling != "auto":
        return config.saved_magnitude_sampling, f"--saved_magnitude_sampling {config.saved_magnitude_sampling}"
    if check is None or check.skipped:
        return "fixed", "--saved_magnitude_sampling auto, without the operation check to vote"
    agreeing, voters = check.doubled_magnitude_votes()
    if not voters:
        return "fixed", "--saved_magnitude_sampling auto, without a vote: no spread op has a magnitude"
    sampling = "uniform" if check.votes_for_uniform_magnitudes() else "fixed"
    return sampling, (
        f"--saved_magnitude_sampling auto: {agreeing} of the {voters} spread ops with a magnitude trained the "
        "check's classifiers more like held-out images at twice it"
    )


def _critic_precision(config: SearchConfig, accelerator: Accelerator) -> str:
    """How the critic runs, for the start message: fp32 or the autocast dtype, channels_last, and compiled."""
    described = "fp32" if accelerator.mixed_precision == "no" else f"{accelerator.mixed_precision} autocast"
    if config.channels_last:
        described += " with channels_last"
    if config.compile_critic:
        described += ", compiled for its plain passes (the first steps compile it)"
    return described


def _label_judge(config: SearchConfig) -> str:
    """Which network judges whether augmented images keep their labels, for the start message."""
    if config.classifier == "shared":
        return "labels judged by the critic's class head"
    if config.classifier_model_name_or_path is not None:
        return f"labels judged by {config.classifier_model_name_or_path}"
    return f"labels judged by a WideResNet-{config.critic_depth}-{config.critic_widen_factor}"


def _cpu_threads(accelerator: Accelerator) -> str:
    """For the start message on CPU: each process's torch threads, with how to use more when a process runs on one
    thread of a machine that has more (``accelerate launch`` gives a process one thread unless told otherwise)."""
    if accelerator.device.type != "cpu":
        return ""
    threads, cpus = torch.get_num_threads(), os.cpu_count() or 1
    if threads == 1 and cpus > accelerator.num_processes:
        per_process = cpus // accelerator.num_processes
        return (
            f" with 1 thread each (this machine has {cpus} CPUs: `accelerate launch --num_cpu_threads_per_process "
            f"{per_process}` gives each process {per_process})"
        )
    return f" with {threads} thread(s) each"


def _timed(info: dict[str, Any], key: str, stage: Callable[[], Stage]) -> Stage:
    """Run a post-search ``stage``; its ``as_dict()`` and how many seconds it took go to ``info[key]``."""
    start = time.perf_counter()
    result = stage()
    info[key] = {**result.as_dict(), "seconds": round(time.perf_counter() - start, 1)}
    return result


def _search_loader(config: SearchConfig, dataset: datasets.Dataset, member: int) -> DataLoader:
    """The batches of search ``member`` of the ensemble: ``dataset`` shuffled every epoch, in an order of the
    member's own (the first member's is a single search's)."""
    if member:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(config.seed + member))
        dataset = dataset.select(order.tolist())
    return DataLoader(
        dataset,
        batch_size=config.per_device_train_batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=collate_valid,
        num_workers=config.dataloader_num_workers,
        # its own generator: starting an epoch's iterator must not draw from the global RNG, or a
        # resumed run (which starts its iterator after restoring the RNG) would diverge
        generator=torch.Generator().manual_seed(config.seed),
    )


def _ensemble_policy(members: list[SearchState]) -> FasterAutoAugmentPolicy:
    """The sub-policies of every search of the ensemble, as they are now, in one new policy."""
    return FasterAutoAugmentPolicy.union([member.policy_module for member in members])


def _hold_out(
    config: SearchConfig, data: PreparedDataset, accelerator: Accelerator
) -> tuple[PreparedDataset, tuple[Tensor, Tensor] | None]:
    """With ``--validation_weight``: the search data without a seeded ``--validation_share`` of its rows, and
    those rows' decodable images and labels on the device; otherwise ``data`` and None."""
    if config.validation_weight == 0:
        return data, None
    rows = torch.randperm(len(data.dataset), generator=torch.Generator().manual_seed(config.seed)).tolist()
    count = min(MAX_VALIDATION_IMAGES, round(config.validation_share * len(rows)))
    needed = config.per_device_train_batch_size * accelerator.num_processes
    if count < 2 or len(rows) - count < needed:
        raise ValueError(
            f"--validation_share {config.validation_share} holds out {count} of {len(rows)} search images, leaving "
            f"{len(rows) - count}: the validation term needs at least 2 held-out images and the search at least "
            f"{needed} (--per_device_train_batch_size x processes). Change --validation_share, or use more images."
        )
    held_out = _decoded_images(data.dataset, rows[:count], accelerator.device)
    return replace(data, dataset=data.dataset.select(sorted(rows[count:]))), held_out


def _post_search_sample(config: SearchConfig, data: PreparedDataset, device: torch.device) -> tuple[Tensor, Tensor]:
    """The decodable images and labels among a seeded ``calibration_max_samples`` of the search rows: what the
    calibration and the operation check work on."""
    rows = torch.randperm(len(data.dataset), generator=torch.Generator().manual_seed(config.seed))
    return _decoded_images(data.dataset, rows[: config.calibration_max_samples].tolist(), device)


def _decoded_images(dataset: datasets.Dataset, rows: list[int], device: torch.device) -> tuple[Tensor, Tensor]:
    """The decodable images (uint8 ``[N, C, H, W]``) and labels ``[N]`` among ``dataset``'s ``rows``, on ``device``."""
    batch = dataset[rows]
    valid = torch.tensor(batch["valid"], dtype=torch.bool)
    return torch.stack(batch["pixel_values"])[valid].to(device), torch.tensor(batch["labels"])[valid].to(device)


def _search_member(
    config: SearchConfig, data: PreparedDataset, accelerator: Accelerator, held_out: tuple[Tensor, Tensor] | None
) -> SearchState:
    """One search of the ensemble: its initial policy, critic, label judge (with ``classifier="separate"``)
    and their optimisers, prepared by ``accelerator``; ``held_out`` images and labels for the validation term."""
    policy = _member_policy(config, data.num_channels)
    critic = WideResNetCritic(data.num_classes, data.num_channels, config.critic_depth, config.critic_widen_factor)
    betas = (config.adam_beta1, config.adam_beta2)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.learning_rate, betas=betas)
    policy_learning_rate = config.policy_learning_rate or config.learning_rate
    # the selection logits in a group of their own, every other policy parameter at the policy's rate
    others = [parameter for name, parameter in policy.named_parameters() if name != "logits"]
    policy_optimizer = torch.optim.Adam(
        [{"params": [policy.logits], "lr": config.selection_learning_rate or policy_learning_rate},
         {"params": others}],
        lr=policy_learning_rate, betas=betas,
    )  # fmt: skip
    policy, critic, critic_optimizer, policy_optimizer = accelerator.prepare(
        policy, critic, critic_optimizer, policy_optimizer
    )
    state = SearchState(accelerator, config, policy, critic, critic_optimizer, policy_optimizer)
    if held_out is not None:
        state.validation_images, state.validation_labels = held_out
    if config.classifier == "separate":
        if config.classifier_model_name_or_path is not None:
            classifier = load_pretrained_judge(config.classifier_model_name_or_path, data.class_names)
        else:
            classifier = WideResNetClassifier(data.num_classes, data.num_channels, config.critic_depth,
                                              config.critic_widen_factor)  # fmt: skip
        classifier_learning_rate = config.classifier_learning_rate or config.learning_rate
        classifier_optimizer = torch.optim.Adam(classifier.parameters(), lr=classifier_learning_rate)
        state.classifier, state.classifier_optimizer = accelerator.prepare(classifier, classifier_optimizer)
    return state


def _warn_about_an_earlier_search(output_dir: Path) -> None:
    earlier = [
        str(path) for path in ((output_dir / WEIGHTS_NAME), latest_checkpoint(output_dir)) if path and path.exists()
    ]
    if earlier:
        logger.warning(
            f"{output_dir} holds an earlier search ({', '.join(earlier)}): this new search replaces its policy at "
            "the end and its checkpoints at its first checkpoint. To continue the earlier search instead, stop "
            "this one and rerun with --resume_from_checkpoint latest (or choose another --output_dir).",
            main_process_only=True,
        )


def _calibrate(config: SearchConfig, data: PreparedDataset, accelerator: Accelerator, policy) -> Calibration:
    """Run this process's share of the calibration runs on (up to ``calibration_max_samples``) decodable
    search images, sum the tables of all processes and choose the factor."""
    images, labels = _post_search_sample(config, data, accelerator.device)
    candidates = candidate_grid(config.calibration_apply_factors, config.calibration_magnitude_factors)
    table = held_out_table(scaled_candidates(policy, candidates), images, labels, data.num_classes,
                           config.calibration_folds, config.calibration_epochs, config.seed, accelerator.process_index,
                           accelerator.num_processes)  # fmt: skip
    return choose(candidates, _all_folds(accelerator, table)[..., 0])  # the held-out accuracies


def _choose_policy(
    config: SearchConfig, data: PreparedDataset, accelerator: Accelerator, policy: FasterAutoAugmentPolicy
) -> PolicyChoice:
    """The searched ``policy`` or one of ``config.policy_candidates``, by classifiers trained with each on held-out
    folds of (up to ``calibration_max_samples``) decodable search images, ``policy_choice_repeats`` times with other
    folds and seeds (:data:`REPEAT_SEED_STRIDE` apart), the runs shared among the processes."""
    images, labels = _post_search_sample(config, data, accelerator.device)
    folds = config.policy_choice_folds
    if len(labels) < 2 * folds:
        reason = f"it needs at least {2 * folds} decodable search images, and there are {len(labels)}"
        logger.warning(f"Policy choice skipped: {reason}.", main_process_only=True)
        return PolicyChoice([SEARCHED], [], [], folds, SEARCHED, skipped=reason)
    device = accelerator.device
    policies = [policy] + [FasterAutoAugmentPolicy.from_preset(name).to(device) for name in config.policy_candidates]
    tables = [
        held_out_table(policies, images, labels, data.num_classes, folds, config.calibration_epochs,
                       config.seed + REPEAT_SEED_STRIDE * repeat, accelerator.process_index, accelerator.num_processes)
        for repeat in range(config.policy_choice_repeats)
    ]  # fmt: skip
    return choose_policy([SEARCHED, *config.policy_candidates], _all_folds(accelerator, torch.cat(tables, dim=1)))


def _check_operations(
    config: SearchConfig, data: PreparedDataset, accelerator: Accelerator, policy: FasterAutoAugmentPolicy,
    start_magnitude: float,
) -> OperationCheck:  # fmt: skip
    """The operation check on (up to ``calibration_max_samples``) decodable search images, its folds shared
    among the processes; every process gets the same verdict and applies it to ``policy`` in place (the ops switched
    off, the selection spread, its ops at ``start_magnitude`` or more). With ``--saved_magnitude_sampling auto`` the
    same classifiers then test the spread ops at twice their magnitude (the check's ``doubled_cosine_change``)."""
    images, labels = _post_search_sample(config, data, accelerator.device)
    if len(labels) < MIN_CHECK_IMAGES:
        reason = f"it needs at least {MIN_CHECK_IMAGES} decodable search images, and there are {len(labels)}"
        return _skipped_check(reason, " (each fold's classifier trains on some and holds out others)")
    checked, tested = checked_operations(policy), tested_operations(policy, config.selection_spread)
    if not tested:
        return OperationCheck({}, [], skipped=f"no operation is applied in {MIN_CHECKED_RATE:.1%} of the stages")
    precision = config.operation_check_precision
    if precision == "auto":
        precision = "bf16" if native_bf16(accelerator.device) else "fp32"
    judges = fold_judges(images, labels, data.num_classes, config.seed, config.operation_check_steps,
                         config.critic_depth, config.critic_widen_factor, accelerator.process_index,
                         accelerator.num_processes, bf16=precision == "bf16")  # fmt: skip
    table = _all_folds(accelerator, judge_table(judges, checked_settings(policy, tested, start_magnitude)))
    reason = near_chance(table, data.num_classes)
    if reason:
        return _skipped_check(reason)
    check = OperationCheck.from_table(tested, checked, table, config.operation_check_margin, data.num_classes,
                                      config.selection_spread, precision)  # fmt: skip
    if check.needs_training_test():
        candidates, rises = check.label_tested_candidates(), {}
        if candidates:
            settings = operation_settings(policy, candidates, magnitude_floor=start_magnitude)  # as the spread has them
            fold_rises = _all_folds(accelerator, trained_loss_rises(judges, settings, TRAINING_TEST_STEPS))
            rises = dict(zip(candidates, fold_rises.median(0).values.tolist(), strict=True))
        check.judge_by_training(rises)
    switch_off_(policy, check.switched_off)
    spread_selection_(policy, check.spread_over, check.spread_share, start_magnitude, SPREAD_APPLY_PROBABILITY)
    voters = [name for name in check.spread_over if policy.value_range(name) is not None]
    if config.saved_magnitude_sampling == "auto" and config.magnitude_sampling == "fixed" and voters:
        changes = _all_folds(accelerator, doubled_cosine_changes(judges, policy, voters))
        check.doubled_cosine_change = dict(zip(voters, changes.median(0).values.tolist(), strict=True))
    return check


def _skipped_check(reason: str, explanation: str = "") -> OperationCheck:
    """A check that did not run, for ``reason`` (kept in the card), with a warning that also gives ``explanation``."""
    logger.warning(f"Operation check skipped: {reason}{explanation}.", main_process_only=True)
    return OperationCheck({}, [], skipped=reason)


def _all_folds(accelerator: Accelerator, table: Tensor) -> Tensor:
    """The sum over the processes of their tables, each with only its own folds filled in: the table of every fold."""
    return accelerator.reduce(table.to(accelerator.device), reduction="sum").cpu()


def _initial_strength(members: list[SearchState], images: Tensor) -> float:
    """Augmentation strength of the (still initial) policies' relaxed forward on a batch's augmented
    half, averaged over the ensemble and the processes."""
    with torch.no_grad():
        to_augment = images[: images.shape[0] // 2].float() / 255
        strength = torch.stack([augmentation_strength(to_augment, member.policy(to_augment)).mean()
                                for member in members]).mean()  # fmt: skip
    return float(members[0].accelerator.gather(strength[None]).mean())


def _search(
    members: list[SearchState], loaders: list, progress: SearchProgress, log: SearchLog, steps_per_epoch: int,
    total_steps: int, initial_parameters: dict[str, Tensor],
):  # fmt: skip
    """The step loop with logging, checkpoints and the progress bar (skips counted in ``progress``): every
    search of the ensemble steps on a batch of its own loader, and the log holds their mean metrics and
    the diagnostics of their sub-policies together. Returns the seconds it took."""
    accelerator, config = members[0].accelerator, members[0].config
    bar = tqdm(total=total_steps, initial=progress.global_step, desc="search",
               disable=not accelerator.is_local_main_process)  # fmt: skip
    window_sum, window_steps, last_checkpoint = torch.zeros(len(METRICS)), 0, None
    start = window_start = time.perf_counter()
    images_per_step = config.per_device_train_batch_size * accelerator.num_processes * len(members)
    epoch = progress.global_step // steps_per_epoch
    while progress.global_step < total_steps:
        already_done = progress.global_step - epoch * steps_per_epoch
        for loader in loaders:
            loader.set_epoch(epoch)
        iterators = [accelerator.skip_first_batches(loader, already_done) if already_done else loader
                     for loader in loaders]  # fmt: skip
        for batches in zip(*iterators, strict=True):
            # [processes, members, 2]: decodable and undecodable images of each member's batch on each process
            counts = accelerator.gather(torch.stack([
                torch.stack([batch["labels"].new_tensor(len(batch["labels"])), batch["num_skipped"]])
                for batch in batches
            ])[None])  # fmt: skip
            progress.skipped_images += int(counts[:, 0, 1].sum())  # the first member's batches hold each image once
            progress.global_step += 1
            bar.update(1)
            if int(counts[..., 0].min()) >= MIN_IMAGES_PER_STEP:
                if not progress.initial_strength:
                    progress.initial_strength = _initial_strength(members, batches[0]["pixel_values"])
                update_policy = progress.global_step > config.critic_warmup_steps
                metrics = []
                for member, batch in zip(members, batches, strict=True):
                    member.strength_floor = config.min_strength_ratio * progress.initial_strength
                    metrics.append(search_step(member, batch["pixel_values"], batch["labels"], update_policy))
                metrics = torch.stack(metrics).mean(0)
                metrics = accelerator.gather(metrics.unsqueeze(0))
                metrics = metrics.mean(0).cpu()
                if not torch.isfinite(metrics[:2]).all():
                    raise FloatingPointError(_non_finite_message(progress.global_step, metrics, last_checkpoint))
                window_sum += metrics
                window_steps += 1
            else:
                progress.skipped_steps += 1
                logger.warning(
                    f"Step {progress.global_step} skipped: a process got fewer than {MIN_IMAGES_PER_STEP} "
                    "decodable images in its batch.",
                    main_process_only=True,
                )
            logging_step = progress.global_step % config.logging_steps == 0 or progress.global_step == total_steps
            if logging_step and window_steps:
                seconds = time.perf_counter() - window_start
                record = {"step": progress.global_step, "epoch": round(progress.global_step / steps_per_epoch, 3)}
                means = zip(METRICS, window_sum / window_steps, strict=True)
                record.update({name: float(value) for name, value in means if value.isfinite()})
                record["images_per_second"] = window_steps * images_per_step / seconds
                record.update(window_diagnostics(_ensemble_policy(members), initial_parameters,
                                                 [member.gradient_noise for member in members]))  # fmt: skip
                log.append(record)
                accelerator.log({k: v for k, v in record.items() if k != "step"}, step=progress.global_step)
                bar.set_postfix(wasserstein=f"{record['wasserstein']:.3f}",
                                critic_class_acc=f"{record['augmented_accuracy']:.2f}",
                                strength=f"{record['augmentation_strength']:.3f}")  # fmt: skip
                window_sum, window_steps, window_start = torch.zeros(len(METRICS)), 0, time.perf_counter()
                for member in members:
                    member.gradient_noise.reset()
            end_of_epoch = progress.global_step % steps_per_epoch == 0
            if end_of_epoch or (config.checkpointing_steps and progress.global_step % config.checkpointing_steps == 0):
                if last_checkpoint is None and not config.resume_from_checkpoint:
                    remove_checkpoints(accelerator, config.output_dir)  # an earlier search's
                last_checkpoint = save_checkpoint(accelerator, config.output_dir, progress.global_step,
                                                  config.checkpoints_total_limit)  # fmt: skip
            if progress.global_step >= total_steps:
                break
        epoch += 1
    bar.close()
    return time.perf_counter() - start


def _non_finite_message(step: int, metrics: Tensor, last_checkpoint: Path | None) -> str:
    advice = (
        f"The last good checkpoint is {last_checkpoint}; resume from it with --resume_from_checkpoint "
        f"{last_checkpoint} and a lower --learning_rate."
        if last_checkpoint
        else "No checkpoint was written yet; rerun with a lower --learning_rate (and --checkpointing_steps)."
    )
    return f"Non-finite loss at step {step} (critic loss {metrics[0]:.4g}, policy loss {metrics[1]:.4g}). {advice}"


def _tracker_config(config: SearchConfig) -> dict:
    """Tracker hyper-parameters must be scalars or strings."""
    return {k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in config.to_dict().items()}


__all__ = ["build_accelerator", "default_operations", "initial_policy", "load_search_data", "run_search"]
