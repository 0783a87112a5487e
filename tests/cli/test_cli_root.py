"""The root command: help, version, and the store option."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from liveobs.cli import main


def test_help_lists_the_commands_and_the_store_option() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "--db" in result.output
    assert "LIVEOBS_DB" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_help_does_not_load_duckdb() -> None:
    code = "import sys\nfrom liveobs.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip().endswith("False")
