-- Every GPS fix the service acknowledged, from every source.
--
-- RANGE-partitioned on ts, one partition per local calendar day of the service's time zone
-- (positions_YYYYMMDD), created on demand by positions_ensure_partition() before a batch lands in
-- it.  The primary key (vehicle_id, ts) holds the partition key, so the same fix sent twice, even
-- across restarts, is stored once (INSERT ... ON CONFLICT DO NOTHING); old days are dropped with
-- one DROP TABLE.  ``live`` is false for fixes kept out of live tracking: backlog a terminal
-- uploaded late, and fixes older than the newest one already tracked for that vehicle.
CREATE TABLE positions (
    vehicle_id  text NOT NULL,
    ts          timestamptz NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    speed_mps   real,
    bearing_deg real,
    trip_id     text,
    route_id    text,
    block_id    text,
    start_date  text,
    start_time  text,
    label       text,
    odometer_m  double precision,
    source      text NOT NULL,
    live        boolean NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (vehicle_id, ts)
) PARTITION BY RANGE (ts);

-- Create (if missing) the partition holding local day ``day`` in zone ``tz``; return its name.
-- DDL takes no bind parameters, so the bounds are quoted here with format(%L), not by callers.
CREATE FUNCTION positions_ensure_partition(day date, tz text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'positions_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(part) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)',
                           part, day::timestamp AT TIME ZONE tz, (day + 1)::timestamp AT TIME ZONE tz);
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;  -- another process created it at the same moment
        END;
    END IF;
    RETURN part;
END
$$;
