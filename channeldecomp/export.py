"""ONNX export of a fitted classifier, alone or behind its scalers, for inference outside Python.

CMS runs ONNX models in its C++ framework through ONNX Runtime; :func:`to_onnx` writes one
self-contained model: float32 features in, ``p_good`` and one score per channel out. See
``docs/onnx.md`` for the model's interface and a C++ example.

How the graph is built, and why:

- **The network is written from its weights with** ``onnx.helper``, not traced with
  ``torch.onnx.export``. The Python model predicts with a float64 copy of the network (so a
  row's prediction does not depend on the batch it is in); the exported graph does the same,
  so the two agree to rounding of the float32 outputs. Tracing a float64 module would not
  give a runnable model: ONNX Runtime's CPU provider has no float64 kernel for ``Elu`` (the
  default activation), ``Selu``, ``Erf`` (GELU) or ``Softplus``, so these are written from
  ``Exp``, ``Where`` and the normal CDF of :mod:`channeldecomp._onnx_graph`. Writing the
  graph also keeps the export independent of the torch exporter's version, keeps training
  parts (dropout, head dropout) out of the graph, and names every output exactly.
- **Scalers are converted by sklearn-onnx** with a float64 input, so ``StandardScaler`` becomes
  ``(x - mean_) / scale_`` in float64, as scikit-learn computes it. sklearn-onnx's own
  ``QuantileTransformer`` converter handles ``output_distribution="uniform"`` only, so the
  conversion passes its own converter for ``QuantileTransformer`` (both distributions;
  :func:`channeldecomp._onnx_graph.quantile_transform`) through ``convert_sklearn``'s
  ``custom_conversion_functions``: it applies to this conversion only and leaves
  sklearn-onnx's registry as it was. The converted scaler graph is then inlined, renamed, in
  front of the network.

Input: ``features``, float32, shape ``(n, n_features)`` with a dynamic ``n``, columns in the
order of ``feature_names_in_``. Outputs, float32, shape ``(n,)``: ``p_good`` (the probability of
``good_label``, the ``good_label`` column of ``predict_proba``) and one per channel, named after
the channel (see :func:`channel_output_names`), equal to ``predict_channel_scores``. The
model's metadata (``metadata_props``) holds JSON-encoded ``feature_names``, ``channel_names``
and ``channel_outputs``, and ``channeldecomp_version``, ``good_label``, ``combiner`` and
``preprocessing``.
"""

from __future__ import annotations

import json
import os
import re
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._version import __version__
from .decomposition import (
    ChannelDecompositionClassifier,
    ChannelDecompositionModule,
    FuzzyAnd,
    LogisticCombiner,
    MinCombiner,
)

__all__ = [
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "P_GOOD_NAME",
    "channel_output_names",
    "onnx_parity",
    "predict_onnx",
    "to_onnx",
]

#: Opset of the default domain used unless ``to_onnx(..., opset=...)`` says otherwise; read by
#: ONNX Runtime 1.12 and later.
DEFAULT_OPSET = 17
_MIN_OPSET = 13  # GatherElements, ReduceSum with its axes as an input
_MAX_OPSET = 22  # the newest opset sklearn-onnx 1.20 is tested with
#: Name of the model's input.
INPUT_NAME = "features"
#: Name of the model's output P(good).
P_GOOD_NAME = "p_good"
_SUPPORTED_STEPS = (StandardScaler, QuantileTransformer)
_EXTRA_HINT = "Install the ONNX extra: pip install 'channeldecomp[onnx]'."


def _import(module):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"ONNX export needs the package {module!r}. {_EXTRA_HINT}") from error


# ------------------------------------------------------------------------ model inspection


