"""Typed dependencies that load a company *for the calling actor*.

A company the actor may not see answers 404 before any role or permission is
checked (403), so an id from another tenant reveals nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from mindlinks.companies import repository
from mindlinks.companies.invites import staff_access
from mindlinks.companies.repository import CompanyAccess
from mindlinks.identity.auth import CurrentActor
from mindlinks.platform.context import SessionDep

CompanyId = Annotated[str, Path(description="The company's id")]


def readable_company(
    company_id: CompanyId, actor: CurrentActor, session: SessionDep
) -> CompanyAccess:
    """Owners, members, linked contractors (and admins) read; anyone else 404."""
    return repository.load_readable(session, actor, company_id)


def staff_company(company_id: CompanyId, actor: CurrentActor, session: SessionDep) -> CompanyAccess:
    """The company for its owners and members: 404 if not visible, then 403."""
    return staff_access(session, actor, company_id)


ReadableCompany = Annotated[CompanyAccess, Depends(readable_company)]
StaffCompany = Annotated[CompanyAccess, Depends(staff_company)]
