import hashlib
import hmac
import io

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from branches.tests.factories import make_tree
from members.models import Member
from members.tests.factories import make_id_number, make_member
from portal import crypto

pytestmark = pytest.mark.django_db


def test_round_trip_and_random_nonce():
    a, b = crypto.encrypt("11010519491231002X"), crypto.encrypt("11010519491231002X")
    assert a != b
    assert crypto.decrypt(a) == crypto.decrypt(b) == "11010519491231002X"


def test_id_number_is_encrypted_in_the_database_and_clear_in_python():
    tree = make_tree()
    number = make_id_number()
    member = make_member(home_org=tree["village"], id_number=number)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, id_number_hash, id_tail FROM members_member WHERE id = %s",
            [member.pk],
        )
        stored, digest, tail = cursor.fetchone()
    assert number not in stored and stored.startswith(crypto.current_key_id() + "$")
    assert digest == crypto.lookup_hash(number) and tail == number[-4:]
    assert Member.objects.get(pk=member.pk).id_number == number
    assert Member.objects.by_id_number(number.lower()).get() == member


def test_lookup_hash_is_hmac_sha256_of_the_lookup_key(settings):
    # Stored hashes must keep matching whatever way the hash is computed.
    expected = hmac.new(
        settings.PORTAL_LOOKUP_KEY.encode(), b"11010519491231002X", hashlib.sha256
    ).hexdigest()
    assert crypto.lookup_hash("11010519491231002X") == expected
    assert crypto.lookup_hash("11010519491231002X") == expected  # the keyed HMAC is not used up
    assert crypto.lookup_hash("110105194912310010") != expected


def test_encrypted_field_cannot_be_filtered_by_mistake():
    with pytest.raises(FieldError):
        list(Member.objects.filter(id_number="11010519491231002X"))


def test_change_trail_never_holds_the_clear_id_number():
    tree = make_tree()
    number = make_id_number()
    member = make_member(home_org=tree["village"], id_number=number)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number FROM members_memberevent WHERE pgh_obj_id = %s", [member.pk]
        )
        rows = cursor.fetchall()
    assert rows and all(number not in row[0] for row in rows)


def test_rotation_re_encrypts_under_the_new_key(settings):
    tree = make_tree()
    number = make_id_number()
    member = make_member(home_org=tree["village"], id_number=number)
    from rosters.models import RosterImport

    record = RosterImport.objects.create(filename="x.csv", errors_data=f'[["{number}"]]')
    old = list(settings.PORTAL_ENCRYPTION_KEYS)
    settings.PORTAL_ENCRYPTION_KEYS = [crypto.generate_key_spec("k2"), *old]
    crypto.reset_key_cache()
    try:
        from django.core.management import call_command

        out = io.StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id_number FROM members_member WHERE id = %s", [member.pk])
            assert cursor.fetchone()[0].startswith("k2$")
        assert Member.objects.get(pk=member.pk).id_number == number
        # The trail keeps the old ciphertext (append-only): the old key must stay listed.
        old_id = old[0].split(":", 1)[0]
        assert f"审计记录中有 1 条身份证号由密钥 {old_id} 加密" in out.getvalue()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT errors_data FROM rosters_rosterimport WHERE id = %s", [record.pk]
            )
            assert cursor.fetchone()[0].startswith("k2$")
        assert number in RosterImport.objects.get(pk=record.pk).errors_data
    finally:
        settings.PORTAL_ENCRYPTION_KEYS = old
        crypto.reset_key_cache()


def test_rehash_after_a_new_lookup_key(settings):
    tree = make_tree()
    number = make_id_number()
    member = make_member(home_org=tree["village"], id_number=number)
    settings.PORTAL_LOOKUP_KEY = "a-new-lookup-key-for-this-test"
    crypto.reset_key_cache()
    try:
        assert not Member.objects.by_id_number(number).exists()  # stale until rehashed
        from django.core.management import call_command

        call_command("rotate_encryption_keys", "--rehash", stdout=io.StringIO())
        assert Member.objects.by_id_number(number).get() == member
        assert Member.objects.get(pk=member.pk).id_number == number
    finally:
        crypto.reset_key_cache()


def test_a_new_lookup_key_not_yet_applied_refuses_a_registration(settings):
    """A member registered again under a new lookup key, before the rehash, would be a second
    member with the same ID number: refused, naming the command to run."""
    from django.core.exceptions import ValidationError

    tree = make_tree()
    number = make_id_number()
    make_member(home_org=tree["village"], id_number=number)
    settings.PORTAL_LOOKUP_KEY = "a-new-lookup-key-for-this-test"
    crypto.reset_key_cache()
    try:
        with pytest.raises(ValidationError) as exc:
            make_member(home_org=tree["village"], id_number=number)
        assert "rotate_encryption_keys --rehash" in str(exc.value.message_dict["id_number"])
        with pytest.raises(ValidationError):  # anyone's: the portal cannot tell who is stored
            make_member(home_org=tree["village"], id_number=make_id_number())
        assert Member.objects.count() == 1
        from django.core.management import call_command

        call_command("rotate_encryption_keys", "--rehash", stdout=io.StringIO())
        make_member(home_org=tree["village"], id_number=make_id_number())
        assert Member.objects.count() == 2
    finally:
        crypto.reset_key_cache()


def _rotate(*args) -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out)
    return out.getvalue()


