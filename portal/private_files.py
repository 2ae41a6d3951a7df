"""Files that hold personal data, written readable by their owner only.

Ledgers, error reports and bad-rows copies hold ID numbers and phones in clear, dumps every
row: whatever the umask, nobody else on the machine may read them.
"""

from __future__ import annotations

import os
from typing import BinaryIO


def open_private(path) -> BinaryIO:
    """``path`` opened for writing (created or emptied), mode 600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode otherwise
    return os.fdopen(fd, "wb")
