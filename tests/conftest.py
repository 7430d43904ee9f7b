"""Shared fixtures: a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL), apps, users and tokens."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

REPO = Path(__file__).resolve().parent.parent


def _worker(config: pytest.Config) -> str:
    return str(getattr(config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test session (one per xdist worker on PostgreSQL)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'kiwame.sqlite3'}"
        return
    url = sa.make_url(base)
    name = f"{url.database}_kiwame_{_worker(request.config)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def migrated(database_url: str, instance_dir: Path) -> str:
    """The session database with every migration applied (what `kiwame db upgrade` does)."""
    from service.app import create_app
    from service.extensions import db
    from service.persistence.migrate import upgrade

    app = create_app({"KIWAME_DATABASE_URL": database_url, "KIWAME_INSTANCE_DIR": str(instance_dir),
                      "KIWAME_AUTO_MIGRATE": "0"})
    upgrade(app)
    with app.app_context():
        db.engine.dispose()
    return database_url


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    """One real grading engine with a real sandbox for the whole session (its zygote starts on first use)."""
    from service.grading.engine import Engine
    from service.sandbox.pool import SandboxPool

    pool = SandboxPool()
    yield Engine(pool)
    pool.close()


def base_config(database_url: str, instance_dir: Path) -> dict[str, Any]:
    return {"KIWAME_DATABASE_URL": database_url, "KIWAME_INSTANCE_DIR": str(instance_dir),
            "KIWAME_AUTO_MIGRATE": "0", "KIWAME_RATE_LIMIT": "100000 per minute",
            "KIWAME_SUBMIT_RATE_LIMIT": "100000 per minute", "KIWAME_WEBHOOK_BACKOFF_S": "0.05",
            "KIWAME_SIGNUP_RATE_LIMIT": "100000 per minute",
            "KIWAME_ADDRESS_SUBMIT_RATE_LIMIT": "100000 per minute",
            "KIWAME_GLOBAL_SUBMIT_RATE_LIMIT": "100000 per minute",
            "KIWAME_WEBHOOK_ALLOW_PRIVATE": "1",  # the test receivers listen on 127.0.0.1
            "TESTING": True}


def clean_tables(app: Flask) -> None:
    from service.extensions import db

    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


def close_app(app: Flask) -> None:
    from service.extensions import db
    from service.services.runtime import runtime

    runtime(app).close()  # grading threads and delivery timers, when they were started
    clean_tables(app)
    with app.app_context():
        db.engine.dispose()


# Queue mode: with KIWAME_TEST_BROKER_URL set (a Redis URL), apps send their submissions to a real
# `kiwame worker` process started for the session (.ci/run runs the submission/API tests this way too).
QUEUE_BROKER = os.environ.get("KIWAME_TEST_BROKER_URL")
# Settings the worker applies itself: it stores the result, so it performs the outbox deliveries. An app
# built with other values of these gets a worker restarted with them (a deployment configures both alike);
# an app that sets none of them takes the worker as it runs (only the webhook tests set them).
WORKER_SETTINGS = ("KIWAME_WEBHOOK_",)


class QueueWorker:
    """The session's `kiwame worker` process, restarted when a test needs other worker-side settings."""

    def __init__(self, config: dict[str, Any], extra: dict[str, str]) -> None:
        self.config, self.extra = config, extra
        self.overrides: dict[str, str] = {}
        self.proc: Any = None

    def start(self, overrides: dict[str, str]) -> None:
        import subprocess
        import sys

        self.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIWAME_")}
        env.update({**{k: str(v) for k, v in self.config.items() if k.startswith("KIWAME_")}, **self.extra,
                    **overrides})
        self.proc = subprocess.Popen([sys.executable, "-m", "service.worker", "--concurrency", "2"], env=env)
        self.overrides = dict(overrides)
        _until_worker_grades({**self.config, **self.extra, **overrides})

    def configure(self, app_overrides: dict[str, Any]) -> None:
        """Restart the worker when the app sets worker-side settings it does not run with."""
        wanted = {k: str(v) for k, v in app_overrides.items() if k.startswith(WORKER_SETTINGS)}
        if wanted and wanted != self.overrides:
            self.start(wanted)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None


