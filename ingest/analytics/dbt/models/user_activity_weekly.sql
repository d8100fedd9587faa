-- One row per user and week (starting Monday, UTC) with at least one live message of theirs.
select
    m.user_id,
    u.user_name,
    m.week,
    count(*) as messages,
    count(case when not m.is_reply and s.parent_ts is not null then 1 end) as threads_started,
    count(case when m.is_reply then 1 end) as replies,
    count(case when m.is_question then 1 end) as questions_asked
from {{ ref('stg_messages') }} as m
left join {{ ref('thread_stats') }} as s
    on s.channel_id = m.channel_id
    and s.parent_ts = m.ts
left join {{ ref('stg_users') }} as u
    on u.user_id = m.user_id
where m.user_id is not null
group by m.user_id, u.user_name, m.week
