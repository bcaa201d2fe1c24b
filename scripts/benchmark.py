"""Benchmarks that print markdown tables; every row is compared with its baseline measured in the same run.

    python scripts/benchmark.py                          # the ops section
    python scripts/benchmark.py --sections policy search adapter --threads 2
    python scripts/benchmark.py --all                    # every section but the opt-in ones, also to benchmarks.md

Sections:
  ops      images/s of each batched op (float32 and uint8 batches) vs a per-image PIL loop of the same
           op, with and without the uint8 tensor <-> PIL conversion a per-image Dataset transform pays.
  policy   eval-mode policy images/s (per-image choices) for a learned-shape policy and each preset vs a
           per-image PIL AutoAugment loop (with conversion); relaxed forward+backward, weighted vs gumbel.
  search   images/s through a full search step (critic + policy update, half augmented, half real) for
           weighted/gumbel selection, the default/paper critics, both memory formats, fp32 and bf16
           autocast, with peak memory.
  summary  the headline numbers: the paper's search step (WRN-40-2, fp32 and bf16), the projected time of
           the paper's CIFAR-10 search (4,000 images x 20 epochs) at that rate, policy eval at 224x224.
  adapter  PolicyTransform (decode + policy + image processor) vs the same pipeline without a policy, and
           a per-image PIL AutoAugment pipeline vs the same without augmentation (best of 3 rounds).
  optimizer  milliseconds per Adam step on each critic's parameters: torch's default implementation (what the
           search uses), the foreach one and the fused one.
  scaling  the paper's search step (WRN-40-2, weighted, bf16 autocast) at each of --search_batch_sizes, and with
           the critic's plain passes under torch.compile (--compile_critic) at the paper's batch (a rate, or why
           it failed).
  kornia   (--compare) each preset, eval mode with per-image choices, vs kornia's same preset (which draws one
           sub-policy per batch), on the same float32 batches, and ours on their uint8 pixels too, in turns;
           needs pip install hf-faa[benchmark].
  dda      (--dda_path PATH) the policy's relaxed forward+backward and eval mode vs the official Faster
           AutoAugment code's, in turns; PATH is a local copy of https://github.com/moskomule/dda (needs kornia).
  dda-step (--dda_path PATH) the full search step with the paper's WRN-40-2 critic, ours in fp32 (contiguous
           and channels_last) and in bf16 + channels_last, each also with --compile_critic, with the penalty on
           every pair as the official step, then plain fp32 and the compiled ones with it on a quarter of the
           pairs (the search's default), vs the official AdvTrainer.wgan_loss (fp32), in turns, the same critic
           backbone under both.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
import types
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from unittest import mock

import torch

from hf_faa.data import pil_to_tensor, tensor_to_pil
from hf_faa.ops import OPERATIONS
from hf_faa.policy import PRESETS, SELECTIONS, FasterAutoAugmentPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the PIL reference is a test oracle
from pil_reference import PIL_OPERATIONS, PilAutoAugment  # noqa: E402


def images_per_second(run: Callable[[], object], images_per_run: int, min_seconds: float) -> float:
    """Best of three timings, each repeating ``run`` for at least ``min_seconds`` (after one warm-up run)."""
    run()
    synchronize()
    best = float("inf")
    for _ in range(3):
        runs, start = 0, time.perf_counter()
        while runs == 0 or time.perf_counter() - start < min_seconds:
            run()
            runs += 1
        synchronize()  # CUDA runs asynchronously: time the work, not its launch
        best = min(best, (time.perf_counter() - start) / runs)
    return images_per_run / best


def rates_in_turns(runs: dict[str, Callable[[], object]], images_per_run: int, min_seconds: float,
                   rounds: int) -> dict[str, float]:  # fmt: skip
    """Images/s of each of ``runs``, timed in turns for ``rounds`` rounds (best rate kept), so that a busy
    neighbour slows all of them alike."""
    rates = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, run in runs.items():
            rates[name] = max(rates[name], images_per_second(run, images_per_run, min_seconds))
    return rates


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def synthetic_photos(batch_size: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 ``[B, 3, size, size]``: smooth colour gradients plus noise, so histograms are photo-like."""
    ramp = torch.linspace(0, 1, size)
    colours = torch.rand(batch_size, 3, 1, 1, generator=generator)
    base = colours * ramp.view(1, 1, 1, size) + (1 - colours) * ramp.view(1, 1, size, 1)
    noise = 0.15 * torch.rand(batch_size, 3, size, size, generator=generator)
    return ((base * 0.85 + noise).clamp(0, 1) * 255).round().to(torch.uint8)


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def benchmark_ops(sizes: Sequence[int], batch_size: int, min_seconds: float) -> str:
    """One row per op and size: batched op vs a per-image PIL loop (with and without conversion)."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for size in sizes:
        photos = synthetic_photos(batch_size, size, generator)
        for name in OPERATIONS:
            rates = measure_op(name, photos, min_seconds, generator)
            batched_float, batched_uint8, pil_converted, pil_only = rates
            ratios = [f"{batched_float / pil_converted:.1f}x", f"{batched_uint8 / pil_only:.1f}x"] if pil_only else []
            rows.append([name, f"{size}x{size}", *(format_rate(rate) if rate else "–" for rate in rates),
                         *(ratios or ["–", "–"])])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    header = ["op", "size", "batched float32 (img/s)", "batched uint8 (img/s)", "PIL + conversion (img/s)",
              "PIL only (img/s)", "float32 vs PIL + conversion", "uint8 vs PIL only"]  # fmt: skip
    return markdown_table(header, rows)


def measure_op(name: str, photos: torch.Tensor, min_seconds: float, generator: torch.Generator):
    """Images/s of op ``name`` at magnitude 0.5: batched on float32 and on uint8 images (the policy's
    path for decoded images), then a per-image PIL loop with and without tensor<->PIL conversion (None for
    Elastic, which PIL lacks)."""
    op = OPERATIONS[name]
    batch_size = len(photos)
    images = photos.float() / 255
    magnitude = torch.full((batch_size,), 0.5)
    batched = (
        images_per_second(lambda: op(images, magnitude, generator=generator), batch_size, min_seconds),
        images_per_second(lambda: op(photos, magnitude, generator=generator), batch_size, min_seconds),
    )
    if name not in PIL_OPERATIONS:
        return (*batched, None, None)
    pil_op, pil_images = PIL_OPERATIONS[name], [tensor_to_pil(photo) for photo in photos]
    value = op.value_range[1] * 0.5 if op.has_magnitude else 0.0
    return (
        *batched,
        images_per_second(
            lambda: [pil_to_tensor(pil_op(tensor_to_pil(photo), value)) for photo in photos], batch_size, min_seconds
        ),
        images_per_second(lambda: [pil_op(image, value) for image in pil_images], batch_size, min_seconds),
    )


def benchmark_policy(sizes: Sequence[int], batch_size: int, min_seconds: float, device: str = "cpu") -> str:
    """Eval-mode policies on ``device`` vs per-image PIL AutoAugment, then relaxed training forward+backward."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    policies = {"learned shape (10x2, 17 ops)": FasterAutoAugmentPolicy().eval()}
    policies.update({name: FasterAutoAugmentPolicy.from_preset(name) for name in PRESETS})
    policies = {name: policy.to(device) for name, policy in policies.items()}
    rows = []
    for size in sizes:
        photos = synthetic_photos(batch_size, size, generator)
        pil_autoaugment = PilAutoAugment("cifar10")
        baseline = images_per_second(
            lambda photos=photos, augment=pil_autoaugment: [pil_to_tensor(augment(tensor_to_pil(p))) for p in photos],
            batch_size,
            min_seconds,
        )
        rows.append(["per-image PIL AutoAugment (CIFAR-10 table, with conversion)", f"{size}x{size}",
                     format_rate(baseline), "1.0x"])  # fmt: skip
        on_device = photos.to(device)
        for name, policy in policies.items():
            rate = images_per_second(lambda policy=policy, photos=on_device: policy(photos), batch_size, min_seconds)
            rows.append([name, f"{size}x{size}", format_rate(rate), f"{rate / baseline:.1f}x"])
            print(" | ".join(rows[-1]), flush=True)
    eval_table = markdown_table(
        [f"policy (eval mode on {device}, uint8 in/out)", "size", "img/s", "vs PIL (CPU)"], rows
    )

    relaxed_rows = []
    images = synthetic_photos(128, 32, generator).to(device).float() / 255
    for selection in SELECTIONS:
        policy = FasterAutoAugmentPolicy(selection=selection).to(device).train()

        def forward_backward(policy=policy):
            policy(images).mean().backward()

        relaxed_rows.append(
            [selection, "128 x 32x32", format_rate(images_per_second(forward_backward, 128, min_seconds))]
        )
        print(" | ".join(relaxed_rows[-1]), flush=True)
    relaxed_table = markdown_table(["relaxed selection", "batch", "forward+backward img/s"], relaxed_rows)
    return f"{eval_table}\n\n{relaxed_table}"


