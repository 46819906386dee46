-- Which trip instances had real-time (not schedule-based) predictions served, per service day.
-- Written by the tracker whenever it publishes a snapshot holding real-time predictions for a
-- trip instance; read by the bureau's real-time arrival prediction rate (indicator 2).
CREATE TABLE served_trips (
    service_date     date NOT NULL,
    trip_id          text NOT NULL,
    start_time       text NOT NULL DEFAULT '',  -- frequency-based instances; '' otherwise
    route_id         text NOT NULL,
    feed_id          bigint,
    first_served_at  timestamptz NOT NULL,
    last_served_at   timestamptz NOT NULL,
    snapshots        integer NOT NULL DEFAULT 1,
    PRIMARY KEY (service_date, trip_id, start_time)
);
CREATE INDEX served_trips_route_day ON served_trips (route_id, service_date);
