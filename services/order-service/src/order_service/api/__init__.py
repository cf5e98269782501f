"""HTTP routes of the order service: thin wrappers around `orders` and `queries`."""
