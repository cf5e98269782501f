"""HTTP routes of the quality service."""
