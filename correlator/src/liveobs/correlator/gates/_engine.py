"""The gate engine: bind the subject, run the selected checks, judge them against budgets.

The subject's evidence is scoped once per run into temporary tables (``scope.sql``)
on a cursor of its own, so the checks read narrow tables and the caller's
connection is left as it was. Only the tables the chosen checks read are built,
and the secret scan's columns only when a chosen check reads them. Each check's SQL answers one row; its columns say
how to judge it:

* ``observed``, ``evidence``, ``detail``: a value against the budget's bounds;
* ``bounds``, ``counts``, ``top``, ``evidence``: a histogram, read at the budget's percentile;
* ``current``, ``baseline`` (or ``current_histogram``, ``baseline_histogram``): samples of
  two releases, judged by the regression test (median and p95, with power);
* ``candidates``, ``candidate_count``, ``evidence``: rows for the secret scan;
* ``judge`` and its columns: observed texts graded in Python with ``liveobs.evidence``
  (``_judges``);
* ``applicable`` (optional, any kind): false when the subject has nothing the check judges.

The subject comes from the manifest first (``bind_manifest``), then the options, then
the evidence (``resolve``).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from typing import Any, Final

import duckdb

from liveobs.correlator._sqlcursor import QUERY_ERRORS, Cursor
from liveobs.correlator.gates._budgets import JUDGING_KEYS, Budget, Budgets, Manifest, select_checks
from liveobs.correlator.gates._catalogue import (
    Check,
    bind,
    check_ids,
    convention_params,
    load_checks,
    needed_statements,
    not_applicable_passes,
)
from liveobs.correlator.gates._judges import judge
from liveobs.correlator.gates._model import (
    WINDOW_END,
    WINDOW_START,
    CheckResult,
    GateError,
    GateReport,
    Status,
    Subject,
)
from liveobs.correlator.gates._releases import bind_manifest, resolve, stored_time
from liveobs.correlator.gates._secretcache import SCAN_TABLE, KeptScan
from liveobs.correlator.gates._secrets import find_secrets, scan_params
from liveobs.correlator.gates._stats import (
    histogram_quantile,
    histogram_samples,
    mann_whitney_u,
    relative_shift,
    samples_for_median_shift,
    tail_test,
)
from liveobs.evidence import EICAR_DIGESTS

_MAX_DETAIL: Final = 600
_COMMENT_LINE: Final = re.compile(r"^\s*--[^\n]*\n?", re.MULTILINE)
# Where an answer row keeps the secrets found among its candidates.
_HITS: Final = "_secret_hits"


class GateRunner:
    """Runs gates over one store connection with one set of budgets and an optional manifest."""

    def __init__(
        self, con: Cursor, budgets: Budgets | None = None, manifest: Manifest | None = None
    ) -> None:
        self._con = con
        self._budgets = budgets or Budgets.load()
        self._manifest = manifest

    def run(self, selection: str, subject: Subject | None = None) -> GateReport:
        """Run the checks ``selection`` names (a gate, ``all``, a profile or a check id)."""
        started = time.perf_counter()
        subject = subject or Subject()
        chosen = [c for c in load_checks() if c.id in set(select_checks(selection, check_ids()))]
        scanning = any(SCAN_TABLE in c.body for c in chosen)
        cur = self._con.cursor()
        # On DuckDB the release lookup, the scope and the kept secret scan's marks are one snapshot.
        in_transaction = scanning and isinstance(cur, duckdb.DuckDBPyConnection)
        try:
            if in_transaction:
                cur.execute("BEGIN TRANSACTION")
            needs_baseline = any("regression" in c.id for c in chosen)
            subject, bound_notes = bind_manifest(subject, self._manifest)
            resolved = resolve(cur, subject, needs_baseline)
            subject, notes = resolved.subject, [*bound_notes, *resolved.notes]
            if subject.release is None:
                reason = "no release in the evidence" + (f" for service {subject.service}" if subject.service else "")
                results = [self._unknown(c, subject, reason) for c in chosen]
                return GateReport(subject, tuple(results), time.perf_counter() - started, tuple(notes))
            params = {**self._params(subject), **resolved.bounds, "scan_secrets": scanning}
            kept = KeptScan.begin(cur, params) if scanning else None
            if kept is not None and not kept.cold:
                # Only the rows added since the kept scan are scanned, by the same statement.
                params["scan_secrets"] = False
            self._scope(cur, params, chosen, kept)
            if in_transaction:
                cur.execute("COMMIT")
                in_transaction = False
            if kept is not None:
                kept.keep(cur)
            memo: dict[tuple[str, str], dict[str, Any]] = {}
            results = [self._run_check(cur, check, subject, params, memo) for check in chosen]
        finally:
            if in_transaction:
                with contextlib.suppress(*QUERY_ERRORS):
                    cur.execute("ROLLBACK")
            cur.close()
        return GateReport(subject, tuple(results), time.perf_counter() - started, tuple(notes),
                          not_applicable_passes(selection))

    # --- the subject --------------------------------------------------------------

    def _params(self, subject: Subject) -> dict[str, Any]:
        manifest = self._manifest
        origins = self._budgets.budget("security.ws_origin", subject.service).setting("allowed_origins", [])
        hosts = self._budgets.budget("security.ws_host", subject.service).setting("allowed_hosts", [])
        return {
            **convention_params(),
            **scan_params(),
            "eicar_digests": sorted(EICAR_DIGESTS),
            "allowed_origins": [str(o).lower().rstrip("/") for o in origins],
            "allowed_hosts": [str(h).lower() for h in hosts],
            "service": subject.service,
            "release": subject.release,
            "baseline": subject.baseline,
            "environment": subject.environment,
            "since": stored_time(subject.since, WINDOW_START),
            "until": stored_time(subject.until, WINDOW_END),
            "manifest_current": manifest.current if manifest else None,
            "manifest_rollback": manifest.rollback if manifest else None,
        }

    def _scope(self, cur: Cursor, params: dict[str, Any], chosen: list[Check], kept: KeptScan | None) -> None:
        warm = kept is not None and not kept.cold
        try:
            for statement in needed_statements(*chosen):
                if warm and statement.creates == SCAN_TABLE:
                    continue
                cur.execute(statement.sql, bind(statement.sql, params, f"scope of {statement.creates}"))
            if warm and kept is not None:
                kept.scan_new_rows(cur, params)
        except QUERY_ERRORS as exc:
            raise GateError(f"cannot scope the evidence: {exc}") from exc

    # --- one check ----------------------------------------------------------------

    def _run_check(
        self,
        cur: Cursor,
        check: Check,
        subject: Subject,
        params: dict[str, Any],
        memo: dict[tuple[str, str], dict[str, Any]],
    ) -> CheckResult:
        started = time.perf_counter()
        budget = self._budgets.budget(check.id, subject.service)
        extra = {k: v for k, v in budget.settings.items() if k not in JUDGING_KEYS}
        if budget.threshold.percentile is not None:
            extra["quantile"] = budget.threshold.percentile / 100
        bound = bind(check.body, {**params, **extra}, f"check {check.id}")
        # Two checks whose SQL differs only in its comments (secret_scan and key_material) run it once.
        key = (_COMMENT_LINE.sub("", check.body), repr(sorted(bound.items())))
        try:
            if key not in memo:
                cur.execute(check.body, bound)
                names = [d[0] for d in cur.description or ()]
                memo[key] = dict(zip(names, cur.fetchone() or (), strict=False))
            row = memo[key]
        except QUERY_ERRORS as exc:
            return self._unknown(check, subject, f"query failed: {str(exc).splitlines()[0]}", budget)
        status, reason, observed, evidence, threshold = _judge(row, budget, subject)
        return CheckResult(
            id=check.id,
            gate=check.gate,
            status=status,
            required=budget.required,
            reason=reason[:_MAX_DETAIL],
            observed=observed,
            threshold=threshold,
            evidence=evidence,
            seconds=round(time.perf_counter() - started, 4),
            about=check.about,
        )

    def _unknown(self, check: Check, subject: Subject, reason: str, budget: Budget | None = None) -> CheckResult:
        budget = budget or self._budgets.budget(check.id, subject.service)
        return CheckResult(check.id, check.gate, Status.UNKNOWN, budget.required, reason, None,
                           budget.threshold.describe(), 0, about=check.about)


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"


def _judge(row: dict[str, Any], budget: Budget, subject: Subject) -> tuple[Status, str, float | None, int, str]:
    """(status, reason, observed, evidence, threshold text) for one check's answer row."""
    if "current_histogram" in row:
        limit = int(budget.setting("max_samples", 5000))
        row = {"current": histogram_samples(row["current_histogram"], limit),
               "baseline": histogram_samples(row["baseline_histogram"], limit)}
    if "current" in row:
        return _judge_regression(row, budget, subject)
    evidence = int(row.get("evidence") or 0)
    detail = str(row.get("detail") or "")
    flag = row.get("applicable", True)
    applicable = flag is None or bool(flag)  # ClickHouse answers a comparison as 0 or 1
    if "judge" in row:
        judged = judge(row)
        observed: float | None = judged.observed
        evidence, detail, applicable = judged.evidence, judged.detail, judged.applicable
    elif "candidates" in row:
        kinds = budget.setting("kinds")
        if _HITS not in row:  # secret_scan and key_material share one answer row: its values are judged once
            row[_HITS] = find_secrets(row["candidates"] or ())
        hits = [h for h in row[_HITS] if not kinds or h.kind in kinds]
        observed = float(len(hits))
        detail = "; ".join(h.describe() for h in hits[:3]) or f"no secret in {evidence} rows scanned"
        if not hits and int(row.get("candidate_count") or 0) > int(budget.setting("max_candidates", 0)):
            return (Status.UNKNOWN, f"too many candidate rows to confirm ({row['candidate_count']}); raise "
                    "max_candidates", None, evidence, budget.threshold.describe())
    elif "bounds" in row:
        q = (budget.threshold.percentile or 50) / 100
        counts = [int(c) for c in row["counts"] or ()]
        observed = histogram_quantile(row["bounds"] or (), counts, q, row.get("top")) if counts else None
        detail = f"{evidence} measurements"
    else:
        raw = row.get("observed")
        observed = float(raw) if raw is not None else None
    if not applicable:
        return Status.NOT_APPLICABLE, f"nothing to judge: {detail}", None, evidence, budget.threshold.describe()
    status, reason = judge_value(observed, evidence, detail, budget)
    return status, reason, observed, evidence, budget.threshold.describe()


