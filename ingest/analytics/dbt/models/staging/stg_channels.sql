select
    id as channel_id,
    name as channel_name
from {{ source('slack', 'channels') }}
