"""OpenAlgo's words in ours, alone: symbols, expiries, offsets and labels, units to lots, products,
the net position of a symbol, and the bodies as the SDK sends them (numbers as strings)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from optrade.domain import Product
from optrade.errors import InvalidInput
from optrade.schemas.market import ChainLeg, ChainStrike, OptionChain
from optrade.symbols import OptionSymbol
from order_service.application.openalgo import (
    ModelFields,
    OptionsOrderBody,
    PlaceOrderBody,
    contract_of,
    expiry_date,
    expiry_text,
    ist_stamp,
    label_of,
    lots_of,
    net_positions,
    offset_strike,
    product_of,
    underlying_of,
)
from order_service.records import PositionRecord

EXPIRY = date(2025, 12, 9)
STRIKES = [25900.0, 25950.0, 26000.0, 26050.0, 26100.0]


def chain(spot: float, strikes: list[float] = STRIKES) -> OptionChain:
    rows = [ChainStrike(strike=s, ce=ChainLeg(ltp=1.0), pe=ChainLeg(ltp=1.0)) for s in strikes]
    return OptionChain(underlying="NIFTY", expiry=EXPIRY, lot_size=75, spot=spot,
                       as_of=datetime(2025, 12, 2, 4, 4, tzinfo=UTC), provider="test",
                       strikes=rows)  # fmt: skip


def test_an_nfo_option_symbol_is_our_contract() -> None:
    assert contract_of("NIFTY09DEC2526100CE", "NFO") == OptionSymbol(
        "NIFTY", EXPIRY, Decimal("26100"), "CE"
    )


@pytest.mark.parametrize(
    ("symbol", "exchange", "field"),
    [("RELIANCE", "NFO", "symbol"), ("NIFTY09DEC2526100CE", "NSE", "exchange"),
     ("SBIN09DEC25800CE", "NFO", "symbol")],
)  # fmt: skip
def test_a_symbol_not_listed_here_is_refused_naming_it(
    symbol: str, exchange: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        contract_of(symbol, exchange)
    assert refused.value.field == field
    if field == "symbol":
        assert refused.value.reason == f"Symbol '{symbol}' not found for exchange 'NFO'"


def test_expiries_read_and_write_as_openalgo_spells_them() -> None:
    assert expiry_date("09DEC25") == expiry_date("09-DEC-25") == EXPIRY
    assert expiry_text(EXPIRY) == "09DEC25"
    with pytest.raises(InvalidInput, match="expiry_date"):
        expiry_date("2025-12-09")


def test_the_underlying_is_an_index_or_a_future_whose_expiry_wins() -> None:
    assert underlying_of("NIFTY", "NSE_INDEX", "09DEC25") == ("NIFTY", EXPIRY)
    assert underlying_of("NIFTY30DEC25FUT", "NFO", "09DEC25") == ("NIFTY", date(2025, 12, 30))
    with pytest.raises(InvalidInput, match="expiry_date"):
        underlying_of("NIFTY", "NSE_INDEX", None)
    with pytest.raises(InvalidInput, match="underlying"):
        underlying_of("RELIANCE", "NSE_INDEX", "09DEC25")


def test_units_are_lots_only_in_whole_lots() -> None:
    contract = contract_of("NIFTY09DEC2526100CE", "NFO")
    assert lots_of(150, contract, 75) == 2
    with pytest.raises(InvalidInput) as refused:
        lots_of(100, contract, 75)
    assert refused.value.reason == (
        "Quantity 100 is not a multiple of the lot size 75 of NIFTY09DEC2526100CE"
    )


def test_options_take_mis_or_nrml_never_cnc() -> None:
    assert product_of("MIS") is Product.MIS and product_of("NRML") is Product.NRML
    with pytest.raises(InvalidInput, match="CNC is for equity delivery"):
        product_of("CNC")


@pytest.mark.parametrize(
    ("option_type", "offset", "strike"),
    [("CE", "ATM", 26000.0), ("CE", "ITM1", 25950.0), ("CE", "OTM2", 26100.0),
     ("PE", "ITM1", 26050.0), ("PE", "OTM2", 25900.0), ("PE", "ATM", 26000.0)],
)  # fmt: skip
def test_an_offset_counts_strikes_from_the_one_nearest_the_spot(
    option_type: str, offset: str, strike: float
) -> None:
    # spot 26012.3: 26000 is nearest; a call below it is in the money, a put above it
    assert offset_strike(chain(26012.3), option_type, offset) == (strike, 26000.0)


def test_an_offset_beyond_the_listed_strikes_or_malformed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="beyond the listed strikes"):
        offset_strike(chain(26012.3), "CE", "OTM3")
    with pytest.raises(InvalidInput, match="is not ATM"):
        offset_strike(chain(26012.3), "CE", "OTM")


def test_labels_name_moneyness_per_side() -> None:
    assert [label_of(s, 26000.0, "CE", STRIKES) for s in STRIKES] == [
        "ITM2", "ITM1", "ATM", "OTM1", "OTM2"
    ]  # fmt: skip
    assert [label_of(s, 26000.0, "PE", STRIKES) for s in STRIKES] == [
        "OTM2", "OTM1", "ATM", "ITM1", "ITM2"
    ]  # fmt: skip


def position(side: str, lots: int, entry: str, product: str = "NRML", **more: Any) -> Any:
    values = {"id": 1, "underlying": "NIFTY", "expiry": EXPIRY, "strike": Decimal("26100"),
              "option_type": "CE", "side": side, "lot_size": 75, "quantity_open": lots,
              "lots": lots, "entry_price": Decimal(entry), "product": product} | more  # fmt: skip
    return PositionRecord.model_construct(**values)


def test_the_net_position_of_a_symbol_is_its_longs_less_its_shorts_per_product() -> None:
    book = net_positions([
        position("BUY", 2, "100.00"), position("BUY", 1, "130.00"), position("SELL", 1, "120"),
        position("SELL", 1, "90.00", product="MIS"),
    ])  # fmt: skip
    nrml, mis = book
    # 3 lots long (225 units) less 1 short (75): +150; the longs' average 300/3 = 110.00
    assert (nrml.symbol, nrml.product, nrml.quantity) == ("NIFTY09DEC2526100CE", "NRML", 150)
    assert nrml.average_price == Decimal("110.00")
    assert (mis.product, mis.quantity, mis.average_price) == ("MIS", -75, Decimal("90.00"))
    flat = net_positions([position("BUY", 1, "100"), position("SELL", 1, "120")])
    assert (flat[0].quantity, flat[0].average_price) == (0, Decimal("0.00"))


def test_bodies_take_numbers_as_strings_and_metadata_as_json_text() -> None:
    body = PlaceOrderBody.model_validate({
        "strategy": "s1", "symbol": "nifty09dec2526100ce", "action": "buy", "exchange": "NFO",
        "pricetype": "LIMIT", "product": "NRML", "quantity": "75", "price": "12.5",
        "disclosed_quantity": "0", "ml_score": "0.7", "features_snapshot": '{"rsi": 61.5}',
    })  # fmt: skip
    assert (body.symbol, body.action, body.quantity, body.price) == (
        "NIFTY09DEC2526100CE", "BUY", 75, Decimal("12.5")
    )  # fmt: skip
    assert body.metadata() == {"ml_score": 0.7, "model_version": None, "model_hash": None,
                               "features_snapshot": {"rsi": 61.5}}  # fmt: skip
    with pytest.raises(InvalidInput, match="features_snapshot"):
        ModelFields(features_snapshot="[1, 2]").metadata()
    options = OptionsOrderBody.model_validate({
        "underlying": "NIFTY", "exchange": "NSE_INDEX", "offset": "atm", "option_type": "ce",
        "action": "SELL", "quantity": "75", "strike_int": "50",
    })  # fmt: skip
    assert (options.offset, options.option_type, options.product) == ("ATM", "CE", "MIS")


def test_timestamps_are_ist_as_openalgo_writes_them() -> None:
    assert ist_stamp(datetime(2025, 12, 2, 4, 4, 45, tzinfo=UTC)) == "02-Dec-2025 09:34:45"
