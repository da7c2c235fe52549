import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.tree import DecisionTreeRegressor

from sknlis import (
    NonlinearImportanceResampler,
    SingleIndexRegressor,
    importance_sample,
    leverage_scores,
    norm_scores,
)
from sknlis._demo import standardize

X, y = standardize(*load_diabetes(return_X_y=True))


def test_linear_basis_scores_the_data_matrix_with_intercept():
    design = np.column_stack([X, np.ones(len(X))])
    for scores, reference in (("leverage", leverage_scores), ("norm", norm_scores)):
        sampler = NonlinearImportanceResampler(scores=scores, basis="linear")
        sampler.fit_resample(X, y)
        np.testing.assert_allclose(sampler.scores_, reference(design), atol=1e-15)
        assert sampler.estimator_ is None


def test_uniform_scores_ignore_the_basis():
    sampler = NonlinearImportanceResampler(scores="uniform", n_samples=30)
    sampler.fit_resample(X, y)
    np.testing.assert_allclose(sampler.scores_, 1 / len(X))
    np.testing.assert_allclose(sampler.sample_weight_, len(X) / 30)


def test_validation_mode_scores_the_dual_matrix_at_the_full_fit():
    model = SingleIndexRegressor(random_state=0)
    sampler = NonlinearImportanceResampler(model, pilot_size=None, random_state=0)
    sampler.fit_resample(X, y)
    full = SingleIndexRegressor(random_state=0).fit(X, y)
    np.testing.assert_allclose(sampler.estimator_.theta_, full.theta_)
    expected = leverage_scores(full.adjoint_matrix(X, y))
    np.testing.assert_allclose(sampler.scores_, expected, rtol=1e-9)
    assert sampler.pilot_indices_ is None


def test_pilot_mode_fits_on_a_uniform_pilot_sample():
    model = SingleIndexRegressor(random_state=0)
    sampler = NonlinearImportanceResampler(model, pilot_size=60, random_state=0)
    sampler.fit_resample(X, y)
    pilot = sampler.pilot_indices_
    assert pilot.shape == (60,) and len(np.unique(pilot)) == 60
    reference = SingleIndexRegressor(random_state=0).fit(X[pilot], y[pilot])
    np.testing.assert_allclose(sampler.estimator_.theta_, reference.theta_)
    expected = leverage_scores(reference.adjoint_matrix(X, y))
    np.testing.assert_allclose(sampler.scores_, expected, rtol=1e-9)


