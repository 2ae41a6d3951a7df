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
# A PostgreSQL advisory lock held to the end of their transaction by roster imports and by
# changes to the organization tree: an import judges its rows by the organizations as it read
# them (who may hold members, what lies in its user's scope), and a change that does not wait
# for it cannot see the members it is writing.
TREE_LOCK_KEY = 0x726F7374  # "rost"
