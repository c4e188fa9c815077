"""Input pipelines over tensorflow-datasets: the offline `digits` set, IDX sets, any tfds image set."""

from zoo.data.pipeline import Batch, Pipeline, iterate_batches, normalization_for, steps_per_epoch
from zoo.data.sources import ZOO_DATASETS, ImageSplit, open_split
from zoo.data.transforms import Normalization

__all__ = [
    "Batch",
    "ImageSplit",
    "Normalization",
    "Pipeline",
    "ZOO_DATASETS",
    "iterate_batches",
    "normalization_for",
    "open_split",
    "steps_per_epoch",
]
