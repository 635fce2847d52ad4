"""`halfrate run`: one prompt over every row of a spreadsheet, as one job; its answers written
back beside the rows; its failed rows asked again."""

from halfrate.table_job.answers import PENDING, answers_of, failed_rows, row_cells
from halfrate.table_job.plan import (
    TableOptions,
    TablePlan,
    check_options,
    estimate_table,
    plan_table,
)
from halfrate.table_job.stored import StoredPlan, plan_record, stored_plan

__all__ = [
    "PENDING",
    "StoredPlan",
    "TableOptions",
    "TablePlan",
    "answers_of",
    "check_options",
    "estimate_table",
    "failed_rows",
    "plan_record",
    "plan_table",
    "row_cells",
    "stored_plan",
]
