"""Shared pytest configuration."""

import matplotlib
import torch

matplotlib.use("Agg")


def pytest_report_header(config):
    # Float results differ in the last bits with the CPU kernels and the thread count: say which
    # ran, so a failure on one machine can be reproduced on another (ATEN_CPU_CAPABILITY=...).
    return (
        f"torch {torch.__version__}: CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads"
    )


def pytest_collection_modifyitems(config, items):
    # scikit-learn yields its array-API input check for every estimator and skips it unless
    # SCIPY_ARRAY_API is set. Our estimators compute with torch/numpy and do not claim array-API
    # support (tags.array_api_support is False), so the check does not apply: deselect it
    # instead of reporting a skip on every run.
    selected, deselected = [], []
    for item in items:
        (deselected if "check_array_api_input" in item.nodeid else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
