"""Persistence: typed SQLAlchemy 2 models and the database extension."""

from service.extensions import Base, db
from service.persistence import sqlite_writes  # noqa: F401 - registers the embedded SQLite's write turns
from service.persistence.lti_models import (
    Course,
    Enrolment,
    LtiDeployment,
    LtiLaunch,
    LtiLoginState,
    LtiPlatform,
    LtiScoreDelivery,
    LtiToolKey,
    LtiUser,
    ResourceLink,
)
from service.persistence.models import (
    ApiToken,
    Draft,
    ExerciseVersion,
    Prediction,
    Progress,
    SubmissionRow,
    User,
    WebhookDelivery,
    WebSession,
)

__all__ = ["ApiToken", "Base", "Course", "Draft", "Enrolment", "ExerciseVersion", "LtiDeployment", "LtiLaunch",
           "LtiLoginState", "LtiPlatform", "LtiScoreDelivery", "LtiToolKey", "LtiUser", "Prediction", "Progress",
           "ResourceLink", "SubmissionRow", "User", "WebSession", "WebhookDelivery", "db"]
