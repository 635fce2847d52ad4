"""Taking work in: batch JSONL files read and checked whole (:mod:`jsonl`, :mod:`line_formats`),
what callers pass checked (:mod:`checks`), and the submission use case that routes and stores
it (:mod:`submit`)."""
