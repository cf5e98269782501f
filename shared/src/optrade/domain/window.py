"""Which trades (or positions) a listing, an export or a report covers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import ColumnElement


class TradeWindow(BaseModel):
    """Rows whose time column lies in [from, to), optionally of one underlying and one model.

    `to` must be later than `from`; an empty or inverted window is the caller's mistake, refused
    with an error naming `to` rather than answered with nothing.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    start: AwareDatetime | None = Field(None, alias="from", description="inclusive")
    end: AwareDatetime | None = Field(None, alias="to", description="exclusive")
    underlying: str | None = Field(None, max_length=20)
    model_version: str | None = Field(None, max_length=64)
    mode: str | None = Field(None, description="`live` or `replay` only; None: both")

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: AwareDatetime | None, info: ValidationInfo) -> AwareDatetime | None:
        start = info.data.get("start")
        if end is not None and start is not None and end <= start:
            raise ValueError("must be later than from")
        return end

    @field_validator("underlying")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    def conditions(
        self, columns: Mapping[str, Any], time_column: str = "closed_at"
    ) -> Sequence[ColumnElement[bool]]:
        """The window as SQL conditions on a table's `columns` (`Trade.__table__.c`)."""
        found: list[ColumnElement[bool]] = []
        if self.start is not None:
            found.append(columns[time_column] >= self.start)
        if self.end is not None:
            found.append(columns[time_column] < self.end)
        if self.underlying is not None:
            found.append(columns["underlying"] == self.underlying)
        if self.model_version is not None:
            found.append(columns["model_version"] == self.model_version)
        if self.mode is not None:
            found.append(columns["mode"] == self.mode)
        return found
