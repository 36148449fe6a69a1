from dataclasses import dataclass

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class CompanyRelation:
    id: str
    legal_name: str
    relation: str


def check_invite_for_registration(session: Session, token: str, email_normalized: str) -> None:
    raise NotImplementedError


def companies_for_user(session: Session, user_id: str) -> list[CompanyRelation]:
    return []
