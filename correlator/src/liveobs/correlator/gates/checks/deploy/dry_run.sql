-- The judged release's latest dry run started every unit the manifest names from the release directory on a side port, and each readiness path answered 200 reporting the release's version and recorded artifact digest from source "release".
WITH rec AS (
    SELECT ServiceName, Version, Digest FROM liveobs_release_manifests
    WHERE ($service IS NULL OR ServiceName = $service) AND Version = $release
), wanted AS (
    SELECT u.Unit, unnest(u.Readiness) AS Path
    FROM liveobs_release_units u JOIN rec ON u.ServiceName = rec.ServiceName AND u.Version = rec.Version
), latest AS (
    SELECT d.* FROM liveobs_release_dryruns d JOIN rec ON d.ServiceName = rec.ServiceName AND d.Version = rec.Version
    WHERE d.Kind = 'readiness'
    QUALIFY d.RunId = first_value(d.RunId) OVER (ORDER BY d.RanAt DESC)
), judged AS (
    SELECT w.Unit, w.Path, l.RunId IS NOT NULL AS probed, CASE
        WHEN l.RunId IS NULL THEN 'not probed'
        WHEN l.Problem IS NOT NULL THEN l.Problem
        WHEN l.HttpStatus IS DISTINCT FROM 200 THEN format('answered {}', coalesce(CAST(l.HttpStatus AS VARCHAR), 'nothing'))
        WHEN l.ReportedSource IS DISTINCT FROM $RELEASE_SOURCE_RELEASE
            THEN format('ran from source {}', coalesce(l.ReportedSource, 'unreported'))
        WHEN l.ReportedDigest IS DISTINCT FROM (SELECT any_value(Digest) FROM rec)
            THEN format('reported artifact {}', coalesce(l.ReportedDigest, 'none'))
        WHEN l.ReportedVersion IS NOT NULL AND l.ReportedVersion <> $release
            THEN format('reported version {}', l.ReportedVersion)
    END AS problem
    FROM wanted w LEFT JOIN latest l ON l.Unit = w.Unit AND l.Path = w.Path
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 AND (SELECT count(*) FROM latest) > 0 THEN count(problem) END AS observed,
       count(*) FILTER (WHERE probed) AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} is not recorded: run liveobs release record ROOT --version {}', $release, $release)
            WHEN (SELECT count(*) FROM latest) = 0
            THEN format('no dry run of {}: run liveobs release dry-run ROOT --version {}', $release, $release)
            WHEN count(problem) > 0
            THEN array_to_string(list(Unit || ' ' || Path || ': ' || problem ORDER BY Unit, Path) FILTER (WHERE problem IS NOT NULL), '; ')
            ELSE format('{} units, {} readiness answers from the release''s artifact', count(DISTINCT Unit), count(*))
       END AS detail
FROM judged;
