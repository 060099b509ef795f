-- The clock of date_added: one row, advanced first in every transaction that adds
-- objects (or advisories). Its row lock is held until commit, so a transaction that
-- took a smaller date_added has committed before a larger one is handed out:
-- date_added follows commit order, across nodes too.
CREATE TABLE added_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT NOT NULL
);
INSERT INTO added_clock (id, last) VALUES (1, GREATEST(
    COALESCE((SELECT MAX(date_added) FROM objects), 0),
    COALESCE((SELECT MAX(date_added) FROM advisories), 0)));
