import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_outlier_detector
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import get_tags

from sknlis import (
    AdjointOutlierDetector,
    SingleIndexRegressor,
    TwoLayerReLURegressor,
    leverage_scores,
    norm_scores,
)

rng = np.random.default_rng(0)
N_ROWS = 300
X = rng.normal(size=(N_ROWS, 4))
y = np.tanh(X @ [0.8, -0.5, 0.3, 0.0]) + 0.1 * rng.normal(size=N_ROWS)
# Planted truth: 10 wrong targets (off by 0.6, six noise standard deviations),
# then 10 inputs far off the data's range in feature 3, which y ignores.
WRONG = np.arange(10)
FAR = np.arange(10, 20)
y[WRONG] += 0.6 * rng.choice([-1, 1], WRONG.size)
X[FAR, 3] = 6.0 * rng.choice([-1, 1], FAR.size)
PLANTED = np.zeros(N_ROWS, bool)
PLANTED[np.r_[WRONG, FAR]] = True


def tanh_model():
    return SingleIndexRegressor("tanh", random_state=0)


@pytest.fixture(scope="module")
def fitted():
    return AdjointOutlierDetector(tanh_model()).fit(X, y)


def test_declared_an_outlier_detector():
    assert is_outlier_detector(AdjointOutlierDetector())
    assert get_tags(AdjointOutlierDetector()).estimator_type == "outlier_detector"


def test_planted_outliers_of_both_kinds_rank_first(fitted):
    abnormal = -fitted.score_samples(X, y)
    far_vs_clean = np.r_[FAR, np.arange(20, N_ROWS)]
    wrong_vs_clean = np.r_[WRONG, np.arange(20, N_ROWS)]
    auc_far = roc_auc_score(PLANTED[far_vs_clean], abnormal[far_vs_clean])
    auc_wrong = roc_auc_score(PLANTED[wrong_vs_clean], abnormal[wrong_vs_clean])
    assert auc_far > 0.95 and auc_wrong == 1.0
    # The paper's leverage dilutes the label part among the model directions.
    paper = AdjointOutlierDetector(tanh_model(), scores="leverage").fit(X, y)
    paper_abnormal = -paper.score_samples(X, y)
    assert roc_auc_score(PLANTED[wrong_vs_clean], paper_abnormal[wrong_vs_clean]) < 1


def test_training_scores_are_the_dual_matrix_scores(fitted):
    F = fitted.estimator_.adjoint_matrix(X, y)
    assert fitted.scores_.sum() == pytest.approx(1.0)
    for scores, reference in (("leverage", leverage_scores), ("norm", norm_scores)):
        detector = AdjointOutlierDetector(tanh_model(), scores=scores).fit(X, y)
        np.testing.assert_allclose(detector.scores_, reference(F), rtol=1e-8)


def test_out_of_sample_score_of_a_training_row_is_its_in_sample_score(fitted):
    np.testing.assert_allclose(
        fitted.score_samples(X, y), -N_ROWS * fitted.scores_, rtol=1e-9
    )
    # Scored one at a time and in odd blocks: the same numbers.
    blocked = AdjointOutlierDetector(fitted.estimator_, prefit=True, block_size=7)
    blocked.fit(X, y)
    np.testing.assert_allclose(blocked.scores_, fitted.scores_, rtol=1e-9)
    single = [fitted.score_samples(X[i : i + 1], y[i : i + 1])[0] for i in (0, 5, 50)]
    np.testing.assert_allclose(single, -N_ROWS * fitted.scores_[[0, 5, 50]], rtol=1e-9)


def test_new_rows_without_labels_are_scored_on_their_inputs(fitted):
    model_part = leverage_scores(fitted.estimator_.adjoint_matrix(X)[:, :-1])
    # The label part of each row is the training mean, 1 / n.
    expected = -N_ROWS * (model_part + 1 / N_ROWS) / 2
    np.testing.assert_allclose(fitted.score_samples(X), expected, rtol=1e-8)
    far_vs_clean = np.r_[FAR, np.arange(20, N_ROWS)]
    abnormal = -fitted.score_samples(X[far_vs_clean])
    assert roc_auc_score(PLANTED[far_vs_clean], abnormal) > 0.95


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.5])
def test_offset_matches_the_contamination(contamination):
    detector = AdjointOutlierDetector(tanh_model(), contamination=contamination)
    labels = detector.fit_predict(X, y)
    assert np.mean(labels == -1) == pytest.approx(contamination, abs=1 / N_ROWS)
    np.testing.assert_array_equal(detector.predict(X, y), labels)
    decision = detector.decision_function(X, y)
    np.testing.assert_allclose(
        decision, detector.score_samples(X, y) - detector.offset_
    )


