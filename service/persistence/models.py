"""Typed SQLAlchemy 2 models: users, tokens, exercise versions, submissions, progress, sessions, webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.extensions import Base, db

# Why the indirection: Flask-SQLAlchemy builds db.Model at runtime (mypy cannot see it); it is the same
# declarative base, with the same metadata, as ``Base``.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

ROLES = ("learner", "instructor", "admin")
STAFF_ROLES = ("instructor", "admin")  # may see other users' submissions and progress
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
SOURCES = ("web", "api", "lti")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(Model):
    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint("role IN ('learner', 'instructor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(128), default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))  # None: no password login (e.g. LTI)
    role: Mapped[str] = mapped_column(sa.String(16), default="learner")
    locale: Mapped[str] = mapped_column(sa.String(8), default="en")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64), default="")
    prefix: Mapped[str] = mapped_column(sa.String(16))  # shown in listings so a user can tell tokens apart
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex of the secret token
    role: Mapped[str] = mapped_column(sa.String(16))  # never above the user's role
    webhook_secret: Mapped[str | None] = mapped_column(sa.String(128))  # overrides KIWAME_WEBHOOK_SECRET
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class ExerciseVersion(Model):
    """An exercise exactly as a learner saw it, kept after the YAML file changes."""

    __tablename__ = "exercise_versions"
    __table_args__ = (sa.UniqueConstraint("exercise_id", "content_hash", name="uq_exercise_versions_id_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    kind: Mapped[str] = mapped_column(sa.String(16))
    track: Mapped[str] = mapped_column(sa.String(64))
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionRow(Model):
    __tablename__ = "submissions"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_submissions_user_idempotency"),
        sa.CheckConstraint("status IN ('queued', 'running', 'graded', 'error')", name="status"),
        sa.CheckConstraint("source IN ('web', 'api', 'lti')", name="source"),
        sa.Index("ix_submissions_status_queue", "status", "queue"),
        sa.Index("ix_submissions_user_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exercise_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    exercise_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("exercise_versions.id"))
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="SET NULL"))
    code: Mapped[str | None] = mapped_column(sa.Text)
    answer: Mapped[Any | None] = mapped_column(sa.JSON)
    # "show me" (code) / "give up" (quiz): this submission gets the whole hint ladder and the answer at once
    reveal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # the framework (torch | numpy) it is graded in: the learner's pick among the exercise's (issue 15)
    framework: Mapped[str | None] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", index=True)
    score: Mapped[float | None] = mapped_column(sa.Float)
    passed: Mapped[bool | None] = mapped_column()
    diagnosis: Mapped[str | None] = mapped_column(sa.String(64), index=True)  # primary code, for stats
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # GradeResult.to_dict()
    # GradeResult.staff: hidden cases' detail. Its own column, so no rendering of `result` can carry it.
    staff_detail: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
    source: Mapped[str] = mapped_column(sa.String(8), default="api")
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))  # detects a reused key with a new body
    callback_url: Mapped[str | None] = mapped_column(sa.String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    # The grading claim (services/leases.py): which grader holds it and until when; the sweep re-queues
    # running rows whose lease expired and re-sends queued rows whose message was sent long ago.
    queue: Mapped[str] = mapped_column(sa.String(8), default="cpu", server_default="cpu")
    lease_token: Mapped[str | None] = mapped_column(sa.String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claims: Mapped[int] = mapped_column(default=0, server_default="0")

    user: Mapped[User] = relationship()
    exercise_version: Mapped[ExerciseVersion | None] = relationship()


class Progress(Model):
    __tablename__ = "progress"
    __table_args__ = (sa.UniqueConstraint("user_id", "exercise_id", name="uq_progress_user_exercise"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exercise_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    best_score: Mapped[float] = mapped_column(sa.Float, default=0.0)
    attempts: Mapped[int] = mapped_column(default=0)
    solved: Mapped[bool] = mapped_column(default=False)
    first_solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Model):
    """Server-side browser sessions (used by service/web): the id is the sha256 of the cookie's token."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


DELIVERY_STATUSES = ("pending", "delivered", "failed")


class DeliveryState:
    """The columns every outbox table has (see ``service/services/outbox.py``): its retry state."""

    status: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_status_code: Mapped[int | None] = mapped_column()
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(DeliveryState, Model):
    """The outbox table of the ``webhook`` kind: one signed POST of a graded submission to its callback URL."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    event: Mapped[str] = mapped_column(sa.String(64), default="submission.graded")


class Draft(Model):
    """A learner's unsubmitted code for one exercise, kept on the server so it follows them across devices."""

    __tablename__ = "drafts"
    __table_args__ = (sa.UniqueConstraint("user_id", "exercise_id", name="uq_drafts_user_exercise"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exercise_id: Mapped[str] = mapped_column(sa.String(128))
    code: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Prediction(Model):
    """One "predict, then run" attempt: the stated output shape and where the marked value was placed."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    exercise_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    shape: Mapped[list[int]] = mapped_column(sa.JSON)
    position: Mapped[list[int] | None] = mapped_column(sa.JSON)  # None: the exercise asked for the shape only
    shape_correct: Mapped[bool] = mapped_column()
    position_correct: Mapped[bool | None] = mapped_column()
    correct: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
