import tracemalloc

import numpy as np
import pytest

from sknlis import (
    _scores,
    leverage_scores,
    make_activation,
    norm_scores,
    single_index_adjoint,
    two_layer_adjoint,
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
    assert np.linalg.matrix_rank(F) == 6
    # Rank 6 of 8 columns (one a combination, one zero). A noise direction
    # kept by mistake would add a seventh, and ||f_i K||^2 would not be the
    # diagonal of the projector (whose trace is the rank).
    K, rank = _scores.leverage_factor(_scores._array_rows(F), *F.shape)
    assert rank == K.shape[1] == 6
    unnormalized = np.sum((F @ K) ** 2, axis=1)
    np.testing.assert_allclose(unnormalized, reference_leverage(F) * 6, atol=1e-10)


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
    with pytest.raises(ValueError, match="'ridge' parameter of leverage_scores"):
        leverage_scores(random_matrix(), ridge=ridge)


@pytest.mark.parametrize("func", [leverage_scores, norm_scores])
@pytest.mark.parametrize("block_size", [0, -3, 2.5, True])
def test_bad_block_size_raises(func, block_size):
    with pytest.raises(ValueError, match="block_size"):
        func(random_matrix(), block_size=block_size)


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


# ----------------------------------------------------------------------------
# Subnormal columns (issue 13, item 9)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["exact", "sketch"])
def test_subnormal_column_keeps_its_leverage(method):
    # 1 / max|column| overflows for a column of subnormals.
    F = random_matrix(300, 4, 18)
    tiny = F.copy()
    tiny[:, 0] *= 1e-310
    assert 0 < np.abs(tiny[:, 0]).max() < np.finfo(float).tiny
    kwargs = {"method": method, "random_state": 0}
    # Subnormals keep fewer digits than normal numbers: agreement to 1e-9.
    np.testing.assert_allclose(
        leverage_scores(tiny, **kwargs), leverage_scores(F, **kwargs), rtol=1e-9
    )


def test_subnormal_column_in_norm_scores():
    F = random_matrix(30, 3, 19)
    tiny = F.copy()
    tiny[:, 0] *= 1e-310
    without = F.copy()
    without[:, 0] = 0.0
    np.testing.assert_allclose(norm_scores(tiny), norm_scores(without), rtol=1e-12)
    np.testing.assert_allclose(norm_scores(F * 1e-310), norm_scores(F), rtol=1e-9)


def test_leverage_factor_refuses_an_unrepresentable_factor():
    F = random_matrix(50, 3, 20)
    F[:, 1] *= 1e-310
    with pytest.raises(ValueError, match="leverage factor overflows"):
        _scores.leverage_factor(_scores._array_rows(F), *F.shape)


# ----------------------------------------------------------------------------
# Wide matrices: the n x n side (issue 13, item 10)
# ----------------------------------------------------------------------------


def wide_rank_deficient(n=40, k=300, rank=25, seed=21):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(rank, k))
    F = np.vstack([F, rng.normal(size=(n - rank - 1, rank)) @ F, np.zeros((1, k))])
    return F[rng.permutation(n)]


@pytest.mark.parametrize(
    "F",
    [
        random_matrix(40, 300, 22),
        wide_rank_deficient(),
        wide_rank_deficient() * 10.0 ** np.random.default_rng(23).uniform(-8, 8, 300),
        np.vstack([random_matrix(1, 50, 24)] * 3),
    ],
    ids=["full_row_rank", "rank_deficient", "rank_deficient_col_scaled", "one_row"],
)
def test_wide_leverage_matches_pseudo_inverse(F):
    # The column-scaled case: the reference sees the unscaled matrix (the
    # scores are invariant; numpy's tolerance on scaled columns is not).
    unscaled = F / np.abs(F).max(axis=0)
    expected = reference_leverage(unscaled)
    np.testing.assert_allclose(leverage_scores(F), expected, rtol=0, atol=1e-10)


def test_wide_leverage_never_forms_the_column_gram():
    # 60 x 4,000: a 4,000 x 4,000 Gram alone would be 122 MiB.
    F = random_matrix(60, 4000, 25)
    leverage_scores(F[:, :10])  # warm up
    tracemalloc.start()
    scores = leverage_scores(F)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_allclose(scores, 1 / 60)
    # A block is all of this F: a copy or two of it, nothing k x k.
    assert peak < 2.5 * F.nbytes


