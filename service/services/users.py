"""Users: creation, lookup and password checks (werkzeug.security hashes)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from service.domain import LANGS
from service.errors import Conflict, Invalid, NotFound
from service.persistence import User, db
from service.persistence.models import ROLES, STAFF_ROLES


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    role: str
    display_name: str
    locale: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


@dataclass(frozen=True)
class CreatedUser:
    user: UserView
    password: str | None  # only set when the password was generated here: print it once


def view(user: User) -> UserView:
    return UserView(user.id, user.name, user.role, user.display_name or user.name, user.locale)


def create_user(name: str, role: str = "learner", password: str | None = None, *, display_name: str = "",
                locale: str = "en", generate_password: bool = True) -> CreatedUser:
    """Create a user; with no password and ``generate_password``, one is generated and returned once."""
    name = name.strip()
    if not name or len(name) > 64:
        raise Invalid("user name must be 1-64 characters")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if db.session.scalar(sa.select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists", code="user_exists")
    generated = None
    if password is None and generate_password:
        password = generated = secrets.token_urlsafe(12)
    user = User(name=name, role=role, display_name=display_name or name, locale=locale,
                password_hash=generate_password_hash(password) if password else None)
    db.session.add(user)
    db.session.commit()
    return CreatedUser(view(user), generated)


def get_user(name: str) -> UserView:
    user = db.session.scalar(sa.select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}", code="user_not_found")
    return view(user)


def get_user_by_id(user_id: int) -> UserView | None:
    user = db.session.get(User, user_id)
    return view(user) if user is not None else None


def get_active_user_by_id(user_id: int) -> UserView | None:
    """The signed-in user of a session, unless deactivated since (then the session counts as signed out)."""
    user = db.session.get(User, user_id)
    return view(user) if user is not None and user.active else None


def authenticate(name: str, password: str) -> UserView | None:
    """The user when the password matches, else None (same answer for unknown users and wrong passwords)."""
    user = db.session.scalar(sa.select(User).where(User.name == name, User.active.is_(True)))
    if user is None or not user.password_hash or not check_password_hash(user.password_hash, password):
        return None
    return view(user)


def set_password(name: str, password: str) -> None:
    user = db.session.scalar(sa.select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}", code="user_not_found")
    user.password_hash = generate_password_hash(password)
    db.session.commit()


def set_locale(user_id: int, locale: str) -> None:
    user = db.session.get(User, user_id)
    if user is not None and locale in LANGS:
        user.locale = locale
        db.session.commit()
