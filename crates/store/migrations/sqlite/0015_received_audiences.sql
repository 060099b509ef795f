-- Objects received before this schema kept the audience their peer named (it could
-- name local members). Keep what the coordinator granted (from the audit log), make
-- received AMBER the coordinator's, and drop every other audience row.
INSERT INTO received_grants (stix_id, identity_id)
SELECT DISTINCT a.subject, j.value FROM audit_log a, json_each(a.detail, '$.added') j
WHERE a.action = 'object.extend_audience' AND a.subject IS NOT NULL
  AND json_extract(a.detail, '$.collection') = '9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94'
ON CONFLICT DO NOTHING;
DELETE FROM object_audience
WHERE pk IN (SELECT pk FROM objects WHERE collection_id = '9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94')
  AND NOT (
    (SELECT tlp FROM objects o WHERE o.pk = object_audience.pk) = 2
    AND (identity_id IN (SELECT identity_id FROM organizations WHERE kind = 'coordinator')
         OR EXISTS (SELECT 1 FROM received_grants g JOIN objects o ON o.stix_id = g.stix_id
                    WHERE o.pk = object_audience.pk AND g.identity_id = object_audience.identity_id)));
INSERT INTO object_audience (pk, identity_id)
SELECT o.pk, org.identity_id FROM objects o, organizations org
WHERE o.collection_id = '9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94' AND o.tlp = 2 AND o.has_audience = 1 AND org.kind = 'coordinator'
ON CONFLICT DO NOTHING;
UPDATE objects SET has_audience = CASE WHEN EXISTS (SELECT 1 FROM object_audience a WHERE a.pk = objects.pk) THEN 1 ELSE 0 END
WHERE collection_id = '9a4c1e7b-3f2d-4e8a-b6c5-1d0e7f3a2b94';
