import numpy as np
import pytest

from sknlis import importance_sample
from sknlis._sampling import inclusion_probabilities

rng = np.random.default_rng(0)
N = 60
SCORES = rng.gamma(0.5, size=N)
SCORES[[4, 9]] = 25.0  # two heavy rows: they get capped without replacement
G = rng.normal(size=N) * (1 + SCORES)  # a quantity whose sum we estimate
TAU = SCORES / SCORES.sum()


def estimates(n_draws, s, **kwargs):
    out = np.empty(n_draws)
    for seed in range(n_draws):
        idx, w = importance_sample(SCORES, s, random_state=seed, **kwargs)
        out[seed] = np.sum(w * G[idx])
    return out


@pytest.mark.parametrize("mix_uniform", [0.0, 0.3])
def test_with_replacement_weights_are_exact(mix_uniform):
    s = 17
    idx, w = importance_sample(SCORES, s, mix_uniform=mix_uniform, random_state=3)
    tau = (1 - mix_uniform) * TAU + mix_uniform / N
    assert idx.shape == w.shape == (s,)
    np.testing.assert_array_equal(idx, np.sort(idx))
    np.testing.assert_allclose(w, 1.0 / (s * tau[idx]), rtol=1e-14)


def test_without_replacement_weights_are_inverse_inclusion_probabilities():
    s = 20
    idx, w = importance_sample(SCORES, s, replace=False, random_state=3)
    pi = inclusion_probabilities(TAU, s)
    assert len(np.unique(idx)) == s
    np.testing.assert_allclose(w, 1.0 / pi[idx], rtol=1e-14)


def test_inclusion_probabilities_are_capped_and_proportional():
    s = 20
    pi = inclusion_probabilities(TAU, s)
    assert pi.sum() == pytest.approx(s)
    assert pi.max() <= 1.0
    np.testing.assert_array_equal(pi[[4, 9]], 1.0)
    uncapped = pi < 1
    ratio = pi[uncapped] / TAU[uncapped]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


def test_inclusion_frequencies_match_probabilities():
    s, n_draws = 20, 4000
    counts = np.zeros(N)
    for seed in range(n_draws):
        idx, _ = importance_sample(SCORES, s, replace=False, random_state=seed)
        counts[idx] += 1
    pi = inclusion_probabilities(TAU, s)
    standard_error = np.sqrt(pi * (1 - pi) / n_draws) + 1e-12
    assert np.all(np.abs(counts / n_draws - pi) <= 5 * standard_error)


def test_with_replacement_sum_is_unbiased():
    s, n_draws = 10, 4000
    values = estimates(n_draws, s)
    # Exact variance of the i.i.d. estimator: (sum g^2 / tau - (sum g)^2) / s.
    variance = (np.sum(G**2 / TAU) - G.sum() ** 2) / s
    standard_error = np.sqrt(variance / n_draws)
    assert abs(values.mean() - G.sum()) < 5 * standard_error


def test_without_replacement_sum_is_unbiased():
    values = estimates(4000, 15, replace=False)
    standard_error = values.std(ddof=1) / np.sqrt(values.shape[0])
    assert abs(values.mean() - G.sum()) < 5 * standard_error


def test_the_unbiasedness_check_can_fail():
    # Dropping the weights (plain n/s scaling) is biased: the same check must
    # reject it, or the tests above would prove nothing.
    s, n_draws = 10, 4000
    values = np.empty(n_draws)
    for seed in range(n_draws):
        idx, _ = importance_sample(SCORES, s, random_state=seed)
        values[seed] = N / s * np.sum(G[idx])
    standard_error = values.std(ddof=1) / np.sqrt(n_draws)
    assert abs(values.mean() - G.sum()) > 5 * standard_error


def test_mixing_bounds_the_weights_and_reaches_zero_score_rows():
    scores = np.array([0.0, 0.0, 1.0, 3.0])
    s, alpha = 200, 0.5
    idx, w = importance_sample(scores, s, mix_uniform=alpha, random_state=0)
    assert w.max() <= 4 / (s * alpha) + 1e-12
    # The zero-score rows are drawn, and they attain the bound.
    zero_score = np.isin(idx, [0, 1])
    assert np.isin([0, 1], idx).all()
    np.testing.assert_allclose(w[zero_score], 4 / (s * alpha))
    idx_none, _ = importance_sample(scores, 1000, random_state=0)
    assert not np.isin([0, 1], idx_none).any()


