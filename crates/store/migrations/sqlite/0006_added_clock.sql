-- The clock of date_added: one row, advanced inside every transaction that adds
-- objects (or advisories). SQLite runs one writer at a time, so date_added follows
-- commit order.
CREATE TABLE added_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO added_clock (id, last) VALUES (1, MAX(
    COALESCE((SELECT MAX(date_added) FROM objects), 0),
    COALESCE((SELECT MAX(date_added) FROM advisories), 0)));
