with

source as (

    select * from {{ source('hubspot', 'deal_pipelines') }}

),

stages as (

    -- One raw row per pipeline; its stages are a JSON array.
    select
        source.id as pipeline_id,
        {{ json_text('source.record', ['label']) }} as pipeline_label,
        {{ strict_cast(json_text('source.record', ['displayOrder']), 'integer') }}
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
        {{ strict_cast(json_text('stage_json', ['displayOrder']), 'integer') }}
            as stage_display_order,
        -- Metadata values are strings: isClosed "true"/"false", probability "0.0".."1.0".
        {{ strict_cast(json_text('stage_json', ['metadata', 'probability']), type_double()) }}
            as probability,

        ---------- booleans
        coalesce(
            {{ strict_cast(json_text('stage_json', ['metadata', 'isClosed']), 'boolean') }}, false
        ) as is_closed,
        coalesce({{ strict_cast(json_text('stage_json', ['archived']), 'boolean') }}, false)
        or is_pipeline_archived as is_archived

    from stages

)

select * from renamed