@pytest.mark.parametrize(
    "n_samples, n_pilot",
    [
        (200, 200),  # as many pilot rows as the sample draws
        (0.5, 221),  # a fraction resolves first: round(0.5 * 442)
        (20, 110),  # floor: 10 * (10 features + 1)
        (1000, 442),  # with replacement the sample may exceed n; cap at n
    ],
)
def test_auto_pilot_is_the_size_of_the_sample(n_samples, n_pilot):
    sampler = NonlinearImportanceResampler(n_samples=n_samples, random_state=0)
    assert sampler.pilot_size == "auto"  # the default
    sampler.fit_resample(X, y)
    pilot = sampler.pilot_indices_
    assert pilot.shape == (n_pilot,) and len(np.unique(pilot)) == n_pilot
    # "auto" is only a count: the same seed with that count gives the same draw.
    explicit = NonlinearImportanceResampler(
        n_samples=n_samples, pilot_size=n_pilot, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(pilot, explicit.pilot_indices_)
    np.testing.assert_array_equal(sampler.sample_indices_, explicit.sample_indices_)


class _RowCountingRegressor(SingleIndexRegressor):
    """Counts the rows its dual matrix is computed on."""

    def adjoint_matrix(self, X, y=None, *, block_size=None):
        self.rows_scored_ = getattr(self, "rows_scored_", 0) + X.shape[0]
        return super().adjoint_matrix(X, y, block_size=block_size)


@pytest.mark.parametrize("scores", ["leverage", "norm"])
def test_dual_matrix_is_computed_once_when_it_fits_in_a_block(scores):
    fitted = _RowCountingRegressor(random_state=0).fit(X, y)
    sampler = NonlinearImportanceResampler(fitted, prefit=True, scores=scores)
    sampler.fit_resample(X, y)
    # Every row once (not once per pass); the width comes from theta_.
    assert fitted.rows_scored_ == len(X)
    # Small blocks recompute rows on every pass, with the same scores.
    fitted.rows_scored_ = 0
    blocked = NonlinearImportanceResampler(
        fitted, prefit=True, scores=scores, block_size=100
    ).fit(X, y)
    assert fitted.rows_scored_ >= 2 * len(X)
    np.testing.assert_allclose(blocked.scores_, sampler.scores_, rtol=1e-10)


def test_prefit_uses_the_estimator_as_it_is():
    fitted = SingleIndexRegressor(activation="tanh").fit(X[:100], y[:100])
    sampler = NonlinearImportanceResampler(fitted, prefit=True, scores="norm")
    sampler.fit_resample(X, y)
    assert sampler.estimator_ is fitted
    np.testing.assert_allclose(
        sampler.scores_, norm_scores(fitted.adjoint_matrix(X, y))
    )


@pytest.mark.parametrize("replace", [True, False])
def test_sample_is_the_importance_draw_of_the_scores(replace):
    sampler = NonlinearImportanceResampler(
        basis="linear", n_samples=40, replace=replace, mix_uniform=0.1, random_state=7
    )
    X_res, y_res = sampler.fit_resample(X, y)
    idx, w = importance_sample(
        sampler.scores_, 40, replace=replace, mix_uniform=0.1, random_state=7
    )
    np.testing.assert_array_equal(sampler.sample_indices_, idx)
    np.testing.assert_allclose(sampler.sample_weight_, w)
    np.testing.assert_array_equal(X_res, X[idx])
    np.testing.assert_array_equal(y_res, y[idx])


def test_weighted_sample_loss_is_unbiased_for_the_full_loss():
    model = SingleIndexRegressor().fit(X, y)
    residual2 = (model.predict(X) - y) ** 2
    estimates = []
    for seed in range(300):
        sampler = NonlinearImportanceResampler(
            model, prefit=True, n_samples=20, random_state=seed
        )
        sampler.fit_resample(X, y)
        estimates.append(
            np.sum(sampler.sample_weight_ * residual2[sampler.sample_indices_])
        )
    estimates = np.asarray(estimates)
    standard_error = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - residual2.sum()) < 5 * standard_error


def test_same_seed_same_sample_and_block_size_does_not_matter():
    # The default, unseeded pilot model is seeded from random_state too.
    first = NonlinearImportanceResampler(random_state=3).fit(X, y)
    second = NonlinearImportanceResampler(random_state=3, block_size=17).fit(X, y)
    np.testing.assert_array_equal(first.estimator_.theta_, second.estimator_.theta_)
    np.testing.assert_allclose(first.scores_, second.scores_, rtol=1e-9)
    np.testing.assert_array_equal(first.sample_indices_, second.sample_indices_)
    other = NonlinearImportanceResampler(random_state=4).fit(X, y)
    assert not np.array_equal(first.sample_indices_, other.sample_indices_)


def test_pandas_in_pandas_out():
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame.index = frame.index + 1000
    target = pd.Series(y, index=frame.index, name="target")
    sampler = NonlinearImportanceResampler(n_samples=25, random_state=0)
    X_res, y_res = sampler.fit_resample(frame, target)
    assert isinstance(X_res, pd.DataFrame) and isinstance(y_res, pd.Series)
    np.testing.assert_array_equal(X_res.index, frame.index[sampler.sample_indices_])
    assert list(X_res.columns) == list(frame.columns) and y_res.name == "target"
    np.testing.assert_array_equal(sampler.feature_names_in_, frame.columns)
    np.testing.assert_array_equal(sampler.estimator_.feature_names_in_, frame.columns)


