"""What the trade records are for: training exports, model comparison, Greek attribution and
the backfill of snapshots no provider could serve at the time."""
