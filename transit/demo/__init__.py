"""The bundled Zhangqiu demo network and the bus simulator.

The simulator is pure (numpy, no I/O) and is the library tests and benchmarks use for synthetic
traces with known truth; ``transit.demo.runner`` feeds it into a running service and
``transit.demo.command`` is ``transit demo``.  Only the pure parts are re-exported here, so
importing the simulator never imports aiohttp or asyncpg.  To build a schedule from GTFS files
without a database, use ``feeds.gtfs.memory.read_index``.
"""

from transit.demo.duties import Duty, TripRun, build_duties
from transit.demo.motion import DrivingModel
from transit.demo.simulator import FixBatch, Simulator, SimVehicle, TrueCall

__all__ = [
    "DrivingModel", "Duty", "FixBatch", "SimVehicle", "Simulator", "TripRun", "TrueCall", "build_duties",
]
