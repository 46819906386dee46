-- What each bus actually did at each stop, as the tracker detected it from GPS fixes: the ground
-- truth the accuracy figures are measured against, and the history the travel-time models learn
-- from (running time = arrival minus the previous call's departure; dwell = departure minus
-- arrival).  One row per call of a trip instance; a second vehicle claiming the same call is
-- ignored (ON CONFLICT DO NOTHING), and so is the same event detected again when the tracker
-- rebuilds its state from the recent positions after a restart.
--
-- method: interpolated (passed between two fixes), at_stop (seen standing there), first_stop
-- (departure from the first stop; arrival_at is NULL), last_stop (departure_at is NULL), passed
-- (first seen already at the stop: only the departure is known).
CREATE TABLE stop_arrivals (
    service_date            date NOT NULL,
    trip_id                 text NOT NULL,
    start_time              text NOT NULL DEFAULT '',  -- frequency-based instances; '' otherwise
    stop_sequence           integer NOT NULL,
    stop_id                 text NOT NULL,
    route_id                text NOT NULL,
    vehicle_id              text NOT NULL,
    arrival_at              timestamptz,
    departure_at            timestamptz,
    scheduled_arrival_at    timestamptz NOT NULL,
    scheduled_departure_at  timestamptz NOT NULL,
    method                  text NOT NULL,
    dist_m                  real,
    feed_id                 bigint,
    recorded_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_date, trip_id, start_time, stop_sequence)
);
CREATE INDEX stop_arrivals_arrival_at ON stop_arrivals (arrival_at);
CREATE INDEX stop_arrivals_stop ON stop_arrivals (stop_id, arrival_at);
CREATE INDEX stop_arrivals_route_day ON stop_arrivals (route_id, service_date);
