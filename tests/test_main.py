import csv
import importlib.util
import io
import os
import subprocess
import sys

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
        (["scores", "{dir}", "--target", "y"], "is a directory"),
        (["demo", "--repeats", "0"], "--repeats: must be at least 1; got 0"),
        (["demo", "--top", "-1"], "--top: must be at least 0; got -1"),
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
    folder = os.path.dirname(diabetes_csv)
    argv = [arg.format(data=diabetes_csv, dir=folder) for arg in argv]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def _fingerprint(path):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("command", ["scores", "sample"])
def test_output_over_the_input_is_refused(command, diabetes_csv, tmp_path, capsys):
    # It used to exit 0 with the input replaced by the result.
    data = tmp_path / "keep.csv"
    data.write_bytes(_fingerprint(diabetes_csv))
    os.link(data, tmp_path / "alias.csv")
    for output in (data, tmp_path / "alias.csv"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, str(data), "--target", "target", "-o", str(output)])
        assert exit_info.value.code == 2
        assert "is the input file" in capsys.readouterr().err
    assert _fingerprint(data) == _fingerprint(diabetes_csv)


def test_a_failed_write_keeps_the_old_output(diabetes_csv, tmp_path):
    # Under a 2 KiB file size limit the write fails part-way: it used to leave
    # a CSV cut mid-number and a traceback.
    small = tmp_path / "small.csv"  # 80 rows: about 4 KiB of scores
    with open(diabetes_csv) as source:
        small.write_text("".join(source.readlines()[:81]))
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    command = (
        f"ulimit -f 2; {sys.executable} -m sknlis scores {small} "
        f"--target target -o {out}"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(cli.__file__))}
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert result.stderr.startswith("sknlis scores: error: [Errno 27]")
    assert "Traceback" not in result.stderr
    assert out.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "small.csv"]


def test_n_samples_one_point_zero_draws_every_row(diabetes_csv, tmp_path):
    # As in the Python API, 1.0 is the fraction "all rows"; it drew 1 row.
    out = tmp_path / "sample.csv"
    argv = ["sample", diabetes_csv, "--target", "target", "--no-replace"]
    assert cli.main([*argv, "--n-samples", "1.0", "-o", str(out)]) == 0
    assert len(read_csv(out)[1]) == 442
    assert cli.main([*argv, "--n-samples", "1", "-o", str(out)]) == 0
    assert len(read_csv(out)[1]) == 1


def test_huge_columns_are_standardized_not_zeroed():
    # np.std overflowed on values near 1e200 and the column became all 0.
    X, y = load_diabetes(return_X_y=True)
    expected = cli.standardize(X, y)
    scaled = X.copy()
    scaled[:, 0] *= 1e202
    scaled[:, 1] *= 1e-310  # subnormal: its squares would vanish
    result = cli.standardize(scaled, y * 1e250)
    np.testing.assert_allclose(result[0], expected[0], atol=1e-12)
    np.testing.assert_allclose(result[1], expected[1], atol=1e-12)
