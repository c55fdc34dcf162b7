"""The one CSV writer every export uses: cells cannot become spreadsheet formulas.

OWASP's rule for CSV injection: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is prefixed with a single quote, so Excel, LibreOffice and Google
Sheets show it as text (``=HYPERLINK(...)`` from a product title stays inert). Quoting and
embedded quotes are the ``csv`` module's.

Numbers stay numbers: an ``int``, ``float`` or ``Decimal`` cell (money in minor units, counts,
a negative adjustment such as ``-500``) is written as it is -- a number cannot carry a formula.
Only text is neutralised, so a *string* ``"-5"`` comes out as ``'-5``: callers write figures
as numbers, not as pre-formatted text, when they mean them to be summed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The cell as it may be written: numbers unchanged, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):  # bool is an int: written True/False
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class SafeWriter:
    """``csv.writer`` with every cell passed through :func:`safe_cell`."""

    def __init__(self, handle: IO[str], **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle: IO[str], **options: Any) -> SafeWriter:
    return SafeWriter(handle, **options)
