-- Static GTFS, one feed version per import.
--
-- Every GTFS table is LIST-partitioned by feed_id.  An import checks the feed in memory, COPYs
-- each file into a fresh unindexed table and only when the whole feed is valid attaches the tables
-- as partitions and activates the version, in one transaction: COPY runs at bare speed, a failed
-- import leaves nothing half-loaded in the live tables, and an old version is dropped with one
-- DROP TABLE.  GTFS times are stored as seconds from the service day's start (``*_s``); hours may
-- pass 24.  stop_times and shapes carry no primary key: the importer checks their uniqueness and
-- the service reads them whole, by partition.

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

CREATE TABLE gtfs_agency (
    feed_id         bigint NOT NULL,
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
    trip_id             text NOT NULL,
    arrival_s           integer,
    departure_s         integer,
    stop_id             text NOT NULL,
    stop_sequence       integer NOT NULL,
    stop_headsign       text,
    pickup_type         integer,
    drop_off_type       integer,
    continuous_pickup   integer,
    continuous_drop_off integer,
    shape_dist_traveled double precision,
    timepoint           integer
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_shapes (
    feed_id             bigint NOT NULL,
    shape_id            text NOT NULL,
    shape_pt_lat        double precision NOT NULL,
    shape_pt_lon        double precision NOT NULL,
    shape_pt_sequence   integer NOT NULL,
    shape_dist_traveled double precision
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_calendar (
    feed_id    bigint NOT NULL,
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
    service_id     text NOT NULL,
    date           date NOT NULL,
    exception_type integer NOT NULL,
    PRIMARY KEY (feed_id, service_id, date)
) PARTITION BY LIST (feed_id);

CREATE TABLE gtfs_frequencies (
    feed_id      bigint NOT NULL,
    trip_id      text NOT NULL,
    start_s      integer NOT NULL,
    end_s        integer NOT NULL,
    headway_secs integer NOT NULL,
    exact_times  integer,
    PRIMARY KEY (feed_id, trip_id, start_s)
) PARTITION BY LIST (feed_id);

-- Optional: translations.txt carries the English stop names and headsigns beside the Chinese.
CREATE TABLE gtfs_translations (
    feed_id       bigint NOT NULL,
    table_name    text NOT NULL,
    field_name    text NOT NULL,
    language      text NOT NULL,
    translation   text NOT NULL,
    record_id     text,
    record_sub_id text,
    field_value   text
) PARTITION BY LIST (feed_id);
