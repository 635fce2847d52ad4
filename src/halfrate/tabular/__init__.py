"""Spreadsheets in and out: rows of a CSV, XLSX or JSONL file, a prompt written over their
columns, and the same rows written back with each answer beside them."""

from halfrate.tabular.rows import TableFile, open_table
from halfrate.tabular.template import Template

__all__ = ["TableFile", "Template", "open_table"]
