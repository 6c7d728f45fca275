"""Gallery helpers named in conf.py's ``sphinx_gallery_conf``: the order and a figure scraper."""

from pathlib import Path

#: The order of the gallery: the path from a table to the detector's data-quality workflow,
#: then the unsupervised detectors. Examples not listed follow, by file name.
READING_ORDER = [
    "plot_tabular_decomposition.py",
    "plot_simulated_detector.py",
    "plot_reliability.py",
    "plot_nanoaod.py",
    "plot_dask_extraction.py",
    "plot_histograms.py",
    "plot_certification_triage.py",
    "plot_anomalyclr.py",
    "plot_flux_mutability.py",
]


class ReadingOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``: :data:`READING_ORDER` first."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "ReadingOrder"

    def __call__(self, filename):
        name = Path(filename).name
        position = READING_ORDER.index(name) if name in READING_ORDER else len(READING_ORDER)
        return (position, name)


def pyplot_scraper(block, block_vars, gallery_conf):
    """sphinx-gallery's matplotlib scraper, which marks the figures it saves (and closes).

    A closed pyplot figure has no manager any more, like the Figures that
    :func:`figure_scraper` looks for: the mark keeps it from being saved twice when an example
    holds it in a variable (``figure, ax = plt.subplots()``).
    """
    import matplotlib.pyplot as plt
    from sphinx_gallery.scrapers import matplotlib_scraper

    for number in plt.get_fignums():
        plt.figure(number)._gallery_scraped = True
    return matplotlib_scraper(block, block_vars, gallery_conf)


def figure_scraper(block, block_vars, gallery_conf):
    """Save the matplotlib Figures an example holds in variables, outside pyplot.

    ``channeldecomp.plotting`` returns :class:`matplotlib.figure.Figure` objects that pyplot
    does not manage, so sphinx-gallery's matplotlib scraper does not see them. Each one is
    written once, after the code block that made it.
    """
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    new = [
        value
        for value in block_vars["example_globals"].values()
        if isinstance(value, Figure)
        and value.canvas.manager is None  # pyplot's open figures are pyplot_scraper's
        and not getattr(value, "_gallery_scraped", False)
    ]
    paths = []
    for figure, path in zip(new, block_vars["image_path_iterator"]):
        figure.savefig(path, dpi=90)
        figure._gallery_scraped = True
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
