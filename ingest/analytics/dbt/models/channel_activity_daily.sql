-- One row per channel and UTC day with at least one live message.
select
    m.channel_id,
    c.channel_name,
    m.day,
    count(*) as messages,
    count(case when not m.is_reply then 1 end) as top_level,
    count(case when m.is_reply then 1 end) as replies,
    count(distinct m.user_id) as active_users
from {{ ref('stg_messages') }} as m
left join {{ ref('stg_channels') }} as c
    on c.channel_id = m.channel_id
group by m.channel_id, c.channel_name, m.day
