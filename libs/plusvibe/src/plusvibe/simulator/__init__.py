"""A faithful local stand-in for the PlusVibe API (the API it serves: libs/plusvibe/README.md)."""

from plusvibe.simulator.app import create_app
from plusvibe.simulator.faults import FaultRule
from plusvibe.simulator.render import Rendered, Renderer
from plusvibe.simulator.state import SimError, SimulatorState

__all__ = ["FaultRule", "Rendered", "Renderer", "SimError", "SimulatorState", "create_app"]
