"""The evidence driver behind ``liveobs drive``: scenario, driven client, runner, browser pass."""

from liveobs.cli._driver._browser import page_timing
from liveobs.cli._driver._client import DRIVEN_HEADERS, DriveError, DrivenClient, Outcome, page_ids
from liveobs.cli._driver._runner import (
    EICAR,
    Driver,
    DriveReport,
    run_driver,
    session_cookies,
    source_addresses,
)
from liveobs.cli._driver._scenario import Scenario, ScenarioError, load_scenario, parse

__all__ = [
    "DRIVEN_HEADERS",
    "EICAR",
    "DriveError",
    "DriveReport",
    "DrivenClient",
    "Driver",
    "Outcome",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "page_ids",
    "page_timing",
    "parse",
    "run_driver",
    "session_cookies",
    "source_addresses",
]
