import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from sknlis import SingleIndexRegressor
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


def test_every_draw_keeps_the_strategy_s_replace_and_mix_uniform():
    # After the first draw, draws at fixed scores dropped replace=False and
    # mix_uniform: later samples repeated rows and never reached zero scores.
    X, y = standardize(*load_diabetes(return_X_y=True))
    samples = []

    class Recording(SingleIndexRegressor):
        def fit(self, X, y, sample_weight=None):
            samples.append((X, sample_weight))
            return super().fit(X, y, sample_weight)

    optimum = Recording(random_state=0).fit(X, y)
    strategy = {"scores": "leverage", "basis": "linear", "replace": False}
    strategy["mix_uniform"] = 0.5
    samples.clear()
    relative_excess_loss(
        X,
        y,
        sizes=[0.1],
        repeats=3,
        strategies={"LLS": strategy},
        make_model=lambda seed: Recording(random_state=seed, max_iter=5),
        optimum=optimum,
    )
    assert len(samples) == 3
    for rows, weights in samples:
        assert np.unique(rows, axis=0).shape[0] == rows.shape[0]
        # Without replacement and mixed, 1 / pi_i <= n / (s * mix_uniform).
        assert weights.max() <= 442 / (44 * 0.5) + 1e-9


def test_a_sketch_at_theta_star_is_redrawn_each_repeat_and_paired_with_exact():
    # Sketched scores are random: one sketch reused for every repeat would
    # make the repeats share its error. Each repeat gets its own sketch, from
    # a seed the repeat fixes, and draws with the exact strategy's numbers.
    X, y = standardize(*load_diabetes(return_X_y=True))
    row_index = {row.tobytes(): i for i, row in enumerate(X)}
    samples = []

    class Recording(SingleIndexRegressor):
        def fit(self, X, y, sample_weight=None):
            rows = [row_index[row.tobytes()] for row in X]
            samples.append((np.array(rows), sample_weight))
            return super().fit(X, y, sample_weight)

    optimum = SingleIndexRegressor(random_state=0).fit(X, y)
    exact = PAPER_STRATEGIES["ALS"]
    strategies = {"exact": exact, "sketch": {**exact, "leverage_method": "sketch"}}

    def run():
        samples.clear()
        relative_excess_loss(
            X,
            y,
            sizes=[0.2],
            repeats=3,
            strategies=strategies,
            make_model=lambda seed: Recording(random_state=seed, max_iter=5),
            optimum=optimum,
        )
        return list(samples)

    first = run()
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, run()))
    count = len(first[0][0])

    def tau(sample):
        rows, weights = sample
        return dict(zip(rows, 1.0 / (count * weights)))

    for name, draws in (("exact", first[:3]), ("sketch", first[3:])):
        one, two = tau(draws[0]), tau(draws[1])
        shared = sorted(set(one) & set(two))
        ratio = np.array([one[i] / two[i] for i in shared])
        assert np.allclose(ratio, 1.0) == (name == "exact")
    for (exact_rows, _), (sketch_rows, _) in zip(first[:3], first[3:]):
        # Rows drawn by both, with multiplicity (measured 65-90%; unpaired, about 20%).
        both = np.minimum(
            np.bincount(exact_rows, minlength=442),
            np.bincount(sketch_rows, minlength=442),
        )
        assert both.sum() > 0.5 * count