def search_step_rate(depth: int, width: int, selection: str, channels_last: bool, autocast_dtype: torch.dtype | None,
                     min_seconds: float, batch_size: int = 128, compile_critic: bool = False) -> float:  # fmt: skip
    """Images/s through full search steps (``batch_size`` 3x32x32 images, half augmented, half real) with a
    WRN-depth-width critic on the default device, optionally under ``torch.autocast`` (what ``--mixed_precision``
    does) and with ``--compile_critic``."""
    step = search_step_runner(depth, width, selection, channels_last, autocast_dtype, batch_size, compile_critic)
    return images_per_second(step, batch_size, min_seconds)


def search_step_runner(depth: int, width: int, selection: str, channels_last: bool, autocast_dtype: torch.dtype | None,
                       batch_size: int = 128, compile_critic: bool = False,
                       gradient_penalty_share: float | None = None) -> Callable[[], None]:  # fmt: skip
    """One full search step of :func:`search_step_rate`'s setting per call, on the same synthetic batch, with the
    penalty on ``gradient_penalty_share`` of the pairs (None: the search's default)."""
    from accelerate import Accelerator

    from hf_faa.search.config import SearchConfig
    from hf_faa.search.critic import WideResNetCritic
    from hf_faa.search.step import SearchState, search_step

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    images = synthetic_photos(batch_size, 32, torch.Generator().manual_seed(0)).to(accelerator.device)
    labels = (torch.arange(batch_size) % 10).to(accelerator.device)
    share = {} if gradient_penalty_share is None else {"gradient_penalty_share": gradient_penalty_share}
    config = SearchConfig(selection=selection, critic_depth=depth, critic_widen_factor=width,
                          channels_last=channels_last, compile_critic=compile_critic, output_dir="unused",
                          **share)  # fmt: skip
    policy = FasterAutoAugmentPolicy(selection=selection)
    critic = WideResNetCritic(10, 3, depth, width)
    optimizers = [torch.optim.Adam(module.parameters(), 1e-3, betas=(0.0, 0.999)) for module in (critic, policy)]
    policy, critic, *optimizers = accelerator.prepare(policy, critic, *optimizers)
    state = SearchState(accelerator, config, policy, critic, *optimizers)

    def step() -> None:
        with torch.autocast(accelerator.device.type, dtype=autocast_dtype or torch.float32,
                            enabled=autocast_dtype is not None):  # fmt: skip
            search_step(state, images, labels)

    return step


