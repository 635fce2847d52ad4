"""How the command line shows things: tables, progress, receipts, reports."""
