-- Only a multi-currency org has CurrencyType, and the sync writes raw.currency_types only then:
-- without it this model is empty, and deals keep their Amount (the only currency there is).

{%- set currency_types = source('salesforce', 'currency_types') %}

with

source as (

    {% if salesforce_raw_table_exists(currency_types) -%}
        select * from {{ currency_types }}
    {%- else -%}
        select
            cast(null as {{ type_text() }}) as id,
            cast(null as {{ type_instant() }}) as updated_at,
            cast(null as boolean) as archived,
            cast(null as {{ type_json() }}) as record
        where false
    {%- endif %}

),

renamed as (

    select

        ---------- ids
        id as currency_type_id,
        {{ salesforce_text('IsoCode') }} as currency_code,

        ---------- numerics
        -- Units of this currency per one unit of the corporate currency.
        {{ salesforce_number('ConversionRate') }} as conversion_rate,
        {{ salesforce_number('DecimalPlaces', 'integer') }} as decimal_places,

        ---------- booleans
        coalesce({{ salesforce_boolean('IsCorporate') }}, false) as is_corporate,
        coalesce({{ salesforce_boolean('IsActive') }}, false) as is_active,
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        updated_at

    from source

)

select * from renamed
