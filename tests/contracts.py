"""The contract every registered component, model, design rule and weight layout keeps, as plain checks.

tests/test_contracts.py calls these for everything the plugin manager holds (an installed plugin is
covered the moment it registers, as timm's tests/test_models.py covers every registered model); they
are plain functions so a test can also show that each one fails for a component that breaks it.
A broken contract raises AssertionError whose message names the component and what differs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import zoo
import zoo.errors
import zoo.plugins
from zoo.api import weight_layouts
from zoo.complexity import spec_complexity
from zoo.design.sampling import Band, draw_in_band, spec_from_params
from zoo.nn.anynet import AnyNet, feature_info_for
from zoo.spec import ModelSpec, StageSpec
from zoo.weights.state_file import state_arrays, state_shapes

BATCH = 2
CONTRACT_INPUT = 32  # px: the smallest input a shrunk model runs at


# -- shared builders ---------------------------------------------------------------------
def tiny_spec(**changes: Any) -> ModelSpec:
    """Two small stages (8 then 16 channels, two groups each; the second two blocks deep) at 16 px."""
    spec = ModelSpec(
        stages=(StageSpec(1, 8, 4), StageSpec(2, 16, 8)),
        stem_width=8,
        num_classes=5,
        in_channels=3,
        input_size=16,
    )
    return spec.replace(**changes) if changes else spec


def param_count(model: nnx.Module) -> int:
    """Trainable parameters of a built (or abstract) model: what the cost functions count."""
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def plugins() -> Any:
    return zoo.plugins.manager()


def registered(kind: str) -> list[str]:
    """Names of every registered component of `kind` (stem, block, head, rule, layout, layout_part)."""
    return sorted(plugins().tables()[kind])


# -- components inside a tiny model ----------------------------------------------------------
GROUPED = (StageSpec(2, 16, 8),)  # a projected block (8 -> 16 channels, stride 2), then an identity one; 2 groups
PLAIN = (StageSpec(2, 16, 16),)  # one group, no bottleneck: what every block accepts
_checked: set[tuple[Any, ...]] = set()  # (spec, backward, its stem, block and head records) that passed
AFTER_STEM = 16  # px: each stem gets the input it reduces to 16 px, so the blocks after it share shapes


def component_spec(kind: str, name: str) -> ModelSpec:
    """A tiny model whose `kind` is `name` and the rest built-in: grouped stages where the block
    accepts them, plain ones otherwise (a block without groups refuses them with SpecError)."""
    spec = tiny_spec(**{kind: name})
    if kind == "block":
        try:
            spec_complexity(spec.replace(stages=GROUPED), plugins())
            spec = spec.replace(stages=GROUPED)
        except zoo.errors.SpecError:
            spec = spec.replace(stages=PLAIN)
    stem = feature_info_for(spec, plugins().get("stem", spec.stem), dict(spec.options))[0]
    return spec.replace(input_size=AFTER_STEM * stem.reduction)


def check_component(kind: str, name: str) -> None:
    """Every model check on a tiny model built around the stem, block or head `name`."""
    check_built_model(component_spec(kind, name), f"{kind} {name!r}")


def check_built_model(spec: ModelSpec, what: str, *, backward: bool = True) -> None:
    """Build `spec` for real and check its params, logits and feature maps, their shapes traced first;
    with `backward`, run one training step (batch statistics) and check its gradients, else run one
    inference pass.

    Eager, not jitted: the checked models share most of their layer shapes, so JAX's per-op
    compilations are reused from one model to the next, which makes a suite of them fast on a CPU.
    A spec already checked with the same components passes at once (the stem, block and head tests
    share their all-built-in tiny model, and many registered models shrink alike)."""
    key = (spec, backward, *(plugins().get(kind, getattr(spec, kind)) for kind in ("stem", "block", "head")))
    if key in _checked:
        return
    model = zoo.create(spec, seed=0)
    check_params(model, spec, what)
    x = jax.random.normal(jax.random.key(1), (BATCH, spec.input_size, spec.input_size, spec.in_channels))

    def forward(m: AnyNet) -> tuple[jax.Array, tuple[jax.Array, list[jax.Array]]]:
        final, maps = m.forward_intermediates(x)
        logits = m.forward_head(final)
        return -jnp.mean(jax.nn.log_softmax(logits)[:, 0]), (logits, maps)

    model.eval()  # shapes first, traced only: a wrong size fails before anything is compiled
    logits, maps = nnx.eval_shape(lambda m: forward(m)[1], model)
    check_logits_shape(model, logits, x, what)
    check_feature_maps(model, maps, x.shape[1], what)
    if backward:
        model.train()
        (_, (logits, _)), grads = nnx.value_and_grad(forward, has_aux=True)(model)
        check_gradients(model, grads, what)
    else:
        _, (logits, _) = forward(model)
    assert bool(jnp.all(jnp.isfinite(logits))), f"{what}: forward gives non-finite logits"
    _checked.add(key)


def check_params(model: nnx.Module, spec: ModelSpec, what: str) -> None:
    counted = spec_complexity(spec, plugins())["params"]
    built = param_count(model)
    assert counted == built, (
        f"{what}: the cost functions count {counted:,} params but the built model holds {built:,} "
        f"({built - counted:+,}); the component's complexity function must count what its build creates"
    )


def check_logits_shape(model: AnyNet, logits: Any, x: jax.Array, what: str) -> None:
    expected = (x.shape[0], model.spec.num_classes)
    assert logits.shape == expected, f"{what}: forward gives {logits.shape}, expected {expected}"


def check_feature_maps(model: AnyNet, maps: list[Any], size: int, what: str) -> None:
    """feature_info (channels, reduction) describes the maps forward_intermediates returns."""
    assert len(maps) == len(model.feature_info), f"{what}: {len(maps)} maps for {len(model.feature_info)} infos"
    for info, fmap in zip(model.feature_info, maps, strict=True):
        _, h, w, c = fmap.shape
        assert c == info.channels, f"{what}: {info.module} has {c} channels, feature_info says {info.channels}"
        assert (h, w) == (math.ceil(size / info.reduction),) * 2, (
            f"{what}: {info.module} is {h}x{w} from a {size}px input, but feature_info says reduction "
            f"{info.reduction} ({math.ceil(size / info.reduction)}px); the stem's cost function must "
            "move the spatial size as its module does"
        )


def check_gradients(model: AnyNet, grads: Any, what: str) -> None:
    """One training step's gradients: one per param, finite everywhere, and reaching every top-level layer."""
    flat = {".".join(map(str, path)): np.asarray(g.get_value()) for path, g in nnx.to_flat_state(grads)}
    params = {".".join(map(str, path)) for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    assert set(flat) == params, f"{what}: gradients for {sorted(set(flat) ^ params)[:5]} do not match the params"
    bad = sorted(k for k, g in flat.items() if not np.all(np.isfinite(g)))
    assert not bad, f"{what}: non-finite gradients in {bad[:5]}"
    for layer, _ in model.named_layers():
        total = sum(float(np.abs(g).sum()) for k, g in flat.items() if k.startswith(f"{layer}."))
        owns = any(k.startswith(f"{layer}.") for k in flat)
        assert total > 0 or not owns, f"{what}: no gradient reaches {layer}"


# -- registered models: full size abstractly, shrunk for real --------------------------------
_abstract_parts: dict[tuple[Any, str], nnx.Module] = {}


class AbstractComponents:
    """A component source whose records build abstractly (nnx.eval_shape), each one alone.

    AnyNet wires the model exactly as zoo.create does, but no array is materialised, and tracing
    one component at a time stays fast where tracing a whole ImageNet model at once does not.
    Components built with the same arguments have the same shapes, so each is traced once.
    """

    def __init__(self, source: Any):
        self.source = source

    def get(self, kind: str, name: str) -> Any:
        record = self.source.get(kind, name)

        def build(*args: Any, rngs: nnx.Rngs) -> nnx.Module:
            key = (record, repr(args))
            if key not in _abstract_parts:
                _abstract_parts[key] = nnx.eval_shape(lambda: record.build(*args, rngs=nnx.Rngs(0)))
            return nnx.clone(_abstract_parts[key])

        return dataclasses.replace(record, build=build)

    def provider(self, kind: str, name: str) -> str:
        return self.source.provider(kind, name)


def abstract_model(spec: ModelSpec) -> AnyNet:
    return AnyNet(spec, rngs=nnx.Rngs(0), plugins=AbstractComponents(plugins()))


def check_model_params(name: str) -> None:
    """A registered model at its own size: analytic params == the (abstractly) built model's."""
    spec = zoo.get_spec(name)
    check_params(abstract_model(spec), spec, f"model {name!r}")


def shrunk(spec: ModelSpec) -> ModelSpec:
    """`spec` with its stem, blocks, head, options, strides and stage count, but cheap to run: one block
    a stage (the component checks run identity blocks), a 32px input (more where the model reduces
    more), and widths of 8 or 16 that change exactly where the model's do (so each first block keeps
    its projection or identity skip, and the layers share their shapes with the other checked
    models); depthwise stays depthwise, grouped becomes two groups, one group stays one."""
    width, previous, stages = 8, spec.stem_width, []
    for stage in spec.stages:
        if stage.width != previous:
            width = 24 - width
        previous = stage.width
        inner = round(width * stage.bottleneck_ratio)
        if stage.group_width == 1:
            group_width = 1
        elif stage.groups == 1 or inner % 2:
            group_width = inner
        else:
            group_width = inner // 2
        stages.append(dataclasses.replace(stage, depth=1, width=width, group_width=group_width))
    small = spec.replace(stem_width=8, stages=tuple(stages))
    stem = plugins().get("stem", small.stem)
    reduction = feature_info_for(small, stem, dict(small.options))[-1].reduction
    return small.replace(input_size=max(CONTRACT_INPUT, reduction))


def check_model_shrunk(name: str) -> None:
    """A registered model's shrunk variant, built for real: params, logits and feature maps in one
    inference pass (models whose shrunk variants coincide share one check)."""
    check_built_model(shrunk(zoo.get_spec(name)), f"model {name!r} (shrunk)", backward=False)


# -- save -> load ----------------------------------------------------------------------------
def check_round_trip(spec: ModelSpec, folder: Any, what: str) -> None:
    """save_pretrained then zoo.load('local-dir:') gives back every array and the logits bit for bit."""
    model = zoo.create(spec, seed=3)
    zoo.save_pretrained(model, folder)
    loaded = zoo.load(f"local-dir:{folder}")
    assert loaded.spec == spec, f"{what}: loaded spec {loaded.spec} differs from the saved {spec}"
    ours, theirs = state_arrays(model), state_arrays(loaded)
    assert set(ours) == set(theirs), f"{what}: keys differ after loading: {sorted(set(ours) ^ set(theirs))[:5]}"
    changed = sorted(k for k in ours if not np.array_equal(ours[k], theirs[k]))
    assert not changed, f"{what}: arrays change in a save -> load round trip: {changed[:5]}"
    x = jax.random.normal(jax.random.key(2), (BATCH, spec.input_size, spec.input_size, spec.in_channels))
    model.eval()
    loaded.eval()
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)), err_msg=f"{what}: logits differ")


