import numpy as np
import pytest

from sknlis import SingleIndexRegressor, leverage_scores, norm_scores
from sknlis._outlier_scores import fit_outlier_basis, outlier_scores, row_parts
from sknlis._scores import _array_rows

rng = np.random.default_rng(0)
X = rng.normal(size=(150, 4))
y = np.tanh(X @ [1.0, -1.0, 0.5, 0.0] + 0.2) + 0.1 * rng.normal(size=150)
MODEL = SingleIndexRegressor("tanh", random_state=0).fit(X, y)
F = MODEL.adjoint_matrix_


def basis_of(F, labelled=True, block_size=None):
    return fit_outlier_basis(
        _array_rows(F), *F.shape, labelled=labelled, block_size=block_size
    )


@pytest.mark.parametrize(
    "labelled, score, reference",
    [
        (True, "leverage", leverage_scores),
        (True, "norm", norm_scores),
        # Without a label column the whole matrix is the model part.
        (False, "balanced", leverage_scores),
        (False, "leverage", leverage_scores),
        (False, "norm", norm_scores),
    ],
)
def test_scores_are_the_papers_scores_of_the_dual_matrix(labelled, score, reference):
    basis, parts = basis_of(F, labelled=labelled)
    assert basis.labelled == basis.has_residual == labelled
    np.testing.assert_allclose(
        outlier_scores(basis, parts, score), reference(F), rtol=1e-8
    )


def test_balanced_gives_the_model_and_residual_parts_equal_weight():
    basis, parts = basis_of(F)
    model = leverage_scores(F[:, :-1])
    # The residual direction: the label column after projecting out span(M).
    c = F[:, -1]
    e = c - F[:, :-1] @ np.linalg.lstsq(F[:, :-1], c, rcond=None)[0]
    expected = (model + e**2 / (e @ e)) / 2
    balanced = outlier_scores(basis, parts, "balanced")
    np.testing.assert_allclose(balanced, expected, rtol=1e-8)
    assert balanced.sum() == pytest.approx(1.0)


def test_residual_direction_of_a_linear_model_is_its_least_squares_residual():
    # The identity model's dual matrix is [X, 1, -y] at any theta.
    design = np.column_stack([X, np.ones(len(X))])
    F_linear = SingleIndexRegressor("identity").fit(X, y).adjoint_matrix(X, y)
    np.testing.assert_array_equal(F_linear, np.column_stack([design, -y]))
    basis, parts = basis_of(F_linear)
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(parts[:, 1], residual**2, rtol=1e-10)


def test_training_rows_score_the_same_out_of_sample_in_any_block_size():
    basis, parts = basis_of(F, block_size=64)
    again = row_parts(basis, _array_rows(F), F.shape[0], labelled=True, block_size=7)
    np.testing.assert_allclose(again, parts, rtol=1e-12)
    for score in ("balanced", "leverage", "norm"):
        np.testing.assert_allclose(
            outlier_scores(basis, again, score),
            outlier_scores(*basis_of(F), score),
            rtol=1e-9,
        )


def test_rows_without_labels_get_the_mean_label_part():
    basis, parts = basis_of(F)
    model_rows = F[:, :-1]
    unlabelled = row_parts(basis, _array_rows(model_rows), len(F), labelled=False)
    assert np.isnan(unlabelled[:, 1]).all()
    balanced = outlier_scores(basis, unlabelled, "balanced")
    n = len(F)
    np.testing.assert_allclose(
        balanced, (leverage_scores(model_rows) + 1 / n) / 2, rtol=1e-8
    )
    norm = outlier_scores(basis, unlabelled, "norm")
    c2_mean = np.mean(F[:, -1] ** 2)
    np.testing.assert_allclose(
        norm, ((model_rows**2).sum(1) + c2_mean) / (F**2).sum(), rtol=1e-12
    )


def test_label_column_inside_the_model_span_adds_no_direction():
    M = rng.normal(size=(100, 3))
    exact = np.column_stack([M, M @ [1.0, 2.0, -1.0]])
    basis, parts = basis_of(exact)
    assert not basis.has_residual
    for score in ("balanced", "leverage"):
        np.testing.assert_allclose(
            outlier_scores(basis, parts, score), leverage_scores(M), rtol=1e-8
        )


def test_nearly_spanned_label_column_keeps_its_small_residual_accurately():
    # c is about 1e10 times larger than its residual e, and M has condition
    # number 1e8: the projection must cancel c to rounding level. One
    # Gram-Schmidt pass leaves errors of 2-4 eps * |c| here; two leave < 1.
    local = np.random.default_rng(0)
    M = local.normal(size=(200, 5)) * np.logspace(0, 8, 5)
    noise = local.normal(size=200)
    noise -= M @ np.linalg.lstsq(M, noise, rcond=None)[0]
    c = M @ local.normal(size=5) + 1e-2 * noise
    basis, parts = basis_of(np.column_stack([M, c]))
    assert basis.has_residual
    error = np.abs(np.sqrt(parts[:, 1]) - 1e-2 * np.abs(noise))
    assert error.max() <= np.finfo(float).eps * np.abs(c).max()
