import numpy as np
import pytest

from sknlis import (
    SingleIndexRegressor,
    TwoLayerReLUClassifier,
    TwoLayerReLURegressor,
    leverage_scores,
)
from sknlis._embedding import (
    SKETCH_NONZEROS,
    sketch_dense,
    sketch_units,
    sparse_sign_block,
    unit_column_bound,
)
from sknlis._models import UnitFactors
from sknlis._protocol import adjoint_rows, leverage_rows
from sknlis._scores import _kept_columns, blocked_leverage_scores

RNG = np.random.default_rng(0)
X = RNG.standard_normal((400, 5))
Y = np.sin(X[:, 0]) + 0.1 * RNG.standard_normal(400)


def _fitted(kind, **params):
    if kind == "regressor":
        model = TwoLayerReLURegressor(n_hidden=6, max_iter=30, random_state=0, **params)
        return model.fit(X, Y), Y
    labels = np.digitize(Y, [-0.5, 0.5]) if kind == "3 classes" else Y > 0
    model = TwoLayerReLUClassifier(n_hidden=4, max_iter=30, random_state=0, **params)
    return model.fit(X, labels), labels


CASES = [
    ("regressor", {}),
    ("regressor", {"fit_intercept": False}),
    ("2 classes", {}),
    ("3 classes", {}),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind, params", CASES)
@pytest.mark.parametrize("n_groups", [3, 50, 400])
def test_factored_sketch_equals_the_sketch_of_the_rows(kind, params, n_groups):
    # 3 groups: every bucket holds many rows; 400: most hold none or one.
    model, y = _fitted(kind, **params)
    factors = model._adjoint_factors(X[17:300], y[17:300])
    F = model.adjoint_matrix(X[17:300], y[17:300])
    embedding = sparse_sign_block(np.uint64(5), 17, 300, n_groups)
    expected = np.zeros((SKETCH_NONZEROS * n_groups, F.shape[1]))
    sketch_dense(expected, np.ascontiguousarray(F), embedding)
    got = np.ones_like(expected)  # the sketch adds to what is there
    sketch_units(got, factors, embedding)
    np.testing.assert_allclose(got - 1.0, expected, rtol=0, atol=1e-13)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind, params", CASES)
def test_unit_column_bound_bounds_every_column_and_is_exact_for_dense_ones(
    kind, params
):
    model, y = _fitted(kind, **params)
    factors = model._adjoint_factors(X, y)
    column_max = np.abs(model.adjoint_matrix(X, y)).max(axis=0)
    bound = unit_column_bound(factors)
    assert np.all(bound >= column_max * (1 - 1e-15))
    m, K = factors.P.shape[1:]
    width = K + X.shape[1] + 1
    dense = np.zeros(len(bound), dtype=bool)
    dense[: m * width].reshape(m, width)[:, :K] = True
    dense[m * width :] = True
    np.testing.assert_array_equal(bound[dense], column_max[dense])


def test_unit_column_bound_shows_non_finite_factors():
    P, Q = np.zeros((3, 2, 1)), np.ones((3, 2))
    Q[1, 0] = np.nan
    bound = unit_column_bound(UnitFactors(P, Q, np.ones((3, 2)), np.ones((3, 2))))
    assert not np.all(np.isfinite(bound))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scores_from_factored_rows_equal_those_from_assembled_rows():
    model, y = _fitted("regressor")
    rows, k = adjoint_rows(model, X, y, block_size=64)
    assert callable(rows.factors)

    def assembled(start, stop):
        return rows(start, stop)

    options = dict(method="sketch", block_size=64, random_state=3, sketch_size=80)
    factored = blocked_leverage_scores(rows, len(y), k, **options)
    plain = blocked_leverage_scores(assembled, len(y), k, **options)
    np.testing.assert_allclose(factored, plain, rtol=1e-9)
    # The sketch is of the dual matrix: close to its exact leverage.
    exact = leverage_scores(model.adjoint_matrix(X, y))
    assert 0.5 * np.abs(factored / factored.sum() - exact / exact.sum()).sum() < 0.1


def test_only_factored_models_give_factored_rows():
    model = SingleIndexRegressor().fit(X, Y)
    rows, _ = adjoint_rows(model, X, Y, block_size=64)
    assert not hasattr(rows, "factors")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind, params", CASES)
def test_leverage_rows_drop_one_spanned_column_per_unit(kind, params):
    model, y = _fitted(kind, **params)
    F = model.adjoint_matrix(X, y)
    rows, k = adjoint_rows(model, X, y, block_size=64)
    kept, k_kept = leverage_rows(model, rows, k)
    n_units = np.count_nonzero(np.any(model._model.unpack(model.theta_)[0], axis=0))
    assert k - k_kept == n_units
    F_kept = kept(0, len(y))
    # The dropped columns are spanned by the kept ones: same rank, and the
    # same leverage as the whole dual matrix (dense SVD reference).
    assert np.linalg.matrix_rank(F_kept) == np.linalg.matrix_rank(F)
    np.testing.assert_allclose(
        leverage_scores(F_kept), leverage_scores(F), rtol=1e-7, atol=1e-12
    )
    options = dict(method="sketch", block_size=64, random_state=1, sketch_size=90)
    np.testing.assert_allclose(
        blocked_leverage_scores(kept, len(y), k_kept, **options),
        blocked_leverage_scores(lambda a, b: kept(a, b), len(y), k_kept, **options),
        rtol=1e-6,  # the column scales differ (bounds): rounding, conditioned
    )


def test_leverage_rows_keep_a_model_without_spanned_columns_as_it_is():
    model = SingleIndexRegressor().fit(X, Y)
    rows, k = adjoint_rows(model, X, Y, block_size=64)
    assert leverage_rows(model, rows, k) == (rows, k)


def test_kept_columns_compacts_in_place():
    A = np.arange(42.0).reshape(6, 7)
    mask = np.array([True, False, True, True, False, False, True])
    expected = A[:, mask]
    got = _kept_columns(A, mask)
    np.testing.assert_array_equal(got, expected)
    assert np.shares_memory(got, A)


class _ReversedColumns(TwoLayerReLURegressor):
    """An override of adjoint_matrix: the model's factors no longer apply."""

    def adjoint_matrix(self, X, y=None, *, block_size=None):
        return super().adjoint_matrix(X, y, block_size=block_size)[:, ::-1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_overridden_adjoint_matrix_is_read_through_the_override():
    model = _ReversedColumns(n_hidden=6, max_iter=30, random_state=0).fit(X, Y)
    rows, k = adjoint_rows(model, X, Y, block_size=64)
    assert not hasattr(rows, "factors")
    assert leverage_rows(model, rows, k) == (rows, k)
    F = model.adjoint_matrix(X, Y)
    np.testing.assert_allclose(rows(0, len(Y)), F)
