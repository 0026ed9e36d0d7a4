//! The oracle the other tests rely on refuses what is not restricted where it is exact: were it
//! lenient, every test built on it would pass vacuously.

mod support;

use support::verify;

#[test]
fn accepts_the_exact_placements() {
    for sql in [
        "SELECT * FROM ent_0 a WHERE a.tcol_0 = $1",
        "SELECT * FROM ent_0 a WHERE (a.x = 1 OR a.y = 2) AND a.tcol_0 = $1",
        "SELECT * FROM ent_0 a LEFT JOIN ent_1 b ON (a.id = b.id) AND b.tcol_1 = $1 WHERE a.tcol_0 = $1",
        "SELECT * FROM ent_0 a RIGHT JOIN ent_1 b ON a.id = b.id AND a.tcol_0 = $1 WHERE b.tcol_1 = $1",
        "SELECT * FROM (SELECT * FROM ent_0 WHERE tcol_0 = $1) a FULL JOIN (SELECT * FROM ent_1 WHERE tcol_1 = $1) b ON a.id = b.id",
        "UPDATE ent_0 AS a SET x = 1 WHERE a.tcol_0 = $1",
        "INSERT INTO ent_0 (x, tcol_0) VALUES (1, $1)",
    ] {
        verify(sql, 1).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[test]
fn refuses_what_is_not_restricted_where_exact() {
    for sql in [
        // Missing.
        "SELECT * FROM ent_0 a",
        "SELECT * FROM ent_0 a WHERE a.x = 1",
        // Inside the user's OR, under NOT, against another parameter or column, or relation.
        "SELECT * FROM ent_0 a WHERE a.x = 1 OR a.tcol_0 = $1",
        "SELECT * FROM ent_0 a WHERE NOT a.tcol_0 = $1",
        "SELECT * FROM ent_0 a WHERE a.tcol_0 = $2",
        "SELECT * FROM ent_0 a WHERE a.tcol_1 = $1",
        "SELECT * FROM ent_0 a, ent_0 b WHERE a.tcol_0 = $1",
        // Two relations of one name: the predicate binds to neither for sure.
        "SELECT * FROM ent_0 a, ent_1 a WHERE a.tcol_0 = $1 AND a.tcol_1 = $1",
        // A LEFT join's nullable side restricted in WHERE (rows lost) or not at all (rows leak).
        "SELECT * FROM ent_0 a LEFT JOIN ent_1 b ON a.id = b.id WHERE a.tcol_0 = $1 AND b.tcol_1 = $1",
        "SELECT * FROM ent_0 a LEFT JOIN ent_1 b ON a.id = b.id WHERE a.tcol_0 = $1",
        // A LEFT join's preserved side restricted in the ON (leaks: its rows are kept).
        "SELECT * FROM ent_0 a LEFT JOIN ent_1 b ON a.id = b.id AND a.tcol_0 = $1 AND b.tcol_1 = $1",
        // A FULL join restricted in its ON.
        "SELECT * FROM ent_0 a FULL JOIN ent_1 b ON a.id = b.id AND a.tcol_0 = $1 AND b.tcol_1 = $1",
        // A subquery left unrestricted.
        "SELECT * FROM ent_0 a WHERE a.tcol_0 = $1 AND EXISTS (SELECT 1 FROM ent_1 b)",
        "SELECT (SELECT count(*) FROM ent_1) FROM ent_0 a WHERE a.tcol_0 = $1",
        "WITH c AS (SELECT * FROM ent_1) SELECT * FROM c",
        "SELECT * FROM ent_0 a WHERE a.tcol_0 = $1 UNION SELECT * FROM ent_1",
        // Writes.
        "UPDATE ent_0 AS a SET x = 1",
        "DELETE FROM ent_0 AS a WHERE a.x = 1",
        "INSERT INTO ent_0 (x) VALUES (1)",
        "INSERT INTO ent_0 (x, tcol_0) VALUES (1, $1), (2, 'globex')",
        "INSERT INTO ent_0 (x, tcol_0) VALUES (1, $1) ON CONFLICT (x) DO UPDATE SET x = 2 WHERE ent_0.tcol_0 = $1",
        "INSERT INTO ent_0 (x, tcol_0) VALUES (1, $1) ON CONFLICT (tcol_0, x) DO UPDATE SET x = 2",
        "INSERT INTO ent_0 (x, tcol_0) SELECT y, $1 FROM ent_1",
    ] {
        assert!(verify(sql, 1).is_err(), "the oracle accepted: {sql}");
    }
}
