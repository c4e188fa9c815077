"""The trial worker, layer-wise training, the KS test and the table's row checks."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zoo
from zoo.cli import main
from zoo.errors import SweepError
from zoo.spec import ModelSpec, StageSpec
from zoo.sweep.ks import _asymptotic_pvalue, ks_2samp, ks_statistic
from zoo.sweep.layerwise import LayerwiseTrainer
from zoo.sweep.runner import make_manifest, run_sweep
from zoo.sweep.table import read_rows
from zoo.sweep.worker import TrialWorker
from zoo.train.steps import TrainState, make_train_step, split_model

TINY = ModelSpec(
    stages=(StageSpec(1, 8, 8), StageSpec(2, 16, 8)),
    stem="cifar",
    stem_width=8,
    num_classes=10,
    in_channels=1,
    input_size=8,
    options={"zero_init_last_bn": True},
)
RECIPE = {
    "dataset": "digits",
    "train_split": "train[:64]",
    "test_split": "test[:32]",
    "epochs": 1,
    "batch_size": 32,
    "image_size": 8,
    "augment": False,
    "precise_bn_images": 0,
    "optimizer": "nesterov",
    "layerwise": True,
}


def tiny_trials(n: int) -> list[dict]:
    return [
        {
            "trial": i,
            "space": "tiny",
            "sweep_seed": 0,
            "params": {},
            "spec": TINY.to_dict(),
            "complexity": {"flops": 1, "params": 1, "acts": 1},
        }
        for i in range(n)
    ]


# -- KS -----------------------------------------------------------------------------------
def test_ks_of_two_separated_samples_by_hand():
    # EDFs of {1,2,3} and {4,5,6} differ by 1 at e = 3; of the C(6,3) = 20 equally likely
    # orderings of the pooled sample only 2 (all a first, all b first) give D = 1: p = 2/20.
    result = ks_2samp([1, 2, 3], [4, 5, 6])
    assert result.statistic == 1.0 and result.pvalue == pytest.approx(0.1)


def test_ks_of_interleaved_samples_by_hand():
    # {1,3} vs {2,4}: F_a - F_b is 1/2 at 1, 0 at 2, 1/2 at 3: D = 1/2, and every ordering
    # has a gap of at least 1/2 after its first element: p = 1.
    assert ks_statistic([1, 3], [2, 4]) == 0.5
    assert ks_2samp([3, 1], [4, 2]).pvalue == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
)
def test_ks_matches_scipy(a, b):
    scipy_stats = pytest.importorskip("scipy.stats")
    ours, theirs = ks_2samp(a, b), scipy_stats.ks_2samp(a, b, method="exact")
    assert ours.statistic == pytest.approx(theirs.statistic)
    if len(set(a) | set(b)) == len(a) + len(b):  # without ties both count the same lattice paths
        assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-6, abs=1e-9)


def test_ks_asymptotic_p_value_is_kolmogorovs():
    # lambda = 1.36 is the textbook 5% point of the Kolmogorov distribution.
    n = 10**6
    d = 1.36 / (math.sqrt(n / 2) + 0.12 + 0.11 / math.sqrt(n / 2))
    assert _asymptotic_pvalue(d, n, n) == pytest.approx(0.05, abs=0.001)


def test_ks_refuses_empty_or_nan_samples():
    with pytest.raises(SweepError, match="empty"):
        ks_2samp([], [0.1])
    with pytest.raises(SweepError, match="NaN"):
        ks_2samp([0.1, float("nan")], [0.2])


# -- table rows ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["NaN", '"0.3"', "1.5", "null", "true"])
def test_a_row_whose_error_is_not_a_fraction_is_refused_with_its_line(tmp_path, bad):
    good = json.dumps({"trial": 0, "error": 0.25})
    (tmp_path / "results.jsonl").write_text(f'{good}\n{{"trial": 1, "error": {bad}}}\n')
    with pytest.raises(SweepError, match=r"results.jsonl:2: error .* (not a number|not a fraction)"):
        read_rows(tmp_path)


def test_table_prints_ks_for_two_sweeps(tmp_path, capsys):
    for name, errors in (("a", [0.1, 0.2, 0.3]), ("b", [0.4, 0.5, 0.6])):
        d = tmp_path / name
        d.mkdir()
        (d / "sweep.json").write_text(json.dumps({"space": name}))
        rows = [
            {"trial": i, "error": e, "complexity": {"flops": 1, "params": 1}, "seconds": 1.0}
            for i, e in enumerate(errors)
        ]
        (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["sweep", "table", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "a vs b: D = 1.000  p = 0.1" in out


# -- the cifar stem -------------------------------------------------------------------------
def test_the_cifar_stem_keeps_the_resolution_and_counts_itself():
    model = zoo.create(TINY)
    x = jnp.zeros((2, 8, 8, 1))
    assert model.stem(x).shape == (2, 8, 8, 8)
    counted = zoo.complexity(TINY)["params"]
    actual = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(split_model(model)[2]))
    assert counted == actual


# -- layer-wise training ---------------------------------------------------------------------
def test_layerwise_steps_match_the_whole_model_train_step():
    """Two SGD-Nesterov steps layer by layer give the whole-model optax step's parameters."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 8, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 10, size=(2, 8)).astype(np.int32)
    spec = TINY.replace(options={})  # non-zero last BN: every layer gets a gradient

    whole = zoo.create(spec, seed=3)
    tx = optax.chain(optax.add_decayed_weights(1e-3, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)))
    tx = optax.chain(tx, optax.sgd(0.1, momentum=0.9, nesterov=True))
    train_def, _, params, rest = split_model(whole)
    state = TrainState(params, rest, tx.init(params), jnp.zeros((), jnp.int32), jax.random.key_data(jax.random.key(0)))
    step = jax.jit(make_train_step(train_def, tx))
    trainer = LayerwiseTrainer(zoo.create(spec, seed=3), momentum=0.9, weight_decay=1e-3, nesterov=True)
    for x, y in zip(images, labels):
        state, metrics = step(state, x, y)
        loss, _ = trainer.step(x, y, 0.1)
        assert float(loss) == pytest.approx(float(metrics["loss"]), rel=1e-4)
    _, _, got, _ = split_model(trainer.trained_model())
    assert jax.tree.structure(got) == jax.tree.structure(state.params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


_TRACES: list[str] = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, _secs, **_: _TRACES.append(event) if event == "/jax/core/compile/jaxpr_trace_duration" else None
)


