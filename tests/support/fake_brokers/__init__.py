"""Fake OpenAlgo and Upstox servers (real HTTP processes) built from the provider documents in
../shared/providers/ and serving real NSE snapshots; see nse_source.py."""
