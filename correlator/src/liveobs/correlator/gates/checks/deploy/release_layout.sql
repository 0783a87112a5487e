-- The judged release is recorded from a release directory built from its artifact (digests as the manifest says, no checkout or fixture), and every unit the manifest names is an explicit unit file whose ExecStart runs the release's entry point from the release tree (no checkout, no shell shim).
WITH rec AS (
    SELECT * FROM liveobs_release_manifests
    WHERE ($service IS NULL OR ServiceName = $service) AND Version = $release
), units AS (
    SELECT u.Unit, u.ExecStart, u.Problems
    FROM liveobs_release_units u JOIN rec ON u.ServiceName = rec.ServiceName AND u.Version = rec.Version
), found AS (
    SELECT list_concat(
        coalesce((SELECT any_value(Problems) FROM rec), []),
        coalesce((SELECT flatten(list(list_transform(Problems, lambda p: 'unit ' || Unit || ': ' || p)))
                  FROM units), []),
        CASE WHEN (SELECT count(*) FROM units) = 0 AND (SELECT count(*) FROM rec) > 0
             THEN ['the manifest names no unit'] ELSE [] END,
        CASE WHEN (SELECT count(*) FROM rec) > 0 AND (SELECT any_value(Digest) FROM rec) IS NULL
             THEN ['no artifact digest: the first artifact is missing'] ELSE [] END
    ) AS problems
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN len(problems) END AS observed,
       (SELECT count(*) FROM rec) AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} is not recorded: run liveobs release record ROOT --version {}', $release, $release)
            WHEN len(problems) > 0 THEN array_to_string(problems, '; ')
            ELSE format('{} {} from {}; units {}', $release, (SELECT any_value(Digest) FROM rec),
                        (SELECT any_value(Directory) FROM rec),
                        (SELECT string_agg(Unit || ': ' || ExecStart, ', ' ORDER BY Unit) FROM units))
       END AS detail
FROM found;
