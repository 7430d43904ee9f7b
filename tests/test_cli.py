"""The ``kiwame`` command line, a real ``kiwame serve`` driven over HTTP, and the deployment files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from service.cli import main

REPO = Path(__file__).resolve().parent.parent
KIWAME = str(Path(sys.executable).with_name("kiwame"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    """A fresh embedded setup: its own instance folder and SQLite file (None unsets an inherited variable)."""
    return {"KIWAME_INSTANCE_DIR": str(tmp_path / "instance"), "KIWAME_SECRET_KEY": None,
            "KIWAME_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}


def run(env: dict[str, str | None], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_db_user_and_token_commands(env: dict[str, str | None]) -> None:
    from alembic.script import ScriptDirectory

    from service.persistence.migrate import MIGRATIONS_DIR, alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()  # exactly one head
    upgraded = run(env, "db", "upgrade")
    assert upgraded.exit_code == 0 and f"revision {head}" in upgraded.output
    created = run(env, "user", "create", "ana", "--role", "instructor", "--password", "s3cret-pass")
    assert created.exit_code == 0 and "created instructor ana" in created.output
    assert "password:" not in created.output
    generated = run(env, "user", "create", "bo")
    assert generated.exit_code == 0 and "password: " in generated.output
    assert run(env, "user", "create", "ana").exit_code != 0  # duplicate

    token = run(env, "token", "create", "--user", "ana", "--name", "laptop")
    assert token.exit_code == 0
    secret = token.stdout.strip().splitlines()[0]
    assert secret.startswith("kiw_") and len(secret) > 40

    from service.app import create_app
    from service.services import tokens

    app = create_app({**{k: v for k, v in env.items() if v}, "KIWAME_AUTO_MIGRATE": "0"})
    with app.app_context():
        principal = tokens.authenticate(secret)
        assert principal is not None and principal.user_name == "ana" and principal.role == "instructor"
        token_id = principal.token_id
    assert run(env, "token", "revoke", str(token_id)).exit_code == 0
    with app.app_context():
        assert tokens.authenticate(secret) is None
    assert run(env, "token", "revoke", "9999").exit_code != 0
    assert run(env, "token", "create", "--user", "nobody").exit_code != 0


def test_secret_key_is_kept_private(env: dict[str, str | None]) -> None:
    run(env, "db", "upgrade")
    key = Path(env["KIWAME_INSTANCE_DIR"]) / "secret_key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    before = key.read_text()
    run(env, "db", "upgrade")
    assert key.read_text() == before  # generated once, then reused


def test_exercises_validate(tmp_path: Path, env: dict[str, str | None]) -> None:
    good = tmp_path / "good" / "basics"
    good.mkdir(parents=True)
    for name in ("_track.yaml", "permute-2d.yaml"):
        shutil.copy(REPO / "exercises" / "basics" / name, good / name)
    result = run(env, "exercises", "validate", str(good.parent))
    assert result.exit_code == 0, result.output
    (good / "broken.yaml").write_text("id: broken\nkind: code\n")
    result = run(env, "exercises", "validate", str(good.parent))
    assert result.exit_code == 1 and "broken.yaml" in result.output


def test_exercises_new_scaffolds_a_bilingual_exercise_that_validates(tmp_path: Path, env: dict[str, str | None]) -> None:
    source = tmp_path / "outer.py"
    source.write_text("import torch\n\n\ndef solve(a, b):\n    return a @ b\n")
    root = tmp_path / "ex"
    result = run(env, "exercises", "new", "matmul-demo", "--track", "mine", "--from", str(source), "--root", str(root))
    assert result.exit_code == 0, result.output
    written = root / "mine" / "matmul-demo.yaml"
    doc = yaml.safe_load(written.read_text())
    assert set(doc["title"]) == {"en", "ja"} and set(doc["prompt"]) == {"en", "ja"}
    assert doc["cases"][0]["args"]["b"] == {"arange": [4, 5]}  # the second guess: chained shapes for a @ b
    assert "matmul-demo: reference: passes all" in result.output and "0 errors" in result.output
    single = run(env, "exercises", "validate", str(written))
    assert single.exit_code == 0 and "1 exercise, 0 errors" in single.output  # "1 exercise": grammar
    again = run(env, "exercises", "new", "matmul-demo", "--track", "mine", "--root", str(root))
    assert again.exit_code != 0 and "already exists" in again.output


def test_grade_a_local_file(tmp_path: Path, env: dict[str, str | None]) -> None:
    right = tmp_path / "right.py"
    right.write_text("def solve(x):\n    return x.permute(1, 0)\n")
    result = run(env, "grade", str(right), "--exercise", "permute-2d", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["passed"] is True and data["score"] == 1.0
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def solve(x):\n    return x\n")
    result = run(env, "grade", str(wrong), "--exercise", "permute-2d")
    assert result.exit_code == 1 and "FAILED" in result.output and "diagnosis" in result.output


def test_doctor(env: dict[str, str | None]) -> None:
    run(env, "db", "upgrade")
    result = run(env, "doctor")
    assert "database (sqlite): ok" in result.output
    assert "sandbox " in result.output
    failed = "FAILED" in result.output
    assert result.exit_code == (1 if failed else 0)


def test_doctor_names_the_missing_cgroups_in_single_process_mode(env: dict[str, str | None]) -> None:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    run(env, "db", "upgrade")
    result = run({**env, "KIWAME_SANDBOX_CGROUPS": "off"}, "doctor")
    line = next(ln for ln in result.output.splitlines() if ln.startswith("sandbox bounds:"))
    assert line.startswith("sandbox bounds: ok  single-process mode (RLIMIT_NPROC=1); no cgroup leaf: cgroups "
                           "turned off by configuration"), result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_kiwame_serve_full_loop_over_http(tmp_path: Path) -> None:
    """`kiwame serve` on a fresh instance folder (embedded SQLite, migrated on start), driven with urllib."""
    env = {**os.environ, "KIWAME_INSTANCE_DIR": str(tmp_path / "instance")}
    env.pop("KIWAME_DATABASE_URL", None)
    port = _free_port()
    server = subprocess.Popen([KIWAME, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = _call(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                assert time.monotonic() < deadline, "kiwame serve did not come up"
                time.sleep(0.3)
        assert health["database"]["ok"] is True and health["exercises"]["loaded"] > 0
        subprocess.run([KIWAME, "user", "create", "ana", "--password", "pw-123456"], env=env, check=True,
                       capture_output=True)
        token = subprocess.run([KIWAME, "token", "create", "--user", "ana"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()

        status, listing = _call(f"{base}/api/v1/exercises", token)
        assert status == 200
        first = listing["items"][0]["id"]
        right = "def solve(x):\n    return x.permute(1, 0)\n"
        status, graded = _call(f"{base}/api/v1/submissions?wait=5", token, {"exercise_id": first, "code": right})
        assert status == 200 and graded["passed"] is True, graded
        status, wrong = _call(f"{base}/api/v1/submissions?wait=5", token, {"exercise_id": first, "code": "x = 1"})
        assert status == 200 and wrong["passed"] is False, wrong
        status, read = _call(f"{base}/api/v1/submissions/{wrong['id']}", token)
        assert "missing_function" in {d["code"] for d in read["diagnoses"]}
        status, progress = _call(f"{base}/api/v1/progress", token)
        assert progress["items"][0] == {**progress["items"][0], "exercise_id": first, "attempts": 2, "solved": True}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_deployment_files() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "db", "migrate"} <= set(services)
    web, migrate = services["web"], services["migrate"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # Queue mode (issue 9): the sandbox's privileges moved from web to worker (tests/test_deploy_files.py).
    assert "SYS_ADMIN" in services["worker"]["cap_add"] and "cap_add" not in web
    assert {"seccomp=unconfined", "apparmor=unconfined"} <= set(services["worker"]["security_opt"])
    assert "db upgrade" in " ".join(migrate["command"]) if isinstance(migrate["command"], list) \
        else "db upgrade" in migrate["command"]
    assert "0.0.0.0" in str(web.get("command", "")) or "0.0.0.0" in (REPO / "Dockerfile").read_text()
    for svc in (web, migrate):
        assert svc["environment"]["KIWAME_DATABASE_URL"].startswith("postgresql+psycopg://")
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "kiwame" in dockerfile


def test_flask_cli_finds_the_kiwame_group_through_its_entry_point(env: dict[str, str | None]) -> None:
    # The factory does not import the CLI (no app <-> cli cycle): Flask loads the group from the
    # ``flask.commands`` entry point that pyproject.toml declares.
    child_env = {**os.environ, **{k: v for k, v in env.items() if v}}
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "service.app:create_app", "kiwame", "user", "--help"],
                         capture_output=True, text=True, env=child_env, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "create" in out.stdout and "Usage: python -m flask kiwame user" in out.stdout
