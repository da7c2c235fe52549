import tracemalloc

import numpy as np
import pytest

from sknlis import (
    _scores,
    leverage_scores,
    make_activation,
    norm_scores,
    single_index_adjoint,
)


def reference_leverage(F):
    """diag(F F^+) / rank by the SVD, with numpy's matrix_rank tolerance."""
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    rank = np.linalg.matrix_rank(F)
    return np.sum(U[:, :rank] ** 2, axis=1) / rank


def random_matrix(n=400, k=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, k))


def coherent(n=400, k=8):
    F = random_matrix(n, k, 1)
    F[[3, 50, 77]] *= 1e6
    return F


def rank_deficient(n=400, k=8):
    F = random_matrix(n, k, 2)
    F[:, 5] = 2 * F[:, 0] - 3 * F[:, 1]
    F[:, 6] = 0.0
    return F


def near_collinear(noise, n=400, k=8):
    F = random_matrix(n, k, 3)
    rng = np.random.default_rng(4)
    F[:, 4] = F[:, 3] + noise * rng.normal(size=n)
    return F


def column_scaled(n=400, k=8):
    scales = 10.0 ** np.random.default_rng(5).uniform(-8, 8, size=k)
    return random_matrix(n, k, 6) * scales


def wide(n=5, k=9):
    return random_matrix(n, k, 7)


CASES = {
    "random": random_matrix(),
    "coherent": coherent(),
    "rank_deficient": rank_deficient(),
    "near_collinear_1e-3": near_collinear(1e-3),
    "near_collinear_1e-7": near_collinear(1e-7),
    "column_scaled": column_scaled(),
    "wide": wide(),
}


@pytest.mark.parametrize("name", CASES)
def test_leverage_matches_pseudo_inverse(name):
    F = CASES[name]
    scores = leverage_scores(F)
    n = F.shape[0]
    np.testing.assert_allclose(scores, reference_leverage(F), rtol=0, atol=1e-8 / n)
    assert scores.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(scores >= 0)


def nested_collinear(step, n=400):
    """Columns c, c + step w, c + step w + step^2 v, exactly representable.

    However small ``step``, they span exactly the columns [c, w, v], whose
    leverage is well conditioned: an exact reference for the refinement.
    """
    rng = np.random.default_rng(15)
    c, w, v, other = (rng.integers(-16, 17, size=n).astype(float) for _ in range(4))
    nested = [c, c + step * w, c + step * w + step**2 * v, other]
    return np.column_stack(nested), np.column_stack([c, w, v, other])


def test_refinement_recovers_the_exact_span():
    F, well_conditioned = nested_collinear(2.0**-10)
    assert np.linalg.cond(F) > 1e6
    np.testing.assert_allclose(
        leverage_scores(F),
        reference_leverage(well_conditioned),
        rtol=0,
        atol=1e-8 / F.shape[0],
    )


def test_extreme_conditioning_is_handled_as_well_as_rounding_allows():
    # cond ~ 3e12: any backward-stable method is off by about cond * eps.
    # The scores must be that accurate, and better than the SVD route.
    F, well_conditioned = nested_collinear(2.0**-20)
    exact = reference_leverage(well_conditioned)
    cond = np.linalg.cond(F)
    error = np.abs(leverage_scores(F) - exact).max()
    assert error <= 10 * cond * np.finfo(float).eps / F.shape[0]
    assert error < np.abs(reference_leverage(F) - exact).max()


@pytest.mark.parametrize(
    "F, passes",
    [
        (random_matrix(), 1),
        (near_collinear(1e-3), 2),
        (near_collinear(1e-7), 2),
        (rank_deficient(), 2),
        (nested_collinear(2.0**-20)[0], 3),
    ],
    ids=["random", "collinear_1e-3", "collinear_1e-7", "rank_deficient", "nested"],
)
def test_gram_passes_grow_only_with_ill_conditioning(F, passes, monkeypatch):
    calls = []
    original = _scores._gram

    def counting_gram(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_scores, "_gram", counting_gram)
    leverage_scores(F)
    assert len(calls) == passes


