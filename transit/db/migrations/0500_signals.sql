-- Intersections, their signal controllers and electronic-police cameras, what the controllers and
-- cameras reported, and the coverage log computed from it (signals/).

CREATE TABLE intersections (
    intersection_id  text PRIMARY KEY,
    name             text NOT NULL,
    lat              double precision NOT NULL,
    lon              double precision NOT NULL,
    town             text NOT NULL DEFAULT '',
    is_key           boolean NOT NULL DEFAULT false,
    in_service_from  date,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A controller or camera belongs to one intersection; ids are those the devices use in their data
-- (Indiana SignalId, GA/T 1049 CrossID, GB/T 20999 device id, camera device code).
CREATE TABLE intersection_controllers (
    controller_id    text PRIMARY KEY,
    intersection_id  text NOT NULL REFERENCES intersections ON DELETE CASCADE,
    position         smallint NOT NULL DEFAULT 0
);
CREATE INDEX intersection_controllers_by_intersection ON intersection_controllers (intersection_id);

CREATE TABLE intersection_cameras (
    camera_id        text PRIMARY KEY,
    intersection_id  text NOT NULL REFERENCES intersections ON DELETE CASCADE,
    position         smallint NOT NULL DEFAULT 0
);
CREATE INDEX intersection_cameras_by_intersection ON intersection_cameras (intersection_id);

-- Indiana high-resolution events, as logged (no foreign key: a log may arrive before its
-- controller is registered).  Loaded with binary COPY.
CREATE TABLE signal_events (
    controller_id  text NOT NULL,
    ts             timestamptz NOT NULL,
    code           smallint NOT NULL,
    param          integer NOT NULL
);
CREATE INDEX signal_events_by_controller ON signal_events (controller_id, ts);

-- The local days on which each controller sent anything (events or status): what to recompute
-- when a controller is registered later than its data arrived.
CREATE TABLE signal_controller_days (
    controller_id  text NOT NULL,
    day            date NOT NULL,
    PRIMARY KEY (controller_id, day)
);

-- GA/T 1049.2-style status messages (GB/T 20999 running modes are stored mapped, with the original).
CREATE TABLE signal_status (
    controller_id  text NOT NULL,
    ts             timestamptz NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('state', 'mode', 'cycle')),
    state          text CHECK (state IN ('Online', 'Offline', 'Error')),
    mode           text,          -- GA/T 1049.2 control-mode code
    mode_source    text,          -- the code as received, e.g. 'GB20999:0x22'
    plan_no        integer,
    cycle_len_s    double precision,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (controller_id, ts, kind)
);

-- Camera reports rolled up per local day: heartbeats seen and/or the day's capture count.
CREATE TABLE camera_days (
    camera_id    text NOT NULL,
    day          date NOT NULL,
    heartbeats   integer NOT NULL DEFAULT 0,
    first_ts     timestamptz,
    last_ts      timestamptz,
    captures     integer,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, day)
);

-- The coverage log: one row per intersection per local day, recomputed as data arrives.
-- Minute figures are within the operating hours (settings signals.operating_start/end).
CREATE TABLE signal_coverage_days (
    intersection_id       text NOT NULL REFERENCES intersections ON DELETE CASCADE,
    day                   date NOT NULL,
    operating_min         double precision NOT NULL,
    online_min            double precision NOT NULL,
    realtime_min          double precision NOT NULL,
    flash_min             double precision NOT NULL,
    mode_min              jsonb NOT NULL DEFAULT '{}',
    cycles                integer NOT NULL DEFAULT 0,
    cycle_mean_s          double precision,
    cycle_std_s           double precision,
    cycle_min_s           double precision,
    cycle_max_s           double precision,
    cycle_cv              double precision,
    plan_changes          integer NOT NULL DEFAULT 0,
    plans                 jsonb NOT NULL DEFAULT '[]',
    cycle_length_changes  integer NOT NULL DEFAULT 0,
    split_changes         integer NOT NULL DEFAULT 0,
    gap_outs              integer NOT NULL DEFAULT 0,
    max_outs              integer NOT NULL DEFAULT 0,
    events                integer NOT NULL DEFAULT 0,
    status_messages       integer NOT NULL DEFAULT 0,
    cameras               jsonb NOT NULL DEFAULT '{}',
    realtime              boolean NOT NULL,
    reason_code           text,          -- why the day does not count (see signals/coverage_day.py)
    reason                text,
    evidence              jsonb NOT NULL DEFAULT '[]',
    controllers           jsonb NOT NULL DEFAULT '{}',
    partial               boolean NOT NULL DEFAULT false,
    computed_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (intersection_id, day)
);
CREATE INDEX signal_coverage_days_by_day ON signal_coverage_days (day);

-- Intersection-days whose inputs changed since they were last computed (durable work queue).
CREATE TABLE signal_dirty_days (
    intersection_id  text NOT NULL,
    day              date NOT NULL,
    marked_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (intersection_id, day)
);
