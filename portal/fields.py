"""Model fields shared across apps."""

from django.core.exceptions import FieldError
from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """Text encrypted in the database, plain in Python.

    Saved values are encrypted in ``get_db_prep_save``, so ``save``, ``bulk_create`` and
    ``update`` with plain values encrypt; expressions (``bulk_update``, ``F()``) are refused,
    and raw-SQL bulk paths call ``crypto.encrypt`` themselves. Loaded values are decrypted in
    ``from_db_value``. Ciphertexts differ for equal values, so the field cannot be filtered
    on: look up through a keyed hash stored beside it.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "resolve_expression"):
            # bulk_update and F() arrive as expressions that would reach the table unencrypted.
            raise FieldError(f"{self.name} is encrypted: save plain values, not expressions")
        value = super().get_db_prep_save(value, connection)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted: filter on its lookup hash instead"
        )
