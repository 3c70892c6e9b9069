"""The CSV export's cells (leads.domain.csv_export) against generated text: a cell a spreadsheet would run as a
formula never starts like one, every other cell is written as it is, and the file reads back cell for cell."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from leads.domain.csv_export import BOM, COLUMNS, header, neutralise, rows

CELLS = st.one_of(st.text(max_size=30), st.sampled_from(["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\t=x",
                                                          "\r=x", "a,b", 'say "hi"', "line\nbreak", "é—中"]))


@given(CELLS)
def test_no_cell_can_start_a_formula_and_only_formulas_change(value: str) -> None:
    shown = neutralise(value)
    assert not shown.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert shown == (f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value)


@given(st.lists(st.lists(CELLS, min_size=3, max_size=3), max_size=5))
def test_the_file_reads_back_cell_for_cell(table: list[list[str]]) -> None:
    text = header() + rows(table)
    assert text.startswith(BOM)
    read = list(csv.reader(io.StringIO(text.removeprefix(BOM), newline="")))
    assert read[0] == list(COLUMNS)
    assert read[1:] == [[neutralise(c) for c in row] for row in table]