def test_rotation_without_the_old_key_is_refused_before_anything_changes(settings):
    """An operator who replaced the key instead of putting the new one first: the command names
    the missing key and changes nothing (it used to stop half-way with an English traceback)."""
    from django.core.management.base import CommandError

    tree = make_tree()
    member = make_member(home_org=tree["village"], id_number=make_id_number())
    old = list(settings.PORTAL_ENCRYPTION_KEYS)
    old_id = old[0].split(":", 1)[0]
    settings.PORTAL_ENCRYPTION_KEYS = [crypto.generate_key_spec("k2")]
    crypto.reset_key_cache()
    try:
        with pytest.raises(CommandError) as exc:
            _rotate()
        assert f"1 条身份证号由密钥 {old_id} 加密" in str(exc.value)
        assert "PORTAL_ENCRYPTION_KEYS" in str(exc.value) and "未做任何改动" in str(exc.value)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id_number FROM members_member WHERE id = %s", [member.pk])
            assert cursor.fetchone()[0].startswith(old_id + "$")
    finally:
        settings.PORTAL_ENCRYPTION_KEYS = old
        crypto.reset_key_cache()


def test_rotation_run_again_changes_nothing(settings):
    """The trail is append-only: a second run must not add a change event per member (and per
    import record) for ciphertexts already under the current key."""
    from django.apps import apps

    from rosters.models import RosterImport

    tree = make_tree()
    number = make_id_number()
    make_member(home_org=tree["village"], id_number=number)
    RosterImport.objects.create(filename="x.csv", errors_data=f'[["{number}"]]')
    old = list(settings.PORTAL_ENCRYPTION_KEYS)
    settings.PORTAL_ENCRYPTION_KEYS = [crypto.generate_key_spec("k2"), *old]
    crypto.reset_key_cache()
    events = [apps.get_model(m) for m in ("members.MemberEvent", "rosters.RosterImportEvent")]
    try:
        assert "重新加密 1 条身份证号、1 条导入记录" in _rotate()
        before = [model.objects.count() for model in events]
        assert "重新加密 0 条身份证号、0 条导入记录" in _rotate()
        assert "重新加密 0 条身份证号" in _rotate("--rehash")  # the hashes are already right
        assert [model.objects.count() for model in events] == before
    finally:
        settings.PORTAL_ENCRYPTION_KEYS = old
        crypto.reset_key_cache()


def test_rotation_reseals_stored_uploads(settings, tmp_path):
    """A preview's upload waits on disk, sealed under the key of its day, until it is confirmed
    or purged: rotated too, it still opens once the old key is gone."""
    from django.core.files.base import ContentFile

    from portal.storage import MARKER
    from rosters.models import RosterImport

    settings.MEDIA_ROOT = str(tmp_path)
    record = RosterImport(filename="r.csv")
    record.file.save("r.csv", ContentFile(b"name,id\n"), save=False)
    record.save()
    old = list(settings.PORTAL_ENCRYPTION_KEYS)
    settings.PORTAL_ENCRYPTION_KEYS = [crypto.generate_key_spec("k2"), *old]
    crypto.reset_key_cache()
    try:
        assert "1 个待导入的上传文件" in _rotate()
        assert (tmp_path / record.file.name).read_bytes().startswith(MARKER + b"k2$")
        settings.PORTAL_ENCRYPTION_KEYS = settings.PORTAL_ENCRYPTION_KEYS[:1]
        crypto.reset_key_cache()
        with RosterImport.objects.get(pk=record.pk).file.open() as handle:
            assert handle.read() == b"name,id\n"
    finally:
        settings.PORTAL_ENCRYPTION_KEYS = old
        crypto.reset_key_cache()


def test_a_key_id_listed_twice_is_refused(settings):
    """A new key generated under the old one's id (`generate_key_spec('k1')` again) and put
    first: each stored value names "k1" and would be opened with the new key and fail, while
    rotation took them all for current. Refused before anything is sealed or opened."""
    from django.core.exceptions import ImproperlyConfigured

    old = list(settings.PORTAL_ENCRYPTION_KEYS)
    old_id = old[0].split(":", 1)[0]
    settings.PORTAL_ENCRYPTION_KEYS = [crypto.generate_key_spec(old_id), *old]
    crypto.reset_key_cache()
    try:
        with pytest.raises(ImproperlyConfigured, match=f"密钥编号 '{old_id}' 出现了不止一次"):
            crypto.encrypt("11010519491231002X")
    finally:
        settings.PORTAL_ENCRYPTION_KEYS = old
        crypto.reset_key_cache()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["k1:" + "A" * 43, "k1:" + "B" * 43], "密钥编号 'k1' 出现了不止一次"),
        (["k1:c2hvcnQ"], "密钥 'k1' 应写作“编号:base64”"),
        (["A" * 43], "有一项缺少编号"),
    ],
)
def test_check_refuses_encryption_keys_that_cannot_work(settings, keys, message):
    """`check` (and `migrate`, which runs it) says so before the first ID number is read or
    written, which would otherwise be the first sign of it; never printing a key."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PORTAL_ENCRYPTION_KEYS = keys
    with pytest.raises(SystemCheckError) as exc:
        call_command("check")
    assert "portal.E002" in str(exc.value) and message in str(exc.value)
    assert "A" * 43 not in str(exc.value) and "B" * 43 not in str(exc.value)
