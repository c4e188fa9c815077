"""Conv lowerings tuned on this machine: timed once per shape, kept on disk, read back, never wrong."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.errors import ConvLoweringError
from zoo.nn import conv_lowering as cl
from zoo.nn import conv_tuning as ct

DN = ("NHWC", "HWIO", "NHWC")


@pytest.fixture
def tuning(tmp_path, monkeypatch):
    """Tuning on, with a table of this test's own."""
    monkeypatch.setenv("ZOO_CONV_TUNING", "cache")
    monkeypatch.setenv("ZOO_CONV_TUNING_DIR", str(tmp_path / "tuning"))
    monkeypatch.delenv("ZOO_CONV_LOWERING", raising=False)
    ct.forget()
    yield monkeypatch
    ct.forget()


def grouped_conv(groups=4, channels=16, size=8, batch=2):
    x = jnp.asarray(np.random.default_rng(1).standard_normal((batch, size, size, channels)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(2).standard_normal((3, 3, channels // groups, channels)), jnp.float32)

    def conv(x, w):
        return cl.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN, feature_group_count=groups)

    return conv, x, w


def reference(x, w, groups):
    return jax.lax.conv_general_dilated(
        x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=DN, feature_group_count=groups
    )


def table():
    return json.loads(ct.table_path().read_text())["shapes"]


def test_first_trace_times_every_candidate_and_keeps_the_fastest(tuning):
    conv, x, w = grouped_conv()
    out = jax.jit(conv)(x, w)
    np.testing.assert_allclose(out, reference(x, w, 4), rtol=1e-4, atol=1e-4)
    (tuned,) = ct.report()
    assert set(tuned.seconds) == {"xla", "taps", "pergroup", "blockdiag"}
    fastest = min(tuned.seconds, key=tuned.seconds.__getitem__)
    clear_win = tuned.seconds["pergroup"] >= ct.MIN_GAIN * tuned.seconds[fastest]
    assert tuned.form == (fastest if clear_win else "pergroup")  # a near-tie keeps the rule's pick
    assert tuned.static == "pergroup" and tuned.cost_s > 0
    assert table()[tuned.key]["form"] == tuned.form


def test_a_shape_is_timed_once_then_read_from_the_table(tuning):
    conv, x, w = grouped_conv()
    jax.jit(conv)(x, w)
    jax.jit(jax.grad(lambda x, w: conv(x, w).sum(), argnums=1))(x, w)  # the same shape again, under grad
    assert len(ct.report()) == 1
    ct.forget()  # a new process: only the table on disk is left
    jax.jit(lambda x, w: conv(x, w) * 2)(x, w)
    assert ct.report() == []


def test_the_table_choice_is_what_gets_traced(tuning):
    """A form written in the table is used even where the static rule would pick another."""
    conv, x, w = grouped_conv(groups=2)
    jax.jit(conv)(x, w)
    (tuned,) = ct.report()
    data = json.loads(ct.table_path().read_text())
    data["shapes"][tuned.key]["form"] = "blockdiag"  # one dense conv, no feature groups
    ct.table_path().write_text(json.dumps(data))
    ct.forget()
    text = jax.jit(conv).lower(x, w).as_text()
    assert "convolution" in text and "feature_group_count = 2" not in text
    data["shapes"][tuned.key]["form"] = "taps"  # shifted multiply-adds, no conv at all
    ct.table_path().write_text(json.dumps(data))
    ct.forget()
    assert "convolution" not in jax.jit(lambda x, w: conv(x, w) + 0).lower(x, w).as_text()
    np.testing.assert_allclose(jax.jit(conv)(x, w), reference(x, w, 2), rtol=1e-4, atol=1e-4)


def test_always_times_again_and_off_never_times(tuning):
    conv, x, w = grouped_conv()
    jax.jit(conv)(x, w)
    ct.forget()  # a new process, with the shape in the table
    tuning.setenv("ZOO_CONV_TUNING", "always")
    jax.jit(lambda x, w: conv(x, w) + 1)(x, w)
    jax.jit(lambda x, w: conv(x, w) + 2)(x, w)
    assert len(ct.report()) == 1  # timed again, once in this process, though the table had it
    tuning.setenv("ZOO_CONV_TUNING", "off")
    ct.forget()
    conv8, x8, w8 = grouped_conv(groups=8)
    jax.jit(conv8)(x8, w8)
    assert ct.report() == []
    assert len(table()) == 1


def test_budget_zero_keeps_the_static_rule(tuning):
    tuning.setenv("ZOO_CONV_TUNING_BUDGET", "0")
    conv, x, w = grouped_conv()
    jax.jit(conv)(x, w)
    (tuned,) = ct.report()
    assert list(tuned.seconds) == ["pergroup"] and tuned.form == "pergroup"


def test_dense_convs_have_nothing_to_tune(tuning):
    conv, x, w = grouped_conv(groups=1)
    jax.jit(conv)(x, w)
    assert ct.report() == []


def test_a_corrupt_table_is_timed_again_and_rewritten(tuning):
    ct.table_path().parent.mkdir(parents=True)
    ct.table_path().write_text("{not json")
    conv, x, w = grouped_conv()
    with pytest.warns(UserWarning, match="unreadable"):
        jax.jit(conv)(x, w)
    assert len(ct.report()) == 1 and len(table()) == 1


def test_a_forced_lowering_is_never_tuned(tuning):
    conv, x, w = grouped_conv()
    with cl.conv_lowering("taps"):
        jax.jit(conv)(x, w)
    assert ct.report() == []


@pytest.mark.parametrize(("env", "value"), [("ZOO_CONV_TUNING", "fastest"), ("ZOO_CONV_TUNING_BUDGET", "-1")])
def test_bad_settings_are_typed_errors(tuning, env, value):
    tuning.setenv(env, value)
    conv, x, w = grouped_conv()
    with pytest.raises(ConvLoweringError, match=env):
        jax.jit(conv)(x, w)


def test_the_table_is_keyed_by_machine_and_versions(tuning):
    key = ct.machine_key()
    assert ct.table_path().name == f"{key}.json"
    tuning.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert ct.machine_key() != key  # other XLA flags may make another form the fastest


def test_zoo_tune_times_a_models_shapes_once(tuning, capsys):
    from zoo.cli import main

    assert main(["tune", "regnetx32", "--batch-size", "2", "--image-size", "16"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("float32|")]
    assert rows and len(rows) == len(ct.used())
    assert f"{len(rows)} of {len(rows)} shapes timed now" in out
    assert main(["tune", "regnetx32", "--batch-size", "2", "--image-size", "16"]) == 0
    again = capsys.readouterr().out
    assert f"0 of {len(rows)} shapes timed now" in again and "(table)" in again


def test_a_second_process_reuses_the_choices_without_timing(tuning, tmp_path):
    import subprocess
    import sys

    probe = (
        "import json, jax, jax.numpy as jnp\n"
        "from zoo.nn import conv_lowering as cl, conv_tuning as ct\n"
        "x, w = jnp.ones((2, 8, 8, 16)), jnp.ones((3, 3, 4, 16))\n"
        "jax.jit(lambda x, w: cl.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),"
        " dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=4))(x, w)\n"
        "print(json.dumps({'timed': len(ct.report()), 'forms': ct.used()}))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True) for _ in "12"]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first["timed"] == 1 and second["timed"] == 0
    assert second["forms"] == first["forms"] and len(first["forms"]) == 1


def test_a_symbolic_batch_is_never_timed(tuning):
    """jax.export traces with a symbolic batch: such a shape has nothing concrete to time."""
    from jax import export

    conv, _, w = grouped_conv()
    (batch,) = export.symbolic_shape("b")
    spec = jax.ShapeDtypeStruct((batch, 8, 8, 16), jnp.float32)
    export.export(jax.jit(conv))(spec, w)
    assert ct.report() == []


def test_the_default_reads_the_table_and_never_times(tuning):
    """ZOO_CONV_TUNING unset = read: a shape in the table gets its form, a missing one the static rule."""
    conv, x, w = grouped_conv()
    jax.jit(conv)(x, w)  # timed (cache mode) and kept
    (tuned,) = ct.report()
    tuning.delenv("ZOO_CONV_TUNING")
    ct.forget()
    jax.jit(lambda x, w: conv(x, w) * 3)(x, w)
    assert ct.report() == [] and ct.used() == {tuned.key: tuned.form}
    conv8, x8, w8 = grouped_conv(groups=8)
    jax.jit(conv8)(x8, w8)  # not in the table: the rule, untimed
    assert ct.report() == [] and len(table()) == 1


def test_zoo_tune_times_even_when_the_default_only_reads(tuning, capsys):
    from zoo.cli import main

    tuning.delenv("ZOO_CONV_TUNING")
    assert main(["tune", "regnetx32", "--batch-size", "2", "--image-size", "16"]) == 0
    assert len(ct.report()) == len(table()) > 0
