"""Offline feature storage: feature history in Parquet files."""

from .parquet_store import ParquetOfflineStore, history_from_frame, training_rows_from_frame

__all__ = ["ParquetOfflineStore", "history_from_frame", "training_rows_from_frame"]
