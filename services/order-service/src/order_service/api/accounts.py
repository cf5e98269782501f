"""Paper accounts (issue 22): the funds page, its capital, its daily equity, and the margin of a
basket before it is sent. docs/accounts.md has every identity, choice and parameter."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from optrade.domain import utcnow
from optrade.security import ApiKeyDep
from order_service.account_schemas import (
    ACCOUNT_PATTERN,
    AccountPublic,
    CapitalRequest,
    EquityHistory,
    EquityPublic,
    GreeksPublic,
    MarginAnswerPublic,
    MarginPublic,
    MarginRequest,
    PricedLegPublic,
)
from order_service.api.deps import MarketClockDep, MarketDataDep, RepositoryDep
from order_service.application.accounts import (
    AccountPage,
    account_page,
    equity_history,
    set_capital,
)
from order_service.application.margins import BasketLeg, check_margin
from order_service.domain.margin import Margin

router = APIRouter(prefix="/v1", tags=["accounts"])

AccountName = Annotated[str, Path(pattern=ACCOUNT_PATTERN, description="the account's name")]


def margin_public(margin: Margin) -> MarginPublic:
    return MarginPublic(
        span=margin.span, exposure=margin.exposure, margin=margin.margin, premium=margin.premium,
        worst_scenario=margin.worst_scenario, price_scan_range=margin.price_scan_range,
    )  # fmt: skip


def account_public(page: AccountPage) -> AccountPublic:
    return AccountPublic(
        account=page.account, capital=page.capital, cash=page.cash,
        used_margin=page.used_margin, available=page.available, realized=page.realized,
        unrealized=page.unrealized, charges=page.charges, equity=page.equity,
        premium_paid_open=page.premium_paid_open,
        premium_received_open=page.premium_received_open,
        open_positions=page.open_positions, unmarked=page.unmarked, marked_at=page.marked_at,
        margins={u: margin_public(m) for u, m in page.margins.items()},
        greeks={
            u: GreeksPublic(delta=g.delta, gamma=g.gamma, theta=g.theta, vega=g.vega)
            for u, g in page.greeks.items()
        },
    )  # fmt: skip


@router.get(
    "/accounts/{account}",
    response_model=AccountPublic,
    summary="An account's funds page: capital, cash, used margin, available, P&L, equity, Greeks",
    operation_id="getAccount",
)
async def get_account(account: AccountName, repository: RepositoryDep) -> AccountPublic:
    """The page as of the latest marks; an account without orders has its capital only."""
    return account_public(await account_page(repository, account))


@router.put(
    "/accounts/{account}",
    response_model=AccountPublic,
    dependencies=[ApiKeyDep],
    responses={401: {"description": "missing or wrong API key"}},
    summary="Set an account's starting capital (creates the account)",
    operation_id="setAccountCapital",
)
async def put_account(
    account: AccountName, body: CapitalRequest, repository: RepositoryDep
) -> AccountPublic:
    await set_capital(repository, account, body.capital, utcnow())
    return account_public(await account_page(repository, account))


@router.get(
    "/accounts/{account}/equity",
    response_model=EquityHistory,
    summary="The account's daily snapshots taken at 15:30 IST",
    operation_id="getAccountEquity",
)
async def get_equity(
    account: AccountName,
    repository: RepositoryDep,
    start: Annotated[date | None, Query(alias="from", description="first day, inclusive")] = None,
    end: Annotated[date | None, Query(alias="to", description="last day, inclusive")] = None,
) -> EquityHistory:
    found = await equity_history(repository, account, start, end)
    return EquityHistory(account=account, items=[EquityPublic.model_validate(row) for row in found])


@router.post(
    "/margins",
    response_model=MarginAnswerPublic,
    dependencies=[ApiKeyDep],  # a POST, and it reads the account's positions: as Kite's, keyed
    responses={
        401: {"description": "missing or wrong API key"},
        422: {"description": "a leg's symbol is not a listed contract, or legs of two underlyings"},
        503: {"description": "no market-data provider answered"},
    },
    summary="The margin of a basket with the account's positions and alone (SPAN + exposure)",
    operation_id="checkMargin",
)
async def post_margins(
    body: MarginRequest,
    repository: RepositoryDep,
    market_data: MarketDataDep,
    clock: MarketClockDep,
) -> MarginAnswerPublic:
    answer = await check_margin(
        repository,
        market_data,
        account=body.account,
        legs=[BasketLeg(leg.symbol, leg.side, leg.lots) for leg in body.legs],
        instant=clock.instant(body.as_of),
    )
    combined = answer.combined
    return MarginAnswerPublic(
        account=answer.account, underlying=answer.underlying, as_of=answer.as_of,
        span=combined.span, exposure=combined.exposure, margin=combined.margin,
        premium=combined.premium, worst_scenario=combined.worst_scenario,
        incremental=answer.incremental, combined=margin_public(combined),
        basket=margin_public(answer.basket), positions=margin_public(answer.positions),
        legs=[PricedLegPublic(**vars(leg)) for leg in answer.legs],
    )  # fmt: skip
