"""Clients of Optrade's own services, shared by every service and job that calls them."""
