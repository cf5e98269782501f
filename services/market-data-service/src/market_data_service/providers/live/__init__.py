"""Live upstreams (OpenAlgo, Upstox) behind the provider interface; see provider.py."""
