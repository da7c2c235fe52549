import io

import numpy as np
import pytest

from sknlis._csv import TableError, read_table, write_table


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_reads_features_and_target_in_order(tmp_path):
    path = write(tmp_path, "a,y,b\n1,10,2\n3,30,4.5\n")
    table = read_table(path, "y")
    np.testing.assert_array_equal(table.X, [[1, 2], [3, 4.5]])
    np.testing.assert_array_equal(table.y, [10, 30])
    assert table.records[1] == ["3", "30", "4.5"]


@pytest.mark.parametrize(
    "text, target, match",
    [
        ("a,y\n1,2\n", "price", "Target column 'price' is not in"),
        ("a,y\nx,2\n", "y", "Column 'a' is not numeric: line 2 holds 'x'"),
        ("a,y\n1,2\n,3\n", "y", "Column 'a' is not numeric: line 3 is empty"),
        ("a,y\n1,nan\n", "y", "'nan' is not a finite number"),
        ("a,y\n1,2,3\n", "y", "3 fields, but the header has 2"),
        ("a,y\n", "y", "has a header but no rows"),
        ("", "y", "is empty"),
        ("y\n1\n", "y", "no feature column"),
        # Repeated names lost a column (a,a,y) or kept the target (a,y,y).
        ("a,a,y\n1,2,3\n", "y", "names column 'a' more than once"),
        ("a,y,y\n1,2,3\n", "y", "names column 'y' more than once"),
    ],
)
def test_unusable_tables_get_a_message_naming_the_problem(
    tmp_path, text, target, match
):
    with pytest.raises(TableError, match=match):
        read_table(write(tmp_path, text), target)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(TableError, match="No such file"):
        read_table(str(tmp_path / "absent.csv"), "y")
    with pytest.raises(TableError, match="is a directory"):
        read_table(str(tmp_path), "y")


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("a,y\n1,2\n3,5\n".encode("utf-8-sig"))
    table = read_table(str(path), "y")
    assert table.header == ["a", "y"]
    assert read_table(str(path), "a").y.tolist() == [1.0, 3.0]


def test_write_table_round_trips(tmp_path):
    buffer = io.StringIO()
    write_table(buffer, ["a", "y"], [[1, 2], [3, 4]])
    assert buffer.getvalue() == "a,y\n1,2\n3,4\n"
    path = write(tmp_path, "", "out.csv")
    write_table(path, ["a", "y"], [[1, 2]])
    assert read_table(path, "y").X.tolist() == [[1.0]]
