"""Reading a numeric CSV table for the command line, with messages a user can act on."""

import contextlib
import csv
import os
import secrets
from dataclasses import dataclass

import numpy as np


class TableError(ValueError):
    """A CSV file the command line cannot use, with the reason."""


@dataclass
class Table:
    """A numeric CSV table split into features and target."""

    header: list
    records: list  # the rows as read, for writing them back unchanged
    X: np.ndarray
    y: np.ndarray


def check_header(path, header, target):
    """Every column named once, and ``target`` among them."""
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise TableError(
            f"{path} names column {repeated[0]!r} more than once: give every "
            "column its own name."
        )
    if target not in header:
        raise TableError(
            f"Target column {target!r} is not in {path}; its columns are: "
            f"{', '.join(header)}."
        )


def read_table(path, target):
    """Read ``path`` into a :class:`Table` with ``target`` as ``y``.

    Every column must be numeric and complete: the message names the first
    column and line that is not, rather than guessing an encoding.
    """
    if os.path.isdir(path):
        raise TableError(f"{path} is a directory, not a CSV file.")
    if not os.path.isfile(path):
        raise TableError(f"No such file: {path}")
    # utf-8-sig: a byte order mark (as spreadsheets write) is not part of the
    # first column's name.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise TableError(f"{path} is empty: expected a header line of names.")
        records = [row for row in reader if row]
    check_header(path, header, target)
    if not records:
        raise TableError(f"{path} has a header but no rows.")
    for line, row in enumerate(records, start=2):
        if len(row) != len(header):
            raise TableError(
                f"{path}, line {line}: {len(row)} fields, but the header has "
                f"{len(header)}."
            )
    columns = {name: _numeric_column(name, j, records) for j, name in enumerate(header)}
    features = [name for name in header if name != target]
    if not features:
        raise TableError(f"{path} has no feature column besides {target!r}.")
    X = np.column_stack([columns[name] for name in features])
    return Table(header, records, X, columns[target])


def _numeric_column(name, j, records):
    values = np.empty(len(records))
    for i, row in enumerate(records):
        text = row[j].strip()
        try:
            values[i] = float(text)
        except ValueError:
            what = "is empty" if not text else f"holds {text!r}"
            raise TableError(
                f"Column {name!r} is not numeric: line {i + 2} {what}. Encode "
                "categories as numbers and fill or drop missing values first."
            ) from None
        if not np.isfinite(values[i]):
            raise TableError(
                f"Column {name!r}, line {i + 2}: {text!r} is not a finite number."
            )
    return values


def write_table(path_or_file, header, rows):
    """Write ``rows`` under ``header`` to a path (atomically), or to an open file."""
    if hasattr(path_or_file, "write"):
        _write(path_or_file, header, rows)
        return
    with replaced_atomically(path_or_file) as temporary:
        with open(temporary, "w", newline="") as handle:
            _write(handle, header, rows)


@contextlib.contextmanager
def replaced_atomically(path):
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    A write that fails part-way (a full disk, a file size limit) leaves
    ``path`` as it was and no temporary file behind.
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def _write(handle, header, rows):
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