CRITICS = {"default WRN-10-1": (10, 1), "paper WRN-40-2": (40, 2)}
PAPER_CRITIC = CRITICS["paper WRN-40-2"]


def benchmark_search(min_seconds: float) -> str:
    """Images/s through full search steps for each critic, selection, memory format and precision, with peak memory."""
    rows = []
    for critic_name, (depth, width) in CRITICS.items():
        for selection in SELECTIONS:
            for channels_last in (False, True):
                for precision, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
                    reset_peak_memory()
                    rate = search_step_rate(depth, width, selection, channels_last, dtype, min_seconds)
                    rows.append([critic_name, selection, "yes" if channels_last else "no", precision, f"{rate:,.1f}",
                                 f"{peak_memory_mib():,.0f}"])  # fmt: skip
                    print(" | ".join(rows[-1]), flush=True)
    header = [
        "critic",
        "selection",
        "channels_last",
        "precision",
        "img/s (full step)",
        "peak memory, MiB (CUDA: allocated; CPU: max RSS so far)",
    ]
    return markdown_table(header, rows)


def benchmark_scaling(min_seconds: float, batch_sizes: Sequence[int]) -> str:
    """The paper's search step (WRN-40-2, weighted, bf16 autocast) at each of ``batch_sizes``, and at the paper's
    batch of 128 with ``--compile_critic`` (its rate, or the first line of the error it raised)."""
    rows = []
    for batch_size, compile_critic in [*((size, False) for size in batch_sizes), (128, True)]:
        try:
            rate = search_step_rate(*PAPER_CRITIC, "weighted", False, torch.bfloat16, min_seconds, batch_size,
                                    compile_critic)  # fmt: skip
            result = f"{rate:,.1f}"
        except Exception as error:  # noqa: BLE001 - the table reports why compile failed
            result = f"fails: {type(error).__name__}: {str(error).splitlines()[0][:160]}"
        rows.append([str(batch_size), "yes" if compile_critic else "no", result])
        print(" | ".join(rows[-1]), flush=True)
    return markdown_table(["batch (half real, half augmented)", "--compile_critic", "img/s (full step)"], rows)


