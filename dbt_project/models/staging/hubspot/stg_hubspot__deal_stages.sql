with

source as (

    select * from {{ source('hubspot', 'deal_pipelines') }}

),

stages as (

    -- One raw row per pipeline; its stages are a JSON array.
    select
        source.id as pipeline_id,
        {{ json_text('source.record', ['label']) }} as pipeline_label,
        cast({{ json_text('source.record', ['displayOrder']) }} as integer)
            as pipeline_display_order,
        coalesce(source.archived, false) as is_pipeline_archived,
        stage_item.value as stage_json
    from source
    cross join {{ json_array_rows('source.record', ['stages']) }} as stage_item

),

renamed as (

    select

        ---------- ids
        pipeline_id,
        {{ json_text('stage_json', ['id']) }} as stage_id,

        ---------- text
        pipeline_label,
        {{ json_text('stage_json', ['label']) }} as stage_label,

        ---------- numerics
        pipeline_display_order,
        cast({{ json_text('stage_json', ['displayOrder']) }} as integer) as stage_display_order,
        -- Metadata values are strings: isClosed "true"/"false", probability "0.0".."1.0".
        cast({{ json_text('stage_json', ['metadata', 'probability']) }} as double precision)
            as probability,

        ---------- booleans
        coalesce(
            cast({{ json_text('stage_json', ['metadata', 'isClosed']) }} as boolean), false
        ) as is_closed,
        coalesce(cast({{ json_text('stage_json', ['archived']) }} as boolean), false)
        or is_pipeline_archived as is_archived

    from stages

)

select * from renamed