@pytest.fixture(scope="session")
def queue_worker(migrated: str, instance_dir: Path) -> Iterator[QueueWorker | None]:
    """Queue mode's worker process (its extra config in ``.extra``); None in the embedded default."""
    if not QUEUE_BROKER:
        yield None
        return
    import redis

    redis.Redis.from_url(QUEUE_BROKER).flushdb()  # no task left by an earlier session
    extra = {"KIWAME_BROKER_URL": QUEUE_BROKER, "KIWAME_WAIT_POLL_S": "1", "KIWAME_SWEEP_INTERVAL_S": "2"}
    worker = QueueWorker(base_config(migrated, instance_dir), extra)
    worker.start({})
    yield worker
    worker.stop()


def _until_worker_grades(config: dict[str, Any]) -> None:
    """Block until the worker graded a canary submission (it starts slowly on a loaded machine); the canary's
    rows are then removed (a restart happens inside a test: nothing else may go)."""
    from service.app import create_app
    from service.extensions import db
    from service.persistence import User
    from service.services import submissions, users
    from service.services.runtime import runtime

    app = create_app(config)
    with app.app_context():
        user = users.create_user("queue-canary", "learner", "pw-for-tests").user
        code = runtime(app).catalog.get("permute-2d").solution  # a code exercise: the sandbox is warm
        sent = submissions.submit(submissions.SubmitRequest(user.id, "permute-2d", code=code))
        done = submissions.wait_for(sent.id, 240, viewer_id=user.id, staff=False)
        runtime(app).close()
        assert done.final, "the queue-mode worker did not grade within 240 s"
        db.session.rollback()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if "user_id" in table.c:
                    conn.execute(table.delete().where(table.c.user_id == user.id))
            conn.execute(sa.delete(User.__table__).where(User.__table__.c.id == user.id))
        db.engine.dispose()


@pytest.fixture
def make_app(migrated: str, instance_dir: Path, engine: Any, queue_worker: QueueWorker | None
             ) -> Iterator[Callable[..., Flask]]:
    """Build apps on the session database; tables are emptied after the test."""
    from service.app import create_app
    from service.services.runtime import runtime

    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        if queue_worker is not None:
            queue_worker.configure(overrides)
        extra = queue_worker.extra if queue_worker is not None else {}
        app = create_app({**base_config(migrated, instance_dir), **extra, **overrides})
        if queue_worker is None:  # queue mode: the web tier must never start a sandbox (the worker grades)
            runtime(app).engine = engine  # the session's, instead of a sandbox per app
        apps.append(app)
        return app

    yield build
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """The app's SQLAlchemy session inside an app context (tables are emptied after the test)."""
    from service.extensions import db as database

    with app.app_context():
        yield database.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """Create a user (role learner by default) and return its UserView."""
    from service.services import users

    def create(name: str, role: str = "learner", password: str = "pw-for-tests") -> Any:
        with app.app_context():
            return users.create_user(name, role, password).user

    return create


@pytest.fixture
def make_token(app: Flask) -> Callable[..., str]:
    """Create an API token for an existing user and return the secret."""
    from service.services import tokens

    def create(user_name: str, role: str | None = None, **kwargs: Any) -> str:
        with app.app_context():
            return tokens.create_token(user_name, "test", role, **kwargs).token

    return create


@pytest.fixture
def auth(make_user: Callable[..., Any], make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth("ana")`` creates learner ana (if needed) and returns her Authorization header."""
    created: set[str] = set()

    def header(name: str, role: str = "learner") -> dict[str, str]:
        if name not in created:
            make_user(name, role)
            created.add(name)
        return {"Authorization": f"Bearer {make_token(name)}"}

    return header
