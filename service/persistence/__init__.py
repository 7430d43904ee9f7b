"""Persistence: typed SQLAlchemy 2 models and the database extension."""

from service.extensions import Base, db
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

__all__ = ["ApiToken", "Base", "Draft", "ExerciseVersion", "Prediction", "Progress", "SubmissionRow", "User", "WebSession",
           "WebhookDelivery", "db"]
