"""Core values shared by every package: clocks, fixes, rejections, snapshots and the small
interfaces between ingest, tracking and readers.  Nothing here does I/O."""

from transit.core.clock import Clock, ManualClock, SystemClock
from transit.core.fix import Fix
from transit.core.rejection import Rejection, RejectionKind

__all__ = ["Clock", "Fix", "ManualClock", "Rejection", "RejectionKind", "SystemClock"]
