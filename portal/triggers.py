"""Statement-level change-trail triggers (django-pghistory) made to survive Django's migrations.

django-pgtrigger tells a row-level trigger from a statement-level one by comparing its ``level``
with the module's ``Statement`` object by identity (pgtrigger 4.17, pghistory 3.9). Django deep-
copies models' options when it builds migration states, and the copy of ``Statement`` is a new
object, so a copied statement-level trigger renders half as a row-level one and makemigrations
fails ("Composer trigger references NEW values..."). The levels, operations and timings are
immutable constants: a copy may as well be the constant itself. Imported by the settings, before
any model is defined.

Statement-level history triggers write a bulk statement's events in one INSERT … SELECT from the
statement's transition table instead of one trigger call per row: the roster import of 100,000
members is the case they are for (bench/import_bench.py).
"""

from pgtrigger import core


def _same(self, memo=None):
    return self


core._Primitive.__copy__ = _same
core._Primitive.__deepcopy__ = _same
