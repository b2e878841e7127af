-- HubSpot's four engagement objects as one list of activities (macro hubspot_engagements says
-- which is which, and when a meeting counts as held and a task as done).

with

unioned as (

    {% for object_name, (activity_type, completed) in hubspot_engagements().items() %}
        select

            ---------- ids
            engagement_id as activity_id,
            '{{ object_name }}' as crm_object,
            owner_id,

            ---------- text
            '{{ activity_type }}' as activity_type,

            ---------- timestamps and days
            occurred_at,
            occurred_on,

            ---------- booleans
            {{ completed }} as is_completed,
            is_archived,

            ---------- source
            'hubspot' as source_system

        from {{ ref('stg_hubspot__' ~ object_name) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
