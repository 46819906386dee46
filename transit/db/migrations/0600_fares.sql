-- Fare collection for the bureau's electronic-payment rate (indicator 8).
--
-- Transactions are kept one by one, keyed by the fare system's transaction id so that a batch
-- sent twice counts once.  Cash often exists only as fare-box or passenger-counter totals: those
-- are aggregate records, one per line, vehicle, day and channel, replaced when sent again.
-- fare_daily rolls both up per day, line, vehicle and channel as they are stored, so a month's
-- report reads some hundred thousand rows rather than millions.  A vehicle's boardings on a day
-- and channel are the larger of its transactions and its aggregate total: a fare-box total that
-- also covers individually recorded cash fares is not counted twice.

CREATE TABLE fare_batches (
    batch_id               bigserial PRIMARY KEY,
    received_at            timestamptz NOT NULL DEFAULT now(),
    source                 text NOT NULL,
    format                 text NOT NULL,
    rows                   integer NOT NULL DEFAULT 0,
    transactions_new       integer NOT NULL DEFAULT 0,
    transactions_duplicate integer NOT NULL DEFAULT 0,
    aggregates             integer NOT NULL DEFAULT 0,
    rejected               integer NOT NULL DEFAULT 0,
    rejections             jsonb
);

CREATE TABLE fare_transactions (
    transaction_id text PRIMARY KEY,
    ts             timestamptz NOT NULL,
    service_date   date NOT NULL,          -- calendar date of ts in the service's time zone
    route_id       text NOT NULL,          -- the line as the fare system names it
    vehicle_id     text NOT NULL,
    stop_id        text,
    channel        text NOT NULL,
    amount_fen     integer NOT NULL CHECK (amount_fen >= 0),
    batch_id       bigint NOT NULL
);
-- Transactions arrive roughly in time order: a BRIN index costs almost nothing to keep.
CREATE INDEX fare_transactions_day ON fare_transactions USING brin (service_date);

CREATE TABLE fare_aggregates (
    service_date date NOT NULL,
    route_id     text NOT NULL,
    vehicle_id   text NOT NULL,
    channel      text NOT NULL,
    boardings    integer NOT NULL CHECK (boardings >= 0),
    source       text,                     -- fare_box, passenger_counter, manual ...
    batch_id     bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_date, route_id, vehicle_id, channel)
);

CREATE TABLE fare_daily (
    service_date        date NOT NULL,
    route_id            text NOT NULL,
    vehicle_id          text NOT NULL,
    channel             text NOT NULL,
    transactions        integer NOT NULL DEFAULT 0,
    amount_fen          bigint NOT NULL DEFAULT 0,
    aggregate_boardings integer,           -- NULL: no aggregate record for this key
    boardings           integer GENERATED ALWAYS AS (greatest(transactions, coalesce(aggregate_boardings, 0))) STORED,
    PRIMARY KEY (service_date, route_id, vehicle_id, channel)
);
