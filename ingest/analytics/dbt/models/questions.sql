-- One row per question: a live top-level message by a person (no subtype, no bot) whose
-- text has a "?". Answered: someone other than the asker replied in its thread.
select
    q.channel_id,
    c.channel_name,
    q.ts,
    q.user_id as asked_by,
    u.user_name as asked_by_name,
    q.ts_at as asked_at,
    q.text,
    coalesce(s.replies, 0) as replies,
    f.user_id is not null as is_answered,
    f.user_id as answered_by,
    a.user_name as answered_by_name,
    f.ts_at as first_answer_at,
    {{ seconds_between('q.ts_at', 'f.ts_at') }} as seconds_to_first_answer
from {{ ref('stg_messages') }} as q
left join {{ ref('thread_stats') }} as s
    on s.channel_id = q.channel_id
    and s.parent_ts = q.ts
left join {{ ref('first_answers') }} as f
    on f.channel_id = q.channel_id
    and f.parent_ts = q.ts
left join {{ ref('stg_channels') }} as c
    on c.channel_id = q.channel_id
left join {{ ref('stg_users') }} as u
    on u.user_id = q.user_id
left join {{ ref('stg_users') }} as a
    on a.user_id = f.user_id
where q.is_question
