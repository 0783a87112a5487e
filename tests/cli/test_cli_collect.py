"""``liveobs collect``'s spool options."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from liveobs.cli import main


def test_help_shows_the_spool_on_by_default_and_its_directory_option() -> None:
    result = CliRunner().invoke(main, ["collect", "--help"])
    assert result.exit_code == 0
    assert "--spool / --no-spool" in result.output
    assert "[default: spool]" in " ".join(result.output.split())  # however the help is wrapped
    assert "--spool-dir" in result.output


def test_a_spool_dir_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "s.duckdb"), "collect", "--port", "0",
                                       "--spool-dir", str(blocker / "spool")])
    assert result.exit_code == 1
    assert "cannot open the spool" in result.output
    assert "Traceback" not in result.output


def test_the_duckdb_thread_count_reaches_the_collector_and_is_bounded(tmp_path: Path, monkeypatch) -> None:
    from liveobs.correlator._collector import Collector

    seen: list[tuple[int, bool]] = []
    monkeypatch.setattr(Collector, "run", lambda self, on_ready=None: seen.append((self.threads, self.spool)))
    db = str(tmp_path / "t.duckdb")
    assert CliRunner().invoke(main, ["--db", db, "collect", "--port", "0", "--threads", "2"]).exit_code == 0
    assert CliRunner().invoke(main, ["--db", db, "collect", "--port", "0"]).exit_code == 0
    assert seen == [(2, True), (1, True)]
    refused = CliRunner().invoke(main, ["--db", db, "collect", "--threads", "0"])
    assert refused.exit_code == 2
    assert "--threads" in refused.output


def test_the_security_section_names_only_options_the_commands_have() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "correlator" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    helps = "".join(CliRunner().invoke(main, [*command, "--help"]).output
                    for command in ([], ["collect"], ["trace"]))
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", section))
    assert {"--allowed-host", "--insecure-no-token", "--header-timeout", "--body-timeout", "--idle-timeout",
            "--max-connections", "--max-body-bytes", "--url"} <= named
    for option in named:
        assert option in helps, option
