"""Persistence: safe checkpoint loading, EMA-as-weights, partial/renamed restores, exports."""
