-- One row per live top-level message with at least one live reply.
select
    channel_id,
    parent_ts,
    count(*) as replies,
    count(distinct case when is_answer then user_id end) as distinct_responders,
    min(case when is_answer then ts_at end) as first_answer_at,
    max(ts_at) as last_reply_at
from {{ ref('thread_replies') }}
group by channel_id, parent_ts