# ----------------------------------------------------------------------------
# Sketched leverage
# ----------------------------------------------------------------------------


def total_variation(p, q):
    return 0.5 * np.abs(p - q).sum()


def within_band(approx, exact):
    """Fraction of rows whose score is within [0.5, 2] times the exact one."""
    ratio = approx[exact > 0] / exact[exact > 0]
    return np.mean((ratio >= 0.5) & (ratio <= 2.0))


def two_layer_dual(n=3000, d=48, m=6, seed=26):
    """A two-layer ReLU dual matrix on heavy-tailed (Student t, 3 dof) data.

    Rank ``k - m``: each neuron's ``a`` column is a combination of its ``b``
    columns (homogeneity), the structure of real dual matrices.
    """
    rng = np.random.default_rng(seed)
    X, y = rng.standard_t(3, size=(n, d)), rng.standard_t(3, size=n)
    theta = rng.normal(size=m * (d + 2) + 1)
    return two_layer_adjoint(X, theta, m, make_activation("identity"), y=y)


def sketch_cases(n=3000, k=302):
    rng = np.random.default_rng(27)
    G = rng.normal(size=(n, k))
    coherent = G.copy()
    coherent[rng.choice(n, 20, replace=False)] *= 100.0
    low_rank = G[:, : k // 2] @ rng.normal(size=(k // 2, k))
    two_layer = two_layer_dual(n, m=k // 50)
    return {"two_layer": two_layer, "coherent": coherent, "rank_def": low_rank}


SKETCH_CASES = sketch_cases()
SMALL = sketch_cases(1500, 62)


@pytest.mark.parametrize("name", SKETCH_CASES)
def test_sketch_meets_the_accuracy_goals(name):
    # k = 302 > the 256 default projections: both approximations are active.
    F = SKETCH_CASES[name]
    exact = leverage_scores(F, method="exact")
    approx = leverage_scores(F, method="sketch", random_state=0)
    assert total_variation(approx, exact) <= 0.05
    assert within_band(approx, exact) >= 0.95
    assert approx.sum() == pytest.approx(1.0) and np.all(approx >= 0)


@pytest.mark.parametrize("ridge", [0.0, 30.0 * 1500])
def test_sketch_converges_to_exact_without_projection(ridge):
    # Norms without projection: only the embedding's distortion remains, with
    # relative spread sqrt(2 / (sketch_size - rank)) per row. The ridge
    # changes the answer (checked), so a sketch that ignored it would fail.
    F = SMALL["coherent"]
    exact = leverage_scores(F, ridge=ridge, method="exact")
    errors = [
        total_variation(
            leverage_scores(
                F,
                method="sketch",
                ridge=ridge,
                sketch_size=size,
                n_projections=F.shape[1],
                random_state=1,
            ),
            exact,
        )
        for size in (100, 1500)
    ]
    assert errors[1] < 0.4 * errors[0]
    assert errors[1] < 0.02
    if ridge:
        assert total_variation(exact, leverage_scores(F)) > 0.1


def test_sketch_is_deterministic_for_a_seed_and_block_size_free():
    F = SMALL["two_layer"]
    kwargs = {"method": "sketch", "n_projections": 16, "random_state": 3}
    first = leverage_scores(F, **kwargs)
    np.testing.assert_array_equal(first, leverage_scores(F, **kwargs))
    np.testing.assert_allclose(
        first, leverage_scores(F, block_size=333, **kwargs), rtol=1e-9
    )
    kwargs["random_state"] = 4
    assert not np.allclose(first, leverage_scores(F, **kwargs))


def test_sketch_is_invariant_to_column_scaling():
    F = SMALL["two_layer"]
    scales = 10.0 ** np.random.default_rng(28).uniform(-150, 150, F.shape[1])
    kwargs = {"method": "sketch", "n_projections": 16, "random_state": 5}
    np.testing.assert_allclose(
        leverage_scores(F * scales, **kwargs), leverage_scores(F, **kwargs), rtol=1e-8
    )


def test_sketch_drops_the_null_space():
    # Rank 31 of 62 columns. Without projection the unnormalized scores sum
    # to the rank times the embedding's known bias r1 / (r1 - rank - 1)
    # (the mean of an inverse Wishart matrix), not to 62.
    F = SMALL["rank_def"]
    rank, sketch_size = F.shape[1] // 2, 300
    unnormalized = _scores._sketch_leverage(
        _scores._array_rows(F),
        *F.shape,
        ridge=0.0,
        sketch_size=sketch_size,
        n_projections=F.shape[1],
        block_size=1000,
        rng=np.random.RandomState(6),
    )
    expected = rank * sketch_size / (sketch_size - rank - 1)
    assert unnormalized.sum() == pytest.approx(expected, rel=0.05)


def test_auto_is_exact_for_small_k_and_sketches_large_problems():
    F = random_matrix(2000, 40, 29)
    np.testing.assert_array_equal(
        leverage_scores(F), leverage_scores(F, method="exact")
    )
    assert _scores._choose_method(2000, 40, 1080, 256) == "exact"
    assert _scores._choose_method(1_000_000, 5201, 8801, 256) == "sketch"
    # k = 600: the sketch would save only about half (measured); not worth it.
    assert _scores._choose_method(1_000_000, 600, 1900, 256) == "exact"
    # n not much larger than k: the sketch's own Gram costs as much as exact.
    assert _scores._choose_method(12_000, 5201, 11402, 256) == "exact"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "fast"}, "'method' parameter"),
        ({"sketch_size": 0}, "'sketch_size' parameter"),
        ({"sketch_size": 5, "method": "sketch"}, "sketch_size must be at least"),
        ({"n_projections": 0}, "'n_projections' parameter"),
        ({"n_projections": 2.5}, "'n_projections' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
    ],
)
def test_bad_sketch_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        leverage_scores(random_matrix(), **kwargs)


