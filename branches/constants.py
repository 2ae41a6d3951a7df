"""Numbers from party rules and local practice (DOMAIN.md, "Organizations")."""

# An established branch needs at least this many 正式党员.
BRANCH_MIN_FULL_MEMBERS = 3
# From this many 正式党员 on, a branch must have a 支委会.
BRANCH_COMMITTEE_THRESHOLD = 7
# Committee size bounds.
BRANCH_COMMITTEE_MIN = 3
BRANCH_COMMITTEE_MAX = 7
# A branch should generally not exceed this many members.
BRANCH_MAX_MEMBERS = 50
# Path separator of the materialized path.
PATH_SEP = "/"
