"""`guanxi backup`, `guanxi backup verify` and `guanxi restore` (DATA-13) through
guanxi.cli.main, configured by the environment like a real install."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from guanxi.cli import main
from tests.backup.support import all_rows, destroy, files_under, seed


@pytest.fixture
def cli(make_platform: Any, test_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A seeded install whose environment points where make_platform's settings do."""
    platform = make_platform()
    seed(platform)
    for name, value in {
        **test_db.env(),
        "GUANXI_PLUGINS_TOML": str(tmp_path / "plugins.toml"),
        "GUANXI_BACKUP_DIR": str(platform.settings.backup_dir),
        "GUANXI_ATTACHMENTS_DIR": str(platform.settings.attachments_dir),
        "GUANXI_JOBS_IN_WEB": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return platform


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def test_backup_verify_destroy_restore_on_the_command_line(
    cli: Any, test_db: Any, capsys: pytest.CaptureFixture[str]
) -> None:  # DATA-13
    rows = all_rows(test_db)
    files = files_under(cli.settings.attachments_dir)

    code, out, _err = run(capsys, "backup")
    assert code == 0
    archive = Path(re.search(r"backup written: (\S+)", out).group(1))  # type: ignore[union-attr]
    assert archive.parent == Path(cli.settings.backup_dir) and archive.is_file()
    assert f"{len(rows)} tables" in out and "1 attachment file(s)" in out

    code, out, _err = run(capsys, "backup", "verify", str(archive))
    assert code == 0 and out.splitlines()[-1].startswith("OK:")

    code, _out, err = run(capsys, "restore", str(archive), "--yes")
    assert code == 1 and "error: the target" in err and "restore only into an empty" in err
    assert all_rows(test_db) == rows

    destroy(test_db, cli)
    code, _out, err = run(capsys, "restore", str(archive))
    assert code == 1 and "--yes" in err  # no terminal to ask: nothing happens
    assert all_rows(test_db) == {}

    code, out, _err = run(capsys, "restore", str(archive), "--yes")
    assert code == 0, out
    assert re.search(r"^e_customer\s+2\s+2\s+ok$", out, re.MULTILINE)
    assert out.splitlines()[-1].startswith("restore verified: OK:")
    assert all_rows(test_db) == rows
    assert files_under(cli.settings.attachments_dir) == files


def test_backup_to_another_folder_and_a_tampered_archive(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # DATA-13
    code, out, _err = run(capsys, "backup", "--to", str(tmp_path / "offsite"))
    assert code == 0
    [archive] = (tmp_path / "offsite").glob("guanxi-backup-*.tar.gz")
    assert str(archive) in out

    data = bytearray(archive.read_bytes())
    data[-100] ^= 0x01
    archive.write_bytes(bytes(data))
    code, out, err = run(capsys, "backup", "verify", str(archive))
    assert code == 1 and "FAILED" in err and "problem:" in out

    code, _out, err = run(capsys, "restore", str(archive), "--yes")
    assert code == 1 and "failed verification" in err

    code, out, _err = run(capsys, "backup", "verify", str(tmp_path / "nothing.tar.gz"))
    assert code == 1 and "does not exist" in out


def test_an_unwritable_backup_folder_is_one_clear_line(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # DATA-13
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _out, err = run(capsys, "backup", "--to", str(blocker / "backups"))
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
