"""Persistence: typed SQLAlchemy 2 models and the database extension."""

from service.extensions import Base, db
from service.persistence.models import (
    ApiToken,
    ExerciseVersion,
    Progress,
    SubmissionRow,
    User,
    WebhookDelivery,
    WebSession,
)

__all__ = ["ApiToken", "Base", "ExerciseVersion", "Progress", "SubmissionRow", "User", "WebSession",
           "WebhookDelivery", "db"]
