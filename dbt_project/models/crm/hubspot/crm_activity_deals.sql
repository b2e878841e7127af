-- Which deals each HubSpot engagement is associated with: one row per engagement and deal.

with

unioned as (

    {% for object_name in hubspot_engagements() %}
        select
            engagement_id as activity_id,
            {{ unnest_list('deal_ids') }} as deal_id,
            'hubspot' as source_system
        from {{ ref('stg_hubspot__' ~ object_name) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
