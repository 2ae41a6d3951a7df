"""Limits of roster files; each can be overridden by a Django setting of the same name."""

# Largest upload accepted, in megabytes (setting ROSTER_MAX_UPLOAD_MB).
ROSTER_MAX_UPLOAD_MB = 20
# Most bytes an .xlsx may unpack to, in megabytes, and the highest compression ratio of one
# entry: beyond either the file is treated as a zip bomb (ROSTER_MAX_UNPACKED_MB,
# ROSTER_MAX_COMPRESSION_RATIO). A 100,000-row roster unpacks to about 120 MB at a ratio of 12.
ROSTER_MAX_UNPACKED_MB = 600
ROSTER_MAX_COMPRESSION_RATIO = 200
# An .xlsx's shared strings (the text of its cells, which python-calamine loads whole before any
# sheet) may hold at most this many megabytes and entries (ROSTER_MAX_SHARED_STRINGS_MB,
# ROSTER_MAX_SHARED_STRINGS). A 100,000-row roster written with shared strings has 9 MB in 315,000
# entries, and a 20 MB upload holds about twice as many rows; the limits leave ten times that room
# and keep the reader's memory near 200 MB, where a 600 MB table of one-letter strings took 2 GB.
ROSTER_MAX_SHARED_STRINGS_MB = 100
ROSTER_MAX_SHARED_STRINGS = 3_000_000
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
# Sheets the portal's own files carry besides the roster: the template's hidden lists and its
# notes, a bad-rows copy's list of errors. A book read at its first sheet does not name them
# among the sheets left unread.
TEMPLATE_LISTS_SHEET = "选项"
TEMPLATE_NOTES_SHEET = "填写说明"
ERRORS_SHEET = "错误清单"
AUXILIARY_SHEETS = frozenset({TEMPLATE_LISTS_SHEET, TEMPLATE_NOTES_SHEET, ERRORS_SHEET})

# The column the bad-rows download adds after the file's own, with each row's problems: read
# back when the fixed file is uploaded again, and ignored without a word.
ERROR_COLUMN = "错误"
