"""Write the small intersphinx inventories of ``docs/_intersphinx/``.

The documentation refers to names of other projects (scikit-learn, skorch, NumPy, pandas,
PyTorch, Dask, ...). Sphinx's intersphinx turns such a name into a link by looking it up in the
project's ``objects.inv``, which it normally downloads. The build must also work offline, so
the inventories are shipped with the docs: this script writes them with Sphinx's own inventory
writer, holding the names these pages refer to, each with the address of its page in that
project's documentation (the same addresses the projects' own inventories give).

Run it again after adding a reference to a name that is not listed below::

    python docs/make_inventories.py
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

from sphinx.util.inventory import InventoryFile

#: project -> (version, {(domain, role): {name: page#anchor}}); "$" in an address stands for
#: the name, as in Sphinx's own inventories.
INVENTORIES = {
    "python": (
        "3",
        {
            ("py", "class"): {
                "pathlib.Path": "library/pathlib.html#$",
                "collections.abc.Sequence": "library/collections.abc.html#$",
                "dict": "library/stdtypes.html#$",
                "list": "library/stdtypes.html#$",
                "tuple": "library/stdtypes.html#$",
                "str": "library/stdtypes.html#$",
                "int": "library/functions.html#$",
                "float": "library/functions.html#$",
                "bool": "library/functions.html#$",
            },
            ("py", "exception"): {
                "ValueError": "library/exceptions.html#$",
                "TypeError": "library/exceptions.html#$",
                "RuntimeError": "library/exceptions.html#$",
                "UserWarning": "library/exceptions.html#$",
            },
            ("py", "module"): {"logging": "library/logging.html#module-logging"},
            ("py", "data"): {
                "None": "library/constants.html#$",
                "True": "library/constants.html#$",
                "False": "library/constants.html#$",
            },
            ("py", "function"): {
                "callable": "library/functions.html#$",
                "contextlib.contextmanager": "library/contextlib.html#$",
                "collections.namedtuple": "library/collections.html#$",
                "re.search": "library/re.html#$",
            },
            ("std", "term"): {
                "path-like object": "glossary.html#term-path-like-object",
                "iterable": "glossary.html#term-iterable",
                "sequence": "glossary.html#term-sequence",
                "generator": "glossary.html#term-generator",
            },
            ("std", "label"): {"bltin-boolean-values": "library/stdtypes.html#$"},
        },
    ),
    "numpy": (
        "2",
        {
            ("py", "class"): {
                "numpy.ndarray": "reference/generated/$.html#$",
                "numpy.random.RandomState": "reference/random/legacy.html#$",
                "numpy.random.Generator": "reference/random/generator.html#$",
            },
            ("py", "function"): {
                "numpy.percentile": "reference/generated/$.html#$",
                "numpy.quantile": "reference/generated/$.html#$",
            },
            ("py", "data"): {
                "numpy.inf": "reference/constants.html#$",
                "numpy.nan": "reference/constants.html#$",
            },
            ("py", "module"): {"numpy": "reference/index.html#module-numpy"},
            ("std", "term"): {"array_like": "glossary.html#term-array_like"},
            ("std", "label"): {"arrays.scalars": "reference/arrays.scalars.html#arrays-scalars"},
        },
    ),
    "pandas": (
        "2",
        {
            ("py", "class"): {
                "pandas.DataFrame": "reference/api/$.html#$",
                "pandas.Series": "reference/api/$.html#$",
                "pandas.MultiIndex": "reference/api/$.html#$",
            },
            ("py", "function"): {
                "pandas.read_parquet": "reference/api/$.html#$",
                "pandas.read_csv": "reference/api/$.html#$",
            },
            ("py", "method"): {"pandas.DataFrame.groupby": "reference/api/$.html#$"},
        },
    ),
    "sklearn": (
        "1.8",
        {
            ("py", "class"): {
                name: "modules/generated/$.html#$"
                for name in (
                    "sklearn.base.BaseEstimator",
                    "sklearn.base.ClassifierMixin",
                    "sklearn.base.TransformerMixin",
                    "sklearn.base.OutlierMixin",
                    "sklearn.pipeline.Pipeline",
                    "sklearn.preprocessing.QuantileTransformer",
                    "sklearn.preprocessing.StandardScaler",
                    "sklearn.model_selection.GridSearchCV",
                    "sklearn.model_selection.GroupKFold",
                    "sklearn.model_selection.GroupShuffleSplit",
                    "sklearn.model_selection.StratifiedGroupKFold",
                    "sklearn.ensemble.HistGradientBoostingClassifier",
                    "sklearn.ensemble.IsolationForest",
                    "sklearn.neural_network.MLPClassifier",
                    "sklearn.linear_model.LogisticRegression",
                    "sklearn.utils.Bunch",
                    "sklearn.exceptions.NotFittedError",
                    "sklearn.exceptions.UndefinedMetricWarning",
                )
            },
            ("py", "function"): {
                name: "modules/generated/$.html#$"
                for name in (
                    "sklearn.base.clone",
                    "sklearn.pipeline.make_pipeline",
                    "sklearn.model_selection.cross_val_score",
                    "sklearn.model_selection.cross_validate",
                    "sklearn.model_selection.learning_curve",
                    "sklearn.model_selection.train_test_split",
                    "sklearn.metrics.roc_auc_score",
                    "sklearn.utils.estimator_checks.parametrize_with_checks",
                    "sklearn.set_config",
                )
            },
            ("std", "term"): {"meta-estimator": "glossary.html#term-meta-estimator"},
            ("std", "label"): {"metadata_routing": "metadata_routing.html#metadata-routing"},
            ("std", "doc"): {
                "metadata_routing": "metadata_routing.html",
                "developers/develop": "developers/develop.html",
                "model_persistence": "model_persistence.html",
            },
        },
    ),
    "skorch": (
        "1.3",
        {
            ("py", "class"): {
                "skorch.net.NeuralNet": "net.html#$",
                "skorch.classifier.NeuralNetClassifier": "classifier.html#$",
                "skorch.classifier.NeuralNetBinaryClassifier": "classifier.html#$",
                "skorch.history.History": "history.html#$",
                "skorch.callbacks.Callback": "callbacks.html#$",
                "skorch.callbacks.EarlyStopping": "callbacks.html#$",
                "skorch.callbacks.LRScheduler": "callbacks.html#$",
            },
        },
    ),
    "torch": (
        "2",
        {
            ("py", "class"): {
                "torch.Tensor": "tensors.html#$",
                "torch.device": "tensor_attributes.html#$",
                "torch.nn.Module": "generated/$.html#$",
                "torch.nn.TransformerEncoder": "generated/$.html#$",
                "torch.optim.Adam": "generated/$.html#$",
            },
            ("py", "function"): {
                "torch.manual_seed": "generated/$.html#$",
                "torch.cuda.is_available": "generated/$.html#$",
                "torch.set_num_threads": "generated/$.html#$",
            },
        },
    ),
    "dask": (
        "2025",
        {
            ("py", "function"): {
                "dask.compute": "api.html#$",
                "dask.delayed.delayed": "delayed-api.html#$",
                "dask.dataframe.read_parquet": "generated/$.html#$",
                "dask.dataframe.from_map": "generated/$.html#$",
            },
            ("py", "class"): {"dask.dataframe.DataFrame": "generated/$.html#$"},
            ("py", "method"): {"dask.dataframe.DataFrame.map_partitions": "generated/$.html#$"},
        },
    ),
    "distributed": (
        "2025",
        {
            ("py", "class"): {
                "distributed.Client": "api.html#$",
                "distributed.LocalCluster": "api.html#$",
            },
        },
    ),
    "joblib": (
        "1.5",
        {("py", "function"): {"joblib.parallel_config": "generated/$.html#$"}},
    ),
    "matplotlib": (
        "3",
        {
            ("py", "class"): {
                "matplotlib.figure.Figure": "api/_as_gen/$.html#$",
                "matplotlib.axes.Axes": "api/_as_gen/$.html#$",
            },
            ("py", "function"): {"matplotlib.pyplot.show": "api/_as_gen/$.html#$"},
        },
    ),
}


class _Domain:
    """What Sphinx's inventory writer reads from a domain: its name and its objects."""

    def __init__(self, name, objects):
        self.name = name
        self._objects = objects

    def get_objects(self):
        # (name, display name, type, page, anchor, priority); the page carries the address.
        for (role, name), address in self._objects.items():
            page, _, anchor = address.replace("$", name).partition("#")
            yield name, name, role, page, anchor, 1


def write_inventory(path, project, version, entries):
    """Write one ``objects.inv`` with :meth:`sphinx.util.inventory.InventoryFile.dump`."""
    by_domain = {}
    for (domain, role), names in entries.items():
        for name, address in names.items():
            by_domain.setdefault(domain, {})[(role, name)] = address
    domains = [_Domain(name, objects) for name, objects in sorted(by_domain.items())]
    env = SimpleNamespace(
        config=SimpleNamespace(project=project, version=version),
        domains=SimpleNamespace(sorted=lambda: domains),
    )
    builder = SimpleNamespace(get_target_uri=lambda page: page)
    InventoryFile.dump(path, env, builder)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", default=Path(__file__).parent / "_intersphinx", type=Path, help="directory"
    )
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for project, (version, entries) in INVENTORIES.items():
        write_inventory(args.output / f"{project}.inv", project, version, entries)


if __name__ == "__main__":
    main()
