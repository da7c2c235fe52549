"""Dask input: the same results as in memory, lazily, with clear errors."""

import numpy as np
import pytest

da = pytest.importorskip(
    "dask.array", reason="dask is optional: pip install 'sknlis[dask]'"
)
dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe", reason="dask[dataframe] is optional")
pd = pytest.importorskip("pandas")

from sklearn.linear_model import Ridge  # noqa: E402

from sknlis import (  # noqa: E402
    AdjointOutlierDetector,
    NonlinearImportanceResampler,
    SingleIndexClassifier,
    SingleIndexRegressor,
    TwoLayerReLURegressor,
    leverage_scores,
    norm_scores,
)
from sknlis._dask import array_rows  # noqa: E402
from sknlis._dask_sampling import chunked_importance_sample  # noqa: E402
from sknlis._sampling import inclusion_probabilities  # noqa: E402
from sknlis.pipeline import Pipeline  # noqa: E402


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def coherent(n=3000, k=12, seed=0):
    """Columns of very different scales and a few high-leverage rows."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, k)) * np.logspace(-3, 3, k)
    F[rng.choice(n, 5, replace=False)] *= 30
    return F


def regression(n=2500, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.tanh(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    return X, y


def lazy(X, y=None, rows=400):
    X_lazy = da.from_array(X, chunks=(rows, -1))
    return X_lazy if y is None else (X_lazy, da.from_array(y, chunks=(rows,)))


# ----------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "exact"},
        {"method": "exact", "ridge": 10.0},
        {"method": "sketch", "sketch_size": 100, "random_state": 3},
    ],
    ids=["exact", "ridge", "sketch"],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_leverage_scores_on_dask_equal_numpy(kwargs, dtype):
    F = coherent().astype(dtype)
    scores = leverage_scores(lazy(F, rows=700), **kwargs)
    assert isinstance(scores, da.Array)
    np.testing.assert_allclose(scores.compute(), leverage_scores(F, **kwargs), 1e-10)


def test_sketch_does_not_depend_on_the_chunks():
    # The embedding is hashed from global row indices: any chunking (and the
    # numpy path's blocks) sees the same S.
    F = coherent()
    kwargs = {"method": "sketch", "sketch_size": 60, "random_state": 1}
    one = leverage_scores(lazy(F, rows=1000), **kwargs).compute()
    other = leverage_scores(lazy(F, rows=333), **kwargs).compute()
    np.testing.assert_allclose(one, other, rtol=1e-12)
    shuffled = leverage_scores(lazy(F, rows=333), **{**kwargs, "random_state": 2})
    assert not np.allclose(one, shuffled.compute(), rtol=1e-3)


@pytest.mark.parametrize(
    "ridge, scale, extra",
    [(0.0, 1.0, 0), (10.0, 1.0, 0), (0.0, 1e300, 0), (0.0, 1.0, 3)],
)
@pytest.mark.parametrize("chunked", [True, False])
def test_chunk_totals_are_the_sums_of_the_chunk_scores(ridge, scale, extra, chunked):
    # trace(K^T G_c K) against the summed scores: ridge, overflowing squares
    # (scaled rows) and repeated columns (rank deficient).
    from sknlis._scores import _array_rows, blocked_leverage_scores

    F = coherent()
    F = np.hstack([F, F[:, :extra]]) * scale
    rows = array_rows(lazy(F))[0] if chunked else _array_rows(F)
    scores, totals = blocked_leverage_scores(
        rows, *F.shape, method="exact", ridge=ridge, normalize=False, chunk_totals=True
    )
    scores = np.asarray(scores)
    starts = np.arange(0, F.shape[0], 400) if chunked else [0]
    np.testing.assert_allclose(
        totals, np.add.reduceat(scores, starts), rtol=0, atol=1e-12 * scores.sum()
    )


def test_a_draw_planned_from_wrong_chunk_totals_is_redrawn():
    scores = np.random.default_rng(1).exponential(size=2000)
    lazy_scores = da.from_array(scores, chunks=300)
    right = chunked_importance_sample(
        lazy_scores, 60, replace=True, mix_uniform=0.1, rng=np.random.RandomState(2)
    )
    totals = np.add.reduceat(scores, np.arange(0, 2000, 300))
    # Rounding passes as it is; an error beyond it is caught by the chunks.
    for error in (1e-14, 1e-3):
        wrong = totals * (1 + error * np.arange(len(totals)))
        drawn = chunked_importance_sample(
            lazy_scores,
            60,
            replace=True,
            mix_uniform=0.1,
            rng=np.random.RandomState(2),
            totals=wrong,
        )
        np.testing.assert_array_equal(drawn[0], right[0])
        np.testing.assert_allclose(drawn[1], right[1], rtol=1e-12)


def test_the_chunked_resampler_computes_the_dual_matrix_twice(monkeypatch):
    # As the in-memory path: a Gram pass and a norms pass, whose draw also
    # takes the sampled rows (chunk totals from the chunks' Grams).
    from sknlis import _dask

    computed = []
    adjoint = _dask._adjoint_chunk_rows

    def counted(estimator, block_size, y_numeric, X, y):
        computed.append(X.shape[0])
        return adjoint(estimator, block_size, y_numeric, X, y)

    monkeypatch.setattr(_dask, "_adjoint_chunk_rows", counted)
    X, y = regression()
    sampler = NonlinearImportanceResampler(n_samples=100, random_state=0)
    X_out, _ = sampler.fit_resample(*lazy(X, y))
    assert sum(computed) == 2 * X.shape[0]
    np.testing.assert_array_equal(X_out, X[sampler.sample_indices_])


def test_norm_scores_and_wide_leverage_on_dask():
    F = coherent()
    np.testing.assert_allclose(
        norm_scores(lazy(F, rows=512)).compute(), norm_scores(F), rtol=1e-10
    )
    wide = np.random.default_rng(1).standard_normal((30, 50))
    lazy_wide = leverage_scores(lazy(wide, rows=7))
    assert isinstance(lazy_wide, da.Array)
    np.testing.assert_allclose(lazy_wide.compute(), leverage_scores(wide), 1e-10)


def test_bad_dask_matrices_are_refused_by_name():
    F = coherent(400, 6)
    with pytest.raises(ValueError, match=r"F is chunked along its columns.*rechunk"):
        leverage_scores(da.from_array(F, chunks=(100, 3)))
    unknown = da.from_array(F, chunks=(100, -1))
    unknown = unknown[unknown[:, 0] > -10]
    with pytest.raises(ValueError, match="F is a Dask array with unknown chunk"):
        norm_scores(unknown)
    late = F.copy()
    late[-1, 2] = np.nan  # only the last chunk holds it
    for scores in (leverage_scores, norm_scores):
        with pytest.raises(ValueError, match="F contains NaN or infinity"):
            scores(lazy(late, rows=100)).compute()


# ----------------------------------------------------------------------------
# Resampler
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"scores": "norm", "mix_uniform": 0.2},
        {"basis": "linear"},
        {"scores": "uniform"},
        {"leverage_method": "sketch"},
        {"estimator": TwoLayerReLURegressor(n_hidden=3, max_iter=30, random_state=0)},
    ],
    ids=["leverage", "norm_mixed", "linear", "uniform", "sketch", "two_layer"],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_resampler_draws_the_in_memory_sample(kwargs):
    X, y = regression()
    memory = NonlinearImportanceResampler(n_samples=150, random_state=5, **kwargs)
    X_mem, y_mem = memory.fit_resample(X, y)
    chunked = NonlinearImportanceResampler(n_samples=150, random_state=5, **kwargs)
    X_out, y_out = chunked.fit_resample(*lazy(X, y))
    assert isinstance(X_out, np.ndarray) and isinstance(y_out, np.ndarray)
    np.testing.assert_array_equal(chunked.sample_indices_, memory.sample_indices_)
    np.testing.assert_allclose(chunked.sample_weight_, memory.sample_weight_, 1e-10)
    np.testing.assert_array_equal(X_out, X_mem)
    np.testing.assert_array_equal(y_out, y_mem)
    assert isinstance(chunked.scores_, da.Array)
    np.testing.assert_allclose(chunked.scores_.compute(), memory.scores_, 1e-10)


def test_a_large_input_draws_its_pilot_without_permuting_every_row(monkeypatch):
    from sknlis import _resampler

    monkeypatch.setattr(_resampler, "_PERMUTE_LIMIT", 100)
    X, y = regression()
    memory = NonlinearImportanceResampler(n_samples=50, random_state=4)
    memory.fit_resample(X, y)
    chunked = NonlinearImportanceResampler(n_samples=50, random_state=4)
    chunked.fit_resample(*lazy(X, y))
    pilot = chunked.pilot_indices_
    assert pilot.shape == (50,) and np.all(np.diff(pilot) > 0)
    np.testing.assert_array_equal(pilot, memory.pilot_indices_)
    np.testing.assert_array_equal(chunked.sample_indices_, memory.sample_indices_)
    # Uniform: every row is in the pilot with probability size / n.
    state = np.random.RandomState(0)
    counts = np.zeros(1000)
    for _ in range(300):
        rows = _resampler._uniform_rows(state, 1000, 100)
        assert np.unique(rows).shape == (100,)
        counts[rows] += 1
    assert np.abs(counts - 30).max() < 6 * np.sqrt(30 * 0.9)


def test_resampler_without_replacement_keeps_the_inclusion_probabilities():
    X, y = regression()
    # A large sample caps the highest-scoring rows at probability 1.
    sampler = NonlinearImportanceResampler(
        n_samples=1500, replace=False, random_state=0
    )
    sampler.fit_resample(*lazy(X, y))
    indices = sampler.sample_indices_
    assert indices.shape == (1500,) and np.unique(indices).shape == (1500,)
    pi = inclusion_probabilities(sampler.scores_.compute(), 1500)
    assert np.sum(pi == 1.0) > 0
    np.testing.assert_allclose(1.0 / sampler.sample_weight_, pi[indices], 1e-10)


def test_chunked_draw_without_replacement_has_its_inclusion_probabilities():
    rng = np.random.default_rng(0)
    scores = rng.exponential(size=40) ** 3
    scores[3] = 0.0
    lazy_scores = da.from_array(scores, chunks=7)
    pi = inclusion_probabilities(scores / scores.sum(), 12)
    state = np.random.RandomState(0)
    counts = np.zeros(40)
    n_draws = 200
    for _ in range(n_draws):
        indices, *_ = chunked_importance_sample(
            lazy_scores, 12, replace=False, mix_uniform=0.0, rng=state
        )
        counts[indices] += 1
    # Within 4.5 standard deviations of each row's inclusion probability.
    spread = np.sqrt(pi * (1 - pi) / n_draws)
    assert np.all(np.abs(counts / n_draws - pi) <= 4.5 * spread + 1e-12)
    assert counts[3] == 0


def test_resampler_on_data_frames_returns_pandas_and_the_pandas_sample():
    X, y = regression()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(target=y)
    memory = NonlinearImportanceResampler(n_samples=100, random_state=2)
    X_mem, _ = memory.fit_resample(frame[["a", "b", "c", "d"]], frame["target"])
    lazy_frame = dd.from_pandas(frame, npartitions=4)
    sampler = NonlinearImportanceResampler(n_samples=100, random_state=2)
    X_out, y_out = sampler.fit_resample(
        lazy_frame[["a", "b", "c", "d"]], lazy_frame["target"]
    )
    assert isinstance(X_out, pd.DataFrame) and isinstance(y_out, pd.Series)
    pd.testing.assert_frame_equal(X_out, X_mem)
    np.testing.assert_array_equal(sampler.sample_indices_, memory.sample_indices_)
    assert list(sampler.feature_names_in_) == ["a", "b", "c", "d"]


def test_pipeline_samples_a_dask_collection_and_refits_in_memory():
    X, y = regression()
    steps = [
        ("sample", NonlinearImportanceResampler(n_samples=200, random_state=0)),
        ("model", Ridge()),
    ]
    chunked = Pipeline(steps).fit(*lazy(X, y))
    memory = Pipeline(steps).fit(X, y)
    np.testing.assert_allclose(chunked[-1].coef_, memory[-1].coef_, rtol=1e-10)
    np.testing.assert_allclose(chunked.sample_weight_, memory.sample_weight_, 1e-10)


def test_bad_dask_data_are_refused_by_name():
    X, y = regression(800)
    X_lazy, y_lazy = lazy(X, y, rows=200)
    sampler = NonlinearImportanceResampler(n_samples=50, random_state=0)
    with pytest.raises(ValueError, match="X and y must be partitioned alike"):
        sampler.fit_resample(X_lazy, da.from_array(y, chunks=300))
    with pytest.raises(ValueError, match="X is chunked along its columns"):
        sampler.fit_resample(da.from_array(X, chunks=(200, 2)), y_lazy)
    late = X.copy()
    late[-3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        sampler.fit_resample(lazy(late, rows=200), y_lazy)
    with pytest.raises(ValueError, match="pilot_size=None"):
        NonlinearImportanceResampler(pilot_size=None).fit_resample(X_lazy, y_lazy)
    with pytest.raises(TypeError, match="y is a Dask collection but X is not"):
        sampler.fit_resample(X, y_lazy)


# ----------------------------------------------------------------------------
# Detector and estimators
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("scores", ["balanced", "leverage", "norm"])
def test_detector_on_dask_is_lazy_and_equal(scores):
    X, y = regression(1500)
    y[:5] += 2.0
    model = SingleIndexRegressor("tanh", random_state=0).fit(X, y)
    memory = AdjointOutlierDetector(model, prefit=True, scores=scores).fit(X, y)
    chunked = AdjointOutlierDetector(model, prefit=True, scores=scores)
    chunked.fit(*lazy(X, y))
    np.testing.assert_allclose(chunked.scores_.compute(), memory.scores_, 1e-10)
    X_lazy, y_lazy = lazy(X, y, rows=333)
    for method in ("score_samples", "decision_function", "predict"):
        result = getattr(chunked, method)(X_lazy, y_lazy)
        assert isinstance(result, da.Array), method
        np.testing.assert_allclose(
            result.compute(), getattr(memory, method)(X, y), rtol=1e-10
        )
    np.testing.assert_allclose(
        chunked.score_samples(X_lazy).compute(), memory.score_samples(X), 1e-10
    )


def test_detector_refuses_what_dask_input_cannot_do():
    X, y = regression(600)
    X_lazy, y_lazy = lazy(X, y)
    with pytest.raises(ValueError, match="prefit=True"):
        AdjointOutlierDetector(SingleIndexRegressor()).fit(X_lazy, y_lazy)
    labels = np.where(y > 0, "up", "down")
    model = SingleIndexClassifier(random_state=0).fit(X, labels)
    detector = AdjointOutlierDetector(model, prefit=True, scores="loo")
    with pytest.raises(ValueError, match="'loo'.*numpy input"):
        detector.fit(X_lazy, labels)
    without_y = AdjointOutlierDetector().fit(X_lazy)
    np.testing.assert_allclose(
        without_y.scores_.compute(), AdjointOutlierDetector().fit(X).scores_, 1e-10
    )


def test_estimator_methods_map_over_chunks():
    X, y = regression(900)
    X_lazy, y_lazy = lazy(X, y, rows=250)
    regressor = SingleIndexRegressor(random_state=0).fit(X, y)
    np.testing.assert_allclose(
        regressor.predict(X_lazy).compute(), regressor.predict(X)
    )
    F = regressor.adjoint_matrix(X_lazy, y_lazy)
    assert isinstance(F, da.Array) and F.shape == (900, regressor.theta_.shape[0] + 1)
    np.testing.assert_allclose(F.compute(), regressor.adjoint_matrix(X, y))
    labels = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    classifier = SingleIndexClassifier(random_state=0).fit(X, labels)
    for method in ("predict", "predict_proba", "decision_function"):
        result = getattr(classifier, method)(X_lazy)
        assert isinstance(result, da.Array)
        np.testing.assert_array_equal(result.compute(), getattr(classifier, method)(X))
    lazy_labels = da.from_array(labels, chunks=250)
    np.testing.assert_allclose(
        classifier.adjoint_matrix(X_lazy, lazy_labels).compute(),
        classifier.adjoint_matrix(X, labels),
    )


def test_lazy_results_add_one_task_per_chunk():
    """Each chunk of a lazy result is its own task, with no alias tasks
    between (each would cost the scheduler about as much as small work)."""
    from dask.core import flatten
    from dask.utils import key_split

    X, y = regression(900)
    X_lazy = lazy(X, rows=250)
    regressor = SingleIndexRegressor(random_state=0).fit(X, y)
    source = set(dict(X_lazy.__dask_graph__()))
    for result in (regressor.predict(X_lazy), regressor.adjoint_matrix(X_lazy, y)):
        added = set(dict(result.__dask_graph__())) - source
        assert added == set(flatten(result.__dask_keys__()))
    scores = norm_scores(regressor.adjoint_matrix(X_lazy, y))
    names = [key_split(key) for key in dict(scores.__dask_graph__())]
    assert names.count("run_kernel") == X_lazy.numblocks[0]
    assert not {"from-value", "concatenate"} & set(names)


# ----------------------------------------------------------------------------
# A real cluster
# ----------------------------------------------------------------------------


def test_resampler_on_a_local_cluster_draws_the_in_memory_sample():
    distributed = pytest.importorskip("distributed", reason="distributed is optional")
    X, y = regression(2000)
    memory = NonlinearImportanceResampler(n_samples=100, random_state=1)
    memory.fit_resample(X, y)
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=":0",
            memory_limit="1GiB",
        ) as cluster,
        distributed.Client(cluster),
    ):
        sampler = NonlinearImportanceResampler(n_samples=100, random_state=1)
        sampler.fit_resample(*lazy(X, y))
    np.testing.assert_array_equal(sampler.sample_indices_, memory.sample_indices_)
    np.testing.assert_allclose(sampler.sample_weight_, memory.sample_weight_, 1e-10)


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


@pytest.fixture
def diabetes_frame():
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True)
    return data.frame


def _cli(argv):
    from sknlis import __main__ as cli

    return cli.main([str(arg) for arg in argv])


def test_cli_streams_parquet(diabetes_frame, tmp_path):
    pytest.importorskip("pyarrow", reason="reading Parquet needs pyarrow")
    folder = tmp_path / "rows"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(442), 3)):
        diabetes_frame.iloc[part].to_parquet(folder / f"part.{i}.parquet")
    out = tmp_path / "scores.csv"
    assert _cli(["scores", folder, "--target", "target", "-o", out]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns) == [
        "row",
        "adjoint_leverage",
        "adjoint_norm",
        "linear_leverage",
        "linear_norm",
    ]
    np.testing.assert_array_equal(scores["row"], np.arange(442))
    np.testing.assert_allclose(scores.iloc[:, 1:].sum(), 1.0, rtol=1e-8)
    # The linear basis needs no model: the in-memory command's scores.
    memory = tmp_path / "memory.csv"
    diabetes_frame.to_csv(tmp_path / "d.csv", index=False)
    assert _cli(["scores", tmp_path / "d.csv", "--target", "target", "-o", memory]) == 0
    np.testing.assert_allclose(
        scores["linear_leverage"], pd.read_csv(memory)["linear_leverage"], 1e-8
    )
    sample = tmp_path / "sample.csv"
    argv = ["sample", folder, "--target", "target", "--n-samples", 40, "-o", sample]
    assert _cli(argv) == 0
    drawn = pd.read_csv(sample)
    assert drawn.shape == (40, diabetes_frame.shape[1] + 2)
    np.testing.assert_allclose(
        drawn[diabetes_frame.columns], diabetes_frame.iloc[drawn["row"]], rtol=1e-12
    )


def test_cli_streams_a_large_csv_with_the_same_errors(
    diabetes_frame, tmp_path, monkeypatch, capsys
):
    from sknlis import __main__ as cli

    monkeypatch.setattr(cli, "STREAM_CSV_BYTES", 0)  # every CSV streams
    path = tmp_path / "d.csv"
    diabetes_frame.to_csv(path, index=False)
    out = tmp_path / "sample.csv"
    out.write_text("old\n")
    memory = tmp_path / "memory.csv"
    monkeypatch.setattr(cli, "STREAM_CSV_BYTES", 2**40)
    assert _cli(["sample", path, "--target", "target", "-o", memory]) == 0
    monkeypatch.setattr(cli, "STREAM_CSV_BYTES", 0)
    assert _cli(["sample", path, "--target", "target", "-o", out]) == 0
    # The same seed draws the same rows as the in-memory command.
    np.testing.assert_array_equal(pd.read_csv(out)["row"], pd.read_csv(memory)["row"])
    for argv, message in [
        (["--target", "price"], "Target column 'price'"),
        (["--target", "target", "--n-samples", 5000, "--no-replace"], "only 442"),
    ]:
        with pytest.raises(SystemExit):
            _cli(["sample", path, *argv, "-o", out])
        assert message in capsys.readouterr().err
    late = diabetes_frame.copy()
    late.loc[440, "bmi"] = np.nan
    late.to_csv(path, index=False)
    out.write_text("old\n")
    with pytest.raises(SystemExit):
        _cli(["scores", path, "--target", "target", "-o", out])
    assert "Column 'bmi' holds missing" in capsys.readouterr().err
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "d.csv",
        "memory.csv",
        "sample.csv",
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_resampler_scores_a_two_layer_network_without_its_redundant_columns(
    monkeypatch,
):
    from sknlis import _dask_resampler

    widths = []
    original = _dask_resampler.blocked_leverage_scores

    def recording(rows, n_rows, n_columns, **kwargs):
        widths.append((n_columns, rows.n_columns))
        return original(rows, n_rows, n_columns, **kwargs)

    monkeypatch.setattr(_dask_resampler, "blocked_leverage_scores", recording)
    X, y = regression()
    model = TwoLayerReLURegressor(n_hidden=3, max_iter=30, random_state=0)
    sampler = NonlinearImportanceResampler(model, n_samples=150, random_state=5)
    sampler.fit_resample(*lazy(X, y))
    k = sampler.estimator_.theta_.shape[0] + 1
    assert widths == [(k - 3, k - 3)]