def test_auto_contamination_flags_rows_above_twice_the_mean_score(fitted):
    assert fitted.offset_ == -2.0
    labels = fitted.predict(X, y)
    np.testing.assert_array_equal(labels == -1, fitted.scores_ > 2 / N_ROWS)
    # The 2 p / n rule flags about as many rows as are planted (20 of 300).
    assert 10 <= np.sum(labels == -1) <= 40
    assert PLANTED[labels == -1].mean() > 0.5


def test_fit_without_y_scores_the_linear_basis():
    detector = AdjointOutlierDetector().fit(X)
    assert detector.estimator_ is None
    design = np.column_stack([X, np.ones(N_ROWS)])
    np.testing.assert_allclose(detector.scores_, leverage_scores(design), rtol=1e-8)
    with pytest.raises(ValueError, match="fitted without y"):
        detector.score_samples(X, y)


def test_prefit_uses_the_estimator_as_it_is():
    model = tanh_model().fit(X[:150], y[:150])
    detector = AdjointOutlierDetector(model, prefit=True).fit(X, y)
    assert detector.estimator_ is model
    unlabelled = AdjointOutlierDetector(model, prefit=True).fit(X)
    np.testing.assert_allclose(
        unlabelled.scores_, leverage_scores(model.adjoint_matrix(X)), rtol=1e-8
    )


def test_same_seed_same_scores():
    # The default, unseeded model is seeded from random_state.
    first = AdjointOutlierDetector(random_state=3).fit(X, y)
    second = AdjointOutlierDetector(random_state=3).fit(X, y)
    np.testing.assert_array_equal(first.estimator_.theta_, second.estimator_.theta_)
    np.testing.assert_array_equal(first.scores_, second.scores_)


def test_pandas_feature_names_reach_the_model():
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    detector = AdjointOutlierDetector(tanh_model()).fit(frame, pd.Series(y))
    np.testing.assert_array_equal(detector.feature_names_in_, frame.columns)
    np.testing.assert_array_equal(detector.estimator_.feature_names_in_, frame.columns)
    np.testing.assert_allclose(
        detector.score_samples(frame, y), -N_ROWS * detector.scores_, rtol=1e-9
    )


def test_inputs_are_not_modified():
    X_copy, y_copy = X.copy(), y.copy()
    detector = AdjointOutlierDetector(tanh_model()).fit(X_copy, y_copy)
    detector.score_samples(X_copy, y_copy)
    np.testing.assert_array_equal(X_copy, X)
    np.testing.assert_array_equal(y_copy, y)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"contamination": 0.0}, ValueError, "contamination"),
        ({"contamination": 0.6}, ValueError, "contamination"),
        ({"contamination": "high"}, ValueError, "contamination"),
        ({"scores": "cook"}, ValueError, "scores"),
        ({"estimator": DecisionTreeRegressor()}, TypeError, "adjoint_matrix"),
        (
            {"estimator": DecisionTreeRegressor().fit(X, y), "prefit": True},
            TypeError,
            "LogisticRegression",
        ),
        ({"estimator": SingleIndexRegressor(), "prefit": True}, ValueError, "fitted"),
        ({"block_size": 0}, ValueError, "block_size"),
    ],
)
def test_bad_parameters_raise(params, error, match):
    with pytest.raises(error, match=match):
        AdjointOutlierDetector(**params).fit(X, y)


@pytest.mark.parametrize(
    "X_bad, y_bad, match",
    [
        (X, y[:-1], "inconsistent numbers of samples"),
        (np.where(np.arange(N_ROWS)[:, None] == 3, np.nan, X), y, "NaN"),
        (X, np.where(np.arange(N_ROWS) == 3, np.nan, y), "NaN"),
    ],
)
def test_bad_data_raises(X_bad, y_bad, match):
    with pytest.raises(ValueError, match=match):
        AdjointOutlierDetector().fit(X_bad, y_bad)