def _split_model(model):
    """Return (preprocessing steps as (name, estimator) pairs, classifier)."""
    if isinstance(model, ChannelDecompositionClassifier):
        return [], model
    if not isinstance(model, Pipeline):
        raise TypeError(
            "to_onnx exports a fitted ChannelDecompositionClassifier, or a Pipeline of "
            f"StandardScaler/QuantileTransformer steps ending in one; got {type(model).__name__}."
        )
    *steps, (last_name, last) = model.steps
    if not isinstance(last, ChannelDecompositionClassifier):
        raise ValueError(
            f"The Pipeline's last step {last_name!r} is a {type(last).__name__}; to_onnx needs "
            "a Pipeline ending in a ChannelDecompositionClassifier."
        )
    kept = []
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if type(step) not in _SUPPORTED_STEPS:
            raise ValueError(
                f"Pipeline step {name!r} is a {type(step).__name__}, which to_onnx cannot "
                "convert: the steps before the classifier may be StandardScaler or "
                "QuantileTransformer (or 'passthrough'). Apply other preprocessing before the "
                "exported model, or refit the Pipeline with one of these scalers."
            )
        if isinstance(step, QuantileTransformer) and step.output_distribution not in (
            "uniform",
            "normal",
        ):
            raise ValueError(
                f"Pipeline step {name!r}: QuantileTransformer output_distribution "
                f"{step.output_distribution!r} is not 'uniform' or 'normal'."
            )
        check_is_fitted(step)
        kept.append((name, step))
    return kept, last


def _check_opset(opset):
    if opset is None:
        return DEFAULT_OPSET
    onnx = _import("onnx")
    newest = min(_MAX_OPSET, onnx.defs.onnx_opset_version())
    if (
        not isinstance(opset, Integral)
        or isinstance(opset, bool)
        or not (_MIN_OPSET <= opset <= newest)
    ):
        raise ValueError(
            f"opset must be an integer from {_MIN_OPSET} to {newest}; got {opset!r}. "
            f"Leave it out for the default, {DEFAULT_OPSET}."
        )
    return int(opset)


def channel_output_names(channel_names):
    """ONNX output names for channels: the name itself if it is a C identifier, else mapped.

    A name is kept when it matches ``[A-Za-z_][A-Za-z0-9_]*`` (the ONNX IR's rule for names).
    Otherwise each other character becomes ``_``, and a leading digit (or an empty name) gets a
    ``_`` in front: ``"pixel-barrel"`` -> ``"pixel_barrel"``, ``"2mu"`` -> ``"_2mu"``.

    Parameters
    ----------
    channel_names : sequence of str
        The channels, e.g. a fitted classifier's ``channel_names_``.

    Returns
    -------
    list of str
        One output name per channel, in order.

    Raises
    ------
    ValueError
        If two channels map to the same output name, or a channel maps to ``"features"`` or
        ``"p_good"`` (the model's input and global output): rename the channels (``channels=``
        as a dict) and refit.

    Examples
    --------
    >>> channel_output_names(["muons", "pixel-barrel", "2mu"])
    ['muons', 'pixel_barrel', '_2mu']
    """
    outputs = []
    for channel in channel_names:
        name = re.sub(r"[^0-9A-Za-z_]", "_", str(channel))
        if not name or name[0].isdigit():
            name = "_" + name
        outputs.append(name)
    seen = {INPUT_NAME: "the model's input", P_GOOD_NAME: "the model's P(good) output"}
    for channel, name in zip(channel_names, outputs):
        if name in seen:
            raise ValueError(
                f"Channel {str(channel)!r} would be the ONNX output {name!r}, which is already "
                f"{seen[name]}. Give the channels distinct names (channels= as a dict "
                "{name: columns}) and refit before exporting."
            )
        seen[name] = f"the output of channel {str(channel)!r}"
    return outputs


def _feature_names(model, n_features):
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return [f"x{i}" for i in range(n_features)]
    return [str(name) for name in names]


# -------------------------------------------------------------------------- graph pieces


def _preprocessing_graph(steps, n_features, opset):
    """Convert the scalers with sklearn-onnx (float64 in and out); return the ONNX model."""
    skl2onnx = _import("skl2onnx")
    from skl2onnx.common.data_types import DoubleTensorType

    from . import _onnx_graph

    def convert_quantile_transformer(scope, operator, container):
        _onnx_graph.quantile_transform(
            _onnx_graph.SklearnEmitter(scope, container),
            operator.inputs[0].full_name,
            operator.raw_operator,
            output=operator.outputs[0].full_name,
        )

    def same_shape(operator):
        operator.outputs[0].type = DoubleTensorType(operator.inputs[0].type.shape)

    return skl2onnx.convert_sklearn(
        Pipeline(steps),
        initial_types=[("x", DoubleTensorType([None, n_features]))],
        target_opset={"": opset},
        custom_conversion_functions={QuantileTransformer: convert_quantile_transformer},
        custom_shape_calculators={QuantileTransformer: same_shape},
    )


