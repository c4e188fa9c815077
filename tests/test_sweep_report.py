"""Holm's correction, the KS test's power, and the report block that docs/design-spaces.md embeds."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.errors import SweepError
from zoo.sweep.ks import _exact_pvalue
from zoo.sweep.report import main, read_seed_noise
from zoo.sweep.stats import critical_gap, holm, ks_power, min_detectable_d

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "design-spaces.md"
DATA = ROOT / "docs" / "data" / "digits-edf"
DIGITS = [str(DATA / space) for space in ("anynetx_a", "anynetx_e", "regnet")]
DIGITS_ARGS = [*DIGITS, "--seed-noise", str(DATA / "seed-noise.json"), "--name", "digits"]
FMNIST_DATA = ROOT / "docs" / "data" / "fmnist-edf"
FMNIST = [str(FMNIST_DATA / space) for space in ("anynetx_a", "anynetx_e", "regnet")]
FMNIST_ARGS = [*FMNIST, "--seed-noise", str(FMNIST_DATA / "seed-noise.json"), "--name", "fmnist"]


# -- Holm ------------------------------------------------------------------------------------
def test_holm_matches_the_textbook_example():
    # Four hypotheses (Wikipedia, "Holm-Bonferroni method"): sorted 0.005, 0.01, 0.03, 0.04 times
    # 4, 3, 2, 1 give 0.02, 0.03, 0.06, 0.04 -> 0.06 after the running maximum.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_leaves_a_single_p_alone():
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    assert holm([0.04]) == [0.04]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_rejects_exactly_what_the_step_down_procedure_rejects(pvalues, alpha):
    adjusted = holm(pvalues)
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = set()
    for rank, i in enumerate(order):  # Holm 1979: stop at the first p_(k) > alpha / (m - k + 1)
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        rejected.add(i)
    # a p-value lying on the boundary may round either way in floating point
    on_edge = {i for i, p in enumerate(adjusted) if math.isclose(p, alpha, rel_tol=1e-9)}
    assert {i for i, p in enumerate(adjusted) if p <= alpha} - on_edge == rejected - on_edge
    assert all(p <= a <= 1.0 for p, a in zip(pvalues, adjusted))


def test_holm_refuses_what_is_not_a_p_value():
    with pytest.raises(SweepError, match=r"p-values in \[0, 1\]"):
        holm([0.5, 1.5])


# -- power ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, m, alpha", [(10, 10, 0.05), (30, 20, 0.05), (100, 100, 0.05 / 3)])
def test_the_critical_gap_is_the_smallest_d_that_rejects(n, m, alpha):
    d = critical_gap(n, m, alpha)
    assert _exact_pvalue(d, n, m) < alpha <= _exact_pvalue(d - 1 / (n * m), n, m)


def test_power_at_no_gap_is_near_alpha():
    # The exact test without ties rejects at most alpha of the time (less: D is discrete).
    rate = ks_power(40, 40, 0.0, 0.05, draws=4000, seed=1)
    assert 0.02 <= rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)


def test_power_grows_with_the_gap():
    powers = [ks_power(50, 50, d, 0.05) for d in np.linspace(0, 0.6, 13)]
    assert powers == sorted(powers) and powers[0] < 0.1 and powers[-1] > 0.99


def test_power_grows_with_the_number_of_models():
    powers = [ks_power(n, n, 0.2, 0.05) for n in (10, 25, 50, 100, 200)]
    assert powers == sorted(powers) and powers[-1] > powers[0] + 0.5


def test_power_is_deterministic_for_a_seed():
    assert ks_power(30, 40, 0.3, 0.05, seed=7) == ks_power(30, 40, 0.3, 0.05, seed=7)


def test_the_min_detectable_gap_is_found_with_the_asked_power():
    d = min_detectable_d(100, 100, 0.05 / 3)
    assert ks_power(100, 100, d, 0.05 / 3) >= 0.8 > ks_power(100, 100, d - 0.01, 0.05 / 3)
    assert min_detectable_d(200, 200, 0.05 / 3) < d < min_detectable_d(50, 50, 0.05 / 3)


def test_power_of_100_models_is_fast():
    import time

    start = time.process_time()
    min_detectable_d(100, 100, 0.05 / 3)
    assert time.process_time() - start < 1.0


# -- the report block ----------------------------------------------------------------------------
def test_the_digits_block_in_the_docs_matches_its_data(capsys):
    assert main([*DIGITS_ARGS, "--check", str(DOC)]) == 0, capsys.readouterr().err
    assert "matches the data" in capsys.readouterr().out
    assert (ROOT / "docs" / "img" / "edf-digits.png").read_bytes()[:4] == b"\x89PNG"


def test_check_names_the_first_line_that_differs(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    text = DOC.read_text()
    edited = text.replace("| anynetx_e | 100 | 0.83 |", "| anynetx_e | 100 | 0.84 |", 1)
    assert edited != text
    doc.write_text(edited)
    assert main([*DIGITS_ARGS, "--check", str(doc)]) == 1
    err = capsys.readouterr().err
    line = edited.splitlines().index(next(x for x in edited.splitlines() if "| anynetx_e | 100 | 0.84 |" in x)) + 1
    assert f"{doc}:{line}: the block `digits` differs" in err
    assert "doc:  | anynetx_e | 100 | 0.84 |" in err and "data: | anynetx_e | 100 | 0.83 |" in err


def test_write_replaces_only_the_block_and_then_check_passes(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\nbefore\n\n<!-- report: digits -->\nold numbers\n<!-- /report: digits -->\n\nafter\n")
    assert main([*DIGITS_ARGS, "--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nbefore\n\n<!-- report: digits -->\n") and text.endswith(
        "<!-- /report: digits -->\n\nafter\n"
    )
    assert "old numbers" not in text and "| anynetx_a vs regnet |" in text
    assert main([*DIGITS_ARGS, "--check", str(doc)]) == 0
    assert main([*DIGITS_ARGS, "--write", str(doc)]) == 0
    assert "already up to date" in capsys.readouterr().out and doc.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["doc.md"]  # no temp file left


def test_a_doc_without_the_block_is_an_error_saying_what_to_add(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("no block here\n")
    assert main([*DIGITS_ARGS, "--check", str(doc)]) == 2
    assert "<!-- report: digits -->" in capsys.readouterr().err


def test_the_block_holds_each_section(capsys, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    assert main([str(data / "anynetx_a"), str(data / "regnet"), "--name", "two"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- report: two -->\n") and out.endswith("<!-- /report: two -->\n")
    for heading in ("| space | n | min | p10 |", "| space | below 20% |", "| space | trial | build |", "| pair |"):
        assert heading in out
    assert "power: with n = 100, 100 a gap D = " in out and "Seed noise" not in out


def write_noise(tmp_path, **changes) -> Path:
    noise = {"errors": [[1.0, 3.0], [5.0, 7.0]], "bitwise_rerun_equal": False, "rerun_correlation": 0.5}
    path = tmp_path / "noise.json"
    path.write_text(json.dumps({**noise, **changes}))
    return path


def test_seed_noise_figures_come_from_the_errors(tmp_path):
    noise = read_seed_noise(write_noise(tmp_path))
    # each model is 1 point from its mean; the means (2 and 6) are 2 points from theirs
    assert (noise.within_sd, noise.between_sd, noise.ratio) == (1.0, 2.0, 2.0)


def test_each_spaces_spread_is_stated_in_units_of_the_seed_noise(tmp_path, capsys):
    """The block says how many seed-noise sds each population spans, from the rows and the noise file."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    noise = write_noise(tmp_path)  # within-model sd 1.0 point
    assert main([str(data / "anynetx_a"), str(data / "regnet"), "--seed-noise", str(noise)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("- each space's std"))
    for space in ("anynetx_a", "regnet"):
        errors = [json.loads(r)["error"] for r in (data / space / "results.jsonl").read_text().splitlines()]
        assert f"{space} {100 * np.std(errors):.2f}" in line


@pytest.mark.parametrize(
    "change, said",
    [
        ({"errors": [[1.0, 2.0]]}, "at least two models"),
        ({"errors": [[1.0, "x"], [1.0, 2.0]]}, "at least two models"),
        ({"bitwise_rerun_equal": "no"}, "true or false"),
        ({"rerun_correlation": 1.5}, "not a correlation"),
    ],
)
def test_a_bad_seed_noise_file_is_refused_naming_the_field(tmp_path, change, said):
    with pytest.raises(SweepError, match=said):
        read_seed_noise(write_noise(tmp_path, **change))


def test_table_prints_holm_and_power_in_text_and_json(capsys):
    from zoo.cli import main as zoo_main

    assert zoo_main(["sweep", "table", *DIGITS]) == 0
    out = capsys.readouterr().out
    assert "anynetx_a vs anynetx_e: D = 0.180  p = 0.04, Holm p = 0.12" in out
    assert out.rstrip().endswith("is found 80% of the time at alpha 0.05/3 (Holm's first step)")
    assert zoo_main(["sweep", "table", "--json", *DIGITS]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [round(t["holm_p"], 2) for t in data["ks"]] == [0.12, 0.95, 0.12]
    assert data["power"]["pairs"] == 3 and data["power"]["level"] == pytest.approx(0.05 / 3)
    assert data["power"]["min_detectable_d"] == pytest.approx(min_detectable_d(100, 100, 0.05 / 3))


def test_the_committed_rerun_is_bit_for_bit_the_committed_trials():
    """docs/design-spaces.md says rerunning trials with their own code reproduced them exactly."""
    data = ROOT / "docs" / "data" / "digits-edf"
    committed = {r["trial"]: r for r in map(json.loads, (data / "regnet" / "results.jsonl").read_text().splitlines())}
    rerun = [json.loads(line) for line in (data / "rerun" / "regnet-0-11.results.jsonl").read_text().splitlines()]
    assert sorted(r["trial"] for r in rerun) == list(range(12))
    for row in rerun:
        old = committed[row["trial"]]
        assert (row["spec"], row["error"], row["loss"], row["train_loss"]) == (
            old["spec"], old["error"], old["loss"], old["train_loss"]
        )  # fmt: skip
    assert read_seed_noise(data / "seed-noise.json").bitwise_rerun_equal


def test_the_fmnist_seed_bench_ran_the_experiments_recipe_and_its_seed_zero_runs_are_its_trials():
    """The seed noise docs/design-spaces.md states for Fashion-MNIST is of the experiment's own recipe,
    and each bench model's seed-0 run, retrained as the experiment's trial of that index, gave the
    same error to the last bit."""
    data = ROOT / "docs" / "data" / "fmnist-edf"
    noise = json.loads((data / "seed-noise.json").read_text())
    matched = 0
    for name, errors in zip(noise["model_names"], noise["errors"]):
        space, index = name.split("#")
        manifest = json.loads((data / space / "sweep.json").read_text())
        assert {k: v for k, v in manifest["recipe"].items() if v is not None and "split" not in k} == noise["recipe"]
        assert manifest["bands"]["flops"] == noise["setting"]["flops"]
        assert manifest["base"]["stem"] == noise["setting"]["stem"]
        assert manifest["base"]["input_size"] == noise["setting"]["image_size"]
        rows = {r["trial"]: r for r in map(json.loads, (data / space / "results.jsonl").read_text().splitlines())}
        if int(index) in rows:
            assert rows[int(index)]["train_seed"] == int(index)
            assert 100 * rows[int(index)]["error"] == errors[0]
            matched += 1
    assert matched >= 2


def test_the_fmnist_block_in_the_docs_matches_its_data(capsys):
    assert main([*FMNIST_ARGS, "--check", str(DOC)]) == 0, capsys.readouterr().err
    assert (ROOT / "docs" / "img" / "edf-fmnist.png").read_bytes()[:4] == b"\x89PNG"


def fit_output(dirs: list[str], top: int, capsys) -> str:
    """What `zoo sweep fit DIRS --top TOP` prints: the models and remarks (stderr), then the design line."""
    from zoo.cli import main as zoo_main

    assert zoo_main(["sweep", "fit", *dirs, "--top", str(top)]) == 0
    captured = capsys.readouterr()
    return captured.err + captured.out


def test_every_fmnist_trial_ran_on_one_machine_type_as_the_findings_say():
    """The findings say cross-CPU drift was not measured because all trials ran on one CPU type."""
    machines = {
        json.dumps(json.loads(line)["machine"], sort_keys=True)
        for directory in FMNIST
        for line in (Path(directory) / "results.jsonl").read_text().splitlines()
    }
    assert len(machines) == 1
    (machine,) = map(json.loads, machines)
    findings = DOC.read_text(encoding="utf-8").split("<!-- findings: fmnist -->")[1]
    assert f"({machine['cpu']}, AVX-512, in every row's `machine`)" in findings and machine["isa"] == "avx512f"


@pytest.mark.parametrize(
    "folder, spaces, top",
    [("fmnist-edf", ("anynetx_a", "anynetx_e"), 5), ("digits-edf", ("anynetx_a", "anynetx_e"), 5),
     ("digits-sweep", ("anynetx_a",), 4)],
)  # fmt: skip
def test_each_fit_the_docs_quote_is_what_zoo_sweep_fit_prints_for_the_committed_data(folder, spaces, top, capsys):
    """The fitted rules and best models docs/design-spaces.md shows are the command's own output, as one
    unbroken run of lines (a block quoting another fit's lines would not pass)."""
    dirs = [str(ROOT / "docs" / "data" / folder / space) for space in spaces]
    printed = [line for line in fit_output(dirs, top, capsys).splitlines() if line.strip()]
    doc = DOC.read_text(encoding="utf-8").splitlines()
    assert len(printed) >= top + 2
    runs = [i for i in range(len(doc)) if doc[i : i + len(printed)] == printed]
    assert runs, f"{DOC.name} does not quote `zoo sweep fit` on {folder} as it prints now:\n" + "\n".join(printed)


def test_every_figure_in_the_fmnist_findings_is_one_the_data_gives(capsys):
    """The hand-written findings quote only figures the report block or the fit prints (a decimal
    typed from memory, or left from a smaller draw, fails), so the prose cannot drift from the data."""
    import re

    assert main(FMNIST_ARGS) == 0
    block = capsys.readouterr().out
    given = set(re.findall(r"\d+\.\d+", block + fit_output(FMNIST[:2], 5, capsys)))
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index("<!-- findings: fmnist -->"), doc.index("<!-- /findings: fmnist -->")
    quoted = re.findall(r"\d+\.\d+", doc[start:end])
    assert len(quoted) >= 10
    assert not set(quoted) - given, f"figures in the findings that the data does not give: {set(quoted) - given}"
