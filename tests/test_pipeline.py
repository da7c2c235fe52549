import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from sknlis import NonlinearImportanceResampler, SingleIndexRegressor
from sknlis._demo import standardize
from sknlis.pipeline import Pipeline, make_pipeline

X, y = standardize(*load_diabetes(return_X_y=True))


def sampler(**params):
    params = {"n_samples": 0.3, "random_state": 0, **params}
    return NonlinearImportanceResampler(**params)


@pytest.mark.parametrize(
    "final",
    [Ridge(alpha=1e-2), SingleIndexRegressor(activation="swish", random_state=0)],
    ids=["ridge", "single_index"],
)
def test_refit_equals_weighted_fit_on_the_resampled_rows(final):
    pipe = Pipeline([("sample", sampler()), ("model", final)]).fit(X, y)
    fitted_sampler = pipe.named_steps["sample"]
    idx, w = fitted_sampler.sample_indices_, fitted_sampler.sample_weight_
    direct = final.__class__(**final.get_params()).fit(X[idx], y[idx], sample_weight=w)
    np.testing.assert_allclose(pipe.predict(X), direct.predict(X), rtol=1e-9)
    np.testing.assert_allclose(pipe.sample_weight_, w)
    # Without the weights the refit would differ: the test can tell.
    unweighted = final.__class__(**final.get_params()).fit(X[idx], y[idx])
    assert not np.allclose(unweighted.predict(X), direct.predict(X), rtol=1e-6)


def test_prediction_and_score_use_all_rows():
    pipe = make_pipeline(sampler(), Ridge()).fit(X, y)
    assert pipe.predict(X).shape == (len(X),)
    assert pipe.score(X, y) == pytest.approx(r2_score(y, pipe[-1].predict(X)))


def test_user_weights_are_subset_and_multiplied():
    user = np.random.default_rng(0).uniform(0.5, 2.0, size=len(X))
    pipe = Pipeline([("sample", sampler()), ("ridge", Ridge())])
    pipe.fit(X, y, ridge__sample_weight=user)
    s = pipe.named_steps["sample"]
    idx = s.sample_indices_
    direct = Ridge().fit(X[idx], y[idx], sample_weight=user[idx] * s.sample_weight_)
    np.testing.assert_allclose(pipe[-1].coef_, direct.coef_)


def test_two_samplers_chain_their_rows_and_weights():
    pipe = Pipeline(
        [
            ("first", sampler(basis="linear", n_samples=0.8)),
            ("second", sampler(basis="linear", n_samples=0.5, random_state=1)),
            ("ridge", Ridge()),
        ]
    ).fit(X, y)
    first, second = pipe.named_steps["first"], pipe.named_steps["second"]
    rows = first.sample_indices_[second.sample_indices_]
    weight = first.sample_weight_[second.sample_indices_] * second.sample_weight_
    direct = Ridge().fit(X[rows], y[rows], sample_weight=weight)
    np.testing.assert_allclose(pipe[-1].coef_, direct.coef_)


def test_final_estimator_without_sample_weight_raises():
    pipe = make_pipeline(sampler(basis="linear"), KNeighborsRegressor())
    with pytest.raises(TypeError, match="does not accept sample_weight"):
        pipe.fit(X, y)


def test_wrong_length_user_weight_raises():
    pipe = Pipeline([("sample", sampler(basis="linear")), ("ridge", Ridge())])
    with pytest.raises(ValueError, match="one entry per input row"):
        pipe.fit(X, y, ridge__sample_weight=np.ones(10))


class _SyntheticSampler(BaseEstimator):
    """A sampler that makes new rows, so no sample_indices_ (like SMOTE)."""

    def fit_resample(self, X, y):
        return np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])


def test_weights_cannot_follow_a_sampler_without_indices():
    pipe = Pipeline(
        [
            ("sample", sampler(basis="linear")),
            ("synthetic", _SyntheticSampler()),
            ("ridge", Ridge()),
        ]
    )
    with pytest.raises(ValueError, match="no sample_indices_"):
        pipe.fit(X, y)


def test_grid_search_tunes_the_sample_size_on_full_held_out_folds():
    pipe = Pipeline(
        [("sample", sampler(pilot_size=0.5)), ("model", SingleIndexRegressor())]
    )
    grid = GridSearchCV(
        pipe,
        {
            "sample__n_samples": [0.05, 0.5],
            "sample__scores": ["uniform", "leverage"],
            "sample__basis": ["linear", "adjoint"],
        },
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 8
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    # Scores are computed on every held-out row: recompute one by hand.
    train, test = next(KFold(3, shuffle=True, random_state=0).split(X))
    best = grid.best_params_
    refit = pipe.set_params(**best).fit(X[train], y[train])
    assert grid.cv_results_["split0_test_score"][grid.best_index_] == pytest.approx(
        refit.score(X[test], y[test])
    )
    # Larger samples fit better on average: the search sees a real signal.
    results = grid.cv_results_
    big = np.array([p["sample__n_samples"] == 0.5 for p in results["params"]])
    assert (
        results["mean_test_score"][big].mean() > results["mean_test_score"][~big].mean()
    )


@pytest.mark.parametrize("method", ["fit_predict", "fit_transform"])
def test_shortcuts_that_would_drop_the_weights_raise(method):
    pipe = make_pipeline(sampler(basis="linear"), StandardScaler())
    with pytest.raises(TypeError, match="without the importance weights"):
        getattr(pipe, method)(X, y)
    # Without a sampler there is nothing to drop: imbalanced-learn's behaviour.
    transformed = make_pipeline(StandardScaler(), StandardScaler()).fit_transform(X)
    assert transformed.shape == X.shape


def test_final_step_taking_weights_through_kwargs_gets_them():
    from sklearn.compose import TransformedTargetRegressor

    final = TransformedTargetRegressor(regressor=Ridge())
    pipe = Pipeline([("sample", sampler(basis="linear")), ("model", final)]).fit(X, y)
    s = pipe.named_steps["sample"]
    direct = TransformedTargetRegressor(regressor=Ridge()).fit(
        X[s.sample_indices_], y[s.sample_indices_], sample_weight=s.sample_weight_
    )
    np.testing.assert_allclose(pipe.predict(X), direct.predict(X))


@pytest.mark.parametrize("final", [None, "passthrough"])
def test_no_final_estimator(final):
    pipe = Pipeline([("sample", sampler(basis="linear")), ("end", final)]).fit(X, y)
    assert pipe.sample_weight_ is None
