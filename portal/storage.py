"""Files at rest encrypted: uploaded rosters hold every ID number and phone of a county in clear.

An upload waits on disk until its import has run (a preview keeps it until confirmed or purged,
rosters.services). This storage writes it sealed with the portal's encryption key (AES-256-GCM,
``PORTAL_ENCRYPTION_KEYS``, the key that seals ID numbers in the database) behind a short
marker, and opens it decrypted, in memory: uploads are limited to ROSTER_MAX_UPLOAD_MB. Readers
must open the file through the storage, never by its path (``ENCRYPTS`` tells them). A file
stored before this storage existed has no marker and is read as it is.
"""

from __future__ import annotations

import io
import os

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage

from . import crypto

MARKER = b"PORTAL-SEALED-1\n"


class EncryptedFileSystemStorage(FileSystemStorage):
    ENCRYPTS = True

    def _save(self, name, content):
        content.seek(0)
        sealed = MARKER + crypto.encrypt_bytes(content.read())
        return super()._save(name, ContentFile(sealed))

    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("encrypted files are written with save(), not opened for writing")
        with super()._open(name, "rb") as handle:
            data = handle.read()
        if data.startswith(MARKER):
            data = crypto.decrypt_bytes(data[len(MARKER) :])
        return File(io.BytesIO(data), name=name)

    def sealed_with(self, name) -> str | None:
        """The id of the key a stored file is sealed with; None for a file stored unsealed."""
        with super()._open(name, "rb") as handle:
            head = handle.read(len(MARKER) + 64)
        if not head.startswith(MARKER):
            return None
        return (
            head[len(MARKER) :].partition(crypto.SEPARATOR.encode())[0].decode("ascii", "replace")
        )

    def reseal(self, name) -> bool:
        """Seal a stored file again under the current key (key rotation); False when it already
        is, or was stored unsealed. The file is replaced whole, never left half written."""
        key_id = self.sealed_with(name)
        if key_id is None or key_id == crypto.current_key_id():
            return False
        with self._open(name) as handle:
            data = handle.read()
        path = self.path(name)
        partial = f"{path}.reseal-{os.getpid()}"
        with open(partial, "wb") as out:
            out.write(MARKER + crypto.encrypt_bytes(data))
        os.chmod(partial, os.stat(path).st_mode & 0o777)
        os.replace(partial, path)
        return True


def sealed_uploads() -> EncryptedFileSystemStorage:
    """The storage of uploaded rosters (a callable, so migrations do not hold its settings)."""
    return EncryptedFileSystemStorage()
