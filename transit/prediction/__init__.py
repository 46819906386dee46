"""Arrival prediction: the link-time model, the predictor, calibration, anti-flapping and the
accuracy arithmetic and monitor.  Pure: numpy arrays in and out, ``now`` as an argument
(``evaluate`` also reads and writes CSV files for ``transit evaluate``)."""

from transit.prediction.accuracy import (
    BUCKETS,
    AccuracyRow,
    AccuracyTable,
    Totals,
    bucket_of,
    inside_window,
    summarize,
    table_from_totals,
)
from transit.prediction.calibration import Calibrator
from transit.prediction.model import ModelParams, SegmentModel
from transit.prediction.monitor import AccuracyMonitor
from transit.prediction.predict import PredictParams, predict_vehicles
from transit.prediction.smoothing import SmoothParams, smooth_predictions

__all__ = [
    "BUCKETS", "AccuracyMonitor", "AccuracyRow", "AccuracyTable", "Calibrator", "ModelParams", "PredictParams",
    "SegmentModel", "SmoothParams", "Totals", "bucket_of", "inside_window", "predict_vehicles", "smooth_predictions",
    "summarize", "table_from_totals",
]
