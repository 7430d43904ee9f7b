"""LTI 1.3 models: tool keys, platform registrations, login states, courses, links and the score outbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from service.extensions import Base, db
from service.persistence.models import DeliveryState, UTCDateTime, utcnow

if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

ENROLMENT_ROLES = ("learner", "instructor")
SCORE_STATUSES = ("pending", "delivered", "failed", "superseded")


class LtiToolKey(Model):
    """One of the tool's RSA signing keys; the newest unretired key signs, every listed key is published."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    private_pem: Mapped[str] = mapped_column(sa.Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiPlatform(Model):
    """A registration: one (issuer, client id) pair, as an LMS admin configured Kiwame."""

    __tablename__ = "lti_platforms"
    __table_args__ = (sa.UniqueConstraint("issuer", "client_id", name="uq_lti_platforms_issuer_client"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(sa.String(255), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(255))
    auth_url: Mapped[str] = mapped_column(sa.String(2048))
    token_url: Mapped[str] = mapped_column(sa.String(2048))
    jwks_url: Mapped[str] = mapped_column(sa.String(2048))
    auth_audience: Mapped[str | None] = mapped_column(sa.String(2048))
    # Origins besides those of the URLs above that may frame us and serve AGS/NRPS (Canvas: the school's host).
    extra_origins: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    jwks_cache: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    jwks_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LtiDeployment(Model):
    __tablename__ = "lti_deployments"
    __table_args__ = (sa.UniqueConstraint("platform_id", "deployment_id", name="uq_lti_deployments_platform_dep"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True)
    deployment_id: Mapped[str] = mapped_column(sa.String(255))


class LtiLoginState(Model):
    """An OIDC login in flight: its state (hashed) and the nonce the id_token must carry, used at most once."""

    __tablename__ = "lti_login_states"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # sha256 of the state
    nonce: Mapped[str] = mapped_column(sa.String(128), unique=True)
    platform_id: Mapped[int] = mapped_column(sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # the login request, to restart it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Course(Model):
    """An LMS context (issuer + context id) with its title; NRPS fills its roster."""

    __tablename__ = "courses"
    __table_args__ = (sa.UniqueConstraint("issuer", "context_id", name="uq_courses_issuer_context"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lti_platforms.id", ondelete="SET NULL"))
    issuer: Mapped[str] = mapped_column(sa.String(255))
    context_id: Mapped[str] = mapped_column(sa.String(255))
    title: Mapped[str] = mapped_column(sa.String(255), default="")
    label: Mapped[str] = mapped_column(sa.String(255), default="")
    memberships_url: Mapped[str | None] = mapped_column(sa.String(2048))
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiUser(Model):
    """Who an LTI user is to the platform: (issuer, sub); never merged with a local account by email."""

    __tablename__ = "lti_users"
    __table_args__ = (sa.UniqueConstraint("issuer", "sub", name="uq_lti_users_issuer_sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(sa.String(255))
    sub: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Enrolment(Model):
    __tablename__ = "enrolments"
    __table_args__ = (
        sa.UniqueConstraint("course_id", "user_id", name="uq_enrolments_course_user"),
        sa.CheckConstraint("role IN ('learner', 'instructor')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16), default="learner")
    source: Mapped[str] = mapped_column(sa.String(16), default="launch")  # launch or roster
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResourceLink(Model):
    """An exercise placed in a course (from deep linking), with its gradebook line item when AGS is on."""

    __tablename__ = "resource_links"
    __table_args__ = (sa.UniqueConstraint("course_id", "link_id", name="uq_resource_links_course_link"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[int] = mapped_column(sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    link_id: Mapped[str] = mapped_column(sa.String(255))
    exercise_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    title: Mapped[str] = mapped_column(sa.String(255), default="")
    lineitem_url: Mapped[str | None] = mapped_column(sa.String(2048))
    ags_scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiLaunch(Model):
    """A learner opened a resource link: their graded attempts on its exercise go to its line item."""

    __tablename__ = "lti_launches"
    __table_args__ = (sa.UniqueConstraint("resource_link_id", "user_id", name="uq_lti_launches_link_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(sa.ForeignKey("resource_links.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sub: Mapped[str] = mapped_column(sa.String(255))
    last_launch_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiScoreDelivery(DeliveryState, Model):
    """Outbox table of the ``lti_score`` kind: one score for one line item and learner, one row per improvement."""

    __tablename__ = "lti_score_deliveries"
    __table_args__ = (
        # The database, not a check-then-insert, guarantees one delivery per improvement.
        sa.UniqueConstraint("resource_link_id", "user_id", "score_key", name="uq_lti_score_deliveries_improvement"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed', 'superseded')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_link_id: Mapped[int] = mapped_column(sa.ForeignKey("resource_links.id", ondelete="CASCADE"),
                                                  index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    submission_id: Mapped[int | None] = mapped_column(sa.ForeignKey("submissions.id", ondelete="SET NULL"))
    sub: Mapped[str] = mapped_column(sa.String(255))
    score_given: Mapped[float] = mapped_column(sa.Float)
    score_key: Mapped[int] = mapped_column()  # round(score * 10000): what "the same score" means
    timestamp: Mapped[str] = mapped_column(sa.String(40))  # ISO 8601 with microseconds, strictly increasing
