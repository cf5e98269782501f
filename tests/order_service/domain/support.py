"""Builders shared by the domain tests: observations at given minutes of 02-Dec-2025 (IST)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from optrade.domain import IST, Side
from optrade.domain.vocabulary import OrderType, Validity
from order_service.domain.matching import Observation
from order_service.domain.orders import OrderTerms, PendingOrder, initial_status


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2025, 12, 2, hh, mm, ss, tzinfo=IST)


def d(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def obs(
    ltp: str | None, bid: str | None, ask: str | None, when: datetime | None = None
) -> Observation:
    return Observation(when or at(10, 0), d(ltp), d(bid), d(ask))


def order(
    side: str,
    order_type: str,
    *,
    price: str | None = None,
    trigger: str | None = None,
    validity: str = "DAY",
) -> PendingOrder:
    terms = OrderTerms(
        Side(side), OrderType(order_type), d(price), d(trigger), validity=Validity(validity)
    )
    return PendingOrder(terms, initial_status(terms))
