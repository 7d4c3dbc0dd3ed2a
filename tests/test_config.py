"""Settings: defaults, environment over config file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcycle.config import load_settings, redact_url
from mlcycle.exceptions import ConfigError


def test_defaults_live_in_the_workspace(tmp_path: Path) -> None:
    settings = load_settings({"MLCYCLE_HOME": str(tmp_path / "ws")})
    assert settings.home == (tmp_path / "ws").resolve()
    assert settings.database_url == f"sqlite:///{tmp_path / 'ws' / 'mlcycle.db'}"
    assert settings.artifacts_url == str(tmp_path / "ws" / "artifacts")
    assert settings.config_file is None


def test_default_home_is_dot_mlcycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).home == tmp_path / ".mlcycle"


def test_config_file_then_environment(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "config.toml").write_text(
        'artifacts = "memory://from-file"\nmetric_batch_size = 7\nuser = "file-user"\n'
    )
    settings = load_settings({"MLCYCLE_HOME": str(home), "MLCYCLE_USER": "env-user"})
    assert settings.artifacts_url == "memory://from-file"
    assert settings.metric_batch_size == 7
    assert settings.user == "env-user"  # the environment wins
    assert settings.config_file == (home / "config.toml").resolve()


def test_explicit_config_file_and_mlcycle_table(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text('[mlcycle]\ndb_url = "postgresql+psycopg://u:secret@db/x"\n')
    settings = load_settings({"MLCYCLE_CONFIG": str(path), "MLCYCLE_HOME": str(tmp_path)})
    assert settings.database_url.endswith("@db/x")
    assert "secret" not in settings.redacted_db_url()


@pytest.mark.parametrize(
    ("env", "files", "match"),
    [
        ({"MLCYCLE_METRIC_BATCH_SIZE": "-5"}, {}, "metric_batch_size"),
        ({"MLCYCLE_METRIC_BATCH_SIZE": "many"}, {}, "MLCYCLE_METRIC_BATCH_SIZE"),
        ({"MLCYCLE_CONFIG": "/nonexistent/mlcycle.toml"}, {}, "not a file"),
        ({}, {"config.toml": "db_url = [unclosed"}, "not valid TOML"),
        ({}, {"config.toml": "colour = 'blue'\n"}, "colour"),
    ],
)
def test_bad_settings_are_one_clear_error(
    tmp_path: Path, env: dict[str, str], files: dict[str, str], match: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings({"MLCYCLE_HOME": str(tmp_path), **env})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("s3://KEY:SECRET@host/bucket", "s3://KEY:***@host/bucket"),
        ("s3://KEY:SE/CRET@host/bucket", "s3://KEY:***@host/bucket"),  # a '/' in the secret
        ("https://user:pass@h:8443/x?token=SECRET&v=1", "https://user:***@h:8443/x?token=***&v=1"),
        ("gs://bucket/p?X-Goog-Signature=SECRET#f", "gs://bucket/p?X-Goog-Signature=***#f"),
        ("postgresql+psycopg://u@h/db?password=SECRET", "postgresql+psycopg://u@h/db?password=***"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("/srv/mlcycle/artifacts", "/srv/mlcycle/artifacts"),
    ],
)
def test_redact_url_hides_passwords_and_secret_parameters(url: str, shown: str) -> None:
    assert redact_url(url) == shown