def test_bad_data_at_scoring_time_raises(fitted):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fitted.score_samples(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        fitted.score_samples(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="features"):
        fitted.score_samples(X[:, :3])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_any_model_with_a_dual_matrix_works():
    # A few iterations are enough: the scores are exact at any theta.
    network = TwoLayerReLURegressor(n_hidden=3, max_iter=20, random_state=0)
    detector = AdjointOutlierDetector(network, scores="leverage").fit(X, y)
    F = detector.estimator_.adjoint_matrix(X, y)
    np.testing.assert_allclose(detector.scores_, leverage_scores(F), rtol=1e-8)


# %% Classifiers: label errors by the leave-one-out log loss.


def _flipped_digits(n_flips=30, seed=0):
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    keep = (y == 3) | (y == 8) | (y == 5)
    X, y = StandardScaler().fit_transform(X[keep]), y[keep]
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), size=n_flips, replace=False)
    noisy = y.copy()
    noisy[flipped] = np.where(y[flipped] == 3, 8, np.where(y[flipped] == 8, 5, 3))
    return X, noisy, flipped


def test_classifier_detector_ranks_flipped_labels_first():
    from sknlis import SingleIndexClassifier

    X, y, flipped = _flipped_digits()
    model = SingleIndexClassifier(random_state=0)
    detector = AdjointOutlierDetector(model).fit(X, y)
    assert detector._scores == "loo"
    top = np.argsort(-detector.scores_)[: len(flipped)]
    assert np.isin(top, flipped).mean() >= 0.7  # chance: 0.055


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_leave_one_out_corrects_a_network_that_fits_the_flips():
    # A two-layer network partly fits the flipped labels: their in-sample
    # losses understate them, the leave-one-out losses do not.
    from sknlis import TwoLayerReLUClassifier

    X, y, flipped = _flipped_digits()
    net = TwoLayerReLUClassifier(10, alpha=1.0, random_state=0)
    detector = AdjointOutlierDetector(net).fit(X, y)
    model = detector.estimator_
    index = np.searchsorted(model.classes_, y)
    in_sample = -model.predict_log_proba(X)[np.arange(len(y)), index]
    k = len(flipped)
    hits = np.isin(np.argsort(-detector.scores_)[:k], flipped).sum()
    hits_in_sample = np.isin(np.argsort(-in_sample)[:k], flipped).sum()
    assert hits >= hits_in_sample + 3


def test_auto_flags_rows_whose_label_gets_less_than_even_odds():
    from sknlis import SingleIndexClassifier
    from sknlis._loo import loo_outputs

    X, y, _ = _flipped_digits()
    detector = AdjointOutlierDetector(SingleIndexClassifier(random_state=0))
    flagged = detector.fit_predict(X, y) == -1
    model = detector.estimator_
    codes = model._encode_labels(y)
    z = loo_outputs(model._model, model._loss, model.theta_, model.alpha, X, codes)
    p_label = np.exp(-model._loss.loss(z, codes))
    np.testing.assert_array_equal(flagged, p_label < 0.5)


def test_string_labels_get_a_classifier_and_new_rows_need_labels():
    from sknlis import SingleIndexClassifier

    X, y, _ = _flipped_digits()
    names = np.array(["three", "five", "eight"], dtype=object)[
        np.searchsorted([3, 5, 8], y)
    ]
    detector = AdjointOutlierDetector().fit(X, names)
    assert isinstance(detector.estimator_, SingleIndexClassifier)
    scores = detector.score_samples(X[:5], names[:5])
    assert scores.shape == (5,) and np.all(np.isfinite(scores)) and np.all(scores <= 0)
    with pytest.raises(ValueError, match="pass y"):
        detector.score_samples(X[:5])
    with pytest.raises(ValueError, match="not seen in fit"):
        detector.score_samples(X[:2], np.array(["six", "three"], dtype=object))


