"""Every error a user can cause, in one place.

Each error's message says what was wrong, where, and what to do about it. All of them
derive from ZooError, so `except zoo.errors.ZooError` catches everything the zoo raises
on purpose.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputMismatchWarning(UserWarning):
    """An input looks unlike what the model was trained on (e.g. dark-on-light where it saw light-on-dark)."""


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class SpecError(ZooError, ValueError):
    """An architecture description breaks a rule (bad field value, incompatible widths)."""


class RegistryError(ZooError):
    """A registry file or registry entry is malformed."""


class UnknownModelError(ZooError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class UnknownComponentError(ZooError, KeyError):
    """A stem, block, head or design rule is named that no plugin provides."""

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class PluginError(ZooError):
    """A plugin could not be loaded or broke its contract."""


class PluginConflictError(PluginError):
    """Two plugins contribute the same name and neither marks an override."""


class ComponentContractError(PluginError, TypeError):
    """A component's factory or complexity function does not keep its documented contract."""


class PretrainedError(ZooError):
    """Pretrained weights were asked for that do not exist or cannot be used."""


class WeightsFormatError(PretrainedError, ValueError):
    """A weights file or config.json is corrupt, truncated or not in a format the zoo reads."""


class WeightsValueError(WeightsFormatError):
    """A weights file holds NaN or infinite values, or integers where the model has floats."""


class WeightsMismatchError(PretrainedError):
    """A weights file's keys or shapes do not match the model they are loaded into."""

    def __init__(self, message: str, *, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


class PretrainedArgumentError(PretrainedError, TypeError):
    """zoo.create was asked for weights (pretrained=, checkpoint_path=); weights come with zoo.load."""


class ChecksumMismatchError(PretrainedError):
    """A downloaded file's sha256 differs from the one the registry pins."""


class HubError(PretrainedError):
    """The Hugging Face Hub (or a mirror) could not give or take what was asked for."""


class OfflineCacheError(HubError):
    """Offline mode is on and the cache lacks a file that is needed."""


class HubReferenceError(HubError, ValueError):
    """A repo id, revision or filename is malformed or could name a path outside the cache."""


class HubConnectionError(HubError):
    """The Hub could not be reached, or it dropped the connection before the whole file came."""


class HubTimeoutError(HubConnectionError):
    """The Hub stopped answering for longer than the timeout."""


class HubServerError(HubError):
    """The Hub answered with a server error (HTTP 5xx)."""


class WriteError(ZooError, OSError):
    """A file cannot be written (no space left, read-only folder, name too long); any old file is kept."""


class DatasetError(ZooError):
    """A dataset cannot be found, prepared or read, or does not fit image classification."""


class UnknownDatasetError(DatasetError, KeyError):
    """A dataset name that neither the zoo nor tensorflow-datasets knows."""

    def __str__(self) -> str:
        return self.args[0] if self.args else ""


class InputShapeError(ZooError, ValueError):
    """A model was called on an array that is not an NHWC batch with the model's channel count."""


class PredictError(DatasetError, ValueError):
    """What was given to predict is not an image or a sequence of images (None, a number, nothing)."""


class LabelMismatchError(DatasetError, ValueError):
    """A model's classes and a dataset's classes differ (count or names), so its scores would mean nothing."""


class TrainConfigError(ZooError, ValueError):
    """A training setting is out of range or inconsistent (optimizer, schedule, batch size...)."""


class DeviceError(ZooError, ValueError):
    """The batch cannot be split over the devices, or the multi-host setup is incomplete."""


class CheckpointError(ZooError):
    """A training checkpoint is missing, corrupt or belongs to a different run."""


class NonFiniteLossError(ZooError, FloatingPointError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class SamplingError(ZooError, ValueError):
    """A design space cannot be sampled as asked (no sampler, bad or unreachable complexity band)."""


class ExportError(ZooError):
    """A model could not be written as a portable artifact (a missing extra, an unknown format)."""


class SweepError(ZooError):
    """A sweep directory or its results table is inconsistent with the command run on it."""


class ConvLoweringError(ZooError, ValueError):
    """A conv lowering or tuning setting (ZOO_CONV_LOWERING, ZOO_CONV_TUNING, its budget) is not one the zoo has."""


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The candidates nearest to `name`, for 'did you mean' hints."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean: a, b?' suffix, or '' when nothing is close."""
    hits = closest(name, candidates)
    return f" Did you mean: {', '.join(hits)}?" if hits else ""


def reject_unknown(
    keys: Iterable[str], known: Iterable[str], where: str, error: type[ZooError] = SpecError, what: str = "field"
) -> None:
    """The one unknown-field check: raise `error` naming each key not in `known`, and the known ones."""
    known = sorted(known)
    unknown = sorted(set(keys) - set(known))
    if unknown:
        hints = "".join(did_you_mean(u, known) for u in unknown[:3])
        raise error(f"{where}: unknown {what}(s) {unknown}; known {what}s are {known}.{hints}")
