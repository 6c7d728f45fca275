"""Sphinx configuration of the channeldecomp documentation.

Build with ``make docs`` from the repository root (warnings are errors). The gallery runs the
``examples/plot_*.py`` scripts during the build; ``CHANNELDECOMP_DOCS_QUICK=1`` (the Makefile's
default) makes each shrink its data and epochs so the whole build takes a few minutes.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_sphinxext"))
# The package from this checkout, also when it is not installed.
sys.path.insert(0, str(DOCS.parent))

import channeldecomp  # noqa: E402

project = "channeldecomp"
author = "The channeldecomp developers"
copyright = "The channeldecomp developers"
release = channeldecomp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "README.md"]

# -- Markdown pages (MyST) -------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# -- API reference ---------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
# numpydoc renders the sections; the class template lists the members itself.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "DataFrame": "pandas.DataFrame",
    "Series": "pandas.Series",
    "MultiIndex": "pandas.MultiIndex",
    "ndarray": "numpy.ndarray",
    "Pipeline": "sklearn.pipeline.Pipeline",
    "RandomState": "numpy.random.RandomState",
    "Generator": "numpy.random.Generator",
    "Figure": "matplotlib.figure.Figure",
    "Tensor": "torch.Tensor",
    "Module": "torch.nn.Module",
    "path-like": ":term:`python:path-like object`",
    # the package's own names, as its docstrings write them in parameter types
    "ChannelDecompositionClassifier": "channeldecomp.ChannelDecompositionClassifier",
    "LumiSections": "channeldecomp.LumiSections",
    "LumiSectionHistograms": "channeldecomp.LumiSectionHistograms",
    "PerChannelClassifier": "channeldecomp.baselines.PerChannelClassifier",
    "Combiner": "channeldecomp.decomposition.Combiner",
    "UntrustedTypesError": "channeldecomp.io.UntrustedTypesError",
    "History": "skorch.history.History",
}
numpydoc_xref_ignore = {
    "of",
    "or",
    "and",
    "default",
    "optional",
    "shape",
    "array-like",
    "mapping",
    "estimator",
    "instance",
    "object",
    "n_samples",
    "n_features",
    "n_channels",
    "type",
    "bytes",
    # classes of other projects without an inventory here, and the networks' internal modules
    "onnx.ModelProto",
    "onnxruntime.InferenceSession",
    "awkward.Array",
    "AttributionNetwork",
    "SetTransformerEncoder",
    "ConditionalMAF",
}

# Every reference must resolve (the build's -W makes a dangling one an error), except the plain
# words that numpydoc offers as references from parameter types ("float in [0, 1]", "dict of
# str to int", "array of shape (n_objects, n_properties)"): lowercase names of no object.
nitpicky = True
nitpick_ignore_regex = [("py:obj", r"[a-z][a-z0-9_]*")]

# "Bases:" names a class's public bases: a private base (a mixin of the package, say) stands
# for its own bases, whose members the class's page lists anyway; a base whose module path is
# not its public one is shown by the public name.
_PUBLIC_BASES = {
    "torch.nn.modules.module.Module": ":class:`torch.nn.Module`",
    "sklearn.model_selection._split.BaseCrossValidator": (
        "``sklearn.model_selection.BaseCrossValidator``"
    ),
}


def _public_bases(app, name, obj, options, bases):
    shown = []

    def visit(base):
        path = f"{base.__module__}.{base.__qualname__}"
        if path in _PUBLIC_BASES:
            shown.append(_PUBLIC_BASES[path])
        elif any(part.startswith("_") for part in path.split(".")):
            for parent in base.__bases__:
                if parent is not object:
                    visit(parent)
        else:
            shown.append(base)

    for base in list(bases):
        if isinstance(base, type):
            visit(base)
        else:
            shown.append(base)
    unique = [base for i, base in enumerate(shown) if base not in shown[:i]]
    bases[:] = unique or [object]


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)


# -- Cross-references to other projects ------------------------------------------------------
# The build machine may be offline, so intersphinx reads small inventories shipped in
# _intersphinx/ (written by docs/make_inventories.py with Sphinx's own inventory writer; they
# hold the names these pages refer to, with the real addresses of each project's pages) instead
# of downloading each project's objects.inv. To refresh one online, replace the local path by
# None in the mapping below.
_INVENTORIES = DOCS / "_intersphinx"
intersphinx_mapping = {
    name: (url, str(_INVENTORIES / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "pandas": "https://pandas.pydata.org/docs/",
        "sklearn": "https://scikit-learn.org/stable/",
        "skorch": "https://skorch.readthedocs.io/en/stable/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "dask": "https://docs.dask.org/en/stable/",
        "distributed": "https://distributed.dask.org/en/stable/",
        "joblib": "https://joblib.readthedocs.io/en/stable/",
        "matplotlib": "https://matplotlib.org/stable/",
    }.items()
}
intersphinx_timeout = 5

# -- Gallery ---------------------------------------------------------------------------------
os.environ.setdefault("CHANNELDECOMP_DOCS_QUICK", "1")
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery.ReadingOrder",
    # The package's plotting functions return matplotlib Figures outside pyplot: the second
    # scraper picks those up from each example's variables (the first is matplotlib's, which
    # marks the pyplot figures it saves so that the second does not save them again).
    "image_scrapers": ("gallery.pyplot_scraper", "gallery.figure_scraper"),
    "doc_module": ("channeldecomp",),
    "backreferences_dir": "api/generated/backreferences",
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_signature": False,
    "min_reported_time": 1,
}

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"channeldecomp {release}"
html_static_path = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}
