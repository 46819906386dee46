"""Fare transactions in: CSV/JSON batches, aggregate totals, daily roll-ups (indicator 8)."""

from feeds.fares.channels import CHANNEL_NAMES_EN, CHANNEL_NAMES_ZH, Channel, channel_label, find_channel
from feeds.fares.parse import FareBatch, FareLimits, decode_csv, decode_json, decode_json_bytes
from feeds.fares.store import DailyRow, StoreResult, list_daily, rebuild_daily, store_batch

__all__ = [
    "CHANNEL_NAMES_EN", "CHANNEL_NAMES_ZH", "Channel", "DailyRow", "FareBatch", "FareLimits", "StoreResult",
    "channel_label", "decode_csv", "decode_json", "decode_json_bytes", "find_channel", "list_daily",
    "rebuild_daily", "store_batch",
]
