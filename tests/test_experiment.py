import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from sknlis._demo import standardize
from sknlis._experiment import PAPER_STRATEGIES, _log_excess, relative_excess_loss


def test_excess_losses_have_one_entry_per_strategy_size_and_draw():
    X, y = standardize(*load_diabetes(return_X_y=True))
    messages = []
    errors, optimum = relative_excess_loss(
        X, y, sizes=[0.2, 0.5], repeats=2, progress=messages.append
    )
    assert set(errors) == set(PAPER_STRATEGIES)
    assert all(table.shape == (2, 2) for table in errors.values())
    # theta* is the minimizer, so every refit loses something (finite logs),
    # and half the rows lose less than a fifth of them, on median.
    assert all(np.all(np.isfinite(table)) for table in errors.values())
    assert np.median(errors["UN"][1]) < np.median(errors["UN"][0])
    assert len(messages) == len(PAPER_STRATEGIES) * 2


def test_a_refit_beating_theta_star_is_not_hidden():
    assert _log_excess(1e-3) == pytest.approx(-3.0)
    assert _log_excess(0.0) == -np.inf
    assert np.isnan(_log_excess(-1e-9))
