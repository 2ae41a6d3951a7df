from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BranchesConfig(AppConfig):
    """The organization tree: committees, general branches, branches and party groups."""

    name = "branches"
    verbose_name = _("党组织")
