"""A demo CRM: a deterministic, generated sales org served as a look-alike of a real CRM's API.

`make demo`, the Dagster dev UI, the tests and the benchmarks point the real client at it; the
product itself never imports it (only the `demo` and `demo-crm` commands do, when they run).

- catalog.py, clock.py: the vocabulary and time helpers everything here shares;
- generator/: the sales org (reps in teams, accounts, deals with stage history, activity);
- store.py: `DemoCrm`, the records in memory, and how they change;
- selling.py: `simulate_day`, a day of a sales org's changes;
- hubspot/: HubSpot's CRM API over HTTP (`DemoCrmServer`);
- salesforce/: the same org as Salesforce's REST API (`DemoSalesforceServer`);
- serving.py: the HTTP server both run on a background thread;
- command.py: the `crm-kpi demo-crm` command.
"""

from .command import add_demo_crm_arguments, serve_from_args
from .generator.build import generate_demo_data
from .hubspot.server import DemoCrmServer
from .salesforce.server import DemoSalesforceServer
from .selling import simulate_day
from .store import DemoCrm

__all__ = [
    "DemoCrm",
    "DemoCrmServer",
    "DemoSalesforceServer",
    "add_demo_crm_arguments",
    "generate_demo_data",
    "serve_from_args",
    "simulate_day",
]
