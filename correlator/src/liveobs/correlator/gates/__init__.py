"""Release gates: observability, security, performance and deploy checks as SQL over the evidence.

Each check is a ``.sql`` file shipped in ``checks/<gate>/`` plus a budget from
``budgets.toml``; missing or too little evidence is ``unknown``, never ``pass``.
"""

from liveobs.correlator.gates import _handler as _handler  # registers the "check" read handler
from liveobs.correlator.gates._budgets import (
    Budget,
    Budgets,
    Manifest,
    budget_bounds,
    budget_problems,
    check_services,
    profiles,
    read_budgets_file,
    read_manifest,
    select_checks,
    stored_services,
)
from liveobs.correlator.gates._catalogue import Check, check_ids, load_checks, not_applicable_passes
from liveobs.correlator.gates._engine import GateRunner, judge_value, regression, run_gates
from liveobs.correlator.gates._model import (
    GATES,
    CheckResult,
    ExitCode,
    GateError,
    GateReport,
    Status,
    Subject,
    Threshold,
)
from liveobs.correlator.gates._render import (
    RENDERERS,
    SCHEMA,
    RunContext,
    render_error,
    render_json,
    render_junit,
    render_text,
)
from liveobs.correlator.gates._stats import (
    RankTest,
    histogram_quantile,
    mann_whitney_u,
    relative_shift,
)

__all__ = [
    "GATES",
    "RENDERERS",
    "SCHEMA",
    "Budget",
    "Budgets",
    "Check",
    "CheckResult",
    "ExitCode",
    "GateError",
    "GateReport",
    "GateRunner",
    "Manifest",
    "RankTest",
    "RunContext",
    "Status",
    "Subject",
    "Threshold",
    "budget_bounds",
    "budget_problems",
    "check_ids",
    "check_services",
    "histogram_quantile",
    "judge_value",
    "load_checks",
    "mann_whitney_u",
    "not_applicable_passes",
    "profiles",
    "read_budgets_file",
    "read_manifest",
    "regression",
    "relative_shift",
    "render_error",
    "render_json",
    "render_junit",
    "render_text",
    "run_gates",
    "select_checks",
    "stored_services",
]
