"""Re-encrypt ID numbers under the current key (and optionally re-hash under a new lookup key).

Only what is not yet under the current key (or, with --rehash, not yet hashed with the current
lookup key) is written: every write of a member or an import record adds an event to the
append-only trail, so a second run must change nothing. Before anything is written, every key
the stored ciphertexts name must be listed, or the command stops saying which is missing.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import CharField, F, Func, Value
from psycopg2.extras import execute_values

from branches.services import organization_tree_lock
from members.models import Member
from portal import crypto

BATCH = 2000


def _key_id(column: str) -> Func:
    """The id of the key a ciphertext column's value is encrypted with, in SQL."""
    return Func(
        F(column),
        Value(crypto.SEPARATOR),
        Value(1),
        function="split_part",
        output_field=CharField(),
    )


class Command(BaseCommand):
    help = (
        "用当前密钥重新加密身份证号、导入记录的错误清单和待导入的上传文件（密钥轮换）；"
        "--rehash 在更换查询密钥后重算摘要"
    )

    def add_arguments(self, parser):
        parser.add_argument("--rehash", action="store_true", help="同时重算身份证号摘要")

    def handle(self, *args, rehash, **options):
        current = crypto.current_key_id()
        self._refuse_missing_keys()
        done = self._rotate_members(current, rehash=rehash)
        imports = self._rotate_roster_imports(current)
        files = self._reseal_uploads()
        self.stdout.write(
            self.style.SUCCESS(
                f"已用密钥 {current} 重新加密 {done} 条身份证号、{imports} 条导入记录的错误清单、"
                f"{files} 个待导入的上传文件"
                + ("（并重算了这些身份证号的摘要）" if rehash else "")
                + "；已是当前密钥的未改动"
            )
        )
        for key_id, count in self._trail_keys(current):
            self.stdout.write(
                self.style.WARNING(
                    f"审计记录中有 {count} 条身份证号由密钥 {key_id} 加密；审计记录只增不改，"
                    f"不会重新加密：在这些记录的保存期限（{settings.PORTAL_AUDIT_RETENTION_DAYS} "
                    f"天）内请在 PORTAL_ENCRYPTION_KEYS 中保留 {key_id}，否则审计员无法查看它们"
                )
            )

    def _refuse_missing_keys(self) -> None:
        """Stop before writing anything if a stored ciphertext needs a key no longer listed
        (an operator who replaced the old key instead of putting the new one before it)."""
        listed = set(crypto.key_ids())
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT split_part(id_number, %s, 1), count(*) FROM members_member"
                " WHERE id_number <> '' GROUP BY 1 ORDER BY 1",
                [crypto.SEPARATOR],
            )
            members = cursor.fetchall()
            cursor.execute(
                "SELECT key_id, count(DISTINCT id) FROM rosters_rosterimport,"
                " LATERAL (VALUES (split_part(errors_data, %s, 1)),"
                " (split_part(bad_rows_data, %s, 1))) AS v(key_id)"
                " WHERE key_id <> '' GROUP BY 1 ORDER BY 1",
                [crypto.SEPARATOR, crypto.SEPARATOR],
            )
            imports = cursor.fetchall()
        missing = [f"{n} 条身份证号由密钥 {k} 加密" for k, n in members if k not in listed]
        missing += [f"{n} 条导入记录由密钥 {k} 加密" for k, n in imports if k not in listed]
        files: dict[str, int] = {}
        storage, names = self._uploads()
        for name in names:
            key_id = storage.sealed_with(name)
            if key_id is not None and key_id not in listed:
                files[key_id] = files.get(key_id, 0) + 1
        missing += [f"{n} 个上传文件由密钥 {k} 加密" for k, n in sorted(files.items())]
        if missing:
            listed_ids = "、".join(crypto.key_ids())
            raise CommandError(
                "；".join(missing)
                + f"，但 PORTAL_ENCRYPTION_KEYS 中没有这些密钥（现有：{listed_ids}），"
                "无法解密。请把旧密钥放回 PORTAL_ENCRYPTION_KEYS，新密钥在前、旧密钥在后"
                "（如 k2:…,k1:…），重启后再运行。未做任何改动"
            )

    @staticmethod
    def _rotate_members(current: str, *, rehash: bool) -> int:
        """Members not yet under the current key (with ``rehash``: or whose hash is not the
        current lookup key's), a batch per transaction."""
        done = 0
        last_pk = 0
        members = Member.objects.alias(key_id=_key_id("id_number"))
        if not rehash:
            members = members.exclude(key_id=current)
        while True:
            with transaction.atomic():
                # After imports under way, which lock their members a batch at a time in the
                # file's order: locking members in id order beside one deadlocked. An import
                # started meanwhile waits for one batch at most.
                organization_tree_lock()
                batch = list(
                    members.select_for_update()
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .annotate(stored_key=_key_id("id_number"))
                    .only("pk", "id_number", "id_number_hash")[:BATCH]
                )
                if not batch:
                    break
                last_pk = batch[-1].pk
                rows = []
                for m in batch:
                    digest = crypto.lookup_hash(m.id_number) if rehash else m.id_number_hash
                    if m.stored_key != current or digest != m.id_number_hash:
                        rows.append((crypto.encrypt(m.id_number), digest, m.pk))
                if not rows:
                    continue
                # One statement per batch; values are encrypted here, as on every bulk path.
                with connection.cursor() as cursor:
                    execute_values(
                        cursor,
                        "UPDATE members_member AS m SET id_number = v.id_number,"
                        " id_number_hash = v.hash"
                        " FROM (VALUES %s) AS v(id_number, hash, id) WHERE m.id = v.id",
                        rows,
                        template="(%s, %s::varchar, %s::bigint)",
                        page_size=BATCH,
                    )
                done += len(rows)
        return done

    @staticmethod
    def _trail_keys(current: str) -> list[tuple[str, int]]:
        """Keys other than the current one that the append-only trail's ID numbers still need."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT split_part(id_number, %s, 1) AS key_id, count(*) FROM members_memberevent"
                " WHERE split_part(id_number, %s, 1) <> %s GROUP BY 1 ORDER BY 1",
                [crypto.SEPARATOR, crypto.SEPARATOR, current],
            )
            return cursor.fetchall()

    @staticmethod
    def _rotate_roster_imports(current: str) -> int:
        """Error lists and bad-row copies of imports hold ID numbers too (encrypted)."""
        done = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, errors_data, bad_rows_data FROM rosters_rosterimport"
                " WHERE (errors_data <> '' AND split_part(errors_data, %s, 1) <> %s)"
                " OR (bad_rows_data <> '' AND split_part(bad_rows_data, %s, 1) <> %s)"
                " FOR UPDATE",
                [crypto.SEPARATOR, current, crypto.SEPARATOR, current],
            )
            for pk, errors, bad_rows in cursor.fetchall():
                values = []
                for token in (errors, bad_rows):
                    if token and crypto.key_id_of(token) != current:
                        token = crypto.encrypt(crypto.decrypt(token))
                    values.append(token)
                cursor.execute(
                    "UPDATE rosters_rosterimport SET errors_data = %s, bad_rows_data = %s"
                    " WHERE id = %s",
                    [*values, pk],
                )
                done += 1
        return done

    @staticmethod
    def _uploads():
        """The storage of uploaded rosters and the names of the files it still holds."""
        from rosters.models import RosterImport

        storage = RosterImport._meta.get_field("file").storage
        names = sorted(set(RosterImport.objects.exclude(file="").values_list("file", flat=True)))
        return storage, [name for name in names if storage.exists(name)]

    def _reseal_uploads(self) -> int:
        """Uploads waiting for their import (a preview's, until confirmed or purged) are
        sealed with the key of their day."""
        storage, names = self._uploads()
        return sum(storage.reseal(name) for name in names)
