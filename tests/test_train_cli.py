"""`zoo train` and `zoo eval` on the command line: results, files, and one-line errors."""

from __future__ import annotations

import json

import pytest

import zoo
from zoo.cli import main

TINY = zoo.ModelSpec(stages=(zoo.StageSpec(1, 8, 4),), stem_width=8, in_channels=1, num_classes=10, input_size=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from zoo.weights.pretrained import save_pretrained

    path = tmp_path_factory.mktemp("tiny")
    save_pretrained(zoo.create(TINY), path)
    return str(path)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_train_then_eval_report_the_same_accuracy(folder, data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            folder,
            "--train-split",
            "train[:128]",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--image-size",
            "8",
            "--optimizer",
            "nesterov",
            "--label-smoothing",
            "0.1",
            "--clip-grad-norm",
            "5",
            "--data-dir",
            data_dir,
            "--out",
            str(out),
            "--quiet",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "digits test: top-1" in printed and "2 epochs" in printed
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert main(["eval", str(out), "--dataset", "digits", "--data-dir", data_dir, "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["count"] == 360 and report["split"] == "test"
    assert report["top1"] == pytest.approx(last["val_acc"]) and report["loss"] == pytest.approx(
        last["val_loss"], rel=1e-4
    )
    assert 0 <= report["top1"] <= report["top5"] <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "fashon_mnist"], "unknown dataset 'fashon_mnist'"),
        (["--optimizer", "sgd", "--lr", "-1"], "--lr -1.0 must be positive"),
        (["--resume"], "--resume needs --out DIR"),
        (["--batch-size", "5000"], "larger than the 1437 training examples"),
    ],
)
def test_bad_input_is_one_line_and_status_2(folder, data_dir, args, message, capsys):
    assert main(["train", folder, "--data-dir", data_dir, "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and message in err and "Traceback" not in err
