-- Reading HubSpot records from raw JSON: every property value is a string or null, and a property
-- the portal does not have is missing altogether, so both read as null.

{% macro hubspot_property(name) -%}
    nullif(json_extract_string(record, '$.properties.{{ name }}'), '')
{%- endmacro %}


-- Ids of associated records, e.g. hubspot_association_ids('deals') on a call. HubSpot lists an id
-- once per association label, so ids are de-duplicated; a record without associations gets [].
{% macro hubspot_association_ids(object_name) -%}
    list_sort(list_distinct(
        json_extract_string(record, '$.associations.{{ object_name }}.results[*].id')
    ))
{%- endmacro %}


-- HubSpot datetimes are ISO-8601 ("2026-10-05T14:03:11.123Z"), but some portals send hs_timestamp
-- as epoch milliseconds ("1795089600000"). Both become timestamptz; a string without an offset is
-- read as UTC so the result never depends on the session time zone.
{% macro hubspot_timestamp(value) -%}
    case
        when regexp_full_match({{ value }}, '[0-9]+')
            then epoch_ms(cast({{ value }} as bigint)) at time zone 'UTC'
        when regexp_matches({{ value }}, '[T ][0-9:.]+ ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$')
            then cast({{ value }} as timestamptz)
        else cast({{ value }} as timestamp) at time zone 'UTC'
    end
{%- endmacro %}
