"""The demo CRM as HubSpot serves it: CRM v3 objects, search, owners, pipelines, v4 associations.

`api.py` answers a request as a pure function (search.py and index.py do search, associations.py
the v4 routes); `gateway.py` puts HubSpot's token check and rate limits in front, with faults and
a request log; `handler.py` and `server.py` serve it all over HTTP, `admin.py` the `/_demo/`
routes that drive a server in another process. Nothing outside this package depends on it.
"""