def test_exact_rank_deficiency_is_detected():
    F = rank_deficient()
    # Rank 6 of 8 columns: the scores sum to 1 only if divided by the true rank.
    unnormalized = leverage_scores(F) * 6
    np.testing.assert_allclose(unnormalized.sum(), 6.0)
    assert np.linalg.matrix_rank(F) == 6


def test_scores_are_invariant_to_column_scaling():
    F = random_matrix(300, 6, 8)
    scales = np.array([1e-9, 1e-3, 1.0, 1e3, 1e9, 1e-12])
    np.testing.assert_allclose(
        leverage_scores(F * scales), leverage_scores(F), rtol=1e-9, atol=0
    )


@pytest.mark.parametrize("block_size", [1, 7, 64, 10_000])
def test_block_size_does_not_change_the_result(block_size):
    for F in (random_matrix(), rank_deficient(), near_collinear(1e-3)):
        np.testing.assert_allclose(
            leverage_scores(F, block_size=block_size),
            leverage_scores(F),
            rtol=1e-10,
            atol=1e-14,
        )


def test_float32_and_fortran_order_inputs():
    F = random_matrix()
    np.testing.assert_allclose(
        leverage_scores(F.astype(np.float32)),
        reference_leverage(F.astype(np.float32).astype(np.float64)),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        leverage_scores(np.asfortranarray(F)), leverage_scores(F)
    )


def test_input_is_not_modified():
    F = coherent()
    before = F.copy()
    leverage_scores(F)
    leverage_scores(F, ridge=1.0)
    norm_scores(F)
    np.testing.assert_array_equal(F, before)


def test_huge_entries_do_not_overflow():
    F = random_matrix(50, 4, 9)
    np.testing.assert_allclose(leverage_scores(F * 1e200), leverage_scores(F))
    np.testing.assert_allclose(norm_scores(F * 1e200), norm_scores(F))


def test_identity_activation_reduces_to_classical_leverage():
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(200, 5)), rng.normal(size=200)
    theta = rng.normal(size=6)
    F = single_index_adjoint(X, theta, make_activation("identity"), y=y)
    data = np.column_stack([X, np.ones(200), y])
    Q, _ = np.linalg.qr(data)
    np.testing.assert_allclose(leverage_scores(F), np.sum(Q**2, axis=1) / 7, atol=1e-12)


@pytest.mark.parametrize("F", [random_matrix(50, 4, 11), wide()], ids=["tall", "wide"])
def test_ridge_leverage_matches_its_formula(F):
    ridge = 0.7
    G = F.T @ F + ridge * np.eye(F.shape[1])
    raw = np.einsum("ij,ji->i", F, np.linalg.solve(G, F.T))
    np.testing.assert_allclose(
        leverage_scores(F, ridge=ridge), raw / raw.sum(), rtol=1e-10
    )


def test_tiny_ridge_on_ill_conditioned_input_matches_formula():
    F = near_collinear(1e-7)
    ridge = 1e-10
    G = F.T @ F + ridge * np.eye(F.shape[1])
    # Reference through the augmented matrix [F; sqrt(ridge) I], stably.
    Q, _ = np.linalg.qr(np.vstack([F, np.sqrt(ridge) * np.eye(F.shape[1])]))
    raw = np.sum(Q[: F.shape[0]] ** 2, axis=1)
    assert np.linalg.cond(G) > 1e12
    np.testing.assert_allclose(
        leverage_scores(F, ridge=ridge), raw / raw.sum(), rtol=1e-7
    )


def test_ridge_shrinks_toward_norm_ordering_as_it_grows():
    F = coherent()
    big = leverage_scores(F, ridge=1e30)
    np.testing.assert_allclose(big, norm_scores(F), rtol=1e-6)


def test_norm_scores():
    F = random_matrix(30, 3, 12)
    expected = np.sum(F**2, axis=1) / np.sum(F**2)
    np.testing.assert_allclose(norm_scores(F), expected)
    np.testing.assert_allclose(norm_scores(F, block_size=4), expected)


