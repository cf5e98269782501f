"""`optrade`: the platform from a shell, over the Python client.

Exit codes: 0 ok; 1 a quality check failed; 2 usage (bad options, or the server refused the
input: 4xx); 3 the server is unreachable or unavailable (after the client's retries).
Connection: `--order-url`, `--market-data-url`, `--quality-url` and `--api-key`; what is not
given comes from the environment and `./.env` through the client's one loader
(`optrade_client.config`): `OPTRADE_ORDER_URL`, ..., else the ports `make run` uses
(`ORDER_PORT`, `MARKET_DATA_PORT`, `QUALITY_PORT`), and `OPTRADE_API_KEY` or `API_KEY`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from optrade_client.backtest import STATE_DIR, report_of, run_backtest, write_certified_export
from optrade_client.calls import Call, parse_legs
from optrade_client.client import Optrade
from optrade_client.config import ENV_FILE, load_connection
from optrade_client.errors import ApiError, ServerUnreachable, Unavailable
from optrade_client.export import ExportProgress

EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3

app = typer.Typer(
    help="Optrade: paper trades, data quality and the ML export.", no_args_is_help=True
)
order_app = typer.Typer(
    help="Place, list, modify, cancel and close orders and positions.", no_args_is_help=True
)
position_app = typer.Typer(help="A position's exits.", no_args_is_help=True)
engine_app = typer.Typer(help="Walk the replayed market.", no_args_is_help=True)
quality_app = typer.Typer(help="Data-quality checks.", no_args_is_help=True)
strategy_app = typer.Typer(
    help="Strategies: several legs opened, exited and scored as one.", no_args_is_help=True
)
app.add_typer(order_app, name="order")
app.add_typer(position_app, name="position")
app.add_typer(engine_app, name="engine")
app.add_typer(strategy_app, name="strategy")
app.add_typer(quality_app, name="quality")

_state: dict[str, Any] = {}


def api_key_from_env(env_file: Path = ENV_FILE) -> str | None:
    """The API key from OPTRADE_API_KEY, API_KEY, or the API_KEY= line of .env (whole value)."""
    return load_connection(env_file=env_file).api_key


@app.callback()
def connect(
    order_url: Annotated[
        str | None, typer.Option(help="default: OPTRADE_ORDER_URL, ORDER_PORT")
    ] = None,
    market_data_url: Annotated[
        str | None, typer.Option(help="default: OPTRADE_MARKET_DATA_URL, MARKET_DATA_PORT")
    ] = None,
    quality_url: Annotated[
        str | None, typer.Option(help="default: OPTRADE_QUALITY_URL, QUALITY_PORT")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="default: env or ./.env")] = None,
) -> None:
    """Where the services are and the key for mutating calls."""
    given = {"order": order_url, "market-data": market_data_url, "quality": quality_url}
    urls = {service: url for service, url in given.items() if url}
    _state["client"] = lambda: Optrade(urls, api_key)


@contextmanager
def _client() -> Iterator[Optrade]:
    """The client; API errors become a message on stderr and the documented exit code."""
    client: Optrade = _state["client"]()
    try:
        yield client
    except ServerUnreachable as exc:
        typer.echo(f"server unreachable: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except (Unavailable, ApiError) as exc:
        typer.echo(f"error: {exc}", err=True)
        for error in exc.errors:
            typer.echo(f"  {error.field}: {error.reason}", err=True)
        code = EXIT_UNREACHABLE if exc.status >= 500 or exc.status == 429 else EXIT_USAGE
        raise typer.Exit(code) from None
    finally:
        client.disconnect()


def _print(record: Any) -> None:
    typer.echo(json.dumps(getattr(record, "raw", record), indent=2, default=str))


# --- orders -------------------------------------------------------------------------------------


@order_app.command("open")
def order_open(
    side: Annotated[str, typer.Option(help="BUY or SELL")],
    ml_score: Annotated[float, typer.Option()],
    model_version: Annotated[str, typer.Option()],
    model_hash: Annotated[str, typer.Option()],
    features: Annotated[str, typer.Option(help="JSON object of the model's features")],
    symbol: Annotated[str | None, typer.Option(help="e.g. from `optrade symbols`")] = None,
    underlying: Annotated[str | None, typer.Option()] = None,
    expiry: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    strike: Annotated[float | None, typer.Option()] = None,
    option_type: Annotated[str | None, typer.Option(help="CE or PE")] = None,
    lots: Annotated[int | None, typer.Option()] = None,
    units: Annotated[int | None, typer.Option(help="lots × lot size")] = None,
    client_order_id: Annotated[str | None, typer.Option()] = None,
    order_type: Annotated[str, typer.Option(help="MARKET | LIMIT | SL | SL-M")] = "MARKET",
    price: Annotated[str | None, typer.Option(help="limit price (LIMIT, SL), rupees")] = None,
    trigger_price: Annotated[str | None, typer.Option(help="trigger (SL, SL-M), rupees")] = None,
    product: Annotated[str, typer.Option(help="MIS (squared off 15:15 IST) | NRML")] = "NRML",
    validity: Annotated[str, typer.Option(help="DAY | IOC")] = "DAY",
    stop_loss: Annotated[str | None, typer.Option(help="exit: premium, rupees")] = None,
    target: Annotated[str | None, typer.Option(help="exit: premium, rupees")] = None,
    trailing_stop: Annotated[str | None, typer.Option(help="exit: points")] = None,
    exit_at: Annotated[str | None, typer.Option(help="exit: an instant (ISO-8601, IST)")] = None,
    as_of: Annotated[str | None, typer.Option(help="replay: a past market instant")] = None,
) -> None:
    """Place an order: a MARKET order fills at once, a LIMIT or stop rests until the market
    reaches it (prints the order with its position once filled)."""
    try:
        parsed = json.loads(features)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--features") from None
    with _client() as client:
        _print(
            client.open(
                side=side.upper(), ml_score=ml_score, model_version=model_version,
                model_hash=model_hash, features=parsed, symbol=symbol, underlying=underlying,
                expiry=expiry, strike=strike, option_type=option_type, lots=lots, units=units,
                client_order_id=client_order_id, order_type=order_type.upper(), price=price,
                trigger_price=trigger_price, product=product.upper(), validity=validity.upper(),
                stop_loss=stop_loss, target=target, trailing_stop=trailing_stop, exit_at=exit_at,
                as_of=as_of,
            )
        )  # fmt: skip


@order_app.command("show")
def order_show(
    order_id: Annotated[int | None, typer.Argument()] = None,
    client_order_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """One order (with its position), by id or by your client_order_id."""
    with _client() as client:
        _print(client.order(order_id, client_order_id=client_order_id))


@order_app.command("list")
def order_list(
    status: Annotated[str | None, typer.Option(help="open, complete, cancelled, ...")] = None,
) -> None:
    """Orders, newest first: id, symbol, side, type, status, lots, average price, position."""
    with _client() as client:
        found = False
        for o in client.orders(status=status):
            found = True
            typer.echo(
                f"{o.id}\t{o.symbol}\t{o.side}\t{o.order_type}\t{o.status}\t{o.lots} lots\t"
                f"{o.average_price if o.average_price is not None else '-'}\t"
                f"position {o.position_id if o.position_id is not None else '-'}"
            )
        if not found:
            typer.echo("no orders" + (f" with status {status}" if status else ""))


@order_app.command("cancel")
def order_cancel(order_id: int) -> None:
    """Cancel an order that waits for the market (open, trigger_pending)."""
    with _client() as client:
        _print(client.cancel(order_id))


@order_app.command("modify")
def order_modify(
    order_id: int,
    price: Annotated[str | None, typer.Option(help="new limit price, rupees")] = None,
    trigger_price: Annotated[str | None, typer.Option(help="new trigger, rupees")] = None,
    lots: Annotated[int | None, typer.Option(help="new size, lots")] = None,
) -> None:
    """Change a waiting order's price, trigger_price or lots."""
    with _client() as client:
        _print(client.modify(order_id, price=price, trigger_price=trigger_price, lots=lots))


