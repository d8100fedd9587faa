-- a DM has no name in Slack: it is called by the other party's user id
select
    id as channel_id,
    case
        when is_im then 'DM with ' || coalesce({{ adapter.quote('user') }}, id)
        else name
    end as channel_name
from {{ source('slack', 'channels') }}
