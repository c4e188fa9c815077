"""The train loop's named pieces: fit and the sweep's trial worker share them (bitwise-equal weights),
library errors name arguments while the CLI names flags, and fit's model carries its data config."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import zoo
from zoo.cli.train import as_flags
from zoo.data.arrays import array_splits
from zoo.errors import InputMismatchWarning, TrainConfigError
from zoo.sweep.worker import TrialWorker, recipe_config, train_trial
from zoo.train import TrainConfig, fit
from zoo.train.epoch import EpochMeter, StepInfo, run_epoch
from zoo.train.evaluate import eval_batch_size, even_batch_size
from zoo.train.run import dominant_background

TINY = zoo.ModelSpec(
    stages=(zoo.StageSpec(1, 8, 4, 1.0, 2), zoo.StageSpec(1, 16, 8, 1.0, 2)),
    stem_width=8,
    in_channels=1,
    num_classes=10,
    input_size=8,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    from zoo.data import open_split

    open_split("digits", "train", data_dir=path)
    return str(path)


def recipe(data_dir) -> dict:
    return {
        "dataset": "digits",
        "train_split": "train[:96]",
        "test_split": "test[:40]",
        "epochs": 2,
        "batch_size": 32,
        "image_size": 8,
        "lr": 0.1,
        "optimizer": "nesterov",
        "precise_bn_images": 64,
        "seed": 3,
        "data_dir": data_dir,
    }


def test_a_sweep_trial_and_fit_with_one_recipe_give_bitwise_equal_weights(data_dir):
    config = recipe_config(recipe(data_dir))
    worker = TrialWorker()
    trial = train_trial(zoo.create(TINY, seed=config.seed), config, worker.data(config, TINY.in_channels))
    fitted = fit(TINY, config, progress=False)
    params, rest = nnx.split(fitted.model, nnx.Param, ...)[1:]
    ours = jax.tree.leaves((params, rest))
    theirs = jax.tree.leaves((trial["state"].params, trial["state"].rest))
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert trial["top1"] == pytest.approx(fitted.test["top1"]) and trial["train_loss"] == pytest.approx(
        fitted.history[-1]["train_loss"], rel=1e-5
    )


def test_run_epoch_calls_each_callback_once_per_step_with_the_state_after_it():
    calls: list[tuple[int, int]] = []

    def step(state, images, labels):
        return state + 1, {"loss": np.float32(0.5), "correct": np.float32(1)}

    class Batch:
        images = np.zeros((2, 4, 4, 1), np.float32)
        labels = np.zeros((2,), np.int32)
        target = labels

    from zoo.train.sharding import data_mesh

    def record(info: StepInfo) -> None:
        calls.append((info.step, int(info.state)))

    state, meter = run_epoch(
        step, 0, [Batch()] * 3, mesh=data_mesh(), epoch=1, steps_per_epoch=3, meter=EpochMeter(2), callbacks=[record]
    )
    assert state == 3 and calls == [(4, 1), (5, 2), (6, 3)]
    assert meter.seen == 6 and meter.loss == pytest.approx(0.5) and meter.acc == pytest.approx(0.5)


def test_library_errors_name_arguments_and_the_cli_names_flags(data_dir, capsys):
    with pytest.raises(TrainConfigError, match=r"num_classes=3 is smaller than the 10 classes"):
        fit(TINY, TrainConfig(**recipe(data_dir)), num_classes=3, progress=False)
    with pytest.raises(TrainConfigError, match=r"resume=True needs out_dir="):
        fit(TINY, TrainConfig(**recipe(data_dir)), resume=True, progress=False)
    from zoo.cli import main

    args = ["train", "regnetx32", "--data-dir", data_dir, "--quiet", "--image-size", "8", "--num-classes", "3"]
    assert main(args) == 2
    assert "zoo: error: --num-classes 3 is smaller than the 10 classes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "message, flags",
    [
        ("training setting lr=-1.0 must be positive", "training setting --lr -1.0 must be positive"),
        (
            "pass resume=True to continue it, or choose another out_dir=",
            "pass --resume to continue it, or choose another --out",
        ),
        ("lower lr= (now 0.05) or set clip_grad_norm=.", "lower --lr (now 0.05) or set --clip-grad-norm."),
        ("ema_decay=2 must be in [0, 1)", "--ema 2 must be in [0, 1)"),
        ("optimizer='adam' is unknown", "--optimizer adam is unknown"),
        ("precise_bn_images=-1 must be >= 0", "precise_bn_images=-1 must be >= 0"),  # no flag: left as it is
        ("augment=False", "--no-augment"),
    ],
)
def test_as_flags_spells_arguments_as_the_cli_does(message, flags):
    assert as_flags(message) == flags


# -- the model fit returns carries its data config ------------------------------------------------
def _same_predictions(model, folder, images) -> None:
    saved = zoo.load(f"local-dir:{folder}")
    assert zoo.data_config(model) == zoo.data_config(saved)
    ours, theirs = zoo.predict(model, images), zoo.predict(saved, images)
    assert [p.labels for p in ours] == [p.labels for p in theirs]
    np.testing.assert_allclose([p.probabilities for p in ours], [p.probabilities for p in theirs], rtol=1e-5, atol=1e-6)


def test_fit_on_arrays_predicts_as_its_saved_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    images[20:] //= 4  # two classes a model can tell apart
    labels = (np.arange(40) >= 20).astype(np.int64)
    spec = TINY.replace(in_channels=3, num_classes=2)
    result = fit(spec, data=(images, labels), class_names=["bright", "dark"], epochs=1, batch_size=8,
                 image_size=8, precise_bn_images=0, out_dir=tmp_path / "run", progress=False)  # fmt: skip
    config = zoo.data_config(result.model)
    assert config.labels == ("bright", "dark") and config.input_size == 8
    assert config.mean != (0.0, 0.0, 0.0)  # the arrays' statistics, not the spec's defaults
    _same_predictions(result.model, tmp_path / "run", list(images[:3]))
    assert {p.labels[0] for p in zoo.predict(result.model, list(images[:4]))} <= {"bright", "dark"}


def test_fit_on_a_folder_predicts_with_its_class_names(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(
                tmp_path / "pets" / name / f"{i}.png"
            )
    spec = TINY.replace(in_channels=3, num_classes=2)
    result = fit(spec, dataset=f"folder:{tmp_path / 'pets'}", epochs=1, batch_size=4, image_size=8,
                 precise_bn_images=0, data_dir=str(tmp_path / "tfds"), out_dir=tmp_path / "run", progress=False)  # fmt: skip
    assert zoo.data_config(result.model).labels == ("cat", "dog")
    _same_predictions(result.model, tmp_path / "run", [tmp_path / "pets" / "cat" / "0.png"])


def test_fit_on_digits_carries_the_digit_names_and_its_normalisation(data_dir, tmp_path):
    result = fit(TINY, TrainConfig(**recipe(data_dir)).replace(epochs=1), out_dir=tmp_path / "run", progress=False)
    config = zoo.data_config(result.model)
    assert config.labels is not None and len(config.labels) == 10 and config.channel_order == "L"
    assert config.mean != zoo.data_config(zoo.create(TINY)).mean
    image = np.random.default_rng(2).integers(0, 256, (8, 8), dtype=np.uint8)
    _same_predictions(result.model, tmp_path / "run", [image])


def test_fit_learns_the_training_images_background_and_saves_it(tmp_path):
    images = np.zeros((24, 12, 12, 1), np.uint8)  # light shapes on black, as Fashion-MNIST
    images[:12, 3:9, 3:9] = 255
    images[12:, 2:10, 5:7] = 200
    labels = (np.arange(24) >= 12).astype(np.int64)
    result = fit(TINY.replace(num_classes=2), data=(images, labels), epochs=1, batch_size=8, image_size=12,
                 precise_bn_images=0, out_dir=tmp_path / "run", progress=False)  # fmt: skip
    assert zoo.data_config(result.model).background == "dark"
    assert zoo.data_config(zoo.load(f"local-dir:{tmp_path / 'run'}")).background == "dark"
    with pytest.warns(InputMismatchWarning, match="light background"):
        zoo.predict(result.model, 255 - images[0])


def test_no_background_is_claimed_where_the_training_images_disagree():
    images = np.zeros((20, 8, 8, 1), np.uint8)
    images[::2] = 255  # half on white, half on black
    split = array_splits((images, np.zeros(20, np.int64)), None, None)[0]
    assert dominant_background(split) is None
    assert dominant_background(array_splits((images[1::2], np.zeros(10, np.int64)), None, None)[0]) == "dark"


# -- per-epoch evaluation and precise BN: compiled once, little padding ---------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 1024), st.sampled_from([1, 2, 4, 8]))
def test_even_eval_batches_need_no_more_batches_and_pad_less_than_one_image_per_batch_and_device(n, requested, devices):
    size = even_batch_size(n, requested, devices)
    rounded = eval_batch_size(requested, devices)
    batches = -(-n // size)
    assert size % devices == 0 and size <= rounded
    assert batches == -(-n // rounded)
    assert batches * size - n < batches * devices


def test_evaluation_and_precise_bn_compile_once_for_a_whole_run(data_dir):
    from zoo.train.evaluate import EvalSet, Evaluator
    from zoo.train.precise_bn import PreciseBN
    from zoo.train.run import open_run
    from zoo.train.sharding import data_mesh
    from zoo.train.state import init_state

    config = TrainConfig(**recipe(data_dir))
    run = open_run(TINY, config)
    graphs, state = init_state(run.model, config, run.steps_per_epoch, data_mesh())
    eval_set = EvalSet.prepare(run.test, run.eval_pipe, even_batch_size(len(run.test), 16, 1))
    assert eval_set.batches is not None and len(eval_set.batches) == 3  # 40 images: 3 batches of 14, read once
    evaluator = Evaluator(graphs.eval, eval_set, graphs.mesh)
    precise = PreciseBN.for_run(graphs, state, run)
    results = []
    for epoch in range(3):
        refreshed = precise(state, epoch)
        results.append(evaluator(refreshed.params, refreshed.rest))
    assert evaluator._step._cache_size() == 1 and precise._accumulate._cache_size() == 1
    assert results[0]["count"] == 40 and results[0] == evaluator(precise(state, 0).params, precise(state, 0).rest)
    assert precise.count == 2  # 64 images of batch 32
    moved = [
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(jax.tree.leaves(refreshed.rest), jax.tree.leaves(state.rest))
    ]
    assert max(moved) > 0  # the statistics were replaced
