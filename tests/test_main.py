import csv
import importlib.util
import io

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from sknlis import __main__ as cli


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    data = load_diabetes()
    path = tmp_path_factory.mktemp("data") / "diabetes.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*data.feature_names, "target"])
        writer.writerows(np.column_stack([data.data, data.target]).tolist())
    return str(path)


def read_csv(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_demo_reproduces_figure_1_in_small(tmp_path):
    out, status = io.StringIO(), io.StringIO()
    plot = tmp_path / "demo.png"
    errors = cli.run_demo(
        sizes=(0.01, 0.05), repeats=3, top=3, plot=str(plot), out=out, status=status
    )
    text = out.getvalue()
    assert "median over 3 draws" in text and "[8/8]" in status.getvalue()
    # The paper's finding on its own data: leverage sampling beats uniform by
    # orders of magnitude (the diamonds with impossible sizes dominate).
    uniform = np.median(errors["uniform (UN)"][-1])
    adjoint = np.median(errors["adjoint leverage at theta* (ALS)"][-1])
    assert adjoint < uniform - 1.0
    # The row with y = 58.9 mm is the one the model depends on most.
    assert text.split("an average row):")[1].splitlines()[2].split()[0] == "24067"
    if importlib.util.find_spec("matplotlib"):
        assert plot.stat().st_size > 0


def test_scores_command_writes_probability_columns(diabetes_csv, tmp_path):
    out = tmp_path / "scores.csv"
    assert cli.main(["scores", diabetes_csv, "--target", "target", "-o", str(out)]) == 0
    header, rows = read_csv(out)
    assert header == [
        "row",
        "adjoint_leverage",
        "adjoint_norm",
        "linear_leverage",
        "linear_norm",
    ]
    values = np.array(rows, dtype=float)
    assert values.shape == (442, 5)
    np.testing.assert_allclose(values[:, 1:].sum(axis=0), 1.0, rtol=1e-8)


def test_sample_command_writes_rows_with_weights(diabetes_csv, tmp_path):
    out = tmp_path / "sample.csv"
    argv = ["sample", diabetes_csv, "--target", "target", "--n-samples", "40"]
    assert cli.main([*argv, "--no-replace", "-o", str(out)]) == 0
    header, rows = read_csv(out)
    assert header[0] == "row" and header[-1] == "sample_weight"
    assert len(rows) == 40 and len({row[0] for row in rows}) == 40
    # Each written row is the input row it names, unchanged.
    _, original = read_csv(diabetes_csv)
    for row in rows:
        assert row[1:-1] == original[int(row[0])]
    weights = np.array([row[-1] for row in rows], dtype=float)
    assert np.all(weights >= 1.0)  # inclusion probabilities are at most 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["scores", "missing.csv", "--target", "y"], "No such file"),
        (["scores", "{data}", "--target", "price"], "Target column 'price'"),
        (
            [
                "sample",
                "{data}",
                "--target",
                "target",
                "--n-samples",
                "5000",
                "--no-replace",
            ],
            "only 442",
        ),
    ],
)
def test_errors_exit_with_status_2_and_a_message(argv, message, diabetes_csv, capsys):
    argv = [arg.format(data=diabetes_csv) for arg in argv]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
