-- Grain: one new row of `report_run`: a practice's monthly report rendered at $reported_at.
INSERT INTO report_run (month, practice_id, reported_at)
VALUES ($month, $practice_id, $reported_at)
RETURNING run_id
