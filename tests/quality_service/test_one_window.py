"""One window: the quality service counts trades through `optrade.domain.TradeWindow` and its mode,
with no window type, `all` mode or `in_window` of its own."""

from __future__ import annotations

from datetime import date

from optrade.domain import TradeWindow
from quality_service import checks, schedule, scope
from quality_service.schedule import lookback_window, session_window
from tests.quality_service.conftest import NOW


def test_the_quality_windows_are_trade_windows_of_live_trades() -> None:
    window = session_window(date(2025, 12, 2))
    assert isinstance(window, TradeWindow) and window.mode == "live"
    assert isinstance(lookback_window(NOW, 7, mode=None), TradeWindow)


def test_no_window_mode_or_in_window_of_its_own() -> None:
    assert not hasattr(schedule, "Window")
    assert not hasattr(checks, "in_window")
    assert not hasattr(scope, "Mode") and not hasattr(scope, "mode_condition")


def test_the_run_condition_is_the_windows_conditions() -> None:
    window = session_window(date(2025, 12, 2))
    both = window.model_copy(update={"mode": None})
    live_sql = str(scope.run_condition(window).compile(compile_kwargs={"literal_binds": True}))
    both_sql = str(scope.run_condition(both).compile(compile_kwargs={"literal_binds": True}))
    assert "trade.mode = 'live'" in live_sql and "mode" not in both_sql
    assert "NOT" in str(scope.run_condition(window, [(1, 5)]))
