-- The JT/T 808 terminal registry: terminal phone number -> vehicle (id, plate) -> default line.
--
-- JT/T 808 positions carry only the terminal's phone (its SIM number, BCD in the header), so this
-- table is what turns them into fixes of a vehicle.  Operators fill it through the admin API or
-- `transit terminals import FILE.csv`.  auth_code is the authentication code the platform issued
-- in its last 0x8100 registration answer; the terminal presents it in 0x0102 on every connection.
-- provisional rows were created by a registration while jt808.allow_unregistered was on.
CREATE TABLE jt808_terminals (
    phone             text PRIMARY KEY CHECK (phone ~ '^[0-9]{1,20}$' AND (phone = '0' OR phone !~ '^0')),
    vehicle_id        text NOT NULL CHECK (vehicle_id <> ''),
    plate             text,
    route_id          text,
    provisional       boolean NOT NULL DEFAULT false,
    auth_code         text,
    -- What the terminal said about itself in its last registration (0x0100).
    edition           smallint,
    maker_id          text,
    model             text,
    device_id         text,
    registered_plate  text,
    registered_at     timestamptz,
    authenticated_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jt808_terminals_vehicle ON jt808_terminals (vehicle_id);
CREATE INDEX jt808_terminals_route ON jt808_terminals (route_id);
