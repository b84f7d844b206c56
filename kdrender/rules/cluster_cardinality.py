"""cardinality: member counts must fit the app role's cardinality, 1000 members at most in all.

Cardinality ``"N"`` means exactly N members, ``"N+"`` at least N.  Unset ``members`` defaults
to N.  KubeDirector: "Invalid member count for role(x). Specified member count:M Role
cardinality:C"; kdrender says which bound is broken.  And "Maximum number of total members per KD cluster supported is 1000."
"""

from ..cardinality import MAX_MEMBERS, members_for, parse_cardinality

ID = "cardinality"
TARGET = "cluster"


def check(ctx):
    if ctx.app is None:
        return
    total = 0
    for i, role in enumerate(ctx.spec.get("roles") or []):
        app_role = ctx.app_role(role.get("id"))
        if app_role is None:
            continue
        cardinality = app_role["cardinality"]
        minimum, scale_out = parse_cardinality(cardinality)
        members = role.get("members")
        if members is not None:
            if members < minimum:
                yield ("spec", "roles", i, "members"), (
                    f"{members} is below the minimum {minimum} of role \"{role.get('id')}\" (cardinality \"{cardinality}\")")
            elif not scale_out and members > minimum:
                yield ("spec", "roles", i, "members"), (
                    f"{members} is above the maximum {minimum} of role \"{role.get('id')}\" (cardinality \"{cardinality}\")")
        total += members_for(role, app_role)
    if total > MAX_MEMBERS:
        yield ("spec", "roles"), (
            f"{total} members in all: Maximum number of total members per KD cluster supported is {MAX_MEMBERS}.")
