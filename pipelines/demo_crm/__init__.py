"""An embedded HubSpot CRM v3 look-alike with a realistic, deterministic sales org.

`make demo`, the Dagster dev UI and the tests point the real client at it.
"""

from .data import DemoCrm, generate_demo_data
from .server import DemoCrmServer, serve

__all__ = ["DemoCrm", "DemoCrmServer", "generate_demo_data", "serve"]
