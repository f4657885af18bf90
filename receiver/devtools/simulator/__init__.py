"""An in-memory CometAPI Runway simulator with fault injection (demo, tests, local runs).

``model`` holds a task's life and the bodies that show it, ``limits`` the request limits
CometAPI publishes, ``faults`` the fault knobs, ``state`` the simulator's state and the
callbacks it POSTs, and ``routes`` the Starlette app. Official task answers carry every
field the official ``runwayml`` SDK requires, so it can run against this simulator with
strict validation.
"""

from receiver.devtools.simulator.faults import Faults
from receiver.devtools.simulator.limits import (
    image_to_video_error,
    video2video_error,
    video_to_video_error,
)
from receiver.devtools.simulator.model import Kind, SimTask
from receiver.devtools.simulator.routes import create_simulator_app, run_simulator
from receiver.devtools.simulator.state import Simulator, SimulatorConfig

__all__ = [
    "Faults",
    "Kind",
    "SimTask",
    "Simulator",
    "SimulatorConfig",
    "create_simulator_app",
    "image_to_video_error",
    "run_simulator",
    "video2video_error",
    "video_to_video_error",
]