ADAM_IMPLEMENTATIONS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def benchmark_optimizer(min_seconds: float, device: str) -> str:
    """Milliseconds per Adam step (the search's betas) on each critic's parameters, per implementation."""
    from hf_faa.search.critic import WideResNetCritic

    rows = []
    for critic_name, (depth, width) in CRITICS.items():
        critic = WideResNetCritic(10, 3, depth, width).to(device)
        for parameter in critic.parameters():
            parameter.grad = torch.randn_like(parameter)
        milliseconds = {}
        for name, flags in ADAM_IMPLEMENTATIONS.items():
            optimizer = torch.optim.Adam(critic.parameters(), 1e-3, betas=(0.0, 0.999), **flags)
            milliseconds[name] = 1e3 / images_per_second(optimizer.step, 1, min_seconds)  # one "image" = one step
        parameters = sum(parameter.numel() for parameter in critic.parameters())
        rows.append([critic_name, f"{parameters / 1e6:.2f}M", *(f"{value:.2f}" for value in milliseconds.values()),
                     f"{milliseconds['default'] / milliseconds['fused']:.1f}x"])  # fmt: skip
        print(" | ".join(rows[-1]), flush=True)
    header = ["critic", "parameters", *(f"Adam step, {name} (ms)" for name in ADAM_IMPLEMENTATIONS),
              "fused vs default"]  # fmt: skip
    return markdown_table(header, rows)


# The paper's CIFAR-10 search (Hataya et al. 2020, Table 1: 0.23 GPU-hours): 4,000 images for 20 epochs.
PAPER_SEARCH_IMAGES = 4000 * 20
PAPER_SEARCH_GPU_HOURS = 0.23
PAPER_SEARCH_BATCH = 128  # 64 real + 64 augmented images per step


def benchmark_summary(min_seconds: float, device: str, batch_size: int = PAPER_SEARCH_BATCH) -> str:
    """The headline numbers: the paper's search step (WRN-40-2 critic, fp32 and bf16, ``batch_size`` images), the
    projected time of the paper's CIFAR-10 search at that rate, and eval-mode policy throughput at 224x224."""
    rows = []
    batch = "" if batch_size == PAPER_SEARCH_BATCH else f", batch {batch_size}"
    for precision, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        rate = search_step_rate(*PAPER_CRITIC, "weighted", channels_last=True, autocast_dtype=dtype,
                                min_seconds=min_seconds, batch_size=batch_size)  # fmt: skip
        hours = PAPER_SEARCH_IMAGES / rate / 3600
        rows.append([f"search step, WRN-40-2 critic, weighted, channels_last, {precision}{batch}",
                     f"{rate:,.1f} img/s"])  # fmt: skip
        rows.append([f"projected paper CIFAR-10 search ({PAPER_SEARCH_IMAGES:,} images), {precision}{batch}",
                     f"{hours:.3f} h (paper: {PAPER_SEARCH_GPU_HOURS} GPU-h)"])  # fmt: skip
        print(" | ".join(rows[-2]), "|", " | ".join(rows[-1]), flush=True)
    photos = synthetic_photos(64, 224, torch.Generator().manual_seed(0)).to(device)
    for name in ("learned shape", "autoaugment-cifar10"):
        torch.manual_seed(0)
        policy = FasterAutoAugmentPolicy() if name == "learned shape" else FasterAutoAugmentPolicy.from_preset(name)
        policy = policy.to(device).eval()
        rate = images_per_second(lambda policy=policy: policy(photos), len(photos), min_seconds)
        rows.append([f"policy eval, {name}, 224x224 uint8 on {device}", f"{rate:,.0f} img/s"])
        print(" | ".join(rows[-1]), flush=True)
    return markdown_table(["what", "measured"], rows)