def _network(g, classifier, x):
    """Emit the classifier's network on float64 ``x`` (columns in X's order).

    Returns the float64 tensors P(good) (n,) and the head logits (n, n_channels).
    """
    from torch import nn

    from . import _onnx_graph

    module = classifier.net_.module_
    if len(getattr(classifier, "nets_", None) or [module]) > 1:
        raise ValueError(
            f"The classifier is an ensemble of {len(classifier.nets_)} networks "
            "(n_estimators > 1); to_onnx converts one network: refit with n_estimators=1."
        )
    if not isinstance(module, ChannelDecompositionModule):
        raise TypeError(
            f"The classifier's network is a {type(module).__name__}, not the "
            "ChannelDecompositionModule that to_onnx converts."
        )
    logits = []
    for channel, indices, head in zip(
        classifier.channel_names_, classifier.channel_indices_.values(), module.heads
    ):
        h = g.op("Gather", x, g.const(np.asarray(indices)), axis=1, hint=f"{channel}_inputs")
        if head.squared_inputs:
            h = g.op("Concat", h, g.op("Mul", h, h), axis=1)
        for layer in head.layers:
            if isinstance(layer, nn.Dropout):
                continue  # inference: identity
            if isinstance(layer, nn.Linear):
                weight = layer.weight.detach().cpu().double().numpy()
                bias = layer.bias.detach().cpu().double().numpy()
                h = g.op("Gemm", h, g.const(weight), g.const(bias), transB=1)
            else:
                try:
                    h = _onnx_graph.activation(g, h, layer)
                except ValueError as error:
                    raise ValueError(f"Channel {channel!r}: {error}") from None
        logits.append(h)  # (n, 1)
    head_logits = g.op("Concat", *logits, axis=1, hint="head_logits")

    combiner = module.combiner
    if isinstance(combiner, FuzzyAnd):
        # log P(good) = -sum_i sigmoid(-h_i), as the module computes it.
        terms = g.op("Sigmoid", g.op("Neg", head_logits))
        p_good = g.op("Exp", g.op("Neg", g.reduce("ReduceSum", terms, axis=1)))
        return p_good, head_logits
    scores = g.op("Sigmoid", head_logits)
    if isinstance(combiner, MinCombiner):
        import torch.nn.functional as F

        scale = float(F.softplus(combiner.raw_scale.detach().cpu().double()))
        logit = g.op(
            "Add",
            g.op("Mul", g.reduce("ReduceMin", scores, axis=1), g.const(np.array(scale))),
            g.const(np.array(float(combiner.bias.detach()))),
        )
    elif isinstance(combiner, LogisticCombiner):
        weights = combiner.weights.detach().cpu().double().numpy()
        logit = g.op(
            "Add",
            g.op("MatMul", scores, g.const(weights)),
            g.const(np.array(float(combiner.bias.detach()))),
        )
    else:
        raise ValueError(
            f"The combiner {type(combiner).__name__} has no ONNX conversion; to_onnx converts "
            "FuzzyAnd, MinCombiner and LogisticCombiner ('fuzzy_and', 'min', 'logistic')."
        )
    return g.op("Sigmoid", logit), head_logits


def _metadata(classifier, feature_names, outputs, steps):
    good_label = classifier.classes_[classifier.good_class_index_]
    good_label = good_label.item() if hasattr(good_label, "item") else good_label
    try:
        good_label = json.dumps(good_label)
    except TypeError:
        good_label = json.dumps(str(good_label))
    return {
        "channeldecomp_version": __version__,
        "feature_names": json.dumps(feature_names),
        "channel_names": json.dumps([str(name) for name in classifier.channel_names_]),
        "channel_outputs": json.dumps(outputs),
        "good_label": good_label,
        "combiner": str(classifier.net_.module_.combiner),
        "preprocessing": json.dumps([type(step).__name__ for _, step in steps]),
    }


# ------------------------------------------------------------------------------ public API