def test_memory_stays_within_blocks():
    # Extra memory must be O(k^2 + block * k): far below the input size.
    F = random_matrix(200_000, 10, 13)
    leverage_scores(F[:10])  # warm up imports and caches
    tracemalloc.start()
    leverage_scores(F, block_size=4096)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    output = F.shape[0] * 8
    assert peak - output < 0.1 * F.nbytes


@pytest.mark.parametrize("func", [leverage_scores, norm_scores])
@pytest.mark.parametrize(
    "F, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "F contains NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "F contains infinity"),
        (np.ones(3), "F must be a 2-D array"),
        (np.ones((0, 3)), "F must have at least one row"),
        (np.ones((3, 0)), "F must have at least one row"),
        (np.zeros((3, 2)), "F has no nonzero entry"),
    ],
)
def test_bad_matrices_raise(func, F, match):
    with pytest.raises(ValueError, match=match):
        func(F)


@pytest.mark.parametrize("ridge", [-1.0, np.nan, np.inf, "big"])
def test_bad_ridge_raises(ridge):
    with pytest.raises(ValueError, match="ridge must be"):
        leverage_scores(random_matrix(), ridge=ridge)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True])
def test_bad_block_size_raises(block_size):
    with pytest.raises(ValueError, match="block_size must be"):
        leverage_scores(random_matrix(), block_size=block_size)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_blocked_scores_reject_non_finite_rows(bad):
    # Row callables (dual matrices computed on the fly) skip array validation.
    F = random_matrix(20, 3, 14)
    F[5, 1] = bad
    for func in (_scores.blocked_leverage_scores, _scores.blocked_norm_scores):
        with pytest.raises(ValueError, match="NaN or infinity"):
            func(lambda a, b: F[a:b], 20, 3)


def graded(singular_values, n=200, seed=0):
    """A matrix with the given singular values and random singular vectors."""
    rng = np.random.default_rng(seed)
    k = len(singular_values)
    U, _ = np.linalg.qr(rng.standard_normal((n, k)))
    V, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return (U * singular_values) @ V.T


@pytest.mark.parametrize("seed", range(5))
def test_noise_below_the_rank_tolerance_is_dropped_at_every_level(seed):
    # Deeper refinement levels have tiny eigenvalues of their own; a noise
    # direction there must not count toward the rank (exact rank 3 here).
    F = graded([1.0, 1e-8, 1e-13, 0.0], seed=seed)
    K, rank = _scores.leverage_factor(_scores._array_rows(F), *F.shape)
    assert rank == 3
    unnormalized = np.sum((F @ K) ** 2, axis=1)
    assert unnormalized.sum() == pytest.approx(3.0, rel=1e-4)


@pytest.mark.parametrize("scales", [[1.0, 1e-165, 1.0], [1e200, 1.0, 1e-120]])
def test_tiny_and_huge_columns_keep_their_leverage(scales):
    # Squares of 1e-165 underflow to 0: the column must not be taken for zero.
    F = random_matrix(60, 3, 16)
    np.testing.assert_allclose(
        leverage_scores(F * scales), leverage_scores(F), rtol=1e-12
    )
    np.testing.assert_allclose(leverage_scores(F * 1e-170), leverage_scores(F))


def test_ridge_with_rescaled_columns_matches_its_formula():
    # f^T (F^T F + ridge I)^-1 f = g^T (G^T G + ridge S^2)^-1 g with G = F S:
    # the reference works in units where nothing overflows.
    F = random_matrix(40, 3, 17) * [1e200, 1.0, 1.0]
    ridge = 0.5
    S = np.diag([1e-200, 1.0, 1.0])
    Fs = F @ S
    raw = np.einsum("ij,ji->i", Fs, np.linalg.solve(Fs.T @ Fs + ridge * S @ S, Fs.T))
    np.testing.assert_allclose(
        leverage_scores(F, ridge=ridge), raw / raw.sum(), rtol=1e-10
    )
