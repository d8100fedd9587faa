{#-
  Time helpers dispatched per adapter (DuckDB and BigQuery), all in UTC.

  DuckDB computes on a TIMESTAMP WITH TIME ZONE in the session's time zone: each macro first
  turns the value into its UTC wall-clock time (`timezone('UTC', ts)`). BigQuery's DATE()
  of a TIMESTAMP is UTC unless told otherwise.
-#}

{#- The UTC calendar date of a timestamp (a DATE). -#}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'slack_analytics')(ts)) }}
{%- endmacro %}

{% macro default__utc_date(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}

{% macro duckdb__utc_date(ts) -%}
    cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro %}

{% macro bigquery__utc_date(ts) -%}
    date({{ ts }}, 'UTC')
{%- endmacro %}


{#- The Monday (a DATE) starting the ISO week of a timestamp's UTC date. -#}
{% macro week_start(ts) -%}
    {{ return(adapter.dispatch('week_start', 'slack_analytics')(ts)) }}
{%- endmacro %}

{% macro default__week_start(ts) -%}
    cast(date_trunc('week', {{ ts }}) as date)
{%- endmacro %}

{#- DuckDB's 'week' part is the ISO week: it starts on Monday. -#}
{% macro duckdb__week_start(ts) -%}
    cast(date_trunc('week', timezone('UTC', {{ ts }})) as date)
{%- endmacro %}

{#- BigQuery's WEEK starts on Sunday: WEEK(MONDAY) is the ISO week's start. -#}
{% macro bigquery__week_start(ts) -%}
    date_trunc(date({{ ts }}, 'UTC'), week(monday))
{%- endmacro %}


{#- Seconds from one timestamp to another (a float, exact to the microsecond). -#}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'slack_analytics')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    (cast(date_diff('microsecond', {{ start_ts }}, {{ end_ts }}) as double) / 1000000)
{%- endmacro %}

{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    (cast(epoch_us({{ end_ts }}) - epoch_us({{ start_ts }}) as double) / 1000000)
{%- endmacro %}

{% macro bigquery__seconds_between(start_ts, end_ts) -%}
    (timestamp_diff({{ end_ts }}, {{ start_ts }}, microsecond) / 1000000)
{%- endmacro %}