def to_onnx(model, path=None, *, opset=None):
    """Export a fitted classifier, or a Pipeline of scalers ending in one, to ONNX.

    The model computes in float64 inside (as the Python model predicts) from a float32 input,
    and returns float32 outputs. See the module docstring and ``docs/onnx.md``.

    Parameters
    ----------
    model : ChannelDecompositionClassifier or Pipeline
        Fitted. A Pipeline's steps before the classifier may be ``StandardScaler`` and
        ``QuantileTransformer`` (``"uniform"`` or ``"normal"`` output) in any number and order,
        or ``"passthrough"``.
    path : str or path-like, default=None
        File to write the model to (usually ``*.onnx``); nothing is written when None.
    opset : int, default=None
        Opset of the default ONNX domain, from 13 to 22 (at most what the installed onnx
        supports); None: :data:`DEFAULT_OPSET` (17, ONNX Runtime 1.12 or later).

    Returns
    -------
    onnx.ModelProto
        The model, checked with ``onnx.checker.check_model(..., full_check=True)``. Input
        ``"features"``: float32 ``(n, n_features)``, columns in ``feature_names_in_`` order.
        Outputs, float32 ``(n,)``: ``"p_good"``, then one per channel in ``channel_names_``
        order, named by :func:`channel_output_names`.

    Raises
    ------
    TypeError
        If ``model`` is neither a classifier nor a Pipeline.
    ValueError
        If a Pipeline step cannot be converted (the message names the step and its class),
        the opset is out of range, or channel names collide as ONNX outputs.
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    ImportError
        If onnx or sklearn-onnx is not installed (the ``onnx`` extra).

    Examples
    --------
    >>> from channeldecomp import ChannelDecompositionClassifier
    >>> from channeldecomp.datasets import make_channel_anomalies
    >>> from channeldecomp.export import to_onnx
    >>> data = make_channel_anomalies(n_samples=200, random_state=0)
    >>> clf = ChannelDecompositionClassifier(max_epochs=2, random_state=0)
    >>> onnx_model = to_onnx(clf.fit(data.data, data.target))
    >>> [output.name for output in onnx_model.graph.output]
    ['p_good', 'muons', 'photons', 'pf', 'calo_jets']
    """
    onnx = _import("onnx")
    steps, classifier = _split_model(model)
    check_is_fitted(classifier)
    opset = _check_opset(opset)
    n_features = int(classifier.n_features_in_)
    if steps and int(steps[0][1].n_features_in_) != n_features:
        raise ValueError(
            f"Pipeline step {steps[0][0]!r} takes {steps[0][1].n_features_in_} columns but the "
            f"classifier takes {n_features}: only column-preserving scalers can be exported."
        )
    feature_names = _feature_names(model, n_features)
    outputs = channel_output_names(classifier.channel_names_)

    from . import _onnx_graph

    g = _onnx_graph.GraphBuilder(opset, reserved=[INPUT_NAME, P_GOOD_NAME, *outputs])
    x = g.op("Cast", INPUT_NAME, to=_onnx_graph.DOUBLE, hint="features_float64")
    if steps:
        scalers = _preprocessing_graph(steps, n_features, opset)
        (x,) = g.inline(scalers.graph, scalers.opset_import, {"x": x})
    p_good, head_logits = _network(g, classifier, x)
    g.op("Cast", p_good, to=_onnx_graph.FLOAT, output=P_GOOD_NAME)
    # predict_channel_scores floors the scores at the smallest positive float64, so they lie in
    # (0, 1]; in float32 that floor would round to 0, so the export floors at float32's.
    floor = g.const(np.array(np.finfo(np.float32).tiny, dtype=np.float64))
    scores = g.op("Max", g.op("Sigmoid", head_logits), floor)
    scores = g.op("Cast", scores, to=_onnx_graph.FLOAT, hint="channel_scores")
    for position, name in enumerate(outputs):
        g.op("Gather", scores, g.const(np.array(position)), axis=1, output=name)

    helper = onnx.helper
    graph = helper.make_graph(
        g.nodes,
        "channeldecomp",
        [helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, ["n", n_features])],
        [
            helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["n"])
            for name in [P_GOOD_NAME, *outputs]
        ],
        initializer=g.initializers,
    )
    opset_imports = [helper.make_opsetid(domain, v) for domain, v in g.opset_imports.items()]
    onnx_model = helper.make_model(
        graph,
        opset_imports=opset_imports,
        producer_name="channeldecomp",
        producer_version=__version__,
        doc_string=(
            "Channel decomposition of a global data-quality flag: P(good) and one score per "
            "channel (1 = the channel looks good)."
        ),
    )
    # The oldest IR version that carries these opsets, so older ONNX Runtimes read the file.
    onnx_model.ir_version = helper.find_min_ir_version_for(opset_imports)
    helper.set_model_props(onnx_model, _metadata(classifier, feature_names, outputs, steps))
    onnx.checker.check_model(onnx_model, full_check=True)
    if path is not None:
        onnx.save(onnx_model, os.fspath(path))
    return onnx_model


