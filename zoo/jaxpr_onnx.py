"""A jaxpr as an ONNX graph: one ONNX node (or a few) per jax primitive, for the primitives a zoo
model's eval forward pass uses (convolution, dot_general, elementwise arithmetic, reductions,
reshape, broadcast, transpose, slice, concatenate, pad, max pool, sigmoid).

Operations on weights alone are evaluated here (constant folding), so a batch norm arrives as one
scale and one shift. Convolutions keep jax's layouts: each is wrapped in the transposes to ONNX's
NCHW, which onnxruntime's transpose optimizer cancels between neighbours. A symbolic dimension of
the input (the batch) stays symbolic in the graph. An unknown primitive is an ExportError naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import onnx
from jax.extend import core
from onnx import helper, numpy_helper

from zoo.errors import ExportError

OPSET = 17
_INT64_MAX = np.iinfo(np.int64).max
# Primitives that call a sub-jaxpr: the sub-jaxpr is inlined.
_CALLS = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "remat": "jaxpr",
    "checkpoint": "jaxpr",
}
_ELEMENTWISE = {
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min", "pow": "Pow",
    "neg": "Neg", "exp": "Exp", "log": "Log", "tanh": "Tanh", "logistic": "Sigmoid", "sqrt": "Sqrt",
    "abs": "Abs", "erf": "Erf", "sign": "Sign", "floor": "Floor", "ceil": "Ceil",
    "gt": "Greater", "lt": "Less", "ge": "GreaterOrEqual", "le": "LessOrEqual", "eq": "Equal",
    "and": "And", "or": "Or", "not": "Not",
}  # fmt: skip

Value = str | np.ndarray  # an ONNX value name, or a constant not yet in the graph


def _static(shape: Sequence[Any]) -> bool:
    return all(isinstance(d, int) for d in shape)


class _Graph:
    """The ONNX nodes and initializers written so far, and where each symbolic dimension comes from."""

    def __init__(self, what: str):
        self.what = what
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.dims: dict[str, tuple[str, int]] = {}  # symbolic dimension -> (input name, axis)
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def name(self, value: Value) -> str:
        if isinstance(value, str):
            return value
        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[Value], **attrs: Any) -> str:
        (out,) = self.node_n(op, inputs, 1, **attrs)
        return out

    def node_n(self, op: str, inputs: Sequence[Value], n: int, **attrs: Any) -> list[str]:
        outs = [self.fresh(op.lower()) for _ in range(n)]
        self.nodes.append(helper.make_node(op, [self.name(v) for v in inputs], outs, **attrs))
        return outs

    def shape(self, shape: Sequence[Any]) -> Value:
        """An int64 shape tensor; a symbolic dimension is read from the input it came from at run time."""
        if _static(shape):
            return np.asarray(shape, np.int64)
        parts: list[Value] = []
        for d in shape:
            if isinstance(d, int):
                parts.append(np.asarray([d], np.int64))
            elif str(d) in self.dims:
                source, axis = self.dims[str(d)]
                parts.append(self.node("Shape", [source], start=axis, end=axis + 1))
            else:
                raise ExportError(
                    f"{self.what}: ONNX export cannot compute the dimension {d} (derived from a symbolic one)"
                )
        return self.node("Concat", parts, axis=0)

    def unsupported(self, eqn: Any, why: str = "") -> ExportError:
        detail = f" ({why})" if why else ""
        return ExportError(
            f"{self.what}: ONNX export has no conversion for jax's {eqn.primitive.name}{detail}; "
            "export --format stablehlo instead, or add the primitive in zoo/jaxpr_onnx.py"
        )


def _broadcast_in_dim(g: _Graph, eqn, x: Value) -> Value:
    shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    new_axes = [i for i in range(len(shape)) if i not in dims]
    if new_axes:
        x = g.node("Unsqueeze", [x, np.asarray(new_axes, np.int64)])
    return g.node("Expand", [x, g.shape(shape)])


def _reshape(g: _Graph, eqn, x: Value) -> Value:
    if eqn.params.get("dimensions") is not None:
        raise g.unsupported(eqn, "reshape with dimensions")
    sizes = eqn.params["new_sizes"]
    unknown = [i for i, d in enumerate(sizes) if not isinstance(d, int)]
    if len(unknown) == 1:
        return g.node("Reshape", [x, np.asarray([-1 if i in unknown else d for i, d in enumerate(sizes)], np.int64)])
    return g.node("Reshape", [x, g.shape(sizes)])


def _reduce(op: str) -> Callable[..., Value]:
    def convert(g: _Graph, eqn, x: Value) -> Value:
        axes = list(eqn.params["axes"])
        if not axes:
            return g.node("Identity", [x])
        if op == "ReduceSum":  # axes an input since opset 13; the others take it as an attribute until 18
            return g.node(op, [x, np.asarray(axes, np.int64)], keepdims=0)
        return g.node(op, [x], axes=axes, keepdims=0)

    return convert


def _conv(g: _Graph, eqn, x: Value, kernel: Value) -> Value:
    p = eqn.params
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    if any(d != 1 for d in p["lhs_dilation"]) or p["batch_group_count"] != 1:
        raise g.unsupported(eqn, "transposed or batch-grouped convolution")
    pads = [lo for lo, _ in p["padding"]] + [hi for _, hi in p["padding"]]
    if min(pads, default=0) < 0:
        raise g.unsupported(eqn, "negative padding")
    kernel = (
        np.transpose(kernel, rhs_spec)
        if isinstance(kernel, np.ndarray)
        else g.node("Transpose", [kernel], perm=list(rhs_spec))
    )
    y = g.node(
        "Conv",
        [g.node("Transpose", [x], perm=list(lhs_spec)), kernel],
        strides=list(p["window_strides"]),
        pads=pads,
        dilations=list(p["rhs_dilation"]),
        group=p["feature_group_count"],
    )
    return g.node("Transpose", [y], perm=list(np.argsort(out_spec)))


def _dot_general(g: _Graph, eqn, lhs: Value, rhs: Value) -> Value:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lrank, rrank = len(eqn.invars[0].aval.shape), len(eqn.invars[1].aval.shape)
    if not lb and not rb and list(lc) == [lrank - 1] and rrank == 2 and len(rc) == 1:
        if rc[0] == 1:
            rhs = rhs.T if isinstance(rhs, np.ndarray) else g.node("Transpose", [rhs], perm=[1, 0])
        return g.node("MatMul", [lhs, rhs])
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    left = [next(letters) for _ in range(lrank)]
    right = [next(letters) for _ in range(rrank)]
    for i, j in [*zip(lc, rc), *zip(lb, rb)]:
        right[j] = left[i]
    out = [left[i] for i in lb] + [c for i, c in enumerate(left) if i not in (*lc, *lb)]
    out += [c for j, c in enumerate(right) if j not in (*rc, *rb)]
    return g.node("Einsum", [lhs, rhs], equation=f"{''.join(left)},{''.join(right)}->{''.join(out)}")


def _slice(g: _Graph, eqn, x: Value) -> Value:
    p, shape = eqn.params, eqn.invars[0].aval.shape
    ends = [e if isinstance(e, int) else (_INT64_MAX if e is shape[i] or str(e) == str(shape[i]) else None)
            for i, e in enumerate(p["limit_indices"])]  # fmt: skip
    if None in ends or not _static(p["start_indices"]):
        raise g.unsupported(eqn, "a slice bounded by a symbolic dimension")
    steps = list(p["strides"] or [1] * len(ends))
    return g.node(
        "Slice",
        [x, *(np.asarray(v, np.int64) for v in (p["start_indices"], ends, range(len(ends)), steps))],
    )


def _pad(g: _Graph, eqn, x: Value, value: Value) -> Value:
    config = eqn.params["padding_config"]
    if any(interior for _, _, interior in config):
        raise g.unsupported(eqn, "interior padding")
    pads = np.asarray([lo for lo, _, _ in config] + [hi for _, hi, _ in config], np.int64)
    return g.node("Pad", [x, pads, value])


def _max_pool(g: _Graph, eqn, x: Value) -> Value:
    p = eqn.params
    window, strides, padding = p["window_dimensions"], p["window_strides"], p["padding"]
    if (
        window[0] != 1
        or window[-1] != 1
        or strides[0] != 1
        or strides[-1] != 1
        or any(padding[i] != (0, 0) for i in (0, -1))
    ):
        raise g.unsupported(eqn, "a window other than NHWC spatial")
    if any(d != 1 for d in (*p["base_dilation"], *p["window_dilation"])):
        raise g.unsupported(eqn, "a dilated window")
    spatial = range(1, len(window) - 1)
    nchw = g.node("Transpose", [x], perm=[0, len(window) - 1, *spatial])
    y = g.node(
        "MaxPool",
        [nchw],
        kernel_shape=[window[i] for i in spatial],
        strides=[strides[i] for i in spatial],
        pads=[padding[i][0] for i in spatial] + [padding[i][1] for i in spatial],
    )
    return g.node("Transpose", [y], perm=[0, *(i + 1 for i in spatial), 1])


def _integer_pow(g: _Graph, eqn, x: Value) -> Value:
    y = eqn.params["y"]
    if y == 2:
        return g.node("Mul", [x, x])
    return g.node("Pow", [x, np.asarray(y, eqn.invars[0].aval.dtype)])


_CONVERTERS: dict[str, Callable[..., Value]] = {
    "conv_general_dilated": _conv,
    "dot_general": _dot_general,
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": _reshape,
    "reduce_sum": _reduce("ReduceSum"),
    "reduce_max": _reduce("ReduceMax"),
    "reduce_min": _reduce("ReduceMin"),
    "reduce_prod": _reduce("ReduceProd"),
    "slice": _slice,
    "pad": _pad,
    "reduce_window_max": _max_pool,
    "integer_pow": _integer_pow,
    "transpose": lambda g, eqn, x: g.node("Transpose", [x], perm=list(eqn.params["permutation"])),
    "squeeze": lambda g, eqn, x: g.node("Squeeze", [x, np.asarray(eqn.params["dimensions"], np.int64)]),
    "concatenate": lambda g, eqn, *xs: g.node("Concat", list(xs), axis=eqn.params["dimension"]),
    "rsqrt": lambda g, eqn, x: g.node("Reciprocal", [g.node("Sqrt", [x])]),
    "square": lambda g, eqn, x: g.node("Mul", [x, x]),
    "ne": lambda g, eqn, x, y: g.node("Not", [g.node("Equal", [x, y])]),
    "clamp": lambda g, eqn, lo, x, hi: g.node("Max", [g.node("Min", [x, hi]), lo]),
    "select_n": lambda g, eqn, p, *cases: (
        g.node("Where", [p, cases[1], cases[0]]) if len(cases) == 2 else g.node("Identity", [cases[0]])
    ),
    "convert_element_type": lambda g, eqn, x: g.node(
        "Cast", [x], to=helper.np_dtype_to_tensor_dtype(np.dtype(eqn.params["new_dtype"]))
    ),
    "copy": lambda g, eqn, x: g.node("Identity", [x]),
    "copy_p": lambda g, eqn, x: g.node("Identity", [x]),
}


def _convert(g: _Graph, jaxpr: Any, consts: Sequence[Any], args: Sequence[Value]) -> list[Value]:
    env: dict[Any, Value] = {}

    def read(v: Any) -> Value:
        return np.asarray(v.val, getattr(v.aval, "dtype", None)) if isinstance(v, core.Literal) else env[v]

    env.update(zip(jaxpr.constvars, (np.asarray(c) for c in consts)))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name in _CALLS:
            sub = eqn.params[_CALLS[name]]
            sub_jaxpr, sub_consts = (sub.jaxpr, sub.consts) if hasattr(sub, "consts") else (sub, ())
            outs = _convert(g, sub_jaxpr, sub_consts, ins)
        elif all(isinstance(v, np.ndarray) for v in ins) and all(_static(v.aval.shape) for v in eqn.outvars):
            result = eqn.primitive.bind(*ins, **eqn.params)  # weights only: folded here
            outs = [np.asarray(r) for r in (result if eqn.primitive.multiple_results else [result])]
        elif name in _ELEMENTWISE:
            outs = [g.node(_ELEMENTWISE[name], ins)]
        elif name in _CONVERTERS:
            outs = [_CONVERTERS[name](g, eqn, *ins)]
        else:
            raise g.unsupported(eqn)
        for var, out in zip(eqn.outvars, outs):
            if not isinstance(var, core.DropVar):
                env[var] = out
    return [read(v) for v in jaxpr.outvars]


def _value_info(name: str, aval: Any) -> onnx.ValueInfoProto:
    dims = [d if isinstance(d, int) else str(d) for d in aval.shape]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(aval.dtype)), dims)


def to_onnx(
    fn: Callable, example: jax.ShapeDtypeStruct, *, input_name: str, output_names: Sequence[str], what: str
) -> onnx.ModelProto:
    """`fn` (one array in, an array or a list of arrays out) traced at `example`'s shape as an ONNX model;
    `what` names the model in errors."""
    closed = jax.make_jaxpr(fn)(example)
    g = _Graph(what)
    for axis, d in enumerate(example.shape):
        if not isinstance(d, int):
            g.dims.setdefault(str(d), (input_name, axis))
    outs = _convert(g, closed.jaxpr, closed.consts, [input_name])
    if len(outs) != len(output_names):
        raise ExportError(
            f"{what}: the forward pass returns {len(outs)} arrays, but {len(output_names)} outputs are named"
        )
    for out, name in zip(outs, output_names):
        g.nodes.append(helper.make_node("Identity", [g.name(out)], [name]))
    graph = helper.make_graph(
        g.nodes,
        what,
        [_value_info(input_name, closed.in_avals[0])],
        [_value_info(name, aval) for name, aval in zip(output_names, closed.out_avals)],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="anynet-zoo")
    model.ir_version = 8  # onnxruntime >= 1.14 reads it
    onnx.checker.check_model(model)
    return model