@position_app.command("exits")
def position_exits(
    position_id: int,
    stop_loss: Annotated[str | None, typer.Option(help="premium, rupees")] = None,
    target: Annotated[str | None, typer.Option(help="premium, rupees")] = None,
    trailing_stop: Annotated[str | None, typer.Option(help="points")] = None,
    exit_at: Annotated[str | None, typer.Option(help="an instant (ISO-8601, IST)")] = None,
    as_of: Annotated[str | None, typer.Option(help="replay: the instant they are set at")] = None,
) -> None:
    """Set (replace) the exits the platform executes for a position; none given removes them."""
    with _client() as client:
        _print(
            client.set_exits(
                position_id, stop_loss=stop_loss, target=target, trailing_stop=trailing_stop,
                exit_at=exit_at, as_of=as_of,
            )
        )  # fmt: skip


@engine_app.command("advance")
def engine_advance(
    until: Annotated[str, typer.Option(help="walk the replay up to this instant (IST)")],
) -> None:
    """Walk every recorded observation with pending replay work up to `until`."""
    with _client() as client:
        _print(client.advance(until))


@order_app.command("close")
def order_close(
    position_id: int,
    lots: Annotated[int | None, typer.Option(help="default: all that is open")] = None,
    units: Annotated[int | None, typer.Option()] = None,
    exit_price: Annotated[str | None, typer.Option(help="rupees, on the 0.05 tick")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Close all or part of a position (prints the trade and the position)."""
    with _client() as client:
        _print(
            client.close(position_id, lots=lots, units=units, exit_price=exit_price, reason=reason)
        )


# --- strategies ---------------------------------------------------------------------------------


@strategy_app.command("open")
def strategy_open(
    name: Annotated[str, typer.Argument(help="the structure, e.g. iron_condor")],
    underlying: Annotated[str, typer.Option(help="NIFTY, BANKNIFTY, FINNIFTY")],
    legs: Annotated[
        str, typer.Option(help='"SIDE OFFSET|STRIKE TYPE LOTS,...", e.g. "SELL OTM2 CE 1"')
    ],
    ml_score: Annotated[float, typer.Option()] = 0.5,
    model_version: Annotated[str, typer.Option()] = "manual",
    model_hash: Annotated[str, typer.Option()] = "0000000",
    features: Annotated[str, typer.Option(help="JSON object of the model's features")] = (
        '{"source": "cli"}'
    ),
    expiry: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default the nearest")] = None,
    product: Annotated[str, typer.Option(help="NRML or MIS")] = "NRML",
    stop_loss_pnl: Annotated[str | None, typer.Option(help="rupees, e.g. -3000")] = None,
    target_pnl: Annotated[str | None, typer.Option(help="rupees, e.g. 2000")] = None,
) -> None:
    """Open every leg from one chain observation, or none (prints the strategy)."""
    try:
        parsed = json.loads(features)
        leg_list = parse_legs(legs)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--features") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--legs") from None
    with _client() as client:
        _print(
            client.strategy(
                name, underlying=underlying, legs=leg_list, ml_score=ml_score,
                model_version=model_version, model_hash=model_hash, features=parsed,
                expiry=expiry, product=product.upper(), stop_loss_pnl=stop_loss_pnl,
                target_pnl=target_pnl,
            )
        )  # fmt: skip


@strategy_app.command("show")
def strategy_show(strategy_id: int) -> None:
    """A strategy with its legs, P&L marked at the mids of the chain now, and net Greeks."""
    with _client() as client:
        _print(client.get_strategy(strategy_id))


@strategy_app.command("close")
def strategy_close(strategy_id: int, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Close every open leg from one chain observation."""
    with _client() as client:
        _print(client.close_strategy(strategy_id, reason=reason))


@app.command()
def positions(
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
    model_version: Annotated[str | None, typer.Option()] = None,
    from_: Annotated[str | None, typer.Option("--from")] = None,
    to: Annotated[str | None, typer.Option("--to")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
) -> None:
    """List positions, newest first: id, symbol, side, lots open/opened, status."""
    shown = 0
    with _client() as client:
        listed = client.positions(status=status, model_version=model_version, from_=from_, to=to)
        for p in listed:
            if shown >= limit:
                break
            typer.echo(
                f"{p.id}\t{p.symbol}\t{p.side}\t{p.lots_open}/{p.lots} lots\t"
                f"{p.units_open} units\t{p.status}\t{p.model_version}"
            )
            shown += 1
    if not shown:
        typer.echo("no positions" + (" match these filters" if any(
            (status, model_version, from_, to)) else " yet"))  # fmt: skip


# --- accounts -----------------------------------------------------------------------------------


def inr(value: Any) -> str:
    """Rupees as an Indian broker writes them: 2,50,000.00 (lakh and crore grouping)."""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    sign, whole, paise = ("-" if amount < 0 else ""), *f"{abs(amount):.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return sign + ",".join([*groups, tail]) + "." + paise


@app.command()
def account(name: Annotated[str, typer.Argument(help="the account")] = "default") -> None:
    """The account's funds page: capital, cash, margin, available, P&L, equity, Greeks."""
    with _client() as client:
        page = client.account(name)
    rows = [
        ("capital", page.capital), ("cash", page.cash), ("used margin", page.used_margin),
        ("available", page.available), ("realized", page.realized),
        ("unrealized", page.unrealized), ("charges", page.charges), ("equity", page.equity),
    ]  # fmt: skip
    typer.echo(f"account {page.account}  ({page.open_positions} open positions)")
    for label, value in rows:
        typer.echo(f"  {label:<12} {inr(value):>18}")
    for underlying, margin in page.raw.get("margins", {}).items():
        typer.echo(
            f"  margin {underlying}: span {inr(margin['span'])} + exposure "
            f"{inr(margin['exposure'])} (worst: {margin['worst_scenario']})"
        )
    for underlying, greeks in page.raw.get("greeks", {}).items():
        typer.echo(
            f"  greeks {underlying}: delta {greeks['delta']:.2f} gamma {greeks['gamma']:.4f} "
            f"theta {greeks['theta']:.2f} vega {greeks['vega']:.2f}"
        )


@app.command()
def margin(
    symbol: Annotated[list[str], typer.Option(help="e.g. NIFTY09DEC2526000CE; repeat for legs")],
    side: Annotated[list[str], typer.Option(help="BUY or SELL, one per --symbol")],
    lots: Annotated[list[int], typer.Option(help="lots, one per --symbol")],
    account_name: Annotated[str, typer.Option("--account")] = "default",
    as_of: Annotated[str | None, typer.Option(help="market instant; default now")] = None,
) -> None:
    """The margin of a basket with the account's positions and alone, before you send it."""
    if not len(symbol) == len(side) == len(lots):
        typer.echo("give one --side and one --lots per --symbol", err=True)
        raise typer.Exit(EXIT_USAGE)
    legs = [
        {"symbol": s, "side": d.upper(), "lots": n}
        for s, d, n in zip(symbol, side, lots, strict=True)
    ]
    with _client() as client:
        answer = client.margin(legs, account=account_name, as_of=as_of)
    typer.echo(f"{answer['underlying']} at {answer['as_of']}, account {answer['account']}")
    shown = (("with positions", answer["combined"]), ("basket alone", answer["basket"]))
    for label, figures in shown:
        typer.echo(
            f"  {label:<15} margin {inr(figures['margin']):>14} = span {inr(figures['span'])} "
            f"+ exposure {inr(figures['exposure'])}; premium {inr(figures['premium'])}; "
            f"worst: {figures['worst_scenario']}"
        )
    typer.echo(f"  {'incremental':<15} margin {inr(answer['incremental']):>14}")


# --- quality ------------------------------------------------------------------------------------


@quality_app.command("run")
def quality_run(lookback_days: Annotated[int, typer.Option(min=1)] = 1) -> None:
    """Run the checks now and print the text report; exit 1 when a check fails."""
    with _client() as client:
        run = client.run_quality_check(lookback_days)
        typer.echo(client.quality_report(run.id))
    if run.failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


@quality_app.command("status")
def quality_status() -> None:
    """Print the overall status and the latest run's checks; exit 1 when it failed."""
    with _client() as client:
        status = client.quality_status()
    typer.echo(f"status: {status.status}")
    for check in (status.latest_run or {}).get("checks", []):
        typer.echo(f"  {check_line(check)}")
    if status.status == "fail":
        raise typer.Exit(EXIT_CHECK_FAILED)


def check_line(check: dict[str, Any]) -> str:
    """One check of a run in a line: its coverage (rounded down, as the text report does), or,
    for a count of positions (`open_past_expiry`), how many and which."""
    head = f"{check.get('name')}: {check.get('status')}"
    if check.get("kind") == "positions":
        count = int(check.get("total") or 0)
        ids = ", ".join(str(i) for i in check.get("failing_trade_ids") or [])
        return f"{head} ({count} open past expiry{f': ids {ids}' if ids else ''})"
    coverage = check.get("coverage")
    if coverage is None:
        return f"{head} (no trades)"
    shown = math.floor(float(coverage) * 10) / 10
    return f"{head} ({shown:.1f}%, {check.get('passed')}/{check.get('total')} trades)"


# --- ML data and operations ---------------------------------------------------------------------


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")],
    format: Annotated[str, typer.Option(help="parquet or csv")] = "parquet",
    from_: Annotated[str | None, typer.Option("--from")] = None,
    to: Annotated[str | None, typer.Option("--to")] = None,
    model_version: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Write the training export to a file, with a progress bar of rows written / total."""
    if format not in ("parquet", "csv"):
        raise typer.BadParameter("parquet or csv", param_hint="--format")
    with _client() as client, _progress("rows") as report:
        done = client.export_to(
            str(output), format=format, from_=from_, to=to, model_version=model_version,
            progress=report,
        )  # fmt: skip
    typer.echo(f"{done.rows} rows written to {done.path}")


@app.command()
def backfill(
    limit: Annotated[int, typer.Option(help="trades per request")] = 500,
) -> None:
    """Repair missing snapshots, request after request, with progress by trade id."""
    after_id = 0
    repaired = 0
    with _client() as client:
        while True:
            report = client.backfill(limit=limit, after_id=after_id)
            repaired += sum(int(report[side].get("repaired", 0)) for side in ("entry", "exit"))
            typer.echo(backfill_line(report.get("next_after_id"), repaired), err=True)
            if report.get("next_after_id") is None:
                break
            after_id = int(report["next_after_id"])
    typer.echo(json.dumps({"repaired": repaired}))


def backfill_line(next_after_id: int | None, repaired: int) -> str:
    """Progress of the backfill after one request."""
    where = "every trade" if next_after_id is None else f"trades up to id {next_after_id}"
    return f"examined {where}; {repaired} snapshots repaired"


@app.command()
def symbols(
    underlying: Annotated[str, typer.Option(help="NIFTY, BANKNIFTY or FINNIFTY")] = "NIFTY",
    option_type: Annotated[str | None, typer.Option(help="CE or PE; default both")] = None,
    expiry: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default the nearest")] = None,
) -> None:
    """Print the at-the-money trading symbols of the nearest expiry (call, then put), one a line;
    the expiry, strike, spot and lot size go to stderr, so `$(optrade symbols ...)` is a symbol."""
    if option_type is not None and option_type.upper() not in ("CE", "PE"):
        raise typer.BadParameter("CE or PE", param_hint="--option-type")
    with _client() as client:
        atm = client.atm_symbols(underlying.upper(), expiry=expiry)
    typer.echo(f"{atm.underlying} expiry {atm.expiry} strike {atm.strike:g} spot {atm.spot:.2f} "
               f"lot size {atm.lot_size}", err=True)  # fmt: skip
    for leg, symbol in (("CE", atm.ce), ("PE", atm.pe)):
        if option_type is None or option_type.upper() == leg:
            typer.echo(symbol)


@app.command()
def settle(
    expiry: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default the due expiries")] = None,
) -> None:
    """Settle open positions at expiry against the official close."""
    with _client() as client:
        _print(client.settle(expiry))


@app.command()
def backtest(
    from_: Annotated[str, typer.Option("--from", help="first session, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="last session, YYYY-MM-DD")],
    engine: Annotated[str, typer.Option(help="module:function (examples.signal_engine:decide)")],
    underlying: Annotated[str, typer.Option()] = "NIFTY",
    run_id: Annotated[
        str | None, typer.Option(help="default: from the engine, underlying and range")
    ] = None,
    state_dir: Annotated[Path, typer.Option(help="run state and exports")] = STATE_DIR,
) -> None:
    """Walk a signal engine over a replayed range through the platform (docs/backtest.md);
    a second run with the same run id continues after the last finished session."""
    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date: {exc}", param_hint="--from/--to") from None
    with _client() as client, _progress("snapshots") as report:

        def progress(walked: int, total: int, session: date) -> None:
            report(ExportProgress(rows=walked, total=total, path=session.isoformat()))

        try:
            state = run_backtest(client, engine, start=first, end=last, underlying=underlying,
                                 run_id=run_id, state_dir=state_dir, progress=progress)  # fmt: skip
        except (ValueError, ImportError, AttributeError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        result = report_of(client, state)
        certified = state_dir / f"{state.run_id}.certified.csv"
        rows = write_certified_export(client, state, certified)
    typer.echo(result.render())
    typer.echo(f"certified export: {rows} trades written to {certified}")


# --- models: the regression gate -----------------------------------------------------------------

models_app = typer.Typer(help="Model versions: the regression gate.", no_args_is_help=True)
app.add_typer(models_app, name="models")
GATE_EXIT = {"pass": 0, "fail": EXIT_CHECK_FAILED, "insufficient_data": 3}


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:,.4f}"


def _gate_table(gate: dict[str, Any]) -> str:
    base, cand = gate["baseline"], gate["candidate"]
    rows = [
        f"metric      {gate['metric']} (mode {gate['mode']}, closed {gate['closed_from']} .. "
        f"{gate['closed_to']})",
        f"{'':12}{'version':<20}{'n':>8}{'value':>16}",
        f"{'baseline':<12}{base['model_version']:<20}{base['n']:>8}{_figure(base['value']):>16}",
        f"{'candidate':<12}{cand['model_version']:<20}{cand['n']:>8}{_figure(cand['value']):>16}",
        f"difference  {_figure(gate['difference'])}  95% interval [{_figure(gate['low'])}, "
        f"{_figure(gate['high'])}]  permutation p {_figure(gate['p_value'])}",
        f"gate        lower bound ≥ min-delta {gate['min_delta']:g}, each arm ≥ {gate['min_n']} "
        f"positions",
        f"verdict     {gate['verdict']}",
    ]
    return "\n".join(rows)


@models_app.command("gate")
def models_gate(
    baseline: Annotated[str, typer.Option(help="the model_version trading now")],
    candidate: Annotated[str, typer.Option(help="the model_version to promote")],
    min_delta: Annotated[
        float, typer.Option(help="lowest acceptable lower bound of candidate − baseline")
    ],
    metric: Annotated[
        str, typer.Option(help="mean_net_pnl, win_rate, auc or return_on_margin")
    ] = "mean_net_pnl",
    min_n: Annotated[int, typer.Option(min=2, help="positions each arm needs")] = 30,
    from_: Annotated[str | None, typer.Option("--from")] = None,
    to: Annotated[str | None, typer.Option("--to")] = None,
    underlying: Annotated[str | None, typer.Option()] = None,
    mode: Annotated[str | None, typer.Option(help="live (default) or replay")] = None,
) -> None:
    """Print the comparison; exit 0 pass, 1 fail, 3 insufficient data (or the order service
    unreachable: no verdict), 2 usage."""
    params = {
        "baseline": baseline, "candidate": candidate, "metric": metric, "min_delta": min_delta,
        "min_n": min_n, "from": from_, "to": to, "underlying": underlying, "mode": mode,
    }  # fmt: skip
    with _client() as client:
        call = Call("gateModel", params={k: v for k, v in params.items() if v is not None})
        gate = client.send(call).json()
    typer.echo(_gate_table(gate))
    raise typer.Exit(GATE_EXIT[gate["verdict"]])


@contextmanager
def _progress(unit: str) -> Iterator[Callable[[ExportProgress], None]]:
    """A progress line on stderr, `rows 1200/5000 (24%) [#####     ]`, redrawn on a terminal."""
    tty = sys.stderr.isatty()
    drawn = False

    def report(progress: ExportProgress) -> None:
        nonlocal drawn
        total = max(progress.total, progress.rows)
        share = progress.rows / total if total else 1.0
        bar = "#" * round(share * 30)
        line = f"{unit} {progress.rows}/{total} ({share:.0%}) [{bar:<30}]"
        sys.stderr.write(f"\r{line}" if tty else f"{line}\n")
        sys.stderr.flush()
        drawn = True

    try:
        yield report
    finally:
        if tty and drawn:
            sys.stderr.write("\n")


def main() -> None:
    """The console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
