-- A user's display name in the models: the real name, else the user name.
select
    id as user_id,
    coalesce(nullif(real_name, ''), name) as user_name
from {{ source('slack', 'users') }}
