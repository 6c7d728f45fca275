"""Torch modules as plain data, so that model files hold no pickled code and load on any device.

A fitted estimator of the package keeps torch modules (the classifier's network, the detectors'
encoders, autoencoders and flows). For saving, each module becomes a plain dict: the module's
class (one of the package's own, registered with :func:`rebuildable_module`), the arguments its
constructor was called with, its weights as CPU numpy arrays and its train/eval mode. Loading
rebuilds the module on the CPU from that dict and refuses any class that was not registered, so
a crafted file cannot make the loader construct an arbitrary class.

Estimators use :class:`TorchModulesStateMixin` (``__getstate__``/``__setstate__``), which both
pickle and ``skops`` go through.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import torch
from torch import nn

__all__ = [
    "TorchModulesStateMixin",
    "module_from_state",
    "module_to_state",
    "rebuildable_module",
]

#: Marks a dict made by :func:`module_to_state`; the value is the layout's version.
STATE_KEY = "torch_module_state"
_STATE_VERSION = 1

# Qualified class name -> class, for every module class a model file may rebuild.
_REBUILDABLE = {}


def _qualified_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _plain(value, where):
    """Return ``value`` as plain Python data (numbers, str, bool, None, lists, tuples, dicts)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item, where) for item in value)
    if isinstance(value, dict):
        return {str(key): _plain(item, where) for key, item in value.items()}
    raise TypeError(
        f"{where} is a {type(value).__name__}; a module rebuilt from a model file takes "
        "only numbers, strings, booleans, None and lists, tuples or dicts of them."
    )


def rebuildable_module(cls):
    """Class decorator: let model files rebuild the torch module class ``cls``.

    Each instance records the arguments its constructor was called with (defaults filled in)
    in ``_constructor_arguments``, and the class is registered so that
    :func:`module_from_state` may construct it. The constructor may not take ``*args`` or
    ``**kwargs``.

    Parameters
    ----------
    cls : subclass of torch.nn.Module
        The module class.

    Returns
    -------
    cls
        The same class, its ``__init__`` wrapped.

    Raises
    ------
    TypeError
        If ``cls`` is not a torch module class or its constructor takes ``*args``/``**kwargs``.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"rebuildable_module decorates torch.nn.Module classes; got {cls!r}.")
    init = cls.__init__
    signature = inspect.signature(init)
    variadic = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if variadic:
        raise TypeError(
            f"{cls.__qualname__}.__init__ takes *{variadic[0]}: a rebuildable module needs "
            "named constructor arguments."
        )

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(list(bound.arguments.items())[1:])  # without self
        # The most derived decorated class records last, so its arguments win.
        self._constructor_arguments = arguments

    cls.__init__ = __init__
    _REBUILDABLE[_qualified_name(cls)] = cls
    return cls


def module_to_state(module):
    """Describe a torch module as plain data: class, constructor arguments, CPU weights.

    Parameters
    ----------
    module : torch.nn.Module
        An instance of a class decorated with :func:`rebuildable_module`.

    Returns
    -------
    state : dict
        ``module`` (qualified class name), ``arguments`` (dict), ``weights`` (dict of name to
        numpy array, on the CPU, in the module's dtype) and ``training`` (bool).

    Raises
    ------
    TypeError
        If the module's class is not registered, or an argument is not plain data.
    """
    name = _qualified_name(type(module))
    if _REBUILDABLE.get(name) is not type(module):
        raise TypeError(
            f"Cannot save the torch module {name}: only the package's own modules (decorated "
            "with rebuildable_module) are saved as plain data."
        )
    recorded = getattr(module, "_constructor_arguments", None)
    if recorded is None:
        raise TypeError(
            f"The torch module {name} has no record of its constructor arguments: it comes "
            "from a pickle written by an earlier version of channeldecomp. Refit the model, "
            "then save it."
        )
    arguments = _plain(recorded, f"A constructor argument of {type(module).__name__}")
    weights = {
        key: np.array(tensor.detach().cpu().numpy(), copy=True)
        for key, tensor in module.state_dict().items()
    }
    return {
        STATE_KEY: _STATE_VERSION,
        "module": name,
        "arguments": arguments,
        "weights": weights,
        "training": bool(module.training),
    }


def is_module_state(value):
    """True when ``value`` is a dict made by :func:`module_to_state`."""
    return isinstance(value, dict) and STATE_KEY in value


def module_from_state(state):
    """Rebuild, on the CPU, a torch module described by :func:`module_to_state`.

    Parameters
    ----------
    state : dict
        As returned by :func:`module_to_state`.

    Returns
    -------
    module : torch.nn.Module
        On the CPU, with the saved weights (and their dtypes) and train/eval mode.

    Raises
    ------
    ValueError
        If the class is not one of the package's registered modules, or the weights do not fit
        the module (a damaged file, or one written by an incompatible version).
    """
    if state.get(STATE_KEY) != _STATE_VERSION:
        raise ValueError(
            f"Unknown layout {state.get(STATE_KEY)!r} of a saved torch module (this version "
            f"reads {_STATE_VERSION}): the model file was written by another version of "
            "channeldecomp."
        )
    name = state["module"]
    cls = _REBUILDABLE.get(name)
    if cls is None:
        raise ValueError(
            f"The model file asks for the torch module {name!r}, which is not one of the "
            f"package's modules ({sorted(_REBUILDABLE)}); refusing to construct it."
        )
    # Construction draws initial weights, soon overwritten: keep the caller's random state.
    with torch.random.fork_rng(devices=[]):
        module = cls(**state["arguments"])
    weights = {key: torch.tensor(np.asarray(value)) for key, value in state["weights"].items()}
    try:
        # assign=True keeps the saved dtypes (e.g. float64 inference copies).
        module.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as exc:
        raise ValueError(
            f"The saved weights do not fit the module {name}: the model file is damaged or "
            f"was written by an incompatible version of channeldecomp ({exc})."
        ) from exc
    return module.train(bool(state["training"]))


class TorchModulesStateMixin:
    """Pickle and skops state with the torch modules of fitted attributes as plain data.

    A subclass lists in ``_torch_module_attributes`` the attributes that may hold a torch
    module. ``__getstate__`` replaces each by :func:`module_to_state`; ``__setstate__``
    rebuilds it on the CPU. Put the mixin left of ``BaseEstimator``.
    """

    _torch_module_attributes = ()

    def __getstate__(self):
        state = dict(super().__getstate__())
        for name in self._torch_module_attributes:
            if isinstance(state.get(name), nn.Module):
                state[name] = module_to_state(state[name])
        return state

    def __setstate__(self, state):
        state = dict(state)
        for name in self._torch_module_attributes:
            if is_module_state(state.get(name)):
                state[name] = module_from_state(state[name])
        super().__setstate__(state)
