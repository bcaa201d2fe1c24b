"""Dataset in, tensors out.

Loads an image-classification dataset (the embedded MNIST-5k, a Hub name, a ``save_to_disk``
folder, an image folder or a parquet/arrow file), finds its image and label columns, and decodes
images lazily into uint8 tensors ``[C, size, size]`` through ``Dataset.set_transform``. Undecodable
images are left out and counted, never silently dropped.

Typical use::

    prepared = prepare_dataset("uoft-cs/cifar10", image_size=32, max_samples=4000)
    loader = torch.utils.data.DataLoader(prepared.dataset, batch_size=64, collate_fn=collate_valid)
"""

from .arguments import DatasetArguments
from .columns import (
    LABEL_COLUMN_NAMES,
    class_names,
    column_values,
    describe_columns,
    encode_images,
    encode_labels,
    num_classes,
    resolve_columns,
)
from .images import (
    IMAGE_MODES,
    SINGLE_CHANNEL_MODES,
    array_to_image,
    decode_image,
    decode_images,
    decode_once,
    infer_image_mode,
    pil_to_tensor,
    tensor_to_pil,
)
from .labelled import LabelledSplit, labelled_rows, load_labelled_split, warn_of_missing_classes
from .loading import (
    DEFAULT_DATASET_NAME,
    DEFAULT_DATASET_SPLIT,
    STREAM_SHUFFLE_BUFFER_ROWS,
    describe_source,
    load_image_dataset,
    sample_stream,
)
from .prepare import (
    VALID_COLUMN,
    DecodeTransform,
    PreparedDataset,
    collate_valid,
    decode_prepared_once,
    prepare_dataset,
    stratified_subset,
)

__all__ = [
    "DEFAULT_DATASET_NAME",
    "DEFAULT_DATASET_SPLIT",
    "IMAGE_MODES",
    "LABEL_COLUMN_NAMES",
    "SINGLE_CHANNEL_MODES",
    "STREAM_SHUFFLE_BUFFER_ROWS",
    "VALID_COLUMN",
    "DatasetArguments",
    "DecodeTransform",
    "LabelledSplit",
    "PreparedDataset",
    "array_to_image",
    "class_names",
    "collate_valid",
    "column_values",
    "decode_image",
    "decode_images",
    "decode_once",
    "decode_prepared_once",
    "describe_columns",
    "describe_source",
    "encode_images",
    "encode_labels",
    "infer_image_mode",
    "labelled_rows",
    "load_image_dataset",
    "load_labelled_split",
    "num_classes",
    "pil_to_tensor",
    "prepare_dataset",
    "resolve_columns",
    "sample_stream",
    "stratified_subset",
    "tensor_to_pil",
    "warn_of_missing_classes",
]