def test_paper_leverage_of_the_loss_dual_matrix_is_available():
    from sknlis import SingleIndexClassifier, leverage_scores

    X, y, _ = _flipped_digits()
    detector = AdjointOutlierDetector(SingleIndexClassifier(), scores="leverage")
    detector.fit(X, y)
    F = detector.estimator_.adjoint_matrix(X, y)
    np.testing.assert_allclose(detector.scores_, leverage_scores(F), rtol=1e-6)


def test_the_fitted_clone_keeps_no_dual_matrix():
    # The clone kept its n x (p + 1) adjoint_matrix_: a pickled detector was
    # 50 times larger than its scores need.
    model = SingleIndexRegressor(random_state=0)
    detector = AdjointOutlierDetector(model).fit(X, y)
    assert not hasattr(detector.estimator_, "adjoint_matrix_")
    assert model.store_adjoint  # the caller's estimator is left as it was
    assert len(pickle.dumps(detector)) < X.nbytes
    lean = AdjointOutlierDetector(
        SingleIndexRegressor(random_state=0, store_adjoint=False)
    )
    np.testing.assert_array_equal(detector.scores_, lean.fit(X, y).scores_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sketched_detector_scores_track_the_exact_ones():
    from sknlis import TwoLayerReLURegressor

    rng = np.random.default_rng(0)
    X = rng.standard_t(3, size=(3000, 28))
    y = np.abs(X[:, 0]) - X[:, 1] + 0.1 * rng.normal(size=3000)
    y[:30] += 3.0  # wrong targets
    net = TwoLayerReLURegressor(n_hidden=30, max_iter=30, random_state=0).fit(X, y)

    def scores(method):
        detector = AdjointOutlierDetector(
            net, prefit=True, leverage_method=method, random_state=0
        )
        return detector.fit(X, y).scores_

    exact, sketch = scores("exact"), scores("sketch")
    assert 0.5 * np.abs(sketch - exact).sum() < 0.1
    top_exact = set(np.argsort(-exact)[:30])
    assert len(top_exact & set(np.argsort(-sketch)[:30])) >= 25


def test_a_subnormal_column_scores_as_the_unscaled_one():
    # Leverage ignores column scales; a column near 1e-310 made the factor
    # overflow (issue 13, item 9).
    from sknlis import SingleIndexRegressor

    local = np.random.default_rng(0)
    X = local.normal(size=(300, 4))
    y = np.tanh(X @ [1.0, -1.0, 0.5, 0.0]) + 0.1 * local.normal(size=300)
    tiny = X.copy()
    tiny[:, 0] *= 1e-310

    def scores(features):
        model = SingleIndexRegressor("identity", random_state=0)
        return AdjointOutlierDetector(model).fit(features, y).scores_

    np.testing.assert_allclose(scores(tiny), scores(X), rtol=1e-10)


@pytest.mark.parametrize("scores", ["leverage", "balanced"])
def test_wide_input_uses_the_n_by_n_side(scores):
    # Fewer rows than dual-matrix columns (issue 13, item 10): the scores
    # equal the leverage of the whole dual matrix, checked against the SVD.
    from sknlis import SingleIndexRegressor

    local = np.random.default_rng(1)
    X = local.normal(size=(20, 30))
    X[:, 5] = X[:, 3]  # rank deficient too
    y = local.normal(size=20)
    model = SingleIndexRegressor("identity", random_state=0).fit(X, y)
    F = model.adjoint_matrix(X, y)
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    rank = np.linalg.matrix_rank(F)
    reference = np.sum(U[:, :rank] ** 2, axis=1) / rank
    detector = AdjointOutlierDetector(model, prefit=True, scores=scores).fit(X, y)
    np.testing.assert_allclose(detector.scores_, reference, rtol=1e-8)
    new = detector.score_samples(X[:3], y[:3])
    np.testing.assert_allclose(new, -20 * reference[:3], rtol=1e-8)


def test_forced_sketch_on_wide_input_takes_the_n_by_n_side():
    local = np.random.default_rng(2)
    X, y = local.normal(size=(30, 50)), local.normal(size=30)
    exact = AdjointOutlierDetector(leverage_method="exact").fit(X, y).scores_
    sketch = AdjointOutlierDetector(leverage_method="sketch").fit(X, y).scores_
    np.testing.assert_allclose(sketch, exact, rtol=1e-12)