def judge_value(observed: float | None, evidence: int, detail: str, budget: Budget) -> tuple[Status, str]:
    """Judge a value against a budget; too little evidence is unknown, except proven violations."""
    t = budget.threshold
    broken = observed is not None and (
        (t.max is not None and observed > t.max) or (t.min is not None and observed < t.min)
    )
    counts_violations = t.max == 0
    suffix = f": {detail}" if detail else ""
    if broken and observed is not None and (counts_violations or evidence >= budget.min_evidence):
        return Status.FAIL, f"{_fmt(observed)} breaks {t.describe()}{suffix}"
    if evidence < budget.min_evidence:
        return Status.UNKNOWN, f"{evidence} evidence, need at least {budget.min_evidence}{suffix}"
    if observed is None:
        return Status.UNKNOWN, f"nothing to measure{suffix}"
    warned = (t.warn_max is not None and observed > t.warn_max) or (t.warn_min is not None and observed < t.warn_min)
    if warned:
        return Status.WARN, f"{_fmt(observed)} within {t.describe()} but past the warning level{suffix}"
    return Status.PASS, f"{_fmt(observed)} within {t.describe()}{suffix}"


def _judge_regression(
    row: dict[str, Any], budget: Budget, subject: Subject
) -> tuple[Status, str, float | None, int, str]:
    alpha = float(budget.setting("alpha", 0.01))
    floor = float(budget.setting("min_effect", 0.1))
    minimum = int(budget.setting("min_samples", 30))
    power = float(budget.setting("power", 0.8))
    threshold = f"median and p95 +{floor:.0%} at p<{alpha:g}, power {power:.0%}"
    current = [float(v) for v in row.get("current") or ()]
    baseline = [float(v) for v in row.get("baseline") or ()]
    evidence = min(len(current), len(baseline))
    if subject.baseline is None:
        return (Status.UNKNOWN, "no baseline release (the manifest's rollback target, --baseline, or evidence of an "
                "earlier release)", None, 0, threshold)
    if evidence < minimum:
        return (Status.UNKNOWN, f"{len(current)} samples of {subject.release} and {len(baseline)} of "
                f"{subject.baseline}, need at least {minimum} of each", None, evidence, threshold)
    status, reason, shift = regression(current, baseline, alpha, floor, power)
    return status, reason, shift, evidence, threshold


