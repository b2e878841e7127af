-- One row per raw table the sync has stored: how many records, and how many break the raw
-- layer's shape (one row per id, every record with its JSON, its flags and its modified time).
-- Counted by the warehouse, so the check reads one row per table at any size.

{%- set objects = synced_objects() %}

with

counts as (

    {% for object_name in objects %}
        select
            '{{ object_name }}' as object_name,
            count(*) as records,
            count(*) filter (where not archived) as live_records,
            count(*) - count(id) as records_without_id,
            count(id) - count(distinct id) as duplicate_ids,
            count(*) - count(record) as records_without_record,
            count(*) - count(updated_at) as records_without_updated_at,
            count(*) - count(archived) as records_without_archived_flag
        from {{ raw_relation(object_name) }}
        {% if not loop.last %}union all{% endif %}
    {% else %}
        -- Nothing synced yet: the shape only.
        select
            cast(null as {{ type_text() }}) as object_name,
            cast(null as bigint) as records,
            cast(null as bigint) as live_records,
            cast(null as bigint) as records_without_id,
            cast(null as bigint) as duplicate_ids,
            cast(null as bigint) as records_without_record,
            cast(null as bigint) as records_without_updated_at,
            cast(null as bigint) as records_without_archived_flag
        where false
    {% endfor %}

)

select * from counts