def benchmark_adapter(sizes: Sequence[int], batch_size: int, min_seconds: float, rounds: int = 3) -> str:
    """PolicyTransform on a decoded-from-PNG batch vs no policy, and per-image PIL AutoAugment vs its
    own no-augmentation pipeline (PIL images straight to the processor).

    Pipelines take turns for ``rounds`` rounds and keep their best rate: on a shared machine,
    neighbours' load then hits every pipeline alike.
    """
    import io

    from PIL import Image
    from transformers import ViTImageProcessorPil

    from hf_faa.transforms import PolicyTransform

    rows = []
    policy = FasterAutoAugmentPolicy.from_preset("autoaugment-cifar10")
    for size in sizes:
        photos = synthetic_photos(batch_size, size, torch.Generator().manual_seed(0))
        encoded = []
        for photo in photos:
            buffer = io.BytesIO()
            tensor_to_pil(photo).save(buffer, format="PNG")
            encoded.append({"bytes": buffer.getvalue(), "path": None})
        batch = {"image": encoded, "label": list(range(batch_size))}
        processor = ViTImageProcessorPil(size={"height": size, "width": size})
        pil_autoaugment = PilAutoAugment("cifar10")

        def pil_pipeline(augment, processor=processor, encoded=encoded):
            images = [augment(Image.open(io.BytesIO(item["bytes"])).convert("RGB")) for item in encoded]
            return processor(images=images, return_tensors="pt")

        pipelines = {  # name: (run, the no-augmentation pipeline it is compared with)
            "decode to tensors + processor": (PolicyTransform(None, image_processor=processor), None),
            "PolicyTransform, AutoAugment CIFAR-10 preset": (
                PolicyTransform(policy, image_processor=processor),
                "decode to tensors + processor",
            ),
            "PIL decode + processor": (lambda _, run=pil_pipeline: run(lambda image: image), None),
            "per-image PIL AutoAugment + processor": (
                lambda _, run=pil_pipeline, augment=pil_autoaugment: run(augment),
                "PIL decode + processor",
            ),
        }
        runs = {name: lambda run=run, batch=batch: run(batch) for name, (run, _) in pipelines.items()}
        rates = rates_in_turns(runs, batch_size, min_seconds, rounds)
        pil_rate = rates["per-image PIL AutoAugment + processor"]
        for name, (_, plain) in pipelines.items():
            added = f"{(rates[plain] / rates[name] - 1) * 100:+.0f}%" if plain else "(baseline)"
            rows.append([name, f"{size}x{size}", format_rate(rates[name]), added, f"{rates[name] / pil_rate:.2f}x"])
            print(" | ".join(rows[-1]), flush=True)
    header = [f"pipeline (per batch of {batch_size})", "size", "img/s", "time added by augmenting",
              "vs PIL AutoAugment pipeline"]  # fmt: skip
    return markdown_table(header, rows)


# Our preset name -> how kornia.augmentation.auto builds the same preset (RandAugment at torchvision's
# default magnitude 9 of 30 here is kornia's m=9 of 30).
KORNIA_PRESETS = {
    "autoaugment-cifar10": ("AutoAugment", {"policy": "cifar10"}),
    "autoaugment-svhn": ("AutoAugment", {"policy": "svhn"}),
    "autoaugment-imagenet": ("AutoAugment", {"policy": "imagenet"}),
    "randaugment": ("RandAugment", {"n": 2, "m": 9}),
    "trivialaugment": ("TrivialAugment", {}),
}


def benchmark_kornia(sizes: Sequence[int], batch_size: int, min_seconds: float, device: str, rounds: int = 3) -> str:
    """Each preset in eval mode vs kornia's same preset on the same float32 ``[B, 3, S, S]`` batch in [0, 1],
    and ours also on that batch's uint8 pixels (what a decoding pipeline hands it; kornia takes floats only),
    taking turns for ``rounds`` rounds (best rate kept), so a busy neighbour slows all alike."""
    try:
        from kornia.augmentation import auto as kornia_auto
    except ImportError:
        return "kornia is not installed: pip install hf-faa[benchmark] (or kornia) to compare with it."
    rows = []
    for size in sizes:
        pixels = synthetic_photos(batch_size, size, torch.Generator().manual_seed(0)).to(device)
        images = pixels.float() / 255
        for name, (kornia_class, kornia_kwargs) in KORNIA_PRESETS.items():
            ours = FasterAutoAugmentPolicy.from_preset(name).to(device).eval()
            theirs = getattr(kornia_auto, kornia_class)(**kornia_kwargs).to(device)
            runs = {"ours": partial(ours, images), "ours uint8": partial(ours, pixels),
                    "kornia": partial(theirs, images)}  # fmt: skip
            with torch.no_grad():
                rates = rates_in_turns(runs, batch_size, min_seconds, rounds)
            rows.append([name, f"{size}x{size}", format_rate(rates["ours"]), format_rate(rates["kornia"]),
                         f"{rates['ours'] / rates['kornia']:.2f}x", format_rate(rates["ours uint8"]),
                         f"{rates['ours uint8'] / rates['kornia']:.2f}x"])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    header = [f"preset (eval, batch {batch_size}, {device})", "size", "hf-faa img/s (float32, per-image choices)",
              "kornia img/s (float32, per-batch sub-policy)", "hf-faa vs kornia", "hf-faa img/s on uint8",
              "hf-faa uint8 vs kornia"]  # fmt: skip
    return markdown_table(header, rows)