def regression(
    current: list[float], baseline: list[float], alpha: float, min_effect: float, power: float = 0.8
) -> tuple[Status, str, float]:
    """A slowdown of the median or the p95 is a regression when significant *and* at least ``min_effect``.

    "No regression" needs the power to see one: with fewer samples than detect a
    ``min_effect`` slowdown with the given power, the answer is unknown (inconclusive).
    """
    # Two tests (median, p95) share the false-alarm budget: each runs at alpha / 2.
    each = alpha / 2
    test = mann_whitney_u(current, baseline)
    shift = relative_shift(current, baseline)
    tail = tail_test(current, baseline, min_effect, each, power)
    stats = (f"median {shift:+.1%} (p={test.p_value:.2g}, Cliff's delta {test.cliffs_delta:+.2f}), "
             f"p95 {tail.shift:+.1%} ({tail.exceeding:.1%} vs {tail.baseline_exceeding:.1%} above the joint p95, "
             f"p={tail.p_value:.2g})")
    if test.p_value < each and shift >= min_effect and test.cliffs_delta > 0:
        return Status.FAIL, f"slower than the baseline: {stats}", shift
    if tail.p_value < each and tail.shift >= min_effect:
        return Status.FAIL, f"tail slower than the baseline: {stats}", tail.shift
    needed = max(samples_for_median_shift(baseline, min_effect, each, power), tail.needed)
    have = min(len(current), len(baseline))
    if have < needed:
        return (Status.UNKNOWN, f"inconclusive: {have} samples detect a +{min_effect:.0%} slowdown with less than "
                f"{power:.0%} power, need {needed}; {stats}", shift)
    return Status.PASS, f"no regression: {stats}", max(shift, tail.shift)


def run_gates(
    con: Cursor,
    selection: str,
    subject: Subject | None = None,
    budgets: Budgets | None = None,
    manifest: Manifest | None = None,
) -> GateReport:
    """Run ``selection`` over ``con`` for ``subject``: the one-call form of :class:`GateRunner`."""
    return GateRunner(con, budgets, manifest).run(selection, subject)