def _session(onnx_model):
    ort = _import("onnxruntime")
    if isinstance(onnx_model, ort.InferenceSession):
        return onnx_model
    if isinstance(onnx_model, (str, os.PathLike)):
        source = os.fspath(onnx_model)
    elif hasattr(onnx_model, "SerializeToString"):
        source = onnx_model.SerializeToString()
    else:
        raise TypeError(
            "onnx_model must be an onnx.ModelProto, a path to a .onnx file or an "
            f"onnxruntime.InferenceSession; got {type(onnx_model).__name__}."
        )
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def predict_onnx(onnx_model, X):
    """Run an exported model with ONNX Runtime; return P(good) and the channel scores.

    Parameters
    ----------
    onnx_model : onnx.ModelProto, str, path-like or onnxruntime.InferenceSession
        A model written by :func:`to_onnx`.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features. A DataFrame's columns are taken by name, in the order stored in the model's
        ``feature_names`` metadata; an array's columns must already be in that order. Values
        are rounded to float32, the model's input type.

    Returns
    -------
    DataFrame of shape (n_samples, 1 + n_channels)
        Column ``p_good``, then one column per channel (named by the channel, as in
        ``predict_channel_scores``); the index of X when X is a DataFrame.

    Raises
    ------
    ValueError
        If a DataFrame lacks a feature of the model, or an array has the wrong number of
        columns.
    """
    session = _session(onnx_model)
    metadata = session.get_modelmeta().custom_metadata_map
    feature_names = json.loads(metadata["feature_names"])
    channel_names = json.loads(metadata["channel_names"])
    index = None
    if isinstance(X, pd.DataFrame):
        index = X.index
        missing = [name for name in feature_names if name not in X.columns]
        if missing:
            raise ValueError(
                f"X lacks {len(missing)} feature(s) of the ONNX model, e.g. {missing[:3]}; the "
                "model needs the columns it was fitted on."
            )
        X = X[feature_names]
    features = np.ascontiguousarray(np.asarray(X), dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != len(feature_names):
        raise ValueError(
            f"X has shape {features.shape}; the ONNX model takes (n, {len(feature_names)}) "
            "features."
        )
    output_names = [P_GOOD_NAME, *json.loads(metadata["channel_outputs"])]
    results = session.run(output_names, {INPUT_NAME: features})
    return pd.DataFrame(
        {name: values for name, values in zip([P_GOOD_NAME, *channel_names], results)},
        index=index,
    )


def _python_outputs(model, X):
    steps, classifier = _split_model(model)
    if steps:
        X = model[:-1].transform(X)
    p_good = classifier.predict_proba(X)[:, classifier.good_class_index_]
    scores = classifier.predict_channel_scores(X)
    scores.insert(0, P_GOOD_NAME, p_good)
    return scores


def onnx_parity(model, onnx_model, X, *, round_inputs=True):
    """Largest absolute difference between the Python model and its ONNX export, per output.

    Parameters
    ----------
    model : ChannelDecompositionClassifier or Pipeline
        The fitted model that was exported.
    onnx_model : onnx.ModelProto, str, path-like or onnxruntime.InferenceSession
        Its export by :func:`to_onnx`.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features (a DataFrame with the model's feature names, or an array in their order).
    round_inputs : bool, default=True
        Give the Python model X rounded to float32 (the values the ONNX model receives, as
        float64), so the figures measure the export alone. False: the Python model sees X as
        given, so the figures include the effect of rounding the features to float32.

    Returns
    -------
    Series
        Indexed by ``p_good`` and the channel names: ``max |python - onnx|`` over the rows.
    """
    onnx_outputs = predict_onnx(onnx_model, X)
    if round_inputs:
        rounded = np.asarray(X, dtype=np.float32).astype(np.float64)
        if isinstance(X, pd.DataFrame):
            rounded = pd.DataFrame(rounded, index=X.index, columns=X.columns)
        X = rounded
    python_outputs = _python_outputs(model, X)
    difference = np.abs(python_outputs.to_numpy() - onnx_outputs.to_numpy()).max(axis=0)
    return pd.Series(difference, index=python_outputs.columns, name="max_abs_difference")
