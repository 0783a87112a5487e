-- Docs and release notes: when the judged release changes its surface against its rollback target, its release notes have an entry for the version that names each change, and the doc of each new or changed route and live event is new or changed between the two releases.
WITH rec AS (
    SELECT m.ServiceName, m.Version, m.RollbackVersion, m.NotesEntry FROM liveobs_release_manifests m
    WHERE ($service IS NULL OR m.ServiceName = $service) AND m.Version = $release
      AND EXISTS (SELECT 1 FROM liveobs_release_manifests r WHERE r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion)
), changed AS (
    SELECT c.*, CASE WHEN c.Kind = 'migration' THEN regexp_extract(c.Name, '([^/]+)\.sql$', 1) ELSE c.Name END AS token,
           CASE c.Kind WHEN 'route' THEN c.Method || ' ' || c.Name WHEN 'live_event' THEN 'live event ' || c.Name
                ELSE c.Kind || ' ' || c.Name END AS what
    FROM liveobs_release_changes c JOIN rec USING (ServiceName, Version)
), docs AS (
    SELECT c.what, c.Doc,
           (SELECT any_value(d.Sha256) FROM liveobs_release_docs d
            WHERE d.ServiceName = c.ServiceName AND d.Version = c.Version AND d.Path = c.Doc) AS now,
           (SELECT any_value(d.Sha256) FROM liveobs_release_docs d
            WHERE d.ServiceName = c.ServiceName AND d.Version = c.RollbackVersion AND d.Path = c.Doc) AS before
    FROM changed c WHERE c.Kind IN ('route', 'live_event') AND c.Change <> 'removed'
), found AS (
    SELECT list_concat(
        CASE WHEN (SELECT count(*) FROM changed) > 0 AND (SELECT any_value(NotesEntry) FROM rec) IS NULL
             THEN [format('the release notes have no entry for {}', $release)] ELSE [] END,
        list_transform(CASE WHEN (SELECT any_value(NotesEntry) FROM rec) IS NOT NULL
             THEN coalesce((SELECT list(what || ' (' || Change || ')' ORDER BY what) FROM changed
                            WHERE NOT contains((SELECT any_value(NotesEntry) FROM rec), token)), []) ELSE [] END,
            lambda w: 'the release notes entry does not name ' || w),
        coalesce((SELECT list(CASE WHEN Doc IS NULL THEN what || ' declares no doc'
                                   WHEN now IS NULL THEN what || ': doc ' || Doc || ' is missing from the release'
                                   ELSE what || ': doc ' || Doc || ' did not change since the rollback target' END ORDER BY what)
                  FROM docs WHERE Doc IS NULL OR now IS NULL OR now = before), [])
    ) AS problems
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN len(problems) END AS observed,
       CASE WHEN (SELECT count(*) FROM rec) > 0 THEN 1 ELSE 0 END AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} and its rollback target are not both recorded: run liveobs release record ROOT --version V for each', $release)
            WHEN len(problems) > 0 THEN array_to_string(problems, '; ')
            ELSE format('the notes entry for {} names all {} changes; {} docs changed', $release, (SELECT count(*) FROM changed),
                        (SELECT count(*) FROM docs))
       END AS detail,
       (SELECT count(*) FROM rec) = 0 OR (SELECT count(*) FROM changed) > 0 AS applicable
FROM found;
