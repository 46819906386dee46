-- Static GTFS, one feed version per import.
--
-- Every GTFS table is LIST-partitioned by feed_id.  An import COPYs each file into a fresh,
-- unindexed table, validates it, builds its indexes and only then attaches it as a partition:
-- COPY runs at bare speed, a failed import leaves nothing half-loaded in the live tables, and an
-- old version is dropped with one DROP TABLE.  ``line`` is the 1-based line in the source file,
-- so errors found after loading still name the line.

CREATE TABLE feed_versions (
    feed_id         bigserial PRIMARY KEY,
    source          text NOT NULL,
    sha256          text,
    status          text NOT NULL CHECK (status IN ('loading', 'active', 'failed', 'superseded')),
    imported_at     timestamptz NOT NULL DEFAULT now(),
    activated_at    timestamptz,
    agency_timezone text,
    counts          jsonb NOT NULL DEFAULT '{}'::jsonb,
    errors          jsonb,
    archive         bytea
);
CREATE UNIQUE INDEX feed_versions_one_active ON feed_versions ((true)) WHERE status = 'active';

-- "HH:MM:SS", hours may pass 24 (the service day runs on past midnight).
CREATE DOMAIN gtfs_time AS text CHECK (VALUE ~ '^\s*\d{1,3}:[0-5]\d:[0-5]\d\s*$');

CREATE FUNCTION gtfs_time_s(t text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
    SELECT split_part(btrim(t), ':', 1)::integer * 3600
         + split_part(btrim(t), ':', 2)::integer * 60
         + split_part(btrim(t), ':', 3)::integer
$$;

CREATE TABLE gtfs_agency (
    feed_id         bigint NOT NULL,
    line            integer,
    agency_id       text,
    agency_name     text,
    agency_url      text,
    agency_timezone text,
    agency_lang     text,
    agency_phone    text,
    agency_fare_url text,
    agency_email    text
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_routes (
    feed_id             bigint NOT NULL,
    line                integer,
    route_id            text NOT NULL,
    agency_id           text,
    route_short_name    text,
    route_long_name     text,
    route_desc          text,
    route_type          integer,
    route_url           text,
    route_color         text,
    route_text_color    text,
    route_sort_order    integer,
    PRIMARY KEY (feed_id, route_id)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_stops (
    feed_id             bigint NOT NULL,
    line                integer,
    stop_id             text NOT NULL,
    stop_code           text,
    stop_name           text,
    stop_desc           text,
    stop_lat            double precision,
    stop_lon            double precision,
    zone_id             text,
    stop_url            text,
    location_type       integer,
    parent_station      text,
    stop_timezone       text,
    wheelchair_boarding integer,
    platform_code       text,
    PRIMARY KEY (feed_id, stop_id)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_trips (
    feed_id               bigint NOT NULL,
    line                  integer,
    route_id              text NOT NULL,
    service_id            text NOT NULL,
    trip_id               text NOT NULL,
    trip_headsign         text,
    trip_short_name       text,
    direction_id          integer,
    block_id              text,
    shape_id              text,
    wheelchair_accessible integer,
    bikes_allowed         integer,
    PRIMARY KEY (feed_id, trip_id)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_stop_times (
    feed_id             bigint NOT NULL,
    line                integer,
    trip_id             text NOT NULL,
    arrival_time        gtfs_time,
    departure_time      gtfs_time,
    stop_id             text NOT NULL,
    stop_sequence       integer NOT NULL,
    stop_headsign       text,
    pickup_type         integer,
    drop_off_type       integer,
    continuous_pickup   integer,
    continuous_drop_off integer,
    shape_dist_traveled double precision,
    timepoint           integer,
    arrival_s           integer GENERATED ALWAYS AS (gtfs_time_s(arrival_time)) STORED,
    departure_s         integer GENERATED ALWAYS AS (gtfs_time_s(departure_time)) STORED,
    PRIMARY KEY (feed_id, trip_id, stop_sequence)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_shapes (
    feed_id             bigint NOT NULL,
    line                integer,
    shape_id            text NOT NULL,
    shape_pt_lat        double precision NOT NULL,
    shape_pt_lon        double precision NOT NULL,
    shape_pt_sequence   integer NOT NULL,
    shape_dist_traveled double precision,
    PRIMARY KEY (feed_id, shape_id, shape_pt_sequence)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_calendar (
    feed_id    bigint NOT NULL,
    line       integer,
    service_id text NOT NULL,
    monday     integer NOT NULL,
    tuesday    integer NOT NULL,
    wednesday  integer NOT NULL,
    thursday   integer NOT NULL,
    friday     integer NOT NULL,
    saturday   integer NOT NULL,
    sunday     integer NOT NULL,
    start_date date NOT NULL,
    end_date   date NOT NULL,
    PRIMARY KEY (feed_id, service_id)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_calendar_dates (
    feed_id        bigint NOT NULL,
    line           integer,
    service_id     text NOT NULL,
    date           date NOT NULL,
    exception_type integer NOT NULL,
    PRIMARY KEY (feed_id, service_id, date)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_frequencies (
    feed_id      bigint NOT NULL,
    line         integer,
    trip_id      text NOT NULL,
    start_time   gtfs_time NOT NULL,
    end_time     gtfs_time NOT NULL,
    headway_secs integer NOT NULL,
    exact_times  integer,
    start_s      integer GENERATED ALWAYS AS (gtfs_time_s(start_time)) STORED,
    end_s        integer GENERATED ALWAYS AS (gtfs_time_s(end_time)) STORED,
    PRIMARY KEY (feed_id, trip_id, start_time)
) PARTITION BY LIST (feed_id);

-- Optional: translations.txt carries the English stop names and headsigns beside the Chinese.
CREATE TABLE gtfs_translations (
    feed_id       bigint NOT NULL,
    line          integer,
    table_name    text NOT NULL,
    field_name    text NOT NULL,
    language      text NOT NULL,
    translation   text NOT NULL,
    record_id     text,
    record_sub_id text,
    field_value   text
) PARTITION BY LIST (feed_id);
