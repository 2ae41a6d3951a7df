"""Encrypt ID numbers at rest; add the keyed lookup hash and the clear last four characters."""

from django.db import migrations, models

import portal.fields


def encrypt_existing(apps, schema_editor):
    from portal import crypto

    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id, id_number FROM members_member WHERE id_number_hash IS NULL")
        rows = cursor.fetchall()
        for pk, plain in rows:
            cursor.execute(
                "UPDATE members_member SET id_number = %s, id_number_hash = %s, id_tail = %s"
                " WHERE id = %s",
                [crypto.encrypt(plain), crypto.lookup_hash(plain), plain[-4:], pk],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_memberevent_mobilityevent_member_insert_insert_and_more"),
    ]

    operations = [
        migrations.AlterField(
            model_name="member",
            name="id_number",
            field=models.TextField(verbose_name="公民身份号码"),
        ),
        migrations.AddField(
            model_name="member",
            name="id_number_hash",
            field=models.CharField(
                editable=False, max_length=64, null=True, verbose_name="身份证号摘要"
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="id_tail",
            field=models.CharField(
                default="", editable=False, max_length=4, verbose_name="身份证号后四位"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="member",
            name="id_number_hash",
            field=models.CharField(
                editable=False, max_length=64, unique=True, verbose_name="身份证号摘要"
            ),
        ),
        migrations.AlterField(
            model_name="member",
            name="id_tail",
            field=models.CharField(
                db_index=True, editable=False, max_length=4, verbose_name="身份证号后四位"
            ),
        ),
        migrations.AlterField(
            model_name="member",
            name="id_number",
            field=portal.fields.EncryptedTextField(
                validators=[__import__("members.validators").validators.validate_id_number],
                verbose_name="公民身份号码",
            ),
        ),
    ]
