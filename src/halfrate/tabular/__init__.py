"""Spreadsheets in and out: rows of a CSV, TSV, XLSX or JSONL file (:mod:`rows`, with
:mod:`delimited` and :mod:`workbook`), a prompt written over their columns (:mod:`template`),
the same table written back with each answer beside it (:mod:`write`), cells made safe to open
(:mod:`cells`), and a job's results as tables (:mod:`results`)."""
