"""The secret scan finds what redaction missed: its detector shares nothing with the redaction rules."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import gate_seed as seed
import pytest
from redaction_corpus import harmless_corpus, secret_corpus

from liveobs.correlator._db import connect
from liveobs.correlator.gates import Status, Subject, run_gates
from liveobs.correlator.gates._detect import detect
from liveobs.redaction import DEFAULT_SCRUBBER

# Secrets the redaction rules let through, each for its own reason.
UNKNOWN_TO_REDACTION = [
    # Below redaction's entropy floor (18 symbols, 40 characters: about 160 bits, 3.9 bits a character).
    ("note", "migration seed 92fQ5ca3Z2KcW8ZcQYe93W37b5bbQQYY33XdY8Y3"),
    # A "/" in the userinfo of a web URL, which redaction reads as a path.
    ("upstream", "proxy https://deploy:s3cr/etPw@internal.example.com/hook"),
]


def _store(extra: tuple[str, str] | None, where: str) -> duckdb.DuckDBPyConnection:
    con = connect()
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=60)
    if extra is not None:
        at = seed.START + timedelta(hours=1, minutes=30)
        key, value = extra
        if where == "span":
            e.span("1.1", at, {key: value, seed.keys.REQUEST_ID: "r-secret"}, name="POST /deploy")
        elif where == "event":
            e.span("1.1", at, {seed.keys.REQUEST_ID: "r-secret"}, events=[("note", {key: value})])
        else:
            e.log("1.1", at, {key: value}, body="deploy")
    e.write(con)
    return con


def _scan(con: duckdb.DuckDBPyConnection) -> tuple[Status, str]:
    (result,) = run_gates(con, "observability.secret_scan", Subject(service="shop", release="1.1")).results
    return result.status, result.reason


@pytest.mark.parametrize(("key", "value"), UNKNOWN_TO_REDACTION)
@pytest.mark.parametrize("where", ["span", "event", "log"])
def test_a_secret_redaction_does_not_know_fails_the_scan_which_names_where_not_what(
    key: str, value: str, where: str
) -> None:
    assert DEFAULT_SCRUBBER.scrub_mapping({key: value}) == {key: value}  # redaction lets it through
    assert _scan(_store(None, where))[0] is Status.PASS
    status, reason = _scan(_store((key, value), where))
    assert status is Status.FAIL, reason
    assert repr(key) in reason
    secret_part = value.split()[-1]
    assert secret_part not in reason
    assert secret_part[8:20] not in reason


def test_a_secret_under_an_allow_listed_id_key_fails_the_scan_but_liveobs_ids_pass() -> None:
    status, reason = _scan(_store((seed.keys.SESSION_ID, "Zx9Qm2Lk7Wp4Rt8Vn3Bc6Hd1Fg5Js0Ty"), "span"))
    assert status is Status.FAIL, reason
    assert "session.id" in reason
    for value in ("eph.0123456789abcdef01234567", "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a5b", "4bf92f3577b34da6a3ce929d0e0e4736"):
        assert detect(seed.keys.SESSION_ID, value) == []


def test_the_detector_finds_most_of_the_secret_corpus_and_spares_the_harmless_one() -> None:
    found = [kind for kind, text, _ in secret_corpus() if detect("message", text)]
    harmless_hits = [v for v in harmless_corpus() if detect("message", v)]
    print(f"\nindependent detector: {len(found)} of {len(secret_corpus())} corpus formats, "
          f"{len(harmless_hits)} of {len(harmless_corpus())} harmless values flagged")
    assert len(found) >= 0.5 * len(secret_corpus())  # a second opinion, not a second catalogue
    assert harmless_hits == []
