-- Whether a call is a timepoint inside its trip (an exact time in the timetable, neither the
-- first nor the last stop), where buses running early wait for their time.  The history the
-- travel-time model loads at start counts the link after such a call from when the bus was due
-- to leave it, as the tracker does online.  Rows written before this column default to false.
ALTER TABLE stop_arrivals ADD COLUMN timepoint boolean NOT NULL DEFAULT false;
