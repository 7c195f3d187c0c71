{#- Person-months with income but no registration by the end of the month: kept
    in platform totals, left out of person-level indicators (indicators.md). -#}
with

panel as (

    select * from {{ ref('int_person_months') }}

),

registrations as (

    select
        person_key,
        min(registered_at) as first_registered_at
    from {{ ref('stg_platforms__gig_registrations') }}
    group by person_key

),

final as (

    select
        {{ person_key_text('panel.person_key') }} as person_key,
        panel.period,
        case
            when registrations.person_key is null then 'never_registered'
            else 'registered_later'
        end as reason,
        panel.records,
        panel.gross_income,
        panel.net_income,
        panel.is_active

    from panel
    left join registrations on panel.person_key = registrations.person_key
    where not panel.is_registered

)

select * from final
