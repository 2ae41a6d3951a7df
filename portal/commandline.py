"""Who acts on the command line, for the audit trail and access events.

A management command has no request: the changes it makes would reach the trail with no one
behind them. ``manage.py`` therefore runs every command except the servers inside
:func:`command_context`, which tags the trail with the operating-system user and the command;
commands that take ``--user`` (the roster imports, ``export_ledger``) record that account on
top. Servers are left out: each of their requests gets its own context from
``AuditContextMiddleware``, and one context around the whole process would merge them all.
"""

from __future__ import annotations

import contextlib
import getpass

from django.utils.translation import gettext as _

# Commands that serve requests (or run for a whole process) rather than act once.
SERVERS = frozenset({"runserver", "testserver", "runserver_plus", "celery"})


def os_user() -> str:
    """The operating-system user running this process ("?" when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "?"


# What a command run as an account adds to its name ("county（命令行，系统用户 root）"): the
# trail's search for the account finds those too (portal.audit).
COMMAND_MARK = "（命令行"


def command_operator(user=None) -> str:
    """Who a command's change, import or export is recorded as: the ``--user`` account with
    the operating-system user who ran it, else that user alone."""
    if user is not None:
        return _("%(user)s（命令行，系统用户 %(name)s）") % {
            "user": user.get_username(),
            "name": os_user(),
        }
    return _("命令行（系统用户 %(name)s）") % {"name": os_user()}


def command_context(argv: list[str]):
    """The trail context for ``manage.py`` with ``argv``; a no-op for servers and help."""
    command = argv[1] if len(argv) > 1 else ""
    if not command or command.startswith("-") or command in SERVERS or command == "help":
        return contextlib.nullcontext()
    import pghistory

    return pghistory.context(user=None, username=command_operator(), command=command)
