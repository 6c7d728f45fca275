"""ONNX graph building blocks for :mod:`channeldecomp.export`, computed in float64.

Two emitters share one small interface (``const(array)`` and ``op(op_type, *inputs, **attrs)``,
both returning a tensor name): :class:`GraphBuilder`, which assembles a graph of its own, and
:class:`SklearnEmitter`, which writes into a sklearn-onnx converter's container. The kernels
below are written once against that interface:

- :func:`normal_cdf` and :func:`normal_quantile`: ONNX Runtime's CPU provider has no float64
  ``Erf``, so the normal distribution is built from ``Exp``, ``Log`` and ``Sqrt``. The lower tail
  ``Phi(-t)`` uses Marsaglia's series ``1/2 - phi(t) (t + t^3/3 + t^5/(3 5) + ...)`` for
  ``t < 3`` and Laplace's continued fraction ``phi(t) / (t + 1/(t + 2/(t + ...)))`` above,
  both converged to double precision (absolute error about 1e-16). The quantile function is
  Acklam's rational approximation (relative error below 1.2e-9) refined by one Halley step on
  that CDF, so it agrees with ``scipy.special.ndtri`` to about 1e-14 over ``(1e-300, 1)``.
- :func:`quantile_transform`: scikit-learn's ``QuantileTransformer.transform`` exactly: the
  two-sided ``np.interp`` (the mean of the interpolations from below and from above, so tied
  quantiles map to the middle of their references), its bounds and, for normal output, the
  clipping at ``BOUNDS_THRESHOLD``.
- :func:`activation`: the torch activations of the network's heads.

Only :mod:`channeldecomp.export` imports this module; onnx itself is imported where a graph is
built, so collecting the package's doctests never needs the ``onnx`` extra.

References
----------
.. [1] G. Marsaglia, "Evaluating the normal distribution", J. Stat. Softw. 11(4) (2004).
.. [2] P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution
   function" (2003), with the refinement step given there.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = [
    "GraphBuilder",
    "SklearnEmitter",
    "activation",
    "normal_cdf",
    "normal_quantile",
    "quantile_transform",
]

# ONNX TensorProto element types (fixed by the ONNX standard).
FLOAT, INT64, DOUBLE = 1, 7, 11

_SQRT_2PI = math.sqrt(2.0 * math.pi)
# Phi(-t): series below _SERIES_LIMIT, continued fraction above. At the limit, 32 series terms
# and 40 fraction terms have converged to double precision (relative 1e-13 and 1e-14; the
# tests check the whole range against scipy); fewer terms are needed away from it.
_SERIES_LIMIT = 3.0
_SERIES_TERMS = 32
_FRACTION_TERMS = 40

# Acklam's coefficients: central region (a / b), tails (c / d), and the switch point.
_ACKLAM_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_ACKLAM_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
    1.0,
)
_ACKLAM_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_ACKLAM_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
    1.0,
)
_ACKLAM_LOW = 0.02425

# QuantileTransformer feeds the normal quantile function p clipped into this range: p = 0
# (below the lowest quantile) must give -inf, which the transformer then clips, and the
# approximation needs log(p) finite. ndtri(1e-300) is about -37, far beyond any clip bound.
_SMALLEST_P = 1e-300
_LARGEST_P = 1.0 - 2.0**-53


class GraphBuilder:
    """Nodes and initializers of one ONNX graph, with unique tensor names.

    Parameters
    ----------
    opset : int
        Opset of the default domain the nodes are written for.
    reserved : iterable of str
        Names the generated names must avoid (the graph's inputs and outputs).
    """

    def __init__(self, opset, reserved=()):
        from onnx import helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.opset = int(opset)
        self.nodes = []
        self.initializers = []
        self.opset_imports = {"": self.opset}
        self._used = set(reserved)
        self._counter = 0

    def name(self, hint):
        """Return a new tensor name starting with ``hint`` (made a C identifier)."""
        hint = re.sub(r"[^0-9A-Za-z_]", "_", hint) or "t"
        while True:
            self._counter += 1
            candidate = f"{hint}_{self._counter}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def reserve(self, name):
        """Mark ``name`` as taken (a name that ``op(..., output=name)`` will write)."""
        self._used.add(name)

    def const(self, value, hint="const"):
        """Add ``value`` (array-like; floats stored as float64) as an initializer."""
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float64)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        name = self.name(hint)
        self.initializers.append(self._numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def op(self, op_type, *inputs, output=None, hint=None, **attrs):
        """Add one node; return the name of its (single) output."""
        output = output or self.name(hint or op_type.lower())
        self._used.add(output)
        self.nodes.append(
            self._helper.make_node(
                op_type, list(inputs), [output], name=self.name(f"node_{op_type}"), **attrs
            )
        )
        return output

    def reduce(self, op_type, data, axis, keepdims=0):
        """``ReduceSum``/``ReduceMin`` over one axis, in the form the opset wants."""
        takes_axes_input = op_type == "ReduceSum" or self.opset >= 18
        if takes_axes_input:
            return self.op(op_type, data, self.const(np.array([axis])), keepdims=keepdims)
        return self.op(op_type, data, axes=[axis], keepdims=keepdims)

    def inline(self, graph, opset_imports, inputs):
        """Copy ``graph``'s nodes and initializers in, renamed; return its outputs' new names.

        Parameters
        ----------
        graph : onnx.GraphProto
            A graph whose inputs are fed by ``inputs``.
        opset_imports : iterable of onnx.OperatorSetIdProto
            The opsets ``graph``'s model imports (those its nodes use are kept).
        inputs : dict of str to str
            Names of ``graph``'s inputs -> names of tensors of this graph feeding them.
        """
        renamed = dict(inputs)

        def new_name(old):
            if old == "":  # an omitted optional input
                return old
            if old not in renamed:
                renamed[old] = self.name(f"pre_{old}")
            return renamed[old]

        for tensor in graph.initializer:
            copy = type(tensor)()
            copy.CopyFrom(tensor)
            copy.name = new_name(tensor.name)
            self.initializers.append(copy)
        domains = {entry.domain: entry.version for entry in opset_imports}
        for node in graph.node:
            copy = type(node)()
            copy.CopyFrom(node)
            copy.input[:] = [new_name(name) for name in node.input]
            copy.output[:] = [new_name(name) for name in node.output]
            copy.name = self.name(f"node_pre_{node.op_type}")
            self.nodes.append(copy)
            domain = node.domain or ""
            if domain and domain not in self.opset_imports:
                self.opset_imports[domain] = domains[domain]
        return [renamed[output.name] for output in graph.output]


class SklearnEmitter:
    """The :class:`GraphBuilder` interface over a sklearn-onnx converter's scope and container."""

    def __init__(self, scope, container):
        self._scope = scope
        self._container = container
        self.opset = container.target_opset

    def const(self, value, hint="const"):
        array = np.asarray(value)
        onnx_type = DOUBLE
        if array.dtype.kind == "f":
            array = array.astype(np.float64)
        elif array.dtype.kind in "iu":
            array, onnx_type = array.astype(np.int64), INT64
        name = self._scope.get_unique_variable_name(hint)
        self._container.add_initializer(name, onnx_type, list(array.shape), array.ravel().tolist())
        return name

    def op(self, op_type, *inputs, output=None, hint=None, **attrs):
        output = output or self._scope.get_unique_variable_name(hint or op_type.lower())
        self._container.add_node(
            op_type,
            list(inputs),
            [output],
            op_version=self.opset,
            name=self._scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output


# ---------------------------------------------------------------------- elementary helpers


def _horner(g, x, coefficients):
    """``c[0] x^(k-1) + ... + c[k-1]`` (coefficients highest power first)."""
    result = g.const(np.array(coefficients[0]))
    for coefficient in coefficients[1:]:
        result = g.op("Add", g.op("Mul", result, x), g.const(np.array(coefficient)))
    return result


def _normal_density(g, x):
    """``exp(-x^2 / 2) / sqrt(2 pi)``."""
    half_square = g.op("Mul", g.op("Mul", x, x), g.const(np.array(0.5)))
    return g.op("Div", g.op("Exp", g.op("Neg", half_square)), g.const(np.array(_SQRT_2PI)))


def _normal_lower_tail(g, t):
    """``Phi(-t)`` for ``t >= 0``."""
    limit = g.const(np.array(_SERIES_LIMIT))
    # Marsaglia: Phi(-t) = 1/2 - phi(t) * t * sum_n (t^2)^n / (2n + 1)!!
    near = g.op("Min", t, limit)
    double_factorials = np.cumprod([1.0] + [2.0 * n + 1 for n in range(1, _SERIES_TERMS + 1)])
    series = _horner(g, g.op("Mul", near, near), list(1.0 / double_factorials[::-1]))
    central = g.op(
        "Sub",
        g.const(np.array(0.5)),
        g.op("Mul", g.op("Mul", _normal_density(g, near), near), series),
    )
    # Laplace: Phi(-t) = phi(t) / (t + 1/(t + 2/(t + 3/(t + ...)))), evaluated bottom-up.
    far = g.op("Max", t, limit)
    fraction = far
    for k in range(_FRACTION_TERMS, 0, -1):
        fraction = g.op("Add", far, g.op("Div", g.const(np.array(float(k))), fraction))
    tail = g.op("Div", _normal_density(g, far), fraction)
    return g.op("Where", g.op("Less", t, limit), central, tail)


# ------------------------------------------------------------------------- public kernels


def normal_cdf(g, x):
    """Emit ``Phi(x)``, the standard normal CDF, for a float64 tensor ``x``."""
    lower = _normal_lower_tail(g, g.op("Abs", x))
    upper = g.op("Sub", g.const(np.array(1.0)), lower)
    return g.op("Where", g.op("Less", x, g.const(np.array(0.0))), lower, upper)


def normal_quantile(g, p):
    """Emit ``Phi^-1(p)`` for a float64 tensor ``p`` with values in ``(0, 1)``.

    Computed on ``q = min(p, 1 - p)`` (``1 - p`` is exact for ``p >= 1/2``) and mirrored, as
    ``scipy.special.ndtri`` does: Acklam's approximation, then one Halley step
    ``x -= u / (1 + x u / 2)`` with ``u = (Phi(x) - q) sqrt(2 pi) exp(x^2 / 2)``.
    """
    upper_half = g.op("Greater", p, g.const(np.array(0.5)))
    q = g.op("Where", upper_half, g.op("Sub", g.const(np.array(1.0)), p), p)
    # Central region: x = s A(s^2) / B(s^2) with s = q - 1/2.
    centred = g.op("Sub", q, g.const(np.array(0.5)))
    square = g.op("Mul", centred, centred)
    central = g.op(
        "Div",
        g.op("Mul", centred, _horner(g, square, _ACKLAM_A)),
        _horner(g, square, _ACKLAM_B),
    )
    # Lower tail: x = C(r) / D(r) with r = sqrt(-2 log q).
    low = g.const(np.array(_ACKLAM_LOW))
    root = g.op("Sqrt", g.op("Mul", g.const(np.array(-2.0)), g.op("Log", g.op("Min", q, low))))
    tail = g.op("Div", _horner(g, root, _ACKLAM_C), _horner(g, root, _ACKLAM_D))
    x = g.op("Where", g.op("Less", q, low), tail, central)
    # Halley refinement on the lower half (x <= 0, so Phi(x) = Phi(-|x|)).
    error = g.op("Sub", _normal_lower_tail(g, g.op("Neg", x)), q)
    half_square = g.op("Mul", g.op("Mul", x, x), g.const(np.array(0.5)))
    u = g.op("Mul", g.op("Mul", error, g.const(np.array(_SQRT_2PI))), g.op("Exp", half_square))
    denominator = g.op(
        "Add", g.const(np.array(1.0)), g.op("Mul", g.op("Mul", x, u), g.const(np.array(0.5)))
    )
    x = g.op("Sub", x, g.op("Div", u, denominator))
    return g.op("Where", upper_half, g.op("Neg", x), x)


def _count_at_most(g, x, padded, n_steps):
    """Per element of ``x`` (n, F): how many of its feature's quantiles are <= x.

    ``padded`` (P, F) holds each feature's sorted quantiles followed by +inf up to
    ``P = 2 ** n_steps`` rows; a branchless binary search takes ``n_steps`` gathers.
    """
    step = 2 ** (n_steps - 1)

    def advance(count, value, step):
        taken = g.op("Cast", g.op("LessOrEqual", value, x), to=INT64)
        return (
            g.op("Mul", taken, g.const(np.array(step)))
            if count is None
            else g.op("Add", count, g.op("Mul", taken, g.const(np.array(step))))
        )

    # First probe: the same row for every element, a constant.
    count = advance(None, g.const(padded[step - 1]), step)
    table = g.const(padded, hint="quantiles")
    while step > 1:
        step //= 2
        probe = g.op("Add", count, g.const(np.array(step - 1)))
        count = advance(count, g.op("GatherElements", table, probe, axis=0), step)
    return count


def _clip_index(g, index, low, high):
    return g.op("Clip", index, g.const(np.array(low)), g.const(np.array(high)))


def _interp_two_sided(g, x, quantiles, references):
    """``(np.interp(x, q, r) - np.interp(-x, -q[::-1], -r[::-1])) / 2`` per feature.

    ``quantiles`` (K, F) non-decreasing per column; ``references`` (K,). ``np.interp`` from
    below takes ``j``, the last quantile <= x, and returns ``r[j]`` if ``q[j] == x`` else
    ``r[j] + slope[j] (x - q[j])``; from above it takes ``m``, the first quantile >= x, and
    returns ``r[m]`` or ``r[m] - slope[m-1] (q[m] - x)``. Both are written in numpy's operation
    order, so the result is numpy's to the last bit or two. ``m`` follows from ``j``: ``j + 1``,
    or where ``q[j] == x`` the first of the quantiles tied with ``q[j]``.
    """
    n_quantiles, n_features = quantiles.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.diff(references)[:, None] / np.diff(quantiles, axis=0)
    slopes = np.where(np.diff(quantiles, axis=0) > 0, slopes, 0.0)  # never selected there
    first_tied = np.column_stack(
        [np.searchsorted(column, column, side="left") for column in quantiles.T]
    )
    n_steps = n_quantiles.bit_length()  # 2 ** n_steps > K: room for the count K
    padded = np.full((2**n_steps, n_features), np.inf)
    padded[:n_quantiles] = quantiles
    at_most = _count_at_most(g, x, padded, n_steps)

    table = g.const(quantiles, hint="quantiles")
    slope_table = g.const(slopes, hint="slopes")
    reference_table = g.const(references, hint="references")
    first_q, last_q = g.const(quantiles[0]), g.const(quantiles[-1])
    first_r, last_r = g.const(np.array(references[0])), g.const(np.array(references[-1]))

    last_at_most = _clip_index(g, g.op("Sub", at_most, g.const(np.array(1))), 0, n_quantiles - 1)
    j = g.op("Min", last_at_most, g.const(np.array(n_quantiles - 2)))
    q_j = g.op("GatherElements", table, j, axis=0)
    r_j = g.op("Gather", reference_table, j, axis=0)
    slope_j = g.op("GatherElements", slope_table, j, axis=0)
    inner = g.op("Add", g.op("Mul", slope_j, g.op("Sub", x, q_j)), r_j)
    from_below = g.op(
        "Where",
        g.op("Less", x, first_q),
        first_r,
        g.op(
            "Where",
            g.op("GreaterOrEqual", x, last_q),
            last_r,
            g.op("Where", g.op("Equal", q_j, x), r_j, inner),
        ),
    )

    on_quantile = g.op("Equal", g.op("GatherElements", table, last_at_most, axis=0), x)
    m = g.op(
        "Where",
        on_quantile,
        g.op("GatherElements", g.const(first_tied), last_at_most, axis=0),
        g.op("Add", last_at_most, g.const(np.array(1))),
    )
    m = _clip_index(g, m, 1, n_quantiles - 1)
    q_m = g.op("GatherElements", table, m, axis=0)
    r_m = g.op("Gather", reference_table, m, axis=0)
    slope_m = g.op("GatherElements", slope_table, g.op("Sub", m, g.const(np.array(1))), axis=0)
    inner = g.op("Sub", r_m, g.op("Mul", slope_m, g.op("Sub", q_m, x)))
    from_above = g.op(
        "Where",
        g.op("Greater", x, last_q),
        last_r,
        g.op(
            "Where",
            g.op("LessOrEqual", x, first_q),
            first_r,
            g.op("Where", g.op("Equal", q_m, x), r_m, inner),
        ),
    )
    return g.op("Mul", g.op("Add", from_below, from_above), g.const(np.array(0.5)))


def quantile_transform(g, x, transformer, output=None):
    """Emit ``transformer.transform`` (a fitted ``QuantileTransformer``) for float64 ``x``.

    Parameters
    ----------
    g : GraphBuilder or SklearnEmitter
    x : str
        Name of a float64 tensor of shape (n, n_features).
    transformer : sklearn.preprocessing.QuantileTransformer
        Fitted, with ``output_distribution`` ``"uniform"`` or ``"normal"``.
    output : str, default=None
        Name for the result (a new name when None).

    Returns
    -------
    str
        Name of the transformed float64 tensor.
    """
    from scipy import stats
    from sklearn.preprocessing._data import BOUNDS_THRESHOLD

    quantiles = np.asarray(transformer.quantiles_, dtype=np.float64)
    references = np.asarray(transformer.references_, dtype=np.float64)
    if len(quantiles) == 1:
        # np.interp with a single point returns it everywhere; two equal points do the same.
        quantiles, references = np.repeat(quantiles, 2, axis=0), np.repeat(references, 2)
    uniform = _interp_two_sided(g, x, quantiles, references)
    first_q, last_q = g.const(quantiles[0]), g.const(quantiles[-1])
    if transformer.output_distribution == "normal":
        threshold = g.const(np.array(BOUNDS_THRESHOLD))
        below = g.op("Less", g.op("Sub", x, threshold), first_q)
        above = g.op("Greater", g.op("Add", x, threshold), last_q)
    else:
        below = g.op("Equal", x, first_q)
        above = g.op("Equal", x, last_q)
    # scikit-learn sets the upper bound, then the lower one (which wins where both apply).
    is_normal = transformer.output_distribution == "normal"
    uniform = g.op(
        "Where",
        below,
        g.const(np.array(0.0)),
        g.op("Where", above, g.const(np.array(1.0)), uniform),
        output=None if is_normal else output,
    )
    if not is_normal:
        return uniform
    clip_min = stats.norm.ppf(BOUNDS_THRESHOLD - np.spacing(1))
    clip_max = stats.norm.ppf(1 - (BOUNDS_THRESHOLD - np.spacing(1)))
    p = g.op("Clip", uniform, g.const(np.array(_SMALLEST_P)), g.const(np.array(_LARGEST_P)))
    return g.op(
        "Clip",
        normal_quantile(g, p),
        g.const(np.array(clip_min)),
        g.const(np.array(clip_max)),
        output=output,
    )


# ---------------------------------------------------------------------------- activations


def activation(g, x, module):
    """Emit the torch activation ``module`` (a ``torch.nn`` instance) on float64 ``x``.

    Raises
    ------
    ValueError
        If the activation has no float64 form here.
    """
    from torch import nn

    if isinstance(module, nn.ReLU):
        return g.op("Relu", x)
    if isinstance(module, nn.Sigmoid):
        return g.op("Sigmoid", x)
    if isinstance(module, nn.Tanh):
        return g.op("Tanh", x)
    if isinstance(module, (nn.ELU, nn.SELU)):
        # ONNX Runtime has no float64 Elu/Selu: x > 0 ? x * scale : (exp(x) - 1) * alpha * scale,
        # with exp taken of min(x, 0) so the unused branch never overflows.
        zero = g.const(np.array(0.0))
        if isinstance(module, nn.SELU):
            scale, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
        else:
            scale, alpha = 1.0, float(module.alpha)
        negative = g.op(
            "Mul",
            g.op("Sub", g.op("Exp", g.op("Min", x, zero)), g.const(np.array(1.0))),
            g.const(np.array(alpha * scale)),
        )
        positive = x if scale == 1.0 else g.op("Mul", x, g.const(np.array(scale)))
        return g.op("Where", g.op("Greater", x, zero), positive, negative)
    if isinstance(module, nn.GELU):
        if module.approximate == "tanh":
            # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
            cube = g.op("Mul", g.op("Mul", x, x), x)
            inner = g.op(
                "Mul",
                g.const(np.array(math.sqrt(2.0 / math.pi))),
                g.op("Add", x, g.op("Mul", g.const(np.array(0.044715)), cube)),
            )
            half = g.op("Mul", x, g.const(np.array(0.5)))
            return g.op("Mul", half, g.op("Add", g.const(np.array(1.0)), g.op("Tanh", inner)))
        return g.op("Mul", x, normal_cdf(g, x))
    raise ValueError(
        f"Activation {type(module).__name__} has no ONNX conversion; the exporter converts "
        "ReLU, Sigmoid, Tanh, ELU, SELU and GELU."
    )
