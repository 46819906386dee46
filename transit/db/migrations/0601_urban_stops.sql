-- Which stops are urban (城区) for the board-coverage indicator (2b).  The boundary comes from
-- the reports.urban_boundary setting or, when that is unset, from urban_boundary (set through the
-- admin API).  Operator flags override the boundary both ways.
CREATE TABLE urban_stop_flags (
    stop_id    text PRIMARY KEY,
    urban      boolean NOT NULL,
    note       text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE urban_boundary (
    id         integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    geojson    jsonb NOT NULL,
    source     text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
