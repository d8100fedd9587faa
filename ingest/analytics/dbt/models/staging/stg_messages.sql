-- Live messages (deleted ones are left out), with their UTC day and week and whether each
-- is a question: a top-level message by a person (no subtype, no bot) with a "?".
select
    channel_id,
    ts,
    thread_ts,
    ts_at,
    coalesce(is_reply, false) as is_reply,
    {{ adapter.quote('user') }} as user_id,
    bot_id,
    subtype,
    text,
    {{ utc_date('ts_at') }} as day,
    {{ week_start('ts_at') }} as week,
    coalesce(
        not coalesce(is_reply, false)
        and subtype is null
        and bot_id is null
        and {{ adapter.quote('user') }} is not null
        and text like '%?%',
        false
    ) as is_question
from {{ source('slack', 'messages') }}
where coalesce(is_deleted, false) = false
