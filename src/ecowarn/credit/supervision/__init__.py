"""Credit-driven supervision (CONTRACT section 9): positive lists (正面清单), the plan of
routine inspections by credit level and list, and reproducible random draws of enterprises
for remote spot checks and on-site checks (双随机, 远程执法抽查). See docs/credit.md,
"Supervision".

Modules: :mod:`.config` (the YAML file, validated at start), :mod:`.period` (months,
quarters, years), :mod:`.plan` (pure plan rules), :mod:`.sampling` (the pure, seeded
weighted draw), :mod:`.positive_list` and :mod:`.draws` (the database), :mod:`.errors`.
"""

from ecowarn.credit.supervision.config import (
    KINDS,
    Kind,
    LevelRule,
    ListInfo,
    SupervisionConfig,
    default_supervision_config,
    load_supervision_config,
    parse_supervision_config,
)
from ecowarn.credit.supervision.draws import (
    DrawFilter,
    DrawRequest,
    fetch_draw,
    list_draws,
    make_draw,
    rerun,
    standings,
    supervision_plan,
)
from ecowarn.credit.supervision.errors import (
    PeriodError,
    SupervisionConfigError,
    SupervisionError,
    SupervisionInputError,
    SupervisionNotFound,
)
from ecowarn.credit.supervision.period import Period, parse_period
from ecowarn.credit.supervision.plan import PlanItem, Standing, Window, plan_item, windows
from ecowarn.credit.supervision.positive_list import (
    ListingFilter,
    active_listings,
    add_entry,
    fetch_entry,
    is_listed,
    list_entries,
    remove_entry,
    today_cst,
)
from ecowarn.credit.supervision.sampling import ALGORITHM, Candidate, new_seed, select

__all__ = [
    "ALGORITHM",
    "KINDS",
    "Candidate",
    "DrawFilter",
    "DrawRequest",
    "Kind",
    "LevelRule",
    "ListInfo",
    "ListingFilter",
    "Period",
    "PeriodError",
    "PlanItem",
    "Standing",
    "SupervisionConfig",
    "SupervisionConfigError",
    "SupervisionError",
    "SupervisionInputError",
    "SupervisionNotFound",
    "Window",
    "active_listings",
    "add_entry",
    "default_supervision_config",
    "fetch_draw",
    "fetch_entry",
    "is_listed",
    "list_draws",
    "list_entries",
    "load_supervision_config",
    "make_draw",
    "new_seed",
    "parse_period",
    "parse_supervision_config",
    "plan_item",
    "remove_entry",
    "rerun",
    "select",
    "standings",
    "supervision_plan",
    "today_cst",
    "windows",
]
