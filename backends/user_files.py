"""A user's own JSON Lines and CSV files (questions to score, pairs to train on), read row by row with
where each row came from, so that a fault names its line."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterator


def text_of(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{name} is not UTF-8 text (byte {err.start})") from None


def json_lines(name: str, text: str, expected: str) -> Iterator[tuple[str, dict]]:
    """(where, object) for each non-empty line; expected describes the object a line should hold."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            row = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected an object like {expected}")
        yield where, row


def csv_rows(name: str, text: str, needed: tuple[str, ...]) -> Iterator[tuple[str, dict]]:
    """(where, row) for each row, its column names lower-cased and its cells stripped."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    for column in needed:
        if column not in columns:
            raise ValueError(f"{name}: no {column!r} column (columns: {', '.join(columns) or 'none'})")
    for row in reader:
        yield f"{name} line {reader.line_num}", {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
