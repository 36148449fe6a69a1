from typing import Any

from sqlalchemy.orm import Session


def send_email(session: Session, *, to: str, template: str, context: dict[str, Any], key: str) -> None:
    raise NotImplementedError
