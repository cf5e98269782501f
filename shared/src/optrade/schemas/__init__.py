"""Wire contracts shared by services."""
