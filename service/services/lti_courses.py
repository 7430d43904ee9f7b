"""What a verified launch does: course, user, enrolment and resource link upserts; deep linking; rosters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.roles import TeacherRole, TeachingAssistantRole

from service.errors import Forbidden, NotFound
from service.persistence import (
    Course,
    Enrolment,
    LtiLaunch,
    LtiPlatform,
    LtiUser,
    Progress,
    ResourceLink,
    User,
    db,
)
from service.persistence.models import utcnow
from service.services import lti_http, lti_tool
from service.services.lti_launch import CLAIM, Launch, LtiRejected
from service.services.runtime import runtime

AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@dataclass(frozen=True)
class LaunchOutcome:
    user_id: int
    course_id: int
    role: str  # learner or instructor, in this course
    frame_origins: tuple[str, ...]
    exercise_id: str | None = None
    resource_link_id: int | None = None
    deep_link: dict[str, Any] = field(default_factory=dict)  # what the picker needs (deep-linking launches)


def _timeout() -> float:
    return float(current_app.config.get("KIWAME_LTI_HTTP_TIMEOUT_S") or 10)


def course_role(claims: dict[str, Any]) -> str:
    """Instructor / TeachingAssistant -> instructor; everyone else learns (the library reads the role URIs)."""
    return "instructor" if TeacherRole(claims).check() or TeachingAssistantRole(claims).check() else "learner"


def _user(issuer: str, sub: str, name: str, email: str | None) -> int:
    """The Kiwame user behind (issuer, sub), created on first sight; never matched by email."""
    found = db.session.scalar(sa.select(LtiUser).where(LtiUser.issuer == issuer, LtiUser.sub == sub))
    if found is not None:
        user = db.session.get(User, found.user_id)
        if user is not None and name:
            user.display_name = name[:128]
        if email:
            found.email = email[:255]
        return found.user_id
    handle = "lti-" + hashlib.sha256(f"{issuer}\x00{sub}".encode()).hexdigest()[:16]
    user = User(name=handle, display_name=(name or handle)[:128], password_hash=None, role="learner")
    db.session.add(user)
    db.session.flush()
    db.session.add(LtiUser(issuer=issuer, sub=sub, user_id=user.id, email=(email or None)))
    db.session.flush()
    return user.id


def _display_name(claims: dict[str, Any]) -> str:
    name = claims.get("name") or " ".join(p for p in (claims.get("given_name"), claims.get("family_name")) if p)
    return str(name or "")


def _course(launch: Launch) -> Course:
    context = launch.claim("context") or {}
    context_id = str(context.get("id") or f"deployment:{launch.deployment_id}")
    course = db.session.scalar(sa.select(Course).where(Course.issuer == launch.issuer,
                                                       Course.context_id == context_id))
    if course is None:
        course = Course(issuer=launch.issuer, context_id=context_id, platform_id=launch.platform_id)
        db.session.add(course)
    course.title = str(context.get("title") or context.get("label") or course.title or context_id)[:255]
    course.label = str(context.get("label") or "")[:255]
    members = (launch.claims.get(NRPS) or {}).get("context_memberships_url")
    if isinstance(members, str) and members:
        course.memberships_url = members
    db.session.flush()
    return course


def _enrol(course_id: int, user_id: int, role: str, source: str) -> None:
    row = db.session.scalar(sa.select(Enrolment).where(Enrolment.course_id == course_id,
                                                       Enrolment.user_id == user_id))
    if row is None:
        db.session.add(Enrolment(course_id=course_id, user_id=user_id, role=role, source=source))
    elif source == "launch" or row.source != "launch":
        row.role = role  # the launch's roles are the freshest word on who this is in the course


def accept(launch: Launch) -> LaunchOutcome:
    """Record a verified launch and say where it leads (the caller signs the user in)."""
    platform = db.session.get(LtiPlatform, launch.platform_id)
    assert platform is not None
    claims = launch.claims
    user_id = _user(launch.issuer, str(claims["sub"]), _display_name(claims), claims.get("email"))
    course = _course(launch)
    role = course_role(claims)
    _enrol(course.id, user_id, role, "launch")
    platform.last_launch_at = utcnow()
    origins = tuple(lti_http.platform_origins(platform))
    if launch.message_type == "LtiDeepLinkingRequest":
        if role != "instructor":
            db.session.rollback()
            raise LtiRejected("not_instructor", "only instructors can pick exercises", 403)
        settings = dict(claims.get(DL_SETTINGS) or {})
        db.session.commit()
        return LaunchOutcome(user_id, course.id, role, origins, deep_link={
            "platform_id": platform.id, "deployment_id": launch.deployment_id, "settings": settings})
    exercise_id = str((launch.claim("custom") or {}).get("exercise_id") or "")
    if runtime().catalog.get(exercise_id) is None:
        db.session.rollback()
        raise LtiRejected("unknown_exercise", f"this link names no Kiwame exercise ({exercise_id!r})", 404)
    link = _resource_link(launch, course.id, exercise_id)
    if role == "learner":
        seen = db.session.scalar(sa.select(LtiLaunch).where(LtiLaunch.resource_link_id == link.id,
                                                            LtiLaunch.user_id == user_id))
        if seen is None:
            db.session.add(LtiLaunch(resource_link_id=link.id, user_id=user_id, sub=str(claims["sub"])))
        else:
            seen.last_launch_at = utcnow()
    db.session.commit()
    return LaunchOutcome(user_id, course.id, role, origins, exercise_id=exercise_id, resource_link_id=link.id)


def _resource_link(launch: Launch, course_id: int, exercise_id: str) -> ResourceLink:
    claim = launch.claim("resource_link") or {}
    link = db.session.scalar(sa.select(ResourceLink).where(ResourceLink.course_id == course_id,
                                                           ResourceLink.link_id == str(claim["id"])))
    if link is None:
        link = ResourceLink(course_id=course_id, platform_id=launch.platform_id, link_id=str(claim["id"]))
        db.session.add(link)
    link.exercise_id = exercise_id
    link.title = str(claim.get("title") or link.title or exercise_id)[:255]
    ags = launch.claims.get(AGS) or {}
    if isinstance(ags.get("lineitem"), str):
        link.lineitem_url = ags["lineitem"]
        link.ags_scopes = [s for s in ags.get("scope", []) if isinstance(s, str)]
    db.session.flush()
    return link


# --- deep linking -----------------------------------------------------------------------------------------


def deep_link_response(deep_link: dict[str, Any], exercise_ids: list[str], base_url: str,
                       lang: str = "en") -> tuple[str, str]:
    """(return URL, signed LtiDeepLinkingResponse JWT) with one ltiResourceLink per chosen exercise."""
    platform = db.session.get(LtiPlatform, deep_link["platform_id"])
    if platform is None:
        raise NotFound("the registration was removed", code="platform_not_found")
    settings = deep_link["settings"]
    if len(exercise_ids) > 1 and str(settings.get("accept_multiple", "true")).lower() == "false":
        exercise_ids = exercise_ids[:1]
    catalog = runtime().catalog
    launch_url = base_url.rstrip("/") + "/lti/launch"
    resources = []
    for exercise_id in exercise_ids:
        exercise = catalog.get(exercise_id)
        if exercise is None:
            raise NotFound(f"no exercise {exercise_id!r}", code="exercise_not_found")
        title = exercise.title.get(lang)
        line_item = LineItem().set_score_maximum(1).set_label(title).set_resource_id(exercise.id)
        resources.append(DeepLinkResource().set_url(launch_url).set_title(title)
                         .set_custom_params({"exercise_id": exercise.id}).set_lineitem(line_item))
    link = DeepLink(lti_tool.registration(platform), deep_link["deployment_id"], settings)
    return str(settings["deep_link_return_url"]), link.get_response_jwt(resources)


# --- rosters (NRPS) ----------------------------------------------------------------------------------------


def sync_roster(course_id: int, viewer_id: int) -> int:
    """Pull the course's members from the platform (every ``next`` page); returns how many were listed."""
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound("no such course", code="course_not_found")
    require_instructor(course_id, viewer_id)
    platform = db.session.get(LtiPlatform, course.platform_id) if course.platform_id else None
    if platform is None or not course.memberships_url:
        raise NotFound("the platform did not offer a roster for this course", code="no_roster_service")
    connector = lti_tool.connector(platform, _timeout())
    service = NamesRolesProvisioningService(connector, {"context_memberships_url": course.memberships_url})
    members = service.get_members()
    for member in members:
        sub = member.get("user_id")
        if not sub or member.get("status", "Active") != "Active":
            continue
        user_id = _user(platform.issuer, str(sub), str(member.get("name") or ""), member.get("email"))
        _enrol(course.id, user_id, course_role({CLAIM + "roles": member.get("roles", [])}), "roster")
    course.roster_synced_at = utcnow()
    db.session.commit()
    return len(members)


