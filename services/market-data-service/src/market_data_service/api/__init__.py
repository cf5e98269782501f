"""HTTP routes of the market-data service."""