def test_a_layerwise_step_traces_nothing_once_its_layers_are_known():
    """Each distinct layer's programs are made once and kept: a later step of the same trainer, and the
    first step of a second model with the same layers, trace (and so compile) nothing."""
    rng = np.random.default_rng(1)
    images, labels = rng.normal(size=(8, 8, 8, 1)).astype(np.float32), rng.integers(0, 10, 8).astype(np.int32)
    first = LayerwiseTrainer(zoo.create(TINY, seed=0), momentum=0.9, weight_decay=1e-3, nesterov=True)
    jax.block_until_ready(first.step(images, labels, 0.1))
    _TRACES.clear()
    jax.block_until_ready(first.step(images, labels, 0.05))
    second = LayerwiseTrainer(zoo.create(TINY, seed=1), momentum=0.9, weight_decay=1e-3, nesterov=True)
    loss, _ = second.step(images, labels, 0.1)
    assert np.isfinite(float(loss))
    assert _TRACES == []


# -- a worker runs trial after trial -------------------------------------------------------------
def test_one_worker_runs_several_trials_and_each_is_recorded_once(tmp_path):
    manifest = make_manifest("tiny", 3, 0, (), TINY, RECIPE, workers=0)
    report = run_sweep(tmp_path, manifest, tiny_trials(3), log=lambda _: None)
    rows = read_rows(tmp_path)
    assert sorted(report.finished) == [0, 1, 2] and sorted(r["trial"] for r in rows) == [0, 1, 2]
    assert len({r["pid"] for r in rows}) == 1  # one process ran them all
    assert sorted(r["worker_trial"] for r in rows) == sorted({r["worker_trial"] for r in rows})  # each counted once
    assert all(
        0.0 <= r["error"] <= 1.0 and set(r["timings"]) >= {"data", "build", "compile", "train", "eval"} for r in rows
    )
    # what bitwise reruns depend on besides the code, so a drift between tables can be traced to it
    assert {r["machine"]["backend"] for r in rows} == {jax.default_backend()}
    assert {r["machine"]["jax"] for r in rows} == {jax.__version__} and all(r["machine"]["cpu"] for r in rows)
    again = run_sweep(tmp_path, manifest, tiny_trials(3), log=lambda _: None)
    assert again.skipped == [0, 1, 2] and not again.finished and len(read_rows(tmp_path)) == 3


def test_a_worker_opens_each_split_once():
    worker = TrialWorker()
    first = worker.run(tiny_trials(1)[0], RECIPE)
    second = worker.run({**tiny_trials(2)[1]}, RECIPE)
    assert len(worker._data) == 1 and second["worker_trial"] == first["worker_trial"] + 1
    assert second["timings"]["data"] < 0.05  # cached: no reading, no normalising


