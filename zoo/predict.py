"""`predict`: images in, class names and probabilities out, with the model's own preprocessing.

What transformers' image-classification pipeline does: preprocess each image as the
model's data config says, run the model once on the batch, softmax, and name the top
classes with the labels the model carries (indices as strings when it has none).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from zoo.data_config import DataConfig, data_config
from zoo.errors import InputMismatchWarning, PredictError, SpecError
from zoo.inference import compile_forward
from zoo.transform import create_transform, to_pil


@dataclass(frozen=True)
class Prediction:
    """The top classes of one image, most probable first."""

    labels: tuple[str, ...]
    indices: tuple[int, ...]
    probabilities: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "indices": list(self.indices), "probabilities": list(self.probabilities)}


def _as_list(images: Any) -> list[Any]:
    """One image or a sequence of them, as a non-empty list; PredictError for anything else."""
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if images is None or isinstance(images, (bool, int, float, complex, bytes, dict)):
        raise PredictError(
            f"predict got {type(images).__name__}; give an image path, a PIL image, an HxWxC array, "
            "an NxHxWxC array or a list of these"
        )
    if hasattr(images, "__array__") and not isinstance(images, (list, tuple)):
        array = np.asarray(images)
        if array.ndim <= 3:
            return [array]
        if array.ndim != 4:
            raise PredictError(f"predict got an array of shape {array.shape}; give HxWxC images or an NxHxWxC batch")
        images = list(array)
    try:
        listed = list(images)
    except TypeError:
        raise PredictError(f"predict got {type(images).__name__}, which is neither an image nor a sequence") from None
    if not listed:
        raise PredictError("predict got no images (an empty sequence); give at least one")
    return listed


def printable(text: str) -> str:
    """`text` with control characters (ANSI escapes, newlines) written as escapes, safe for a terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def format_predictions(images: Sequence[Any], results: Sequence[Prediction]) -> str:
    """The text `zoo predict` prints: each image, then one `probability  label` line per class.

    Labels come from files anyone can publish (a Hub repo's config.json), so control
    characters are escaped: a label can never move the cursor or recolour the terminal.
    """
    lines = []
    for image, result in zip(images, results):
        lines.append(printable(str(image)))
        lines.extend(f"  {p:7.2%}  {printable(label)}" for label, p in zip(result.labels, result.probabilities))
    return "\n".join(lines)


def predict(model: Any, images: Any, top_k: int = 5, *, config: DataConfig | None = None) -> list[Prediction]:
    """The top_k classes of each image (paths, PIL images or arrays; one or a sequence), one Prediction each.

    The preprocessing comes from `config`, else the model's data config (zoo.data_config).
    """
    if getattr(model, "get_classifier", lambda: None)() is None:
        raise SpecError("this model has no classifier (num_classes=0); predict needs one: reset_classifier(N)")
    num_classes = model.spec.num_classes
    if not isinstance(top_k, int) or not 1 <= top_k:
        raise SpecError(f"top_k must be a positive integer, got {top_k!r}")
    top_k = min(top_k, num_classes)
    config = config or data_config(model)
    if config.labels is not None and len(config.labels) != num_classes:
        raise SpecError(f"the data config names {len(config.labels)} classes but the model has {num_classes}")
    items = _as_list(images)
    transform = create_transform(config)
    batch = np.stack([transform(to_pil(image, f"image {i}")) for i, image in enumerate(items)])
    if config.background is not None:
        warn_on_polarity(batch, config)
    if batch.shape[-1] != model.spec.in_channels:
        raise SpecError(
            f"the data config makes {batch.shape[-1]}-channel inputs but the model takes {model.spec.in_channels}; "
            "give a data config whose mean/std have one entry per input channel"
        )
    x = jnp.asarray(batch)
    logits = compile_forward(model, x)(x)
    probs = np.asarray(jax.nn.softmax(logits.astype(np.float32), axis=-1))
    labels: Sequence[str] = config.labels or [str(i) for i in range(num_classes)]
    out = []
    for row in probs:
        top = np.argsort(-row, kind="stable")[:top_k]
        out.append(
            Prediction(tuple(labels[i] for i in top), tuple(int(i) for i in top), tuple(float(row[i]) for i in top))
        )
    return out


def background_of(image: np.ndarray) -> str:
    """'dark' or 'light': the mean of the outer eighth of a [0, 1] HxWxC image against its middle grey."""
    h, w = image.shape[:2]
    ring = max(1, min(h, w) // 8)
    border = np.concatenate(
        [image[:ring].ravel(), image[-ring:].ravel(), image[:, :ring].ravel(), image[:, -ring:].ravel()]
    )
    return "dark" if float(border.mean()) < 0.5 else "light"


def warn_on_polarity(batch: np.ndarray, config: DataConfig) -> None:
    """Warn (InputMismatchWarning) for each input whose background is the opposite of the training data's:
    a model trained on light garments on black answers nonsense for a product photo on white."""
    raw = batch * np.asarray(config.std, np.float32) + np.asarray(config.mean, np.float32)
    flipped = [i for i, image in enumerate(raw) if background_of(image) != config.background]
    if flipped:
        other = "light" if config.background == "dark" else "dark"
        warnings.warn(
            f"input(s) {flipped} have a {other} background, but the model was trained on images with a "
            f"{config.background} background; invert them (255 - image) for a meaningful answer",
            InputMismatchWarning,
            stacklevel=3,
        )
