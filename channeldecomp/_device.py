"""Where an estimator's torch work runs: device checks, the CPU fallback and a private seed.

Every torch estimator of the package takes a ``device`` parameter (``"cpu"``, ``"cuda"``,
``"cuda:1"``, ...). Training runs there; the fitted modules are kept on the CPU, so a model
file never holds a CUDA tensor and loads on a machine without a GPU; inference copies what it
needs to ``device`` for the call, or runs on the CPU with a warning when that machine has no
CUDA device.
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import torch

__all__ = ["check_device", "inference_device", "module_on", "private_torch_rng"]


def _no_cuda_message(device):
    return (
        f"device={device!r} but torch sees no CUDA device (torch {torch.__version__}). Use "
        "device='cpu', or install a CUDA build of torch."
    )


def _parse(device):
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:<index>' "
            f"({error})."
        ) from None


def _check_ordinal(device, parsed):
    count = torch.cuda.device_count()
    if parsed.index is not None and parsed.index >= count:
        raise ValueError(
            f"device={device!r} but torch sees {count} CUDA device(s) (indices 0..{count - 1}). "
            "Use device='cuda' for the first one."
        )


def check_device(device):
    """Return ``device`` as a ``torch.device``; raise a ValueError where it cannot be used.

    Called at fit: asking for CUDA on a machine where torch sees none is an error there.
    """
    parsed = _parse(device)
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(_no_cuda_message(device))
        _check_ordinal(device, parsed)
    return parsed


def inference_device(estimator):
    """The device for one predict/score call of a fitted ``estimator``.

    Its ``device`` parameter, except that a CUDA device on a machine where torch sees no CUDA
    (a model trained on a GPU, loaded elsewhere) falls back to the CPU with a ``UserWarning``.
    """
    parsed = _parse(estimator.device)
    if parsed.type != "cuda":
        return parsed
    if not torch.cuda.is_available():
        warnings.warn(
            f"{type(estimator).__name__} has device={estimator.device!r} but torch sees no CUDA "
            "device; computing on the CPU instead. Set device='cpu' to silence this warning.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    _check_ordinal(estimator.device, parsed)
    return parsed


def module_on(module, device, dtype=None):
    """``module`` on ``device`` (and in ``dtype``), leaving the fitted module itself untouched.

    The module itself when it is already there; otherwise a copy.
    """
    parameter = next(module.parameters(), None)
    if parameter is not None and parameter.device == device:
        if dtype is None or parameter.dtype == dtype:
            return module
    module = copy.deepcopy(module)
    return module.to(device) if dtype is None else module.to(device, dtype)


@contextlib.contextmanager
def private_torch_rng(seed, device):
    """Seed torch inside; restore the caller's torch random state (CPU, and CUDA when
    ``device`` is a CUDA device) after."""
    device = torch.device(device)
    if device.type == "cuda":
        forked = torch.random.fork_rng(devices=[device], device_type="cuda")
    else:
        forked = torch.random.fork_rng(devices=[])
    with forked:
        torch.manual_seed(seed)
        yield
