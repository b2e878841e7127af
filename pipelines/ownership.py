"""Who answers for each layer, shown as owners in the Dagster UI (one place, not per asset)."""

from collections.abc import Sequence

from dagster import AssetsDefinition, AssetSpec, map_asset_specs

# The sync and the models are the data engineers'; the report is sales operations'.
OWNERS_BY_GROUP = {
    "raw": ["team:data-engineering"],
    "staging": ["team:data-engineering"],
    "crm": ["team:data-engineering"],
    "intermediate": ["team:data-engineering"],
    "marts": ["team:data-engineering", "team:sales-ops"],
    "quality": ["team:data-engineering"],
    "publish": ["team:data-engineering"],
    "report": ["team:sales-ops"],
}


def with_owners(assets: Sequence[AssetsDefinition]) -> list[AssetsDefinition]:
    """The same assets, each owned by its group's team unless it names owners itself."""

    def owned(spec: AssetSpec) -> AssetSpec:
        if spec.owners or spec.group_name not in OWNERS_BY_GROUP:
            return spec
        return spec.replace_attributes(owners=OWNERS_BY_GROUP[spec.group_name])

    return list(map_asset_specs(owned, assets))