def test_inputs_are_not_modified():
    X_copy, y_copy = X.copy(), y.copy()
    NonlinearImportanceResampler(random_state=0).fit_resample(X_copy, y_copy)
    np.testing.assert_array_equal(X_copy, X)
    np.testing.assert_array_equal(y_copy, y)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_samples": 500, "replace": False}, ValueError, "only 442"),
        ({"n_samples": 0.001}, ValueError, "rounds to 0 rows"),
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": 1.5}, ValueError, "n_samples"),
        ({"pilot_size": 0.001}, ValueError, "pilot_size"),
        ({"pilot_size": 1}, ValueError, "pilot_size"),
        ({"pilot_size": "half"}, ValueError, "pilot_size"),
        ({"mix_uniform": 2.0}, ValueError, "mix_uniform"),
        ({"scores": "random"}, ValueError, "scores"),
        ({"basis": "kernel"}, ValueError, "basis"),
        ({"estimator": DecisionTreeRegressor()}, TypeError, "adjoint_matrix"),
        (
            {"estimator": SingleIndexRegressor(), "prefit": True},
            Exception,
            "not fitted",
        ),
    ],
)
def test_bad_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        NonlinearImportanceResampler(**params).fit_resample(X, y)


def test_pilot_too_small_to_fit_raises_naming_pilot_size():
    # 0.003 of 442 rows is a single row: no regressor can be fitted on it.
    sampler = NonlinearImportanceResampler(pilot_size=0.003, random_state=0)
    with pytest.raises(ValueError, match=r"pilot_size=0.003 gives 1 row\(s\)"):
        sampler.fit_resample(X, y)


