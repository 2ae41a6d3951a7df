import pytest
from django.core.management import call_command

from branches.tests.factories import make_tree
from members.tests.factories import make_member
from portal.backup import restore_test


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_restore_test_restores_every_row(capsys):
    tree = make_tree()
    for i in range(5):
        make_member(home_org=tree["village"], name=f"备份{i}")
    report = restore_test()
    assert report.ok, report.mismatches
    assert report.restored["members_member"] == 5
    # The change trail is restored too: five inserts were recorded.
    assert report.restored["members_memberevent"] == report.source["members_memberevent"] >= 5
    call_command("restore_test")
    assert "恢复演练通过" in capsys.readouterr().out
