"""docs/outgrowing-one-machine.md names only options and URLs that work."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator.stores import parse_store_url

PAGE = Path(__file__).resolve().parents[2] / "docs" / "outgrowing-one-machine.md"


def test_init_options_in_the_page_are_the_commands_own() -> None:
    text = PAGE.read_text(encoding="utf-8")
    helps = CliRunner().invoke(main, ["clickhouse", "init", "--help"]).output
    table = text.split("## 3.", 1)[1].split("## 4.", 1)[0]
    named = set(re.findall(r"`(--[a-z][a-z-]+)", table))
    assert {"--cluster", "--replicated", "--distributed", "--ttl-days", "--json", "--dry-run", "--batch-rows"} <= named
    for option in named:
        assert option in helps, option


def test_store_urls_in_the_page_parse_and_none_carries_a_password() -> None:
    text = PAGE.read_text(encoding="utf-8")
    urls = {u for u in re.findall(r"((?:clickhouses?|chdb)://[^\s`|]+)", text) if not u.endswith("://...")}
    assert len(urls) >= 5
    for url in urls:
        parsed = parse_store_url(url, environ={})
        assert parsed.password == ""


def test_the_collector_configuration_is_valid_yaml_with_all_three_pipelines() -> None:
    text = PAGE.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = yaml.safe_load(block)
    assert set(config["service"]["pipelines"]) == {"traces", "logs", "metrics"}
    exporter = config["exporters"]["clickhouse"]
    assert exporter["sending_queue"]["batch"]["min_size"] >= 5000
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["exporters"] == ["clickhouse"]
        assert "redaction" in pipeline["processors"]