def test_trials_use_the_per_shape_conv_rule_unless_told_otherwise(monkeypatch):
    worker = TrialWorker()
    trial = tiny_trials(1)[0]
    assert worker.run(trial, RECIPE)["conv_lowering"] == "auto"
    assert worker.run({**trial, "conv_lowering": "xla"}, RECIPE)["conv_lowering"] == "xla"
    monkeypatch.setenv("ZOO_CONV_LOWERING", "taps")
    assert worker.run(trial, RECIPE)["conv_lowering"] == "taps"


# -- populations on the Hub ---------------------------------------------------------------------
def _finished_sweep(directory, errors):
    manifest = make_manifest("tiny", len(errors), 0, (), TINY, RECIPE, workers=0)
    from zoo.sweep.table import append_row, open_sweep

    open_sweep(directory, manifest)
    for i, e in enumerate(errors):
        append_row(
            directory,
            {
                "trial": i,
                "space": "tiny",
                "error": e,
                "complexity": {"flops": 10 + i, "params": 5, "acts": 1},
                "seconds": 1.5,
                "spec": TINY.to_dict(),
                "params": {"w": [8, 16]},
            },
        )


def test_push_then_a_fresh_cache_reads_the_same_table_pinned_by_revision(hub, tmp_path, capsys, monkeypatch):
    import yaml

    from zoo.sweep.hub import fetch_sweep

    local = tmp_path / "sweep"
    _finished_sweep(local, [0.1, 0.25, 0.05])
    assert main(["sweep", "push", str(local), "zoo-test/tiny-population"]) == 0
    commit = capsys.readouterr().out.split("at commit ")[1].split(";")[0]
    repo = hub.state.repos["datasets/zoo-test/tiny-population"]
    files = repo.commits[commit]
    assert {"results.parquet", "sweep.json", "README.md", "edf.png"} <= set(files)
    front = yaml.safe_load(files["README.md"].decode().split("---")[1])
    assert front["anynet_zoo_sweep"]["space"] == "tiny" and front["anynet_zoo_sweep"]["trials_finished"] == 3
    assert front["anynet_zoo_sweep"]["dataset"] == "digits"

    # A later commit on main must not change what the pinned reference reads.
    _finished_sweep(tmp_path / "other", [0.9])
    assert main(["sweep", "push", str(tmp_path / "other"), "zoo-test/tiny-population"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "fresh-cache"))
    fetched = fetch_sweep(f"hf-hub:zoo-test/tiny-population@{commit}")
    assert read_rows(fetched) == read_rows(local)
    assert main(["sweep", "table", str(local)]) == 0
    expected = capsys.readouterr().out
    assert main(["sweep", "table", f"hf-hub:zoo-test/tiny-population@{commit}"]) == 0
    assert capsys.readouterr().out == expected
    assert [r["error"] for r in read_rows(fetch_sweep("hf-hub:zoo-test/tiny-population"))] == [0.9]


def test_the_card_states_the_machines_and_the_recipes_seed_noise(hub, tmp_path, capsys):
    import yaml

    local = tmp_path / "sweep"
    _finished_sweep(local, [0.1, 0.2])
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"errors": [[10.0, 12.0], [20.0, 22.0]], "bitwise_rerun_equal": True}))
    assert main(["sweep", "push", str(local), "zoo-test/noisy", "--seed-noise", str(noise)]) == 0
    commit = capsys.readouterr().out.split("at commit ")[1].split(";")[0]
    files = hub.state.repos["datasets/zoo-test/noisy"].commits[commit]
    card = files["README.md"].decode()
    front = yaml.safe_load(card.split("---")[1])["anynet_zoo_sweep"]
    assert front["machines"] == [{"cpu": "not recorded"}]  # these rows predate the machine field
    assert front["seed_noise"] == {"within_model_sd": 1.0, "between_model_sd": 5.0, "bitwise_rerun_equal": True}
    assert "within-model sd 1.00 points, between-model sd 5.00 points (ratio 5.00)" in card
    assert json.loads(files["seed-noise.json"]) == json.loads(noise.read_text())


def test_a_missing_population_is_one_typed_error(hub):
    from zoo.errors import HubError
    from zoo.sweep.hub import fetch_sweep

    with pytest.raises(HubError, match="cannot read sweep"):
        fetch_sweep("hf-hub:zoo-test/nothing-here")
