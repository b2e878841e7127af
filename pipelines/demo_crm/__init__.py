"""An embedded HubSpot CRM v3 look-alike with a realistic, deterministic sales org.

`make demo`, the Dagster dev UI and the tests point the real client at it.
"""

from .data import DemoCrm, generate_demo_data
from .server import DemoCrmServer, add_demo_crm_arguments, serve, serve_from_args

__all__ = [
    "DemoCrm",
    "DemoCrmServer",
    "add_demo_crm_arguments",
    "generate_demo_data",
    "serve",
    "serve_from_args",
]
