-- The earliest answer of each thread that has one.
select
    channel_id,
    parent_ts,
    user_id,
    ts_at
from (
    select
        channel_id,
        parent_ts,
        user_id,
        ts_at,
        row_number() over (partition by channel_id, parent_ts order by ts_at, ts) as answer_rank
    from {{ ref('thread_replies') }}
    where is_answer
) as ranked
where answer_rank = 1
