"""Safe model files: save and load fitted models with skops instead of pickle.

A pickle (or joblib) file runs arbitrary code when it is loaded, so a model shared on a common
disk area is a way into the account of everyone who loads it. The skops format stores an
object as a tree of plain data and named types and checks every type against a trusted list
before constructing anything. :func:`load` trusts the package's own estimators and what skops
trusts by default (scikit-learn's estimators, numpy and builtin types) and refuses anything
else, naming it.

The package's estimators give skops only plain data for their torch parts: each network is
saved as its class (one of the package's own), its constructor arguments and its weights as
CPU numpy arrays, and rebuilt on the CPU when loaded. So a model fitted on a GPU loads on a
machine without one, and pickle/joblib round trips keep working too.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> import channeldecomp
>>> from channeldecomp.datasets import make_channel_anomalies
>>> data = make_channel_anomalies(n_samples=200, random_state=0)
>>> model = make_pipeline(
...     StandardScaler().set_output(transform="pandas"),
...     channeldecomp.ChannelDecompositionClassifier(max_epochs=2, random_state=0),
... ).fit(data.data, data.target)
>>> path = channeldecomp.save(model, Path(tempfile.mkdtemp()) / "model.skops")
>>> loaded = channeldecomp.load(path)
>>> bool((loaded.predict_proba(data.data) == model.predict_proba(data.data)).all())
True
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ._files import atomic_path

__all__ = ["UntrustedTypesError", "is_model_file", "load", "save"]


class UntrustedTypesError(TypeError):
    """A model file holds types that :func:`~channeldecomp.load` does not trust.

    Parameters
    ----------
    path : path-like
        The model file.
    types : list of str
        The untrusted types, by qualified name.

    Attributes
    ----------
    types : list of str
        The untrusted types, sorted; pass those you trust to ``load(path, trusted=...)``.
    """

    def __init__(self, path, types):
        self.types = sorted(types)
        message = (
            f"{path} holds types that channeldecomp.load does not trust: {self.types}. Loading "
            "constructs objects of these types, which can run their code, so only the "
            "package's own estimators and the types skops trusts by default (scikit-learn, "
            "numpy, builtins) are trusted. If you trust whoever wrote this file and these "
            f"types, pass them: channeldecomp.load(path, trusted={self.types!r}) (on the "
            "command line: --trust TYPE for each)."
        )
        reasons = _skops_reasons()
        notes = [reasons[name] for name in self.types if name in reasons]
        if notes:
            message += "\n\n" + "\n\n".join(notes)
        super().__init__(message)


def _skops_io():
    """``skops.io``, or an ImportError that says how to install it."""
    try:
        import skops.io
    except ImportError as error:  # depends on the environment
        raise ImportError(
            "channeldecomp's model files are skops files: install skops "
            "(pip install 'channeldecomp[io]', or pip install skops)."
        ) from error
    return skops.io


def _skops_reasons():
    """skops' explanations of why it does not trust some types by default."""
    try:
        from skops.io.exceptions import UNTRUSTED_TYPE_REASONS
    except ImportError:  # older skops
        return {}
    return dict(UNTRUSTED_TYPE_REASONS)


def _qualified_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _package_types():
    """Qualified names of the package's estimators, which :func:`load` trusts.

    Their torch parts are saved as plain data and rebuilt only from the package's own module
    classes (see ``channeldecomp._torch_state``), so trusting them trusts no other code.
    """
    from .baselines import (
        AdditiveBoostingClassifier,
        MLPAttributionClassifier,
        PerChannelClassifier,
        PerChannelOneClassDetector,
    )
    from .decomposition import ChannelDecompositionClassifier, DistilledChannelClassifier
    from .detectors import (
        AnomalyCLR,
        AutoencoderDetector,
        FluxMutability,
        PerChannelOutlierDetector,
    )
    from .features import LumiSectionPercentiles

    estimators = (
        ChannelDecompositionClassifier,
        DistilledChannelClassifier,
        LumiSectionPercentiles,
        AnomalyCLR,
        AutoencoderDetector,
        FluxMutability,
        PerChannelOutlierDetector,
        PerChannelClassifier,
        PerChannelOneClassDetector,
        MLPAttributionClassifier,
        AdditiveBoostingClassifier,
    )
    return [_qualified_name(cls) for cls in estimators]


