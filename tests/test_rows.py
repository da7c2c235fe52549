"""Row sources: the block reader's reuse of one block's memory, and transforms."""

import numpy as np
import pytest

from sknlis._rows import block_reader, column_subset, transform_rows


def _source():
    def rows(start, stop):
        return np.arange(3.0 * start, 3.0 * stop).reshape(-1, 3)

    def fill(start, stop, out):
        out[...] = rows(start, stop)
        return out

    rows.fill = fill
    return rows


def test_block_reader_writes_every_block_into_the_first():
    rows = _source()
    read = block_reader(rows)
    first = read(0, 4)
    for start, stop in [(4, 8), (8, 10)]:
        block = read(start, stop)
        assert np.shares_memory(block, first)
        np.testing.assert_array_equal(block, rows(start, stop))


def test_block_reader_takes_a_new_block_when_one_is_larger():
    rows = _source()
    read = block_reader(rows)
    first = read(0, 2)
    block = read(2, 7)
    assert not np.shares_memory(block, first)
    np.testing.assert_array_equal(block, rows(2, 7))


def test_block_reader_of_a_source_that_cannot_fill_is_the_source():
    def rows(start, stop):
        return np.zeros((stop - start, 2))

    assert block_reader(rows) is rows


def test_dual_and_linear_rows_fill_as_they_compute():
    from sknlis import SingleIndexRegressor
    from sknlis._protocol import adjoint_rows, linear_rows

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = rng.normal(size=40)
    model = SingleIndexRegressor(random_state=0).fit(X, y)
    F = model.adjoint_matrix(X, y)
    rows, _ = adjoint_rows(model, X, y, block_size=6)
    linear, _ = linear_rows(X)
    read, read_linear = block_reader(rows), block_reader(linear)
    for start in range(0, 40, 6):
        stop = min(start + 6, 40)
        np.testing.assert_allclose(read(start, stop), F[start:stop], rtol=1e-13)
        np.testing.assert_array_equal(
            read_linear(start, stop),
            np.hstack([X[start:stop], np.ones((stop - start, 1))]),
        )


@pytest.mark.parametrize(
    "function",
    [
        column_subset([True, False, True]),
        lambda block, out=None: np.sqrt(block, out=out),
    ],
    ids=["columns", "sqrt"],
)
def test_a_transformed_source_fills_given_memory_without_new_blocks(function):
    """Both the source's block and the result are written in place: the
    reader's blocks share the first one's memory, and equal the transform
    of the source's rows."""
    rows = _source()
    read = block_reader(transform_rows(rows, function))
    first = read(0, 4)
    for start, stop in [(4, 8), (8, 10)]:
        block = read(start, stop)
        assert np.shares_memory(block, first)
        np.testing.assert_array_equal(block, function(rows(start, stop)))


def test_a_transform_of_a_source_that_cannot_fill_cannot_fill():
    def rows(start, stop):
        return np.ones((stop - start, 3))

    transformed = transform_rows(rows, column_subset([True, True, False]))
    assert not hasattr(transformed, "fill")
    np.testing.assert_array_equal(transformed(0, 2), np.ones((2, 2)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["mlp", "logistic"])
def test_rows_of_a_scikit_learn_model_fill_as_they_compute(kind):
    """An adapted estimator's rows are written into given memory, and
    float32 input gives the rows of its float64 copy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPRegressor

    from sknlis import adjoint_matrix
    from sknlis._protocol import adjoint_rows

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    if kind == "mlp":
        y = rng.normal(size=40)
        estimator = MLPRegressor(
            hidden_layer_sizes=(4,), max_iter=30, random_state=0
        ).fit(X, y)
    else:
        y = (X[:, 0] > 0).astype(int)
        estimator = LogisticRegression().fit(X, y)
    F = adjoint_matrix(estimator, X.astype(np.float64), y)
    rows, _ = adjoint_rows(estimator, X, y, block_size=6)
    read = block_reader(rows)
    first = read(0, 6)
    for start in range(6, 40, 6):
        stop = min(start + 6, 40)
        block = read(start, stop)
        assert np.shares_memory(block, first)
        np.testing.assert_allclose(block, F[start:stop], rtol=1e-12, atol=1e-14)
