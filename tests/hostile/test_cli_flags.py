"""Every flag is checked before work starts: a bad value is one `zoo: error:` line and exit status 2."""

from __future__ import annotations

import pytest

from zoo.cli import main

LONG = "a" * 300

CASES = {
    "seed below 0": ["train", "regnetx32", "--seed", "-1"],
    "seed past 32 bits": ["train", "regnetx32", "--seed", str(2**70)],
    "batch 0": ["train", "regnetx32", "--batch-size", "0"],
    "batch -1": ["train", "regnetx32", "--batch-size", "-1"],
    "image size -5": ["train", "regnetx32", "--image-size", "-5"],
    "image size 100000": ["train", "regnetx32", "--image-size", "100000"],
    "empty slice": ["train", "regnetx32", "--test-split", "test[50%:10%]"],
    "bad split": ["train", "regnetx32", "--train-split", "train[:50"],
    "empty dataset": ["train", "regnetx32", "--dataset", ""],
    "coordinator": ["train", "regnetx32", "--coordinator", "garbage", "--num-processes", "2", "--process-id", "0"],
    "long name": ["train", LONG],
    "classes 0": ["train", "regnetx32", "--num-classes", "0"],
    "epochs 0": ["train", "regnetx32", "--epochs", "0"],
    "lr nan": ["train", "regnetx32", "--lr", "nan"],
    "eval split": ["eval", "regnetx32", "--split", "test[90%:10%]"],
    "eval batch": ["eval", "regnetx32", "--batch-size", "0"],
    "eval dataset": ["eval", "regnetx32", "--dataset", " "],
    "eval image size": ["eval", "regnetx32", "--image-size", "2"],
    "predict top-k": ["predict", "regnetx32", "x.png", "--top-k", "0"],
    "predict long name": ["predict", LONG, "x.png"],
    "info long name": ["info", LONG],
    "download long name": ["download", LONG],
    "sweep n": ["sweep", "run", "regnet", "--n", "0", "--out", "unused"],
    "sweep seed": ["sweep", "run", "regnet", "--seed", "-3", "--out", "unused"],
    "sweep split": ["sweep", "run", "regnet", "--test-split", "", "--out", "unused"],
    "export tflite name": ["export", "regnetx32", "model.tflite"],
    "export onnx name, stablehlo format": ["export", "regnetx32", "model.onnx", "--format", "stablehlo"],
}


@pytest.mark.parametrize("argv", CASES.values(), ids=CASES.keys())
def test_bad_flag_is_one_line_before_work(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main([*argv, *(["--out", str(tmp_path / "run")] if argv[0] == "train" else [])])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zoo: error: "), err
    assert "Traceback" not in err and LONG not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "unused").exists(), "work started"
    assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "model.tflite").exists()