@pytest.mark.parametrize("replace", [True, False])
def test_same_seed_same_draw(replace):
    first = importance_sample(SCORES, 0.3, replace=replace, random_state=42)
    second = importance_sample(SCORES, 0.3, replace=replace, random_state=42)
    other = importance_sample(SCORES, 0.3, replace=replace, random_state=43)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_fraction_resolves_to_a_row_count():
    idx, _ = importance_sample(SCORES, 0.25, random_state=0)
    assert idx.shape == (15,)
    idx, w = importance_sample(SCORES, 1.0, replace=False, random_state=0)
    np.testing.assert_array_equal(idx, np.arange(N))
    np.testing.assert_allclose(w, 1.0)


def test_scores_are_not_modified():
    scores = SCORES.copy()
    importance_sample(scores, 5, random_state=0)
    np.testing.assert_array_equal(scores, SCORES)


@pytest.mark.parametrize(
    "scores, n_samples, kwargs, error, match",
    [
        ([1.0, -1.0, 2.0], 2, {}, ValueError, "scores must be non-negative"),
        ([1.0, np.nan], 1, {}, ValueError, "scores must be finite"),
        ([1.0, np.inf], 1, {}, ValueError, "scores must be finite"),
        ([0.0, 0.0], 1, {}, ValueError, "scores must have a positive sum"),
        ([], 1, {}, ValueError, "scores must be a non-empty 1-D"),
        ([[1.0, 2.0]], 1, {}, ValueError, "scores must be a non-empty 1-D"),
        (["a", "b"], 1, {}, TypeError, "scores must be real"),
        ([1.0, 2.0], 0, {}, ValueError, "'n_samples' parameter"),
        ([1.0, 2.0], -3, {}, ValueError, "'n_samples' parameter"),
        ([1.0, 2.0], 1.5, {}, ValueError, r"'n_samples' .* range \(0.0, 1.0\]"),
        ([1.0, 2.0], 0.1, {}, ValueError, "rounds to 0 rows"),
        ([1.0, 2.0], "all", {}, TypeError, "'n_samples' parameter"),
        ([1.0, 2.0], True, {}, TypeError, "n_samples must be an int"),
        # "no" is truthy: it drew with replacement.
        ([1.0, 2.0], 1, {"replace": "no"}, TypeError, "'replace' parameter"),
        ([1.0, 2.0], 1, {"random_state": "x"}, ValueError, "'random_state'"),
        ([1.0, 2.0], 3, {"replace": False}, ValueError, "only 2"),
        ([1.0, 0.0, 0.0], 2, {"replace": False}, ValueError, "positive score"),
        ([1.0, 2.0], 1, {"mix_uniform": 1.5}, ValueError, "'mix_uniform'"),
        ([1.0, 2.0], 1, {"mix_uniform": -0.1}, ValueError, "'mix_uniform'"),
    ],
)
def test_bad_input_raises(scores, n_samples, kwargs, error, match):
    with pytest.raises(error, match=match):
        importance_sample(scores, n_samples, **kwargs)


@pytest.mark.parametrize("replace", [True, False])
@pytest.mark.parametrize("size", [1e308, 1e-320])
def test_huge_and_tiny_scores_give_the_weights_of_equal_scores(size, replace):
    # The sum of [1e308] * 3 overflowed: every weight was inf.
    idx, w = importance_sample([size] * 3, 3, replace=replace, random_state=0)
    expected = importance_sample([1.0] * 3, 3, replace=replace, random_state=0)
    np.testing.assert_array_equal(idx, expected[0])
    np.testing.assert_array_equal(w, expected[1])


def test_more_draws_than_memory_holds_is_a_clear_error():
    # 10**12 draws failed inside numpy, allocating 7.3 TiB.
    with pytest.raises(ValueError, match="n_samples=1000000000000 draws do not fit"):
        importance_sample([1.0, 2.0], 10**12, random_state=0)
