"""Numbers from party rules (DOMAIN.md, "Members")."""

import datetime

# No one joined the party before it was founded.
PARTY_FOUNDED = datetime.date(1921, 7, 1)
# Joining requires this age.
MIN_JOIN_AGE = 18
# Probation lasts one year; it can be extended once by 6-12 months, so conversion falls 1-2
# years after joining.
PROBATION_MIN_YEARS = 1
PROBATION_MAX_YEARS = 2
# Away this many consecutive months makes a member "mobile" (2024 意见).
MOBILE_MIN_MONTHS = 6

# Free text where someone may have typed a phone or an ID number among other words: masked
# inside it wherever it is shown (pages, API, back office, audit trail), revealed on request.
MEMBER_FREE_TEXT = ("remarks", "transferred_to")
MOBILITY_FREE_TEXT = (
    "destination_address",
    "employer",
    "inflow_org_name",
    "contact_person",
    "remarks",
)