@pytest.mark.parametrize("where", ["X", "y"])
def test_nan_input_raises(where):
    X_bad, y_bad = X.copy(), y.copy()
    (X_bad if where == "X" else y_bad)[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NonlinearImportanceResampler().fit_resample(X_bad, y_bad)


def test_plain_lists_are_accepted_in_pilot_mode():
    # The pilot's size comes from the validated data, not from X's own shape.
    sampler = NonlinearImportanceResampler(n_samples=40, random_state=0)
    X_res, y_res = sampler.fit_resample(X.tolist(), y.tolist())
    assert isinstance(X_res, list) and len(X_res) == len(y_res) == 40
    assert len(sampler.pilot_indices_) == max(40, 10 * (X.shape[1] + 1))


# %% Classifiers: the log-loss dual matrix scores the rows.


def _labelled_digits(n_features=64):
    """Digits with letters for labels; fewer pixels keep the dual matrix small."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    names = np.array(list("abcdefghij"), dtype=object)[y]
    return StandardScaler().fit_transform(X[:, 20 : 20 + n_features]), names


def test_classifier_scores_by_its_log_loss_dual_matrix():
    from sknlis import SingleIndexClassifier, leverage_scores

    X, names = _labelled_digits(16)
    fitted = SingleIndexClassifier(random_state=0).fit(X, names)
    sampler = NonlinearImportanceResampler(fitted, prefit=True, n_samples=200)
    X_s, y_s = sampler.fit_resample(X, names)
    expected = leverage_scores(fitted.adjoint_matrix(X, names))
    np.testing.assert_allclose(sampler.scores_, expected, rtol=1e-6)
    assert y_s.dtype == object and set(y_s) <= set(names)
    np.testing.assert_array_equal(y_s, names[sampler.sample_indices_])


def test_string_labels_default_to_a_classifier_with_every_class_in_the_pilot():
    from sknlis import SingleIndexClassifier

    X, names = _labelled_digits(16)
    # A pilot of 30 rows misses some of the 10 classes by chance.
    sampler = NonlinearImportanceResampler(n_samples=30, pilot_size=30, random_state=3)
    sampler.fit_resample(X, names)
    assert isinstance(sampler.estimator_, SingleIndexClassifier)
    pilot_classes = set(names[sampler.pilot_indices_])
    assert pilot_classes == set(names)
    assert len(sampler.pilot_indices_) >= 30


def test_grid_search_tunes_the_sample_size_of_a_classifier_pipeline():
    from sklearn.model_selection import GridSearchCV, KFold

    from sknlis import SingleIndexClassifier
    from sknlis.pipeline import Pipeline

    X, names = _labelled_digits()
    pair = (names == "d") | (names == "i")  # 3 against 8: a binary task
    X, names = X[pair], names[pair]
    pipe = Pipeline(
        [
            ("sample", NonlinearImportanceResampler(random_state=0)),
            ("model", SingleIndexClassifier(random_state=0)),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"sample__n_samples": [0.2, 0.6]},
        scoring="neg_log_loss",
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, names)
    assert search.best_params_ == {"sample__n_samples": 0.6}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # The weights reach the classifier: the refit equals a weighted fit.
    sampler = search.best_estimator_.named_steps["sample"]
    direct = SingleIndexClassifier(random_state=0).fit(
        X[sampler.sample_indices_],
        names[sampler.sample_indices_],
        sample_weight=sampler.sample_weight_,
    )
    np.testing.assert_allclose(
        search.best_estimator_.named_steps["model"].theta_, direct.theta_
    )


def test_float32_input_is_converted_one_block_at_a_time():
    # validate_data converted all of a float32 X to float64 up front.
    rng = np.random.default_rng(0)
    X32 = rng.normal(size=(20_000, 50)).astype(np.float32)
    y32 = rng.normal(size=20_000)
    sampler = NonlinearImportanceResampler(
        basis="linear", n_samples=100, block_size=500, random_state=0
    )
    tracemalloc.start()
    sampler.fit_resample(X32, y32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < X32.astype(np.float64).nbytes / 4
    reference = NonlinearImportanceResampler(
        basis="linear", n_samples=100, block_size=500, random_state=0
    ).fit(X32.astype(np.float64), y32)
    np.testing.assert_array_equal(sampler.scores_, reference.scores_)


def test_a_bad_model_parameter_is_not_blamed_on_the_pilot_size():
    # Every ValueError of the pilot fit said "too few rows ... Increase
    # pilot_size", even for c1 > c2.
    sampler = NonlinearImportanceResampler(
        SingleIndexRegressor(c1=3.0, c2=2.0), n_samples=100, random_state=0
    )
    with pytest.raises(ValueError, match="needs 0 <= c1 < c2") as error:
        sampler.fit_resample(X, y)
    assert "pilot_size" not in str(error.value)


# %% Sketched scores for wide dual matrices (the same choice as leverage_scores).


def _wide_case():
    from sknlis import TwoLayerReLURegressor

    rng = np.random.default_rng(0)
    X = rng.standard_t(3, size=(3000, 28))
    y = np.abs(X[:, 0]) - X[:, 1] + 0.1 * rng.normal(size=3000)
    net = TwoLayerReLURegressor(n_hidden=30, max_iter=30, random_state=0)
    return X, y, net.fit(X, y)  # 30 * (28 + 2) + 1 parameters: 902 columns


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sketched_scores_track_the_exact_ones_and_are_reproducible():
    X, y, net = _wide_case()

    def scores(method, seed=0):
        sampler = NonlinearImportanceResampler(
            net, prefit=True, leverage_method=method, n_samples=100, random_state=seed
        )
        return sampler.fit(X, y).scores_

    exact, sketch = scores("exact"), scores("sketch")
    assert 0.5 * np.abs(sketch - exact).sum() < 0.1
    np.testing.assert_array_equal(sketch, scores("sketch"))
    assert not np.array_equal(sketch, scores("sketch", seed=1))


def test_internal_estimators_store_no_dual_matrix():
    sampler = NonlinearImportanceResampler(random_state=0).fit(X, y)
    assert not hasattr(sampler.estimator_, "adjoint_matrix_")
