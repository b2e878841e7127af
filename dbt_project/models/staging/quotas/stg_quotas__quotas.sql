-- Sales quotas from the quotas file (CRM_KPI_QUOTAS: owner_email,quarter,quota_amount), which the
-- pipeline loads into raw.quotas as text, exactly as written; without a file the table is empty,
-- and every quota in the marts is then null.

with

source as (

    -- An empty field is no value (as DuckDB's CSV reader read the file before the pipeline
    -- loaded it), whether the loader wrote it as '' or as null.
    select
        nullif(owner_email, '') as owner_email,
        nullif(quarter, '') as quarter,
        nullif(quota_amount, '') as quota_amount
    from {{ source('quotas', 'quotas') }}

),

renamed as (

    select

        ---------- ids
        lower(trim(owner_email)) as owner_email,

        ---------- text
        upper(trim(quarter)) as quarter,

        ---------- numerics
        -- Malformed values become null and fail the tests in _quotas__models.yml, naming the row.
        {{ try_cast('trim(quota_amount)', 'decimal(18, 2)') }} as quota_amount,

        ---------- dates
        case
            when {{ regex_full_match('upper(trim(quarter))', '[0-9]{4}-Q[1-4]') }}
                then make_date(
                    cast(left(trim(quarter), 4) as integer),
                    cast(right(trim(quarter), 1) as integer) * 3 - 2,
                    1
                )
        end as quarter_start

    from source

)

select * from renamed
