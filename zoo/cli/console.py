"""What the `zoo` command prints besides its results: zoo warnings as one line, and --quiet.

Python prints a warning as `file:line: Category: message` followed by the source line that raised
it; for a user of the command that is two lines of the zoo's internals. The zoo's own warnings
(PretrainedAdaptationWarning, InputMismatchWarning) print as `zoo: warning: message` instead;
other libraries' keep Python's format. `--quiet` leaves one line per epoch and errors: no
warnings, no absl/TensorFlow logs, no tfds bars.
"""

from __future__ import annotations

import logging
import os
import warnings


def one_line_zoo_warnings() -> None:
    plain = warnings.formatwarning

    def formatwarning(message, category, filename, lineno, line=None) -> str:
        if category.__module__.split(".")[0] == "zoo":
            return f"zoo: warning: {message}\n"
        return plain(message, category, filename, lineno, line)

    warnings.formatwarning = formatwarning


def quiet() -> None:
    """Errors only from here on: every warning and library log below ERROR is dropped."""
    warnings.simplefilter("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ logs, read when it loads
    for name in ("absl", "jax", "tensorflow", "tensorflow_datasets", "orbax", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import tensorflow_datasets as tfds

    from zoo.data.preparing import quiet_preparation

    tfds.disable_progress_bar()
    quiet_preparation()
