"""Limits of roster files; each can be overridden by a Django setting of the same name."""

# Largest upload accepted, in megabytes (setting ROSTER_MAX_UPLOAD_MB).
ROSTER_MAX_UPLOAD_MB = 20
# Most bytes an .xlsx may unpack to, in megabytes, and the highest compression ratio of one
# entry: beyond either the file is treated as a zip bomb (ROSTER_MAX_UNPACKED_MB,
# ROSTER_MAX_COMPRESSION_RATIO). A 100,000-row roster unpacks to about 120 MB at a ratio of 12.
ROSTER_MAX_UNPACKED_MB = 600
ROSTER_MAX_COMPRESSION_RATIO = 200
# The xlsx reader holds a sheet as a dense grid from A1 to its last filled cell: a stray value in
# row 1,048,576 would ask for billions of cells. Refused above this many (ROSTER_MAX_SHEET_CELLS).
ROSTER_MAX_SHEET_CELLS = 10_000_000
# The header must be within this many rows from the top.
HEADER_SEARCH_ROWS = 30
# How often (rows) an import reports progress.
PROGRESS_EVERY = 2000
# Error values (#N/A, #REF!…) a sheet may hold before it is refused as a whole: each is a row
# refused, and past this many the file is a formula gone wrong, not a roster to report on.
MAX_ERROR_CELLS = 10_000
