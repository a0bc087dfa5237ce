"""Secrets from systemd's `LoadCredential=` directory, offered as the ILERTD_* variables they stand for."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ilertd.config.problems import ConfigError, ConfigProblem
from ilertd.config.schema import PLUGINS, env_var_name, setting_keys


def with_credentials(environ: Mapping[str, str], credentials_dir: Path | None) -> dict[str, str]:
    """The environment plus secrets from systemd's `LoadCredential=` (a file per dotted key).

    A credential named like a key (`security.secret_key`, `twilio.auth_token`,
    `database.url`, ...) sets it unless the environment already does; either wins over the file.
    """
    merged = dict(environ)
    for name, path in credential_files(environ, credentials_dir).items():
        merged[name] = _credential_text(path, path.name)
    return merged


def credential_files(environ: Mapping[str, str], credentials_dir: Path | None) -> dict[str, Path]:
    """The ILERTD_* variables `with_credentials` sets, each with the file it reads: a value the
    settings refuse is blamed on that file, where it was on a variable no one had set."""
    if credentials_dir is None:
        return {}
    keys = setting_keys()
    # A plugin's keys are known only once it loads: any credential `plugins.NAME.KEY` is offered.
    if credentials_dir.is_dir():
        keys += sorted(p.name for p in credentials_dir.iterdir() if p.name.startswith(f"{PLUGINS}."))
    return {env_var_name(key): credentials_dir / key for key in keys
            if env_var_name(key) not in environ and (credentials_dir / key).is_file()}


def _credential_text(path: Path, key: str) -> str:
    try:
        return path.read_text().strip()
    except UnicodeDecodeError:
        # `openssl rand 32 > /etc/credstore/...` makes such a file: a traceback named no file.
        raise ConfigError([ConfigProblem(str(path), None, key, "must be UTF-8 text, not binary"
                                         " (`openssl rand -hex 32` makes a secret as text)")]) from None