def _trusted_names(trusted):
    if trusted is None:
        return []
    if (
        trusted is True
        or isinstance(trusted, (str, bytes, type))
        or not hasattr(trusted, "__iter__")
    ):
        raise TypeError(
            "trusted must be a list of type names (or types), e.g. "
            "trusted=['mypackage.MyTransformer'], naming each type you reviewed; got "
            f"{trusted!r}. There is no way to trust everything in a file."
        )
    names = []
    for item in trusted:
        if isinstance(item, type):
            names.append(_qualified_name(item))
        elif isinstance(item, str):
            names.append(item)
        else:
            raise TypeError(f"trusted lists type names or types; got {item!r}.")
    return names


def is_model_file(path):
    """True when ``path`` is a skops model file (a zip archive with a skops schema).

    Reading the file this way runs no code from it, whatever it holds.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    bool
        False for a pickle or joblib file, or any other file.

    Examples
    --------
    >>> import pickle, tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "model.pkl"
    >>> _ = path.write_bytes(pickle.dumps({"a": 1}))
    >>> is_model_file(path)
    False
    """
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def save(model, path):
    """Save a fitted model (estimator or Pipeline) to a skops file.

    The file is written whole to a temporary file beside ``path`` and then renamed, so a
    reader never sees a half-written model and an error leaves an older file at ``path`` as it
    was. Torch modules are stored as plain data (constructor arguments and CPU weights).

    Parameters
    ----------
    model : estimator
        A fitted model: the package's estimators, scikit-learn estimators and Pipelines of them.
    path : str or path-like
        Where to write, by convention with the extension ``.skops``. Its folder must exist.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If the model holds an object skops cannot store.
    FileNotFoundError
        If the folder of ``path`` does not exist.

    See Also
    --------
    load : read the file back.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.preprocessing import StandardScaler
    >>> scaler = StandardScaler().fit([[0.0], [2.0]])
    >>> save(scaler, Path(tempfile.mkdtemp()) / "scaler.skops").name
    'scaler.skops'
    """
    skops_io = _skops_io()
    path = Path(path)
    with atomic_path(path) as temporary:
        with open(temporary, "xb") as stream:
            try:
                skops_io.dump(model, stream, compression=zipfile.ZIP_DEFLATED)
            except TypeError as exc:
                raise TypeError(f"Cannot save {type(model).__name__} to {path}: {exc}") from exc
            stream.flush()
            os.fsync(stream.fileno())
    return path


def load(path, trusted=None):
    """Load a model saved with :func:`save` (or ``skops.io.dump``), checking every type first.

    Nothing in the file is constructed before all its types are checked. Trusted: the
    package's estimators, the types skops trusts by default (scikit-learn estimators, numpy,
    builtins) and the types listed in ``trusted``; any other type is refused. Note that skops
    does not trust scikit-learn's tree storage (``sklearn.tree._tree.Tree``, inside
    ``IsolationForest`` and other tree models) by default: a crafted tree can crash the process
    at prediction time; list it in ``trusted`` for files you wrote yourself.

    Parameters
    ----------
    path : str or path-like
        The model file.
    trusted : list of str or type, default=None
        Further types to trust, by qualified name (as listed in the error message) or as the
        type itself. Name only the types you reviewed: there is no way to trust everything.

    Returns
    -------
    model : estimator
        The model; torch modules are on the CPU.

    Raises
    ------
    UntrustedTypesError
        If the file holds types that are not trusted (a ``TypeError``); the message names them
        and shows how to pass ``trusted``.
    ValueError
        If the file is not a skops model file (e.g. a pickle or joblib file).
    FileNotFoundError
        If there is no file at ``path``.

    See Also
    --------
    save : write a model file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.preprocessing import StandardScaler
    >>> path = save(StandardScaler().fit([[0.0], [2.0]]), Path(tempfile.mkdtemp()) / "s.skops")
    >>> load(path).mean_
    array([1.])
    """
    skops_io = _skops_io()
    from skops.io.exceptions import UntrustedTypesFoundException

    path = Path(path)
    extra = _trusted_names(trusted)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    if not is_model_file(path):
        raise ValueError(
            f"{path} is not a skops model file (written by channeldecomp.save). If it is a "
            "pickle or joblib file, load it only if you trust whoever wrote it (loading a "
            "pickle runs arbitrary code), then save it with channeldecomp.save."
        )
    allowed = _package_types() + extra
    untrusted = [name for name in skops_io.get_untrusted_types(file=path) if name not in allowed]
    if untrusted:
        raise UntrustedTypesError(path, untrusted)
    try:
        return skops_io.load(path, trusted=allowed)
    except UntrustedTypesFoundException as exc:  # a type only the full audit finds
        raise TypeError(f"{path}: {exc}") from exc