def require_instructor(course_id: int, user_id: int) -> None:
    role = db.session.scalar(sa.select(Enrolment.role).where(Enrolment.course_id == course_id,
                                                             Enrolment.user_id == user_id))
    user = db.session.get(User, user_id)
    if role != "instructor" and (user is None or user.role != "admin"):
        raise Forbidden("only this course's instructors can do that")


def is_enrolled(course_id: int, user_id: int) -> bool:
    return db.session.scalar(sa.select(Enrolment.id).where(Enrolment.course_id == course_id,
                                                           Enrolment.user_id == user_id)) is not None


@dataclass(frozen=True)
class CourseView:
    id: int
    title: str
    exercise_ids: tuple[str, ...]
    learner_ids: tuple[int, ...]
    roster_synced: bool


def course_view(course_id: int) -> CourseView:
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound("no such course", code="course_not_found")
    exercises = db.session.scalars(sa.select(ResourceLink.exercise_id).where(ResourceLink.course_id == course_id)
                                   .order_by(ResourceLink.id)).all()
    learners = db.session.scalars(sa.select(Enrolment.user_id).where(Enrolment.course_id == course_id,
                                                                     Enrolment.role == "learner")).all()
    return CourseView(course.id, course.title, tuple(dict.fromkeys(exercises)), tuple(learners),
                      course.roster_synced_at is not None)


def best_score(user_id: int, exercise_id: str) -> float | None:
    return db.session.scalar(sa.select(Progress.best_score).where(Progress.user_id == user_id,
                                                                  Progress.exercise_id == exercise_id))
