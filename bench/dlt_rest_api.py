"""dlt's rest_api source loading the same HubSpot endpoints into DuckDB, for bench/sync_bench.py.

Runs in its own venv (dlt is not a project dependency):  python dlt_rest_api.py URL TOKEN DB
"""

import sys

import dlt
from dlt.sources.rest_api import rest_api_source

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])
from pipelines.hubspot.objects import CRM_OBJECTS

url, token, db = sys.argv[1:4]


def resource(obj, archived: bool) -> dict:
    params = {"limit": 100, "archived": str(archived).lower()}
    if obj.properties:
        params["properties"] = ",".join(obj.properties)
    if obj.associations:
        params["associations"] = ",".join(obj.associations)
    return {
        "name": f"{obj.name}{'_archived' if archived else ''}",
        "endpoint": {
            "path": obj.path.lstrip("/"),
            "params": params,
            "data_selector": "results",
            "paginator": {
                "type": "cursor",
                "cursor_path": "paging.next.after",
                "cursor_param": "after",
            },
        },
        "primary_key": "id",
        "write_disposition": "replace",
    }


source = rest_api_source(
    {
        "client": {"base_url": url, "auth": {"type": "bearer", "token": token}},
        "resources": [
            resource(obj, archived)
            for obj in CRM_OBJECTS
            for archived in ((False, True) if obj.lists_archived else (False,))
        ],
    }
)
pipeline = dlt.pipeline(
    "hubspot_bench", destination=dlt.destinations.duckdb(db), dataset_name="raw"
)
print(pipeline.run(source))
