"""A custom Accelerate training loop that augments each batch on the training device.

The DataLoader only decodes (uint8 tensors); the policy runs on the accelerator, once per batch,
with a different random draw for every image.

    accelerate launch examples/custom_loop_accelerate.py --policy preset:autoaugment-svhn
    python examples/custom_loop_accelerate.py --max_steps 20        # offline, CPU
"""

import argparse

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import ResNetConfig, ResNetForImageClassification

from hf_faa import load_policy
from hf_faa.data import collate_valid, prepare_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="preset:randaugment", help="Hub repo id, folder or preset:<name>")
    parser.add_argument("--dataset", default=None, help="Hub dataset (default: the embedded MNIST-5k)")
    parser.add_argument("--max_steps", type=int, default=300)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    accelerator = Accelerator()
    data = prepare_dataset(args.dataset, image_size=32)  # decodes lazily to uint8 [1 or 3, 32, 32]
    loader = DataLoader(data.dataset, batch_size=64, shuffle=True, drop_last=True, collate_fn=collate_valid)
    config = ResNetConfig(num_channels=data.num_channels, embedding_size=16, hidden_sizes=[16, 32, 64],
                          depths=[1, 1, 1], layer_type="basic", num_labels=data.num_classes)  # fmt: skip
    model = ResNetForImageClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    policy = load_policy(args.policy).eval().to(accelerator.device)  # no gradients: a plain module on the device

    step = 0
    while step < args.max_steps:
        for batch in loader:
            with torch.no_grad():
                images = policy(batch["pixel_values"])  # uint8 in, uint8 out, on the device
            pixel_values = images.float() / 127.5 - 1  # [0, 255] -> [-1, 1]
            loss = model(pixel_values=pixel_values, labels=batch["labels"]).loss
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            if step % 50 == 0 or step == args.max_steps:
                accelerator.print(f"step {step}: loss {loss.item():.3f}")
            if step == args.max_steps:
                break


if __name__ == "__main__":
    main()
