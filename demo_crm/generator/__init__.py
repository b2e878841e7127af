"""The demo's sales org, generated: a software company's reps, accounts, deals and activity.

Deterministic for the same seed and `now`, and independent of any CRM's API: build.py's
`generate_demo_data` returns a `DemoCrm` (../store.py) that the HubSpot API (../hubspot/), or
another CRM's, serves; ../selling.py moves it forward a day at a time.
"""
