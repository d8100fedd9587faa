-- The questions nobody (but the asker) has replied to.
select
    channel_id,
    channel_name,
    ts,
    asked_by,
    asked_by_name,
    asked_at,
    text,
    replies
from {{ ref('questions') }}
where not is_answered
