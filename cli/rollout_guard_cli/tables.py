"""The CLI's tables (the drill's, `halt`'s, `status`'s, `doctor`'s, `replay`'s): plain text, columns as wide as
their widest cell, or CSV (`--output csv`: RFC 4180, a header row, for a spreadsheet or a script)."""

from __future__ import annotations

import csv
import io
from typing import Any

OUTPUTS = ("table", "text", "json", "csv")  # `text` is the table's former name, kept


def text_table(rows: list[list[Any]], headers: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def csv_table(rows: list[list[Any]], headers: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return out.getvalue().rstrip("\n")


def shown(rows: list[list[Any]], headers: list[str], output: str) -> str:
    """The rows as the operator asked: CSV, or the plain-text table."""
    return csv_table(rows, headers) if output == "csv" else text_table(rows, headers)
