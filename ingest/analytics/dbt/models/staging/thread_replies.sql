-- Live replies of live top-level messages. An answer is a reply by someone (user not null)
-- other than the one who wrote the top-level message.
select
    p.channel_id,
    p.ts as parent_ts,
    r.ts,
    r.ts_at,
    r.user_id,
    coalesce(r.user_id is not null and r.user_id is distinct from p.user_id, false)
        as is_answer
from {{ ref('stg_messages') }} as p
inner join {{ ref('stg_messages') }} as r
    on r.channel_id = p.channel_id
    and r.thread_ts = p.ts
    and r.is_reply
where not p.is_reply
