"""What an operator hands ilertd in a form it cannot read (a binary credential, a password in
Latin-1, a manual-clock file of something else) is `ilertd: <what and where>`, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ilertd.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run(args: list[str], data: Path, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
    return subprocess.run([sys.executable, "-m", "ilertd", *args], input=stdin, capture_output=True,
                          timeout=60, env={**environment, "STATE_DIRECTORY": str(data), **env})


def test_a_binary_credential_is_named_with_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "security.secret_key").write_bytes(b"\xff" + os.urandom(32))
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for command in (["user", "list"], ["serve", "--port", "0"]):
        code, _, err = cli(capsys, *command)
        assert code == 1, err
        assert err == (f"ilertd: {credentials / 'security.secret_key'}: security.secret_key: must be UTF-8"
                       " text, not binary (`openssl rand -hex 32` makes a secret as text)\n")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("errors", ["surrogateescape", "strict"])
def test_a_password_not_in_utf8_is_refused_and_changes_nothing(tmp_path: Path, errors: str) -> None:
    """Read with surrogateescape (the C locale's way), stdin's bytes came as lone surrogates, which
    argon2 could not hash; read strictly, reading them failed. Both were tracebacks."""
    data = tmp_path / "data"
    assert run(["user", "add", "alice"], data).returncode == 0
    refused = run(["user", "passwd", "alice"], data, stdin="pässwort1\n".encode("latin-1"),
                  PYTHONIOENCODING=f"utf-8:{errors}")
    assert refused.returncode == 1, refused.stderr
    assert b"Traceback" not in refused.stderr
    assert "password must be UTF-8 text" in refused.stderr.decode(), refused.stderr
    taken = run(["user", "passwd", "alice"], data, stdin="pässwort1\n".encode(),
                PYTHONIOENCODING=f"utf-8:{errors}")
    assert taken.returncode == 0, taken.stderr


def test_a_manual_clock_file_of_something_else_is_named_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "manual-clock").write_text("garbage\n")
    served = run(["serve", "--manual-clock", "--port", "0"], data)
    assert served.returncode == 1
    assert served.stderr.decode().splitlines()[-1] == (
        f"ilertd: {data / 'manual-clock'} holds no instant the manual clock kept (Invalid isoformat"
        " string: 'garbage'): delete it to start the clock at --clock-start or this minute")
    (data / "manual-clock").write_bytes(b"\xff\xfe")
    served = run(["serve", "--manual-clock", "--port", "0"], data)
    assert served.returncode == 1 and b"Traceback" not in served.stderr, served.stderr
