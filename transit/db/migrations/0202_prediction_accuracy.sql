-- The service's own accuracy: predictions it served, scored against the arrivals it detected,
-- summed per service day, line and horizon bucket ('0-3', '3-6', '6-12', '12-30' minutes).
-- Sums (not averages) so that rows add up across days, lines and processes:
-- MAE = abs_error_s / n, bias = error_s / n (actual minus predicted), share inside the
-- published window = within / n.  Read by GET /api/v1/accuracy and the bureau's reports.
CREATE TABLE prediction_accuracy (
    service_date  date NOT NULL,
    route_id      text NOT NULL,
    bucket        text NOT NULL CHECK (bucket IN ('0-3', '3-6', '6-12', '12-30')),
    n             bigint NOT NULL,
    abs_error_s   double precision NOT NULL,
    error_s       double precision NOT NULL,
    within        bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_date, route_id, bucket)
);
