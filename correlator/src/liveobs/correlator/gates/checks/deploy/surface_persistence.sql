-- Persistence gate: when the judged release adds migrations or changes the schema version, a persistence dry run applied its migrations to a copy of the rollback target's data and the rollback target's units still started on it and answered ready; a release that declares its migrations irreversible fails.
WITH rec AS (
    SELECT m.ServiceName, m.Version, m.RollbackVersion, m.Reversible, m.SchemaVersion, r.SchemaVersion AS RollbackSchema
    FROM liveobs_release_manifests m JOIN liveobs_release_manifests r
      ON r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion
    WHERE ($service IS NULL OR m.ServiceName = $service) AND m.Version = $release
), changes AS (
    SELECT c.Name || ' ' || c.Change AS what
    FROM liveobs_release_changes c JOIN rec USING (ServiceName, Version)
    WHERE c.Kind = 'migration'
    UNION ALL
    SELECT format('schema version {} -> {}', coalesce(CAST(RollbackSchema AS VARCHAR), 'none'), coalesce(CAST(SchemaVersion AS VARCHAR), 'none'))
    FROM rec WHERE SchemaVersion IS DISTINCT FROM RollbackSchema
), latest AS (
    SELECT d.* FROM liveobs_release_dryruns d JOIN rec ON d.ServiceName = rec.ServiceName AND d.Version = rec.Version
    WHERE d.Kind = 'persistence'
    QUALIFY d.RunId = first_value(d.RunId) OVER (ORDER BY d.RanAt DESC)
), found AS (
    SELECT list_filter(list_concat(
        [CASE WHEN NOT (SELECT any_value(Reversible) FROM rec)
              THEN format('release {} declares its migrations irreversible: the rollback target {} cannot run on the migrated data',
                          $release, (SELECT any_value(RollbackVersion) FROM rec)) END,
         CASE WHEN (SELECT any_value(Reversible) FROM rec) AND (SELECT count(*) FROM latest) = 0
              THEN format('no persistence dry run: run liveobs release dry-run ROOT --version {} --data FILE', $release) END],
        coalesce((SELECT list(Unit || ' ' || Path || ': ' || coalesce(Problem, 'answered ' || coalesce(CAST(HttpStatus AS VARCHAR), 'nothing')))
                  FILTER (WHERE Problem IS NOT NULL OR (Unit <> 'migrations' AND HttpStatus IS DISTINCT FROM 200))
                  FROM latest), [])
    ), lambda p: p IS NOT NULL) AS problems
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN len(problems) END AS observed,
       CASE WHEN (SELECT count(*) FROM rec) > 0 THEN 1 ELSE 0 END AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} and its rollback target are not both recorded: run liveobs release record ROOT --version V for each', $release)
            WHEN len(problems) > 0 THEN array_to_string(problems, '; ')
            ELSE format('{}: migrations applied to a copy of {}''s data, which still starts on it ({} answers)',
                        (SELECT string_agg(what, ', ') FROM changes), (SELECT any_value(RollbackVersion) FROM rec),
                        (SELECT count(*) FROM latest))
       END AS detail,
       (SELECT count(*) FROM rec) = 0 OR (SELECT count(*) FROM changes) > 0 AS applicable
FROM found;
