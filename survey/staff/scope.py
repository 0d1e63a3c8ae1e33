"""Where a limited manager may look, for rows that reach them by a region or only by a hall.

The rule is :func:`survey.staff.accounts.in_scope`: a manager limited to regions or service
halls sees what happened in their regions (every hall in them) and in their halls. A row is
placed by its customer's region and hall. An intercept interview has no customer, only the
hall where it was taken: it is placed by that hall, and counts as a region's when every
customer record of that hall is in the region (a hall name found in two regions belongs to
neither, rather than to both).

- :func:`follow_up_clause`: the rule as a WHERE clause over follow-ups, for every page, API
  answer and report that lists or counts them; :func:`response_clause` over responses, for
  the pages that count answers or show what customers wrote;
- :func:`scope_of` and :class:`Scope`: the rule as values, for what is not a row: the
  filters of an analysis job (``api.analysis.scope`` cuts the stored results with it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, false, func, or_, true
from sqlmodel import Session, col, select

from survey.db.tables import Customer, FollowUp, Response, Staff
from survey.staff.accounts import in_scope, scope_clause, sees_everywhere


def halls_within(regions: Sequence[str]):
    """A subquery of the service halls whose every customer is in ``regions``."""
    outside = func.sum(case((col(Customer.region).in_(regions), 0), else_=1))
    return (
        select(Customer.service_hall)
        .where(col(Customer.service_hall).in_(
            select(Customer.service_hall).where(col(Customer.region).in_(regions))))
        .group_by(Customer.service_hall)
        .having(outside == 0)
    )  # fmt: skip


def _customers_and_interview_halls(staff: Staff):
    """The customers ``staff`` may see (a subquery) and the clause over an interview's hall
    (a response without a customer) that places it in their scope."""
    customers = select(Customer.id).where(
        scope_clause(staff, Customer.region, Customer.service_hall)
    )
    halls = [col(Response.service_hall).in_(staff.service_halls)] if staff.service_halls else []
    if staff.regions:
        halls.append(col(Response.service_hall).in_(halls_within(staff.regions)))
    # No hall to place an interview by (a team leader's scope has none): no interview.
    return customers, (or_(*halls) if halls else false())


def follow_up_clause(staff: Staff) -> ColumnElement[bool]:
    """The follow-ups ``staff`` may see, as a WHERE clause over :class:`FollowUp` alone."""
    if sees_everywhere(staff):
        return true()
    customers, halls = _customers_and_interview_halls(staff)
    interviews = select(Response.id).where(col(Response.customer_id).is_(None), halls)
    return or_(
        col(FollowUp.customer_id).in_(customers),
        and_(col(FollowUp.customer_id).is_(None), col(FollowUp.response_id).in_(interviews)),
    )


def response_clause(staff: Staff) -> ColumnElement[bool]:
    """The responses ``staff`` may see, as a WHERE clause over :class:`Response` alone."""
    if sees_everywhere(staff):
        return true()
    customers, halls = _customers_and_interview_halls(staff)
    return or_(
        col(Response.customer_id).in_(customers),
        and_(col(Response.customer_id).is_(None), halls),
    )


@dataclass(frozen=True)
class Scope:
    """What one reader may see, with the halls of their regions looked up once."""

    staff: Staff
    #: The halls wholly inside the reader's regions (see :func:`halls_within`).
    region_halls: frozenset[str] = frozenset()

    @property
    def everywhere(self) -> bool:
        return sees_everywhere(self.staff)

    def sees(self, region: str | None, hall: str | None) -> bool:
        """Whether a row of ``region`` and ``hall`` is the reader's; None: not known."""
        if in_scope(self.staff, region, hall):
            return True
        return region is None and hall in self.region_halls

    def _halls_seen(self, halls: Collection[str]) -> bool:
        return all(self.sees(None, hall) for hall in halls)

    def names_only_own(self, filters: Mapping[str, Sequence]) -> bool:
        """Whether every region and hall that ``filters`` name is the reader's.

        Filters that name no unit (all customers, or a tier) name nobody else's either.
        """
        regions, halls = filters.get("region") or [], filters.get("service_hall") or []
        return self.everywhere or (
            all(region in self.staff.regions for region in regions) and self._halls_seen(halls)
        )

    def keeps_only_own(self, filters: Mapping[str, Sequence]) -> bool:
        """Whether ``filters`` keep only customers the reader may see (filters of one kind
        combine with "or", kinds with "and": one kind kept inside the scope is enough)."""
        if self.everywhere:
            return True
        regions, halls = filters.get("region") or [], filters.get("service_hall") or []
        if regions and all(region in self.staff.regions for region in regions):
            return True
        return bool(halls) and self._halls_seen(halls)


def scope_of(session: Session, staff: Staff) -> Scope:
    """``staff``'s scope; one query when they are limited to regions, none otherwise."""
    if sees_everywhere(staff) or not staff.regions:
        return Scope(staff)
    halls = session.exec(halls_within(staff.regions)).all()
    return Scope(staff, frozenset(halls))
