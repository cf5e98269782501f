"""Pure trading rules of the order service: no I/O, tested alone."""
