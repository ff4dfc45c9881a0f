"""`python -m bot run` starts every process on localhost, with the HTTP API behind a token."""

from __future__ import annotations

from pathlib import Path

from bot.runtime.processes import child_environment, children, rasa_token
from bot.settings import Settings


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(var_dir=tmp_path / "var", models_dir=tmp_path / "models", _env_file=None, **overrides)


def test_a_token_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    s = settings(tmp_path)
    first = rasa_token(s)
    assert len(first) >= 32
    assert rasa_token(s) == first
    assert (s.var_dir / "rasa_token").stat().st_mode & 0o077 == 0


def test_the_configured_token_wins(tmp_path: Path) -> None:
    assert rasa_token(settings(tmp_path, rasa_token="secret-token")) == "secret-token"


def test_servers_listen_on_localhost_with_the_api_token(tmp_path: Path) -> None:
    s = settings(tmp_path, rasa_port=6005, action_port=6055)
    rasa = next(c for c in children(s) if c.name == "rasa server")
    assert rasa.command[rasa.command.index("--interface") + 1] == "127.0.0.1"
    assert rasa.command[rasa.command.index("--port") + 1] == "6005"
    assert "--enable-api" in rasa.command
    env = child_environment(s, "tok")
    assert env["RASA_TOKEN"] == "tok"
    assert env["ACTION_PORT"] == "6055"
    assert env["SANIC_HOST"] == "127.0.0.1"
    assert env["RASA_TELEMETRY_ENABLED"] == "false"


def test_no_secret_is_on_a_command_line_any_local_user_can_read(tmp_path: Path) -> None:
    s = settings(tmp_path, rasa_token="api-secret", action_server_token="action-secret")
    env = child_environment(s, "api-secret")
    assert (env["RASA_TOKEN"], env["ACTION_SERVER_TOKEN"]) == ("api-secret", "action-secret")
    for child in children(s):
        assert not {"api-secret", "action-secret", "--auth-token"} & set(child.command), child.name


def test_the_action_server_runs_behind_its_secret_on_localhost(tmp_path: Path) -> None:
    s = settings(tmp_path)
    action = next(c for c in children(s) if c.name == "action server")
    assert action.command[1:3] == ["-m", "bot.runtime.actions"]
    env = child_environment(s, "tok")
    assert env["ACTION_HOST"] == env["SANIC_HOST"] == "127.0.0.1"
    assert len(env["ACTION_SERVER_TOKEN"]) >= 32  # generated under var/ when unset
    assert child_environment(s, "tok")["ACTION_SERVER_TOKEN"] == env["ACTION_SERVER_TOKEN"]
    assert (s.var_dir / "action_server_token").stat().st_mode & 0o077 == 0
