-- Sales quotas from the CSV named by CRM_KPI_QUOTAS (owner_email,quarter,quota_amount). Without
-- one, an empty relation of the same shape: every quota in the marts is then null.

{%- set quotas_path = env_var('CRM_KPI_QUOTAS', '') | trim %}

with

source as (

    {% if quotas_path -%}
        select *
        from read_csv(
            '{{ quotas_path | replace("'", "''") }}',
            header = true,
            all_varchar = true
        )
    {%- else -%}
        select
            cast(null as varchar) as owner_email,
            cast(null as varchar) as quarter,
            cast(null as varchar) as quota_amount
        where false
    {%- endif %}

),

renamed as (

    select

        ---------- ids
        lower(trim(owner_email)) as owner_email,

        ---------- text
        upper(trim(quarter)) as quarter,

        ---------- numerics
        -- Malformed values become null and fail the tests in _quotas__models.yml, naming the row.
        try_cast(trim(quota_amount) as decimal(18, 2)) as quota_amount,

        ---------- dates
        case
            when regexp_full_match(upper(trim(quarter)), '[0-9]{4}-Q[1-4]')
                then make_date(
                    cast(left(trim(quarter), 4) as integer),
                    cast(right(trim(quarter), 1) as integer) * 3 - 2,
                    1
                )
        end as quarter_start

    from source

)

select * from renamed
