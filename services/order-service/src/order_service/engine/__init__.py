"""The order engine: the order service's background process role (`python -m order_service.engine`).

It turns the clock and the market into calls of the application functions: today it settles
expired positions (at start-up, at 15:30 IST and whenever a position's expiry has passed); the
venue's pending orders and exits hang on the same loop. One engine leads at a time (a lease row
in the database, renewed every tick); every action is idempotent anyway, so two engines that both
believed they led would still settle each position once.
"""
