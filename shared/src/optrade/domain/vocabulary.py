"""The trading words every layer shares: sides, option types, position states, snapshot sources,
where an IV comes from."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Which way a position faces: a BUY is long, a SELL is short."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: P&L and Greek exposure of one unit in this direction."""
        return 1 if self is Side.BUY else -1

    @property
    def closing(self) -> Side:
        """The side that closes a position opened on this side (a long closes by selling)."""
        return Side.SELL if self is Side.BUY else Side.BUY


class OptionType(StrEnum):
    CE = "CE"
    PE = "PE"


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TradeMode(StrEnum):
    """`live`: filled at the market instant the order arrived; `replay`: at a past `as_of`."""

    LIVE = "live"
    REPLAY = "replay"


class SnapshotSource(StrEnum):
    """Who served a stored snapshot, or `missing` when nobody could."""

    PRIMARY = "primary"
    FALLBACK = "fallback"
    CLIENT = "client"
    BACKFILL = "backfill"
    MISSING = "missing"
    SETTLEMENT = "settlement"  # exit at expiry: intrinsic value against the index close


# `exit_error` of a settlement trade: IV is undefined at expiry, so the record is complete
# without it (`complete_record` accepts it).
EXPIRED = "expired"


class IvSource(StrEnum):
    """Which price a leg's IV was solved from (one IV per strike, from the OTM side)."""

    OWN = "own"  # the leg's own price
    OTM = "otm"  # an in-the-money leg given its strike's out-of-the-money IV
    PARITY = "parity"  # an out-of-the-money leg given its ITM partner's IV through parity


class OrderType(StrEnum):
    """Kite's order types: at the market, at a limit, and the two stops (SL, SL-M)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-limit: on trigger it becomes a LIMIT at `price`
    SL_M = "SL-M"  # stop-market: on trigger it fills at the far side of the triggering quote


class OrderStatus(StrEnum):
    """Where an order stands (Kite's words): resting orders are `open` (a limit) or
    `trigger_pending` (a stop); the last four are final (`order_service.domain.orders`)."""

    OPEN = "open"
    TRIGGER_PENDING = "trigger_pending"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self not in (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING)


class OrderIntent(StrEnum):
    """What an order does to a position: opens one, or closes lots of one."""

    OPEN = "open"
    CLOSE = "close"


class Product(StrEnum):
    """MIS is intraday (squared off at ORDER_SQUARE_OFF_TIME); NRML is held to expiry."""

    MIS = "MIS"
    NRML = "NRML"


class Validity(StrEnum):
    """DAY: unfilled at 15:30 IST it expires; IOC: unfilled on arrival it expires."""

    DAY = "DAY"
    IOC = "IOC"


class ExitReason(StrEnum):
    """Why a position closed: a client's close, an exit the platform executed, or expiry."""

    CLIENT = "client"
    STOP_LOSS = "stop_loss"
    TARGET = "target"
    TRAILING_STOP = "trailing_stop"
    TIME_EXIT = "time_exit"
    SQUARE_OFF = "square_off"
    SETTLEMENT = "settlement"