def test_sketch_holds_the_sketch_and_one_k_by_k_array():
    # Cholesky and R^-1 happen in place, and the sketch is dropped before
    # R^-1 is formed: at k = 5,202 every k x k array is 216 MB.
    n, k, block = 4000, 600, 128

    def rows(start, stop):
        return np.random.default_rng(start).standard_normal((stop - start, k))

    options = dict(method="sketch", block_size=block, random_state=0)
    _scores.blocked_leverage_scores(rows, 300, k, **options)  # warm up
    tracemalloc.start()
    _scores.blocked_leverage_scores(rows, n, k, **options)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sketch_rows, _ = _scores._sketch_defaults(k, None, None)
    held = (sketch_rows + k) * k * 8 + 4 * block * k * 8 + n * 8
    assert peak < 1.1 * held


def _sketch_K(F, single, n_projections=64):
    return _scores.sketched_factors(
        lambda start, stop: F[start:stop],
        F.shape[0],
        F.shape[1],
        sketch_size=400,
        n_projections=n_projections,
        block_size=500,
        rng=np.random.RandomState(0),
        full=False,
        single=single,
    )[1]


def test_projection_in_float32_only_when_safe_and_to_rounding():
    rng = np.random.default_rng(3)
    F = rng.standard_normal((3000, 150)) * np.exp(rng.normal(size=150))
    K64, K32 = _sketch_K(F, False), _sketch_K(F, True)
    assert K64.dtype == np.float64 and K32.dtype == np.float32
    # Same sketch and projection: the float32 scores differ by rounding only,
    # far below the projections' own spread (sqrt(2 / 64) = 18%).
    scores64 = _scores.row_norms_squared(lambda a, b: F[a:b], 3000, 150, K64)
    scores32 = _scores.row_norms_squared(lambda a, b: F[a:b], 3000, 150, K32)
    assert scores32.dtype == np.float64
    np.testing.assert_allclose(scores32, scores64, rtol=1e-3)
    # Not when a column scale would leave float32's range, nor on the
    # rank-revealing route (a repeated column), nor without projections.
    wide_range = F.copy()
    wide_range[:, 0] *= 2.0**150
    repeated = F.copy()
    repeated[:, 1] = repeated[:, 0]
    assert _sketch_K(wide_range, True).dtype == np.float64
    assert _sketch_K(repeated, True).dtype == np.float64
    assert _sketch_K(F, True, n_projections=500).dtype == np.float64
