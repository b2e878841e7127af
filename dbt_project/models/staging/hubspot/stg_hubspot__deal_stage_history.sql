{{
    config(
        materialized=restaged_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        pre_hook="{{ forget_rows_if_reloaded(source('hubspot', 'deals')) }}",
    )
}}

-- HubSpot keeps a deal's stage history in one pair of properties per stage of every pipeline:
-- hs_date_entered_<stage id> and hs_date_exited_<stage id> (null or absent when not entered).

{%- set stage_ids = hubspot_deal_stage_ids() %}
{%- set entered = [] %}
{%- set exited = [] %}
{%- for stage_id in stage_ids %}
    {%- do entered.append('hs_date_entered_' ~ stage_id) %}
    {%- do exited.append('hs_date_exited_' ~ stage_id) %}
{%- endfor %}

with

source as (

    {{ raw_rows_to_stage(source('hubspot', 'deals')) }}

),

stage_dates as (

    select
        id as deal_id,
        coalesce(archived, false) as is_archived,
        loaded_at,
        {{ hubspot_property_list(entered) }} as entered_values,
        {{ hubspot_property_list(exited) }} as exited_values
    from source

),

per_stage as (

    -- Lists of the same length unnest side by side: one row per deal and stage.
    select
        deal_id,
        is_archived,
        loaded_at,
        {{ unnest_side_by_side([
            (varchar_list(stage_ids), 'stage_id'),
            ('entered_values', 'entered_text'),
            ('exited_values', 'exited_text'),
        ]) }}
    from stage_dates

),

stage_values as (

    select
        deal_id,
        is_archived,
        loaded_at,
        stage_id,
        nullif(entered_text, '') as entered_value,
        nullif(exited_text, '') as exited_value
    from per_stage

),

renamed as (

    select

        ---------- ids
        deal_id,
        stage_id,

        ---------- booleans
        is_archived,

        ---------- timestamps
        {{ hubspot_timestamp('entered_value') }} as entered_at,
        {{ hubspot_timestamp('exited_value') }} as exited_at,
        loaded_at

    from stage_values
    where
        entered_value is not null
        or exited_value is not null

)

select * from renamed
