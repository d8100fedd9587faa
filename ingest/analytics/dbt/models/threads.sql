-- One row per live top-level message with at least one live reply.
select
    p.channel_id,
    c.channel_name,
    p.ts as thread_ts,
    p.user_id as asker,
    u.user_name as asker_name,
    p.ts_at as asked_at,
    s.replies,
    s.distinct_responders,
    s.first_answer_at as first_reply_at,
    {{ seconds_between('p.ts_at', 's.first_answer_at') }} as seconds_to_first_reply,
    case when s.last_reply_at > p.ts_at then s.last_reply_at else p.ts_at end
        as last_activity_at
from {{ ref('stg_messages') }} as p
inner join {{ ref('thread_stats') }} as s
    on s.channel_id = p.channel_id
    and s.parent_ts = p.ts
left join {{ ref('stg_channels') }} as c
    on c.channel_id = p.channel_id
left join {{ ref('stg_users') }} as u
    on u.user_id = p.user_id
where not p.is_reply
