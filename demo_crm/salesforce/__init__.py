"""The demo sales org served as Salesforce's REST API: the same records as the HubSpot demo.

- ids.py, schema.py: Salesforce ids and the sObjects served (their fields and types);
- dressing.py: HubSpot-shaped store records dressed as Salesforce rows; reference.py: the
  reference rows built once (users, roles, record types, stages, currencies); values.py:
  Salesforce's forms of a value, and the per-record dice;
- org.py: the dressed rows per sObject, kept current from the store's change log;
- soql.py: the SOQL subset, tokenised and parsed by hand;
- api.py: the REST routes; gateway.py: OAuth tokens, API limits, faults, the request log;
- handler.py, admin.py, server.py: HTTP on localhost (`DemoSalesforceServer`).
"""