# The official search's policy settings (faster_autoaugment/config/search.yaml): 10 sub-policies of 2 stages at
# temperature 0.05, each batch split into 8 chunks that draw a sub-policy each.
DDA_POLICY_SETTINGS = {"num_sub_policies": 10, "temperature": 0.05, "operation_count": 2, "num_chunks": 8}
# kornia functions the official code calls by their kornia 0.3 top-level names -> the module that exports them today
DDA_KORNIA_NAMES = {"shear": "geometry.transform", "rotate": "geometry.transform", "translate": "geometry.transform",
                    "rgb_to_hsv": "color", "hsv_to_rgb": "color"}  # fmt: skip


MISSING_OFFICIAL_CODE = (
    "The dda sections need --dda_path: a local copy of the official code "
    "(git clone https://github.com/moskomule/dda), and kornia (pip install hf-faa[benchmark])."
)


def official_import_failed(error: ImportError) -> str:
    """What the dda sections print when the official code does not import."""
    return f"The official code could not be imported ({error}); it needs kornia: pip install hf-faa[benchmark]."


def official_policy(dda_path: str) -> torch.nn.Module:
    """The official code's policy with its search settings, from a local copy of its repository (its ``dda``
    package and ``faster_autoaugment/policy.py``). The kornia functions it calls by names kornia no longer
    exports at the top level are aliased there first; its files are used as they are."""
    import kornia

    for name, module in DDA_KORNIA_NAMES.items():
        if not hasattr(kornia, name):
            setattr(kornia, name, getattr(importlib.import_module(f"kornia.{module}"), name))
    sys.path.insert(0, str(Path(dda_path).resolve()))  # its policy imports dda.operations
    spec = importlib.util.spec_from_file_location("dda_policy", Path(dda_path) / "faster_autoaugment" / "policy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Policy.faster_auto_augment_policy(**DDA_POLICY_SETTINGS)


def benchmark_dda(dda_path: str | None, min_seconds: float, rounds: int = 3) -> str:
    """Our policy (10 sub-policies x 2 stages, every op) vs the official one on the same float32 batch of 128
    3x32x32 images in [0, 1]: the relaxed forward+backward of a search step (ours with each selection, theirs
    weighted) and the eval-mode forward, taking turns for ``rounds`` rounds (best rate kept)."""
    if dda_path is None or not (Path(dda_path) / "faster_autoaugment" / "policy.py").is_file():
        return MISSING_OFFICIAL_CODE
    try:
        theirs = official_policy(dda_path)
    except ImportError as error:
        return official_import_failed(error)
    torch.manual_seed(0)
    images = synthetic_photos(128, 32, torch.Generator().manual_seed(0)).float() / 255
    ours = {selection: FasterAutoAugmentPolicy(selection=selection) for selection in SELECTIONS}

    def forward_backward(policy: torch.nn.Module) -> Callable[[], None]:
        return lambda: policy.train()(images).mean().backward()

    def eval_forward(policy: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                policy.eval()(images)

        return run

    runs = {f"relaxed forward+backward, ours {name}": forward_backward(policy) for name, policy in ours.items()}
    runs["relaxed forward+backward, official (weighted)"] = forward_backward(theirs)
    runs["eval mode, ours (per-image choices)"] = eval_forward(ours["weighted"])
    runs["eval mode, official (per-chunk choices)"] = eval_forward(theirs)
    rates = rates_in_turns(runs, len(images), min_seconds, rounds)
    rows = []
    for name, rate in rates.items():
        baseline = rates["eval mode, official (per-chunk choices)" if name.startswith("eval") else
                         "relaxed forward+backward, official (weighted)"]  # fmt: skip
        rows.append([name, format_rate(rate), f"{rate / baseline:.2f}x"])
        print(" | ".join(rows[-1]), flush=True)
    return markdown_table(["policy, batch 128 x 3x32x32 (float32)", "img/s", "vs the official code"], rows)


# The official search's loss weights (faster_autoaugment/config/search.yaml); both its Adams use betas (0, 0.999)
# and lr 1e-3, as ours do
DDA_STEP_SETTINGS = {"cls_factor": 0.1, "gp_factor": 10}
# What the official search.py and its utils.py import at module level from homura and hydra (whose vision part needs
# torchvision); the search step, AdvTrainer.wgan_loss, uses none of it
DDA_STAND_IN_MODULES = ("homura", "homura.trainers", "homura.vision", "homura.vision.models",
                        "homura.vision.models.classification", "homura.vision.models.classification.wideresnet",
                        "hydra")  # fmt: skip


def official_search_module(dda_path: str) -> types.ModuleType:
    """The official ``faster_autoaugment/search.py`` as it is, imported with stand-ins for the homura and hydra
    names it and its ``utils.py`` import at module level; ``sys.modules`` and ``sys.path`` are restored after."""
    modules = {name: types.ModuleType(name) for name in DDA_STAND_IN_MODULES}
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    modules["homura"].TensorMap = dict
    modules["homura"].optim = modules["homura"].callbacks = types.ModuleType("unused")
    modules["homura.trainers"].TrainerBase = type("TrainerBase", (), {})
    modules["homura.vision"].DATASET_REGISTRY = None
    modules["homura.vision"].MODEL_REGISTRY = types.SimpleNamespace(register=lambda function: function)
    modules["homura.vision.models.classification.wideresnet"].WideResNet = None
    modules["hydra"].main = lambda *args, **kwargs: lambda function: function
    folder = str(Path(dda_path).resolve() / "faster_autoaugment")  # for its `from policy import ...`
    with mock.patch.dict(sys.modules, modules), mock.patch.object(sys, "path", [folder, *sys.path]):
        spec = importlib.util.spec_from_file_location("dda_search", Path(folder) / "search.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


class OfficialBackbone(torch.nn.Module):
    """Our WRN-``depth``-``width`` backbone in the shape the official ``Discriminator`` wraps: pooled features, then
    a linear ``fc`` (which it replaces by its own class and critic heads)."""

    def __init__(self, depth: int, width: int, num_classes: int = 10) -> None:
        from hf_faa.search.critic import WideResNetClassifier

        super().__init__()
        self.body = WideResNetClassifier(num_classes, 3, depth, width)
        del self.body.class_head
        self.fc = torch.nn.Linear(self.body.feature_size, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body.features(images))


def official_search_step(dda_path: str, depth: int, width: int, images: torch.Tensor,
                         labels: torch.Tensor) -> Callable[[], None]:  # fmt: skip
    """One official search step per call (``AdvTrainer.wgan_loss``: critic update with its gradient penalty, then
    policy update) on ``images`` (uint8 ``[B, 3, H, W]``, the first half augmented, the other half real, in the
    official loader's [-1, 1]), with its policy and settings and a WRN-``depth``-``width`` critic."""
    policy = official_policy(dda_path)
    search = official_search_module(dda_path)
    trainer = search.AdvTrainer()
    trainer.model = {"main": search.Discriminator(OfficialBackbone(depth, width)), "policy": policy}
    trainer.optimizer = {name: torch.optim.Adam(module.parameters(), 1e-3, betas=(0.0, 0.999))
                         for name, module in trainer.model.items()}  # fmt: skip
    trainer.cfg = types.SimpleNamespace(**DDA_STEP_SETTINGS)
    normalized = images.float() / 127.5 - 1
    half = len(images) // 2
    # wgan_loss denormalises its augmented half in place: a fresh copy per step
    return lambda: trainer.wgan_loss(normalized[half:], labels[half:], normalized[:half].clone(), labels[:half])


# Our rows of the dda-step section: (channels_last, autocast dtype, --compile_critic, --gradient_penalty_share).
OUR_STEP_SETTINGS = (
    (False, None, False, 1.0),
    (True, None, False, 1.0),
    (True, torch.bfloat16, False, 1.0),
    (False, None, True, 1.0),
    (True, torch.bfloat16, True, 1.0),
    (False, None, False, 0.25),
    (False, None, True, 0.25),
    (True, torch.bfloat16, True, 0.25),
)


def our_step_name(channels_last: bool, autocast_dtype: torch.dtype | None, compile_critic: bool,
                  gradient_penalty_share: float) -> str:  # fmt: skip
    """A row name of the dda-step section, e.g. ``ours (bf16 autocast, channels_last, compiled critic, penalty on
    every pair)``."""
    parts = ["fp32" if autocast_dtype is None else "bf16 autocast"]
    parts += ["channels_last"] * channels_last + ["compiled critic"] * compile_critic
    parts.append("penalty on every pair" if gradient_penalty_share == 1 else
                 f"penalty on {gradient_penalty_share:g} of the pairs")  # fmt: skip
    return f"ours ({', '.join(parts)})"


def benchmark_dda_step(dda_path: str | None, min_seconds: float, critic: tuple[int, int] = PAPER_CRITIC,
                       rounds: int = 2, batch_size: int = PAPER_SEARCH_BATCH) -> str:  # fmt: skip
    """Full search steps, ours (weighted, in fp32 with and without ``--channels_last``, and in bf16 with it; the
    first and the last also with ``--compile_critic``, all with the penalty on every pair as the official step; then
    plain fp32 and the compiled ones with it on a quarter of the pairs, the search's default:
    :data:`OUR_STEP_SETTINGS`) vs
    the official one in fp32 (it has no mixed precision), on the same batch of ``batch_size`` 3x32x32 images (half
    augmented, half real), the same WRN critic backbone under both, taking turns for ``rounds`` rounds (best rate
    kept)."""
    if dda_path is None or not (Path(dda_path) / "faster_autoaugment" / "search.py").is_file():
        return MISSING_OFFICIAL_CODE
    images = synthetic_photos(batch_size, 32, torch.Generator().manual_seed(0))
    labels = torch.arange(len(images)) % 10
    torch.manual_seed(0)
    try:
        official = official_search_step(dda_path, *critic, images, labels)
    except ImportError as error:
        return official_import_failed(error)
    runs = {"official (fp32)": official}
    for channels_last, dtype, compile_critic, share in OUR_STEP_SETTINGS:
        runs[our_step_name(channels_last, dtype, compile_critic, share)] = search_step_runner(
            *critic, "weighted", channels_last, dtype, batch_size=batch_size, compile_critic=compile_critic,
            gradient_penalty_share=share
        )  # fmt: skip
    rates = rates_in_turns(runs, len(images), min_seconds, rounds)
    rows = []
    for name, rate in rates.items():
        rows.append([name, f"{rate:,.1f}", f"{rate / rates['official (fp32)']:.2f}x"])
        print(" | ".join(rows[-1]), flush=True)
    half = batch_size // 2
    header = [f"search step, WRN-{critic[0]}-{critic[1]} critic, batch {half} + {half} x 3x32x32", "img/s",
              "vs the official code"]  # fmt: skip
    return markdown_table(header, rows)


def reset_peak_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib() -> float:
    """Peak GPU memory of the last section when on CUDA, else the process's peak resident memory."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_description() -> str:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU only"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {device}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )


SECTIONS = {
    "ops": lambda args: benchmark_ops(args.sizes, args.batch_size, args.min_seconds),
    "policy": lambda args: benchmark_policy(args.sizes, args.batch_size, args.min_seconds, args.device),
    "search": lambda args: benchmark_search(args.min_seconds),
    "summary": lambda args: benchmark_summary(args.min_seconds, args.device, args.summary_batch_size),
    "adapter": lambda args: benchmark_adapter(args.sizes, args.batch_size, args.min_seconds),
    "optimizer": lambda args: benchmark_optimizer(args.min_seconds, args.device),
    "scaling": lambda args: benchmark_scaling(args.min_seconds, args.search_batch_sizes),
    "kornia": lambda args: benchmark_kornia(args.sizes, args.batch_size, args.min_seconds, args.device),
    "dda": lambda args: benchmark_dda(args.dda_path, args.min_seconds),
    "dda-step": lambda args: benchmark_dda_step(args.dda_path, args.min_seconds),
}


# left out of --all: kornia and the official code are optional peers; scaling's large batches of the paper's critic
# are for GPUs
OPT_IN = ("kornia", "dda", "dda-step", "scaling")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=["ops"])
    parser.add_argument("--all", action="store_true", help="run every section and write --output")
    parser.add_argument("--compare", action="store_true", help="add the kornia section (kornia must be installed)")
    parser.add_argument("--dda_path", default=None, help="the dda section's local copy of the official code")
    parser.add_argument("--output", default="benchmarks.md", help="markdown file written with --all")
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 224], help="image sizes (square)")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--search_batch_sizes", nargs="+", type=int, default=[128, 512, 2048],
                        help="the scaling section's search batches")  # fmt: skip
    parser.add_argument("--summary_batch_size", type=int, default=PAPER_SEARCH_BATCH,
                        help="the summary section's search step batch (default: the paper's)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--min_seconds", type=float, default=0.3, help="minimum duration of one timing")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where the policy and summary sections run policies")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sections = [name for name in SECTIONS if name not in OPT_IN] if args.all else list(args.sections)
    if args.compare and "kornia" not in sections:
        sections.append("kornia")
    report = [f"# hf-faa benchmarks\n\nMachine: {machine_description()}. Command: "
              f"`python scripts/benchmark.py {' '.join(argv if argv is not None else sys.argv[1:])}`"]  # fmt: skip
    print(report[0], flush=True)
    for section in sections:
        table = SECTIONS[section](args)
        report.append(f"## {section}\n\n{table}")
        print(f"\n## {section}\n\n{table}\n", flush=True)
    if args.all:
        Path(args.output).write_text("\n\n".join(report) + "\n", encoding="utf-8")
        print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