# -- design rules ----------------------------------------------------------------------------
SAMPLE_BASE = ModelSpec(stages=(StageSpec(1, 8, 8),), stem_width=16, num_classes=10, in_channels=1, input_size=16)


def quantile_bands(rule: Any, base: ModelSpec, draws: int = 9) -> tuple[Band, Band]:
    """Flops and params bands spanning the middle of the rule's own unbanded draws (reachable for any space)."""
    free = [draw_in_band(rule, base, 0, i, plugins=plugins()).complexity for i in range(draws)]
    bands = []
    for measure in ("flops", "params"):
        values = sorted(c[measure] for c in free)
        bands.append(Band(measure, values[draws // 4], values[-1 - draws // 4]))
    return bands[0], bands[1]


def check_rule_samples(name: str, bands: tuple[Band, ...], n: int = 3, base: ModelSpec = SAMPLE_BASE) -> None:
    """Draws of rule `name` in `bands`: each one's complexity, counted again from its spec, lies in every
    band, and the params it records (as JSON, the way a sweep stores them) expand to that same spec."""
    rule = plugins().get("rule", name)
    for index in range(n):
        sample = draw_in_band(rule, base, 1, index, bands, max_tries=2000, plugins=plugins())
        cost = spec_complexity(sample.spec, plugins())
        outside = [str(band) for band in bands if cost[band.measure] not in band]
        assert not outside, f"rule {name!r}: draw {index} {cost} lies outside {outside}"
        stored = json.loads(json.dumps(sample.params))
        assert spec_from_params(rule, stored, base) == sample.spec, (
            f"rule {name!r}: draw {index}'s params {stored} do not expand to the spec that was counted"
        )


# -- weight layouts --------------------------------------------------------------------------
BN_TORCH = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
OUR_BLOCK = re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\.(.*)$")


def _torch_tensor(key: str, value: np.ndarray) -> np.ndarray:
    if key.endswith(".kernel") and value.ndim == 4:
        return np.ascontiguousarray(np.transpose(value, (3, 2, 0, 1)))  # HWIO -> OIHW
    if key.endswith(".kernel"):
        return np.ascontiguousarray(value.T)  # (in, out) -> (out, in)
    return value


def _torch_leaf(module: str, leaf: str) -> str:
    return f"{module}.{BN_TORCH[leaf]}" if leaf in BN_TORCH else f"{module}.{'weight' if leaf == 'kernel' else leaf}"


def to_transformers_names(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our flat tensors as transformers' RegNetForImageClassification names them (a squeeze-excite
    `attention` between conv2 and conv3 makes that block's third conv layer.3, as its Y layer does)."""
    blocks_with_attention = {
        m.group(1, 2) for k in arrays if (m := OUR_BLOCK.match(k)) and m[3].startswith("attention.")
    }
    out: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        module, leaf = key.rsplit(".", 1)
        if module in ("stem.conv", "stem.bn"):
            theirs = "regnet.embedder.embedder." + ("convolution" if module == "stem.conv" else "normalization")
        elif module == "head.fc":
            theirs = "classifier.1"
        elif m := OUR_BLOCK.match(module):
            prefix, part = f"regnet.encoder.stages.{m[1]}.layers.{m[2]}", m[3]
            third = 3 if m.group(1, 2) in blocks_with_attention else 2
            layer = {"conv1": 0, "bn1": 0, "conv2": 1, "bn2": 1, "conv3": third, "bn3": third}
            if part in layer:
                kind = "convolution" if part.startswith("conv") else "normalization"
                theirs = f"{prefix}.layer.{layer[part]}.{kind}"
            elif part in ("proj_conv", "proj_bn"):
                theirs = f"{prefix}.shortcut.{'convolution' if part == 'proj_conv' else 'normalization'}"
            elif part in ("attention.reduce", "attention.expand"):
                theirs = f"{prefix}.layer.2.attention.{0 if part.endswith('reduce') else 2}"
            else:
                raise KeyError(f"no transformers name for our tensor {key!r}")
        else:
            raise KeyError(f"no transformers name for our tensor {key!r}")
        out[_torch_leaf(theirs, leaf)] = _torch_tensor(key, value)
    return out


def to_timm_names(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """transformers' RegNet tensor names -> timm's (timm/models/regnet.py), tensors unchanged."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("regnet.")
        key = key.replace("embedder.embedder.convolution", "stem.conv").replace(
            "embedder.embedder.normalization", "stem.bn"
        )
        key = key.replace("classifier.1", "head.fc")
        m = re.match(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(.*)", key)
        if m:
            s, b, rest = int(m[1]) + 1, int(m[2]) + 1, m[3]
            y_block = f"regnet.encoder.stages.{m[1]}.layers.{m[2]}.layer.3.convolution.weight" in state
            last = "3" if y_block else "2"
            rest = (
                rest.replace("shortcut.convolution", "downsample.conv")
                .replace("shortcut.normalization", "downsample.bn")
                .replace("layer.0.convolution", "conv1.conv")
                .replace("layer.0.normalization", "conv1.bn")
                .replace("layer.1.convolution", "conv2.conv")
                .replace("layer.1.normalization", "conv2.bn")
                .replace(f"layer.{last}.convolution", "conv3.conv")
                .replace(f"layer.{last}.normalization", "conv3.bn")
                .replace("layer.2.attention.0", "se.fc1")
                .replace("layer.2.attention.2", "se.fc2")
            )
            key = f"s{s}.b{b}.{rest}"
        out[key] = value
    return out


# layout -> (how to name our tensors the way that library does, the blocks that library's RegNet has).
# A layout has no inverse of its own, so a new one is checked once it has a row here.
LAYOUT_NAMING: dict[str, tuple[Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]], tuple[str, ...] | None]] = {
    "zoo": (dict, None),  # None: every registered block
    "transformers": (to_transformers_names, ("resnext", "se_resnext")),
    "timm": (lambda arrays: to_timm_names(to_transformers_names(arrays)), ("resnext", "se_resnext")),
}


def layout_cases(layouts: list[str], blocks: list[str]) -> list[tuple[str, str | None]]:
    """(layout, block) pairs to check; (layout, None) for a layout the suite cannot name tensors for."""
    cases: list[tuple[str, str | None]] = []
    for layout in layouts:
        if layout not in LAYOUT_NAMING:
            cases.append((layout, None))
            continue
        wanted = LAYOUT_NAMING[layout][1]
        cases += [(layout, block) for block in blocks if wanted is None or block in wanted]
    return cases


def check_layout(layout_name: str, spec: ModelSpec, what: str) -> None:
    """Our tensors of `spec`, named as layout `layout_name` names them, convert back to exactly our keys
    and values: the layout's table (with the parts plugins add) leaves nothing over and misses nothing."""
    assert layout_name in LAYOUT_NAMING, (
        f"layout {layout_name!r} is registered but tests/contracts.py LAYOUT_NAMING cannot name tensors "
        "its way; add how it names our tensors so its table is checked"
    )
    shapes = state_shapes(abstract_model(spec))
    rng = np.random.default_rng(0)
    ours = {k: rng.standard_normal(shape).astype(np.float32) for k, shape in shapes.items()}
    layouts = weight_layouts()
    theirs = LAYOUT_NAMING[layout_name][0](ours)
    converted = layouts.to_zoo(theirs, layouts.get(layout_name, what))
    missing, extra = sorted(set(ours) - set(converted)), sorted(set(converted) - set(ours))
    assert not missing and not extra, f"{what}: converting misses {missing[:5]} and makes up {extra[:5]}"
    differ = sorted(k for k in ours if not np.array_equal(np.asarray(converted[k]), ours[k]))
    assert not differ, f"{what}: tensors change in conversion: {differ[:5]}"
