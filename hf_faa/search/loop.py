"""The search loop under Accelerate: each batch's first half is augmented by the policy, its second
half stays real; the critic learns to tell them apart (WGAN-GP) and the policy learns to fool it
while keeping the augmented images classifiable (Hataya et al., 2020, section 3)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.logging import get_logger
from accelerate.utils import InitProcessGroupKwargs, set_seed
from huggingface_hub import HfApi
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data import PreparedDataset, collate_valid, prepare_dataset
from ..ops import OPERATIONS
from ..policy import WEIGHTS_NAME, FasterAutoAugmentPolicy
from ..sample_grid import MAX_SAMPLE_ROWS
from .calibration import Calibration, calibrate, candidate_grid, choose, rescale_
from .checkpoints import SearchProgress, latest_checkpoint, remove_checkpoints, resolve_checkpoint, save_checkpoint
from .config import SearchConfig
from .critic import WideResNetClassifier, WideResNetCritic
from .diagnostics import CHANGED_PIXEL_CHANGE, GradientNoise, augmentation_strength, search_verdict, window_diagnostics
from .losses import accuracy, critic_loss, gradient_penalty, normalize, policy_loss, strength_shortfall
from .report import LOG_NAME, LOSS_CURVE_NAME, SearchLog, summary_markdown, write_loss_curves

logger = get_logger(__name__)

# A step needs one real and one augmented image on every process; a batch left with fewer
# decodable images on any process is skipped by all of them (together, or DDP would hang).
MIN_IMAGES_PER_STEP = 2

# Weight of the penalty on the op selection's entropy below its floor (nats; --min_entropy_ratio).
ENTROPY_PENALTY_WEIGHT = 1.0

# Per-step metrics, in the order they are gathered across processes.
METRICS = (
    "critic_loss",
    "policy_loss",
    "wasserstein",
    "gradient_penalty",
    "real_classification_loss",
    "real_accuracy",
    "augmented_classification_loss",
    "augmented_accuracy",
    "selection_entropy",
    "augmentation_strength",
    "changed_share",
)


@dataclass
class SearchState:
    """What one search step needs: the prepared models, optimisers and settings."""

    accelerator: Accelerator
    config: SearchConfig
    policy: torch.nn.Module  # prepared (possibly DDP-wrapped) FasterAutoAugmentPolicy
    critic: torch.nn.Module  # prepared WideResNetCritic
    critic_optimizer: torch.optim.Optimizer
    policy_optimizer: torch.optim.Optimizer
    classifier: torch.nn.Module | None = None  # prepared WideResNetClassifier (None: the critic's class head)
    classifier_optimizer: torch.optim.Optimizer | None = None
    strength_floor: float = 0.0  # the policy is penalised for augmenting less than this (mean |change|)
    gradient_noise: GradientNoise = field(default_factory=GradientNoise)

    @property
    def policy_module(self) -> FasterAutoAugmentPolicy:
        return self.accelerator.unwrap_model(self.policy)

    @property
    def critic_module(self) -> WideResNetCritic:
        return self.accelerator.unwrap_model(self.critic)

    def models(self) -> list[torch.nn.Module]:
        return [model for model in (self.critic, self.policy, self.classifier) if model is not None]

    def critic_input(self, images: Tensor) -> Tensor:
        images = normalize(images)
        return images.contiguous(memory_format=torch.channels_last) if self.config.channels_last else images


def search_step(state: SearchState, images: Tensor, labels: Tensor, update_policy: bool = True) -> Tensor:
    """One critic update then (if ``update_policy``) one policy update on a batch ``[B, C, H, W]`` uint8
    with labels ``[B]``.

    The policy's relaxed forward runs once: its output feeds the critic step detached and the policy
    step with its graph (the official code runs it twice). With a separate classifier, that classifier
    learns on the real half only, and judges (in eval mode) whether the augmented half keeps its
    labels; otherwise the critic's class head does. The policy's loss adds
    ``strength_penalty_weight · max(0, strength_floor − mean |augmented − original|)``, so it cannot
    escape the critic by not augmenting. Returns the step's :data:`METRICS`.
    """
    config = state.config
    images = images.float() / 255
    half = images.shape[0] // 2
    to_augment, real = images[:half], images[half : 2 * half]
    augment_labels, real_labels = labels[:half], labels[half : 2 * half]

    with state.accelerator.accumulate(*state.models()):
        with torch.set_grad_enabled(update_policy):  # in the critic's warm-up, no policy graph is needed
            augmented = state.policy(to_augment)
        strength = augmentation_strength(to_augment, augmented)
        real_input, fake_input = state.critic_input(real), state.critic_input(augmented)

        real_scores, real_logits = state.critic(real_input)
        fake_scores, _ = state.critic(fake_input.detach())
        penalty = gradient_penalty(state.critic, real_input, fake_input, config.gradient_penalty_norm)
        loss_of_critic = critic_loss(real_scores, fake_scores, real_logits, real_labels, penalty,
                                     config.classification_weight, config.gradient_penalty_weight)  # fmt: skip
        state.accelerator.backward(loss_of_critic)
        state.critic_optimizer.step()
        state.critic_optimizer.zero_grad(set_to_none=True)
        if state.classifier is not None:
            real_logits = state.classifier(real_input)
            state.accelerator.backward(torch.nn.functional.cross_entropy(real_logits.float(), real_labels))
            state.classifier_optimizer.step()
            state.classifier_optimizer.zero_grad(set_to_none=True)

        # the policy step sees a fixed critic (and classifier): no gradient (and no DDP sync) for their weights
        critic_module = state.critic_module
        critic_module.requires_grad_(False)
        policy_scores, policy_logits = critic_module(fake_input)
        if state.classifier is not None:
            policy_logits = _judge_labels(state.accelerator.unwrap_model(state.classifier), fake_input)
        loss_of_policy = policy_loss(policy_scores, policy_logits, augment_labels, config.classification_weight)
        loss_of_policy = loss_of_policy + config.strength_penalty_weight * strength_shortfall(
            strength, state.strength_floor
        )
        if config.min_entropy_ratio > 0:
            policy_module = state.policy_module
            entropy_floor = config.min_entropy_ratio * math.log(len(policy_module.operations))
            loss_of_policy = loss_of_policy + ENTROPY_PENALTY_WEIGHT * (
                entropy_floor - policy_module.selection_entropy()
            ).clamp_min(0)
        if update_policy:
            state.accelerator.backward(loss_of_policy)
            state.gradient_noise.update(state.policy_module)
            state.policy_optimizer.step()
            state.policy_optimizer.zero_grad(set_to_none=True)
            state.policy_module.clamp_parameters_()
        critic_module.requires_grad_(True)

    with torch.no_grad():
        real_classification = torch.nn.functional.cross_entropy(real_logits.float(), real_labels)
        augmented_classification = torch.nn.functional.cross_entropy(policy_logits.float(), augment_labels)
        values = (
            loss_of_critic,
            loss_of_policy,
            real_scores.float().mean() - fake_scores.float().mean(),
            penalty,
            real_classification,
            accuracy(real_logits, real_labels),
            augmented_classification,
            accuracy(policy_logits, augment_labels),
            state.policy_module.selection_entropy(),
            strength.mean(),
            (strength > CHANGED_PIXEL_CHANGE).float().mean(),
        )
        return torch.stack([value.detach().float() for value in values])


def _judge_labels(classifier: torch.nn.Module, images: Tensor) -> Tensor:
    """Class logits of ``images`` from a frozen ``classifier`` in eval mode (its BatchNorm statistics are
    those of real images, so a global colour or contrast shift is not normalised away)."""
    classifier.requires_grad_(False).eval()
    try:
        return classifier(images)
    finally:
        classifier.requires_grad_(True).train()


def default_operations(num_channels: int) -> list[str]:
    """Every op, except the colour-only ones (the identity there) on grayscale data: a no-op would
    be an easy way for the policy to look real to the critic without augmenting anything."""
    return [name for name, op in OPERATIONS.items() if num_channels == 3 or not op.color_only]


def initial_policy(config: SearchConfig, num_channels: int) -> FasterAutoAugmentPolicy:
    """The policy a search with ``config`` starts from on images of ``num_channels`` channels
    (draws from the global RNG when ``policy_init="random"``)."""
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


def load_search_data(config: SearchConfig, accelerator: Accelerator) -> PreparedDataset:
    with accelerator.main_process_first():  # one process downloads and caches, the others reuse it
        return prepare_dataset(
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
        )


def run_search(config: SearchConfig) -> FasterAutoAugmentPolicy:
    """Search a policy as ``config`` says; returns it (in eval mode) after saving it to ``config.output_dir``.

    Runs on whatever Accelerate was launched with (CPU, one GPU, several processes); only the main
    process writes files, logs and pushes.
    """
    accelerator = build_accelerator(config)
    output_dir = Path(config.output_dir)
    set_seed(config.seed)  # identical initialisation on every process
    data = load_search_data(config, accelerator)
    loader = DataLoader(
        data.dataset,
        batch_size=config.per_device_train_batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=collate_valid,
        num_workers=config.dataloader_num_workers,
        # its own generator: starting an epoch's iterator must not draw from the global RNG, or a
        # resumed run (which starts its iterator after restoring the RNG) would diverge
        generator=torch.Generator().manual_seed(config.seed),
    )
    policy = initial_policy(config, data.num_channels)
    critic = WideResNetCritic(data.num_classes, data.num_channels, config.critic_depth, config.critic_widen_factor)
    if config.channels_last:
        critic = critic.to(memory_format=torch.channels_last)
    betas = (config.adam_beta1, config.adam_beta2)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.learning_rate, betas=betas)
    policy_optimizer = torch.optim.Adam(policy.parameters(), lr=config.policy_learning_rate or config.learning_rate,
                                        betas=betas)  # fmt: skip
    initial_parameters = {name: parameter.detach().clone() for name, parameter in policy.named_parameters()}
    policy, critic, critic_optimizer, policy_optimizer, loader = accelerator.prepare(
        policy, critic, critic_optimizer, policy_optimizer, loader
    )
    state = SearchState(accelerator, config, policy, critic, critic_optimizer, policy_optimizer)
    if config.classifier == "separate":
        classifier = WideResNetClassifier(data.num_classes, data.num_channels, config.critic_depth,
                                          config.critic_widen_factor)  # fmt: skip
        if config.channels_last:
            classifier = classifier.to(memory_format=torch.channels_last)
        classifier_optimizer = torch.optim.Adam(classifier.parameters(), lr=config.learning_rate)
        state.classifier, state.classifier_optimizer = accelerator.prepare(classifier, classifier_optimizer)
    initial_rates = state.policy_module.operation_rates()
    progress = SearchProgress()
    accelerator.register_for_checkpointing(progress)

    steps_per_epoch = len(loader)
    total_steps = config.max_steps if config.max_steps > 0 else config.num_train_epochs * steps_per_epoch
    if config.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(output_dir, config.resume_from_checkpoint)
        accelerator.load_state(str(checkpoint))  # models, optimisers, RNG states, progress
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
        f"{accelerator.num_processes} process(es) on {accelerator.device}, {total_steps} steps.",
        main_process_only=True,
    )
    search_seconds = _search(state, loader, progress, log, steps_per_epoch, total_steps, initial_parameters)

    policy = state.policy_module.eval()
    verdict, verdict_sentence = search_verdict(log.records, progress.initial_strength)
    policy.search_info = _search_info(config, data, accelerator, log, progress, search_seconds)
    policy.search_info["verdict"] = verdict
    messages = [verdict_sentence]
    rescale_(policy, (1.0, config.magnitude_scale))
    if config.magnitude_scale != 1:
        messages.append(f"Magnitudes scaled by {config.magnitude_scale:g} (--magnitude_scale).")
    if config.calibration == "validation":
        start = time.perf_counter()
        calibration = _calibrate(config, data, accelerator, policy)
        rescale_(policy, calibration.chosen)
        policy.search_info["calibration"] = {**calibration.as_dict(), "seconds": round(time.perf_counter() - start, 1)}
        messages.append(
            f"Calibration: held-out accuracy {[round(value, 3) for value in calibration.accuracies]} for the "
            f"(apply, magnitude) factors {calibration.candidates}; keeping {calibration.chosen}."
        )
    policy.search_info["operation_rates"] = {
        name: {"initial": round(initial_rates[name], 4), "final": round(rate, 4)}
        for name, rate in policy.operation_rates().items()
    }
    if accelerator.is_main_process:
        print("\n" + "\n".join(messages))
        card = {"search_summary": summary_markdown(policy.search_info, log.records, verdict_sentence)}
        _write_outputs(config, policy, data, log, progress, card)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes the trackers (and the process group)
    return policy


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
    rows = torch.randperm(len(data.dataset), generator=torch.Generator().manual_seed(config.seed))
    batch = data.dataset[rows[: config.calibration_max_samples].tolist()]
    valid = torch.tensor(batch["valid"], dtype=torch.bool)
    images = torch.stack(batch["pixel_values"])[valid].to(accelerator.device)
    labels = torch.tensor(batch["labels"])[valid].to(accelerator.device)
    candidates = candidate_grid(config.calibration_apply_factors, config.calibration_magnitude_factors)
    table = calibrate(policy, images, labels, data.num_classes, candidates, config.calibration_folds,
                      config.calibration_epochs, config.seed, accelerator.process_index,
                      accelerator.num_processes)  # fmt: skip
    table = accelerator.reduce(table.to(accelerator.device), reduction="sum").cpu()
    return choose(candidates, table)


def _initial_strength(state: SearchState, images: Tensor) -> float:
    """Augmentation strength of the (still initial) policy's relaxed forward on a batch's augmented
    half, averaged over processes."""
    with torch.no_grad():
        to_augment = images[: images.shape[0] // 2].float() / 255
        strength = augmentation_strength(to_augment, state.policy(to_augment)).mean()
    return float(state.accelerator.gather(strength[None]).mean())


def _search(
    state, loader, progress: SearchProgress, log: SearchLog, steps_per_epoch: int, total_steps: int,
    initial_parameters: dict[str, Tensor],
):  # fmt: skip
    """The step loop with logging, checkpoints and the progress bar (skips counted in ``progress``); returns
    the seconds it took."""
    accelerator, config = state.accelerator, state.config
    bar = tqdm(total=total_steps, initial=progress.global_step, desc="search",
               disable=not accelerator.is_local_main_process)  # fmt: skip
    window_sum, window_steps, last_checkpoint = torch.zeros(len(METRICS)), 0, None
    start = window_start = time.perf_counter()
    images_per_step = config.per_device_train_batch_size * accelerator.num_processes
    epoch = progress.global_step // steps_per_epoch
    while progress.global_step < total_steps:
        loader.set_epoch(epoch)
        already_done = progress.global_step - epoch * steps_per_epoch
        batches = accelerator.skip_first_batches(loader, already_done) if already_done else loader
        for batch in batches:
            labels = batch["labels"]
            # [processes, 2]: decodable and undecodable images of this batch on each process
            counts = accelerator.gather(torch.stack([labels.new_tensor(len(labels)), batch["num_skipped"]])[None])
            progress.skipped_images += int(counts[:, 1].sum())
            progress.global_step += 1
            bar.update(1)
            if int(counts[:, 0].min()) >= MIN_IMAGES_PER_STEP:
                if not progress.initial_strength:
                    progress.initial_strength = _initial_strength(state, batch["pixel_values"])
                state.strength_floor = config.min_strength_ratio * progress.initial_strength
                update_policy = progress.global_step > config.critic_warmup_steps
                metrics = search_step(state, batch["pixel_values"], labels, update_policy)
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
                record.update(
                    {name: float(value) for name, value in zip(METRICS, window_sum / window_steps, strict=True)}
                )
                record["images_per_second"] = window_steps * images_per_step / seconds
                record.update(window_diagnostics(state.policy_module, initial_parameters, state.gradient_noise))
                log.append(record)
                accelerator.log({k: v for k, v in record.items() if k != "step"}, step=progress.global_step)
                bar.set_postfix(wasserstein=f"{record['wasserstein']:.3f}",
                                critic_class_acc=f"{record['augmented_accuracy']:.2f}",
                                strength=f"{record['augmentation_strength']:.3f}")  # fmt: skip
                window_sum, window_steps, window_start = torch.zeros(len(METRICS)), 0, time.perf_counter()
                state.gradient_noise.reset()
            end_of_epoch = progress.global_step % steps_per_epoch == 0
            if end_of_epoch or (config.checkpointing_steps and progress.global_step % config.checkpointing_steps == 0):
                if last_checkpoint is None and not config.resume_from_checkpoint:
                    remove_checkpoints(accelerator, config.output_dir)  # an earlier search's
                last_checkpoint = save_checkpoint(accelerator, config.output_dir, progress.global_step)
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


def _search_info(config, data, accelerator, log, progress, search_seconds) -> dict:
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


def _write_outputs(
    config: SearchConfig, policy: FasterAutoAugmentPolicy, data, log: SearchLog, progress: SearchProgress, card: dict
) -> None:
    output_dir = Path(config.output_dir)
    policy.sample_images, card["samples_caption"] = sample_images(data)
    policy.save_pretrained(output_dir, model_card_kwargs=card)
    curves = write_loss_curves(log.records, output_dir / LOSS_CURVE_NAME)
    if progress.skipped_images:
        logger.warning(f"{progress.skipped_images} undecodable image(s) were skipped during the search.")
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
    print(
        f"\nPolicy saved to {output_dir}/ (model.safetensors, config.json, README.md, policy_samples.png"
        f"{', ' + LOSS_CURVE_NAME if curves else ''}, {LOG_NAME}).\n"
        f"Use it:\n"
        f"    from hf_faa import FasterAutoAugmentPolicy, PolicyTransform\n"
        f'    policy = FasterAutoAugmentPolicy.from_pretrained("{where}")\n'
        f"    train_dataset.set_transform(PolicyTransform(policy, image_processor=image_processor))\n"
    )


__all__ = ["METRICS", "SearchState", "initial_policy", "run_search", "sample_images", "search_step"]
