"""Token formats: vendor credentials recognised by their documented shape.

Each format is a literal prefix followed by a run of one character class, the
shape the public secret-scanning rule sets (gitleaks, detect-secrets, GitHub's
partner patterns) describe for that vendor. The table is data; :func:`token`
turns a row into a pattern of one fixed form:

    (?<![A-Za-z0-9]) (prefix | prefix | …) [class]{min,max}

so every pattern is a guard, literals and one bounded run, which is what
``liveobs.redaction._linear`` proves linear. A format that needs more than one
run (``SG.…….……``) is written out with the same parts in :data:`SHAPED`.
"""

from __future__ import annotations

import re
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Final, NamedTuple


class Format(NamedTuple):
    """One secret format: the marker kind, the literals that any match contains, the pattern."""

    kind: str
    keywords: tuple[str, ...]  # lower-cased; a text without any of them cannot match
    pattern: re.Pattern[str]


AN: Final = "A-Za-z0-9"
URLSAFE: Final = "A-Za-z0-9_-"
ANU: Final = "A-Za-z0-9_"
B64: Final = "A-Za-z0-9+/"
HEX: Final = "a-f0-9"
HEXU: Final = "a-fA-F0-9"
UPAN: Final = "A-Z0-9"
LOAN: Final = "a-z0-9"
GUARD: Final = "(?<![A-Za-z0-9])"


def min_length(fmt: Format) -> int:
    """The length of the shortest text ``fmt`` can match."""
    return int(sre_parse.parse(fmt.pattern.pattern, fmt.pattern.flags).getwidth()[0])


def token(kind: str, prefixes: str, cls: str, low: int, high: int, flags: int = 0) -> Format:
    """A format of ``prefixes`` (``|``-separated literals) and one run of ``cls``."""
    literals = prefixes.split("|")
    body = "|".join(re.escape(p) for p in literals)
    pattern = re.compile(f"{GUARD}(?:{body})[{cls}]{{{low},{high}}}", flags)
    return Format(kind, tuple(p.lower() for p in literals), pattern)


def shaped(kind: str, keywords: str, pattern: str, flags: int = 0) -> Format:
    """A format written out by hand (several runs, or a keyword before the value)."""
    return Format(kind, tuple(k.lower() for k in keywords.split("|")), re.compile(pattern, flags))


# (kind, prefixes, class, min, max): one row per documented format.
_TOKENS: Final[tuple[tuple[str, str, str, int, int], ...]] = (
    ("aws_access_key", "AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T", UPAN, 16, 17),
    ("github_pat", "ghp_", AN, 36, 255),
    ("github_oauth", "gho_", AN, 36, 255),
    ("github_user_token", "ghu_", AN, 36, 255),
    ("github_server_token", "ghs_", AN, 36, 255),
    ("github_refresh_token", "ghr_", AN, 36, 255),
    ("github_fine_grained_pat", "github_pat_", ANU, 60, 255),
    ("gitlab_pat", "glpat-", URLSAFE, 20, 255),
    ("gitlab_deploy_token", "gldt-", URLSAFE, 20, 255),
    ("gitlab_runner_token", "glrt-", URLSAFE, 20, 255),
    ("gitlab_trigger_token", "glptt-", URLSAFE, 20, 255),
    ("gitlab_cicd_job_token", "glcbt-", URLSAFE, 20, 255),
    ("gitlab_oauth_secret", "gloas-", URLSAFE, 20, 255),
    ("gitlab_scim_token", "glsoat-", URLSAFE, 20, 255),
    ("gitlab_feed_token", "glft-", URLSAFE, 20, 255),
    ("gitlab_incoming_mail_token", "glimt-", URLSAFE, 20, 255),
    ("gitlab_agent_token", "glagent-", URLSAFE, 20, 255),
    ("gitlab_feature_flag_token", "glffct-", URLSAFE, 20, 255),
    ("gitlab_runner_registration", "GR1348941", URLSAFE, 20, 255),
    ("slack_bot_token", "xoxb-", "A-Za-z0-9-", 10, 255),
    ("slack_user_token", "xoxp-", "A-Za-z0-9-", 10, 255),
    ("slack_legacy_token", "xoxs-|xoxo-|xoxa-|xoxr-", "A-Za-z0-9-", 10, 255),
    ("slack_app_token", "xapp-", "A-Za-z0-9-", 20, 255),
    ("slack_config_token", "xoxe.xoxp-|xoxe.xoxb-|xoxe-", "A-Za-z0-9-", 20, 255),
    ("stripe_secret_key", "sk_live_|sk_test_|sk_prod_", AN, 10, 255),
    ("stripe_restricted_key", "rk_live_|rk_test_|rk_prod_", AN, 10, 255),
    ("stripe_webhook_secret", "whsec_", AN, 24, 255),
    ("openai_project_key", "sk-proj-", URLSAFE, 20, 255),
    ("openai_service_account_key", "sk-svcacct-", URLSAFE, 20, 255),
    ("openai_admin_key", "sk-admin-", URLSAFE, 20, 255),
    ("anthropic_api_key", "sk-ant-api03-|sk-ant-admin01-", URLSAFE, 20, 255),
    ("openrouter_key", "sk-or-v1-", HEX, 32, 128),
    ("sk_dash_api_key", "sk-", AN, 32, 64),
    ("npm_token", "npm_", AN, 36, 64),
    ("pypi_token", "pypi-AgEIcHlwaS5vcmc", URLSAFE, 50, 4096),
    ("testpypi_token", "pypi-AgENdGVzdC5weXBpLm9yZw", URLSAFE, 50, 4096),
    ("rubygems_token", "rubygems_", HEX, 48, 48),
    ("nuget_key", "oy2", LOAN, 43, 43),
    ("crates_io_token", "cio", AN, 32, 32),
    ("clojars_token", "CLOJARS_", LOAN, 60, 60),
    ("twilio_api_key", "SK", HEXU, 32, 32),
    ("mailgun_private_key", "key-", LOAN, 32, 32),
    ("mailgun_public_key", "pubkey-", HEX, 32, 32),
    ("digitalocean_pat", "dop_v1_", HEX, 64, 64),
    ("digitalocean_oauth", "doo_v1_", HEX, 64, 64),
    ("digitalocean_refresh", "dor_v1_", HEX, 64, 64),
    ("shopify_access_token", "shpat_", HEXU, 32, 32),
    ("shopify_custom_token", "shpca_", HEXU, 32, 32),
    ("shopify_private_app", "shppa_", HEXU, 32, 32),
    ("shopify_shared_secret", "shpss_", HEXU, 32, 32),
    ("gcp_api_key", "AIza", URLSAFE, 35, 35),
    ("google_oauth_token", "ya29.", URLSAFE, 20, 4096),
    ("google_oauth_client_secret", "GOCSPX-", URLSAFE, 28, 28),
    ("google_refresh_token", "1//0", URLSAFE, 40, 512),
    ("huggingface_token", "hf_", AN, 34, 64),
    ("huggingface_org_token", "api_org_", AN, 34, 64),
    ("age_secret_key", "AGE-SECRET-KEY-1", UPAN, 58, 58),
    ("atlassian_api_token", "ATATT3", "A-Za-z0-9_=-", 100, 512),
    ("databricks_token", "dapi", HEX, 32, 32),
    ("doppler_personal_token", "dp.pt.", AN, 40, 64),
    ("doppler_service_token", "dp.st.", "A-Za-z0-9._-", 40, 128),
    ("doppler_cli_token", "dp.ct.", AN, 40, 64),
    ("doppler_scim_token", "dp.scim.", AN, 40, 64),
    ("doppler_audit_token", "dp.audit.", AN, 40, 64),
    ("doppler_service_account", "dp.sa.", AN, 40, 64),
    ("dynatrace_token", "dt0c01.", "A-Za-z0-9.", 60, 120),
    ("easypost_key", "EZAK|EZTK", AN, 54, 54),
    ("flutterwave_secret", "FLWSECK_TEST-|FLWSECK-", "a-hA-H0-9", 32, 32),
    ("flutterwave_encryption_key", "FLWSECK_TEST", "a-hA-H0-9", 12, 12),
    ("frameio_token", "fio-u-", URLSAFE, 64, 64),
    ("grafana_cloud_token", "glc_", "A-Za-z0-9+/", 32, 400),
    ("grafana_service_account", "glsa_", AN, 32, 32),
    ("hashicorp_vault_service", "hvs.", URLSAFE, 24, 255),
    ("hashicorp_vault_batch", "hvb.", URLSAFE, 24, 512),
    ("hashicorp_vault_recovery", "hvr.", URLSAFE, 24, 255),
    ("linear_api_key", "lin_api_", AN, 40, 40),
    ("linear_oauth", "lin_oauth_", AN, 40, 64),
    ("newrelic_user_key", "NRAK-", UPAN, 27, 27),
    ("newrelic_browser_key", "NRJS-", HEX, 19, 19),
    ("newrelic_insert_key", "NRII-", URLSAFE, 32, 32),
    ("postman_key", "PMAK-", "a-fA-F0-9-", 59, 59),
    ("prefect_key", "pnu_", AN, 36, 36),
    ("pulumi_token", "pul-", HEX, 40, 40),
    ("readme_key", "rdme_", LOAN, 70, 70),
    ("scalingo_token", "tk-us-", URLSAFE, 48, 48),
    ("sendinblue_key", "xkeysib-", "a-z0-9-", 81, 81),
    ("sendinblue_smtp_key", "xsmtpsib-", "a-z0-9-", 81, 81),
    ("shippo_token", "shippo_live_|shippo_test_", HEX, 40, 40),
    ("sourcegraph_token", "sgp_", "a-fA-F0-9_", 40, 80),
    ("square_access_token", "EAAA", URLSAFE, 22, 60),
    ("square_token", "sq0atp-", URLSAFE, 22, 22),
    ("square_oauth_secret", "sq0csp-", URLSAFE, 43, 43),
    ("typeform_token", "tfp_", "A-Za-z0-9_.-", 59, 59),
    ("adafruit_key", "aio_", AN, 28, 28),
    ("adobe_client_secret", "p8e-", AN, 32, 32),
    ("alibaba_access_key", "LTAI", AN, 20, 20),
    ("cloudflare_origin_ca_key", "v1.0-", "a-f0-9-", 171, 171),
    ("defined_networking_key", "dnkey-", "a-z0-9=_-", 79, 79),
    ("duffel_token", "duffel_test_|duffel_live_", "A-Za-z0-9_=-", 43, 43),
    ("dropbox_short_lived", "sl.", "A-Za-z0-9=_-", 130, 140),
    ("flyio_token", "fo1_|fm1r_|fm1a_|fm2_", "A-Za-z0-9+/=_-", 43, 1024),
    ("heroku_api_key", "HRKU-", URLSAFE, 60, 60),
    ("infracost_key", "ico-", AN, 32, 32),
    ("intra42_secret", "s-s4t2ud-|s-s4t2af-", HEX, 64, 64),
    ("jfrog_api_key", "AKCp", AN, 69, 69),
    ("jfrog_reference_token", "cmVmd", AN, 59, 59),
    ("mapbox_secret_token", "sk.eyJ", URLSAFE, 60, 1024),
    ("octopus_deploy_key", "API-", UPAN, 26, 26),
    ("onepassword_service_account", "ops_eyJ", "A-Za-z0-9+/=", 250, 4096),
    ("onepassword_secret_key", "A3-", "A-Z0-9-", 30, 40),
    ("openshift_token", "sha256~", URLSAFE, 43, 43),
    ("perplexity_key", "pplx-", AN, 48, 48),
    ("planetscale_token", "pscale_tkn_", "A-Za-z0-9=._-", 32, 64),
    ("planetscale_oauth", "pscale_oauth_", "A-Za-z0-9=._-", 32, 64),
    ("planetscale_password", "pscale_pw_", "A-Za-z0-9=._-", 32, 64),
    ("plaid_access_token", "access-sandbox-|access-development-|access-production-", "a-f0-9-", 36, 36),
    ("sentry_org_token", "sntrys_eyJ", "A-Za-z0-9+/=_", 60, 1024),
    ("sentry_user_token", "sntryu_", HEX, 64, 64),
    ("settlemint_token", "sm_pat_|sm_aat_|sm_sat_", AN, 16, 16),
    ("twitter_bearer", "AAAAAAAAAAAAAAAAAAAAA", "A-Za-z0-9%", 40, 128),
    ("xai_key", "xai-", AN, 80, 80),
    ("groq_key", "gsk_", AN, 52, 52),
    ("replicate_token", "r8_", AN, 37, 37),
    ("notion_legacy_secret", "secret_", AN, 43, 43),
    ("notion_token", "ntn_", AN, 40, 50),
    ("docker_hub_pat", "dckr_pat_", URLSAFE, 27, 27),
    ("docker_hub_oat", "dckr_oat_", URLSAFE, 32, 32),
    ("posthog_personal_key", "phx_", AN, 43, 47),
    ("supabase_access_token", "sbp_", HEX, 40, 40),
    ("supabase_secret_key", "sb_secret_", URLSAFE, 31, 40),
    ("langsmith_key", "lsv2_pt_|lsv2_sk_", "a-f0-9_", 40, 50),
    ("sonarqube_token", "squ_|sqp_|sqa_", HEX, 40, 40),
    ("buildkite_token", "bkua_", HEX, 40, 40),
    ("circleci_pat", "CCIPAT_", "A-Za-z0-9_", 40, 64),
    ("tailscale_key", "tskey-api-|tskey-auth-|tskey-client-|tskey-webhook-|tskey-scim-", "A-Za-z0-9-", 20, 64),
    ("pinecone_key", "pcsk_", ANU, 40, 120),
    ("figma_token", "figd_", URLSAFE, 40, 40),
    ("contentful_token", "CFPAT-", URLSAFE, 43, 43),
    ("hubspot_private_app", "pat-na1-|pat-eu1-", "a-f0-9-", 36, 36),
    ("microsoft_teams_webhook", "webhook.office.com/webhookb2/", "A-Za-z0-9@/_-", 40, 300),
    ("discord_webhook", "discord.com/api/webhooks/|discordapp.com/api/webhooks/", "A-Za-z0-9/_-", 40, 200),
    ("slack_webhook", "hooks.slack.com/services/|hooks.slack.com/workflows/|hooks.slack.com/triggers/",
     "A-Za-z0-9/_-", 20, 300),
    ("zapier_webhook", "hooks.zapier.com/hooks/catch/", "A-Za-z0-9/", 10, 100),
    ("bitbucket_app_password", "ATBB", AN, 28, 40),
    ("facebook_page_token", "EAAM|EAAC", AN, 100, 512),
    ("grafana_api_key", "eyJrIjoi", AN, 70, 400),
    ("lob_api_key", "live_pub_|test_pub_", HEX, 31, 31),
)


SHAPED: Final[tuple[Format, ...]] = (
    shaped("jwt", "eyj", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,16384}\.[A-Za-z0-9_-]{0,4096}"),
    shaped("sendgrid_key", "sg.", r"(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    shaped("mailchimp_key", "-us", r"(?<![A-Za-z0-9])[0-9a-f]{32}-us[0-9]{1,2}(?![0-9])"),
    shaped("telegram_bot_token", ":aa", r"(?<![A-Za-z0-9])[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
    shaped("airtable_pat", "pat", r"(?<![A-Za-z0-9])pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    shaped("terraform_cloud_token", ".atlasv1.", r"(?<![A-Za-z0-9])[a-zA-Z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}"),
    shaped("launchdarkly_key", "api-|sdk-|mob-",
           r"(?<![A-Za-z0-9])(?:api|sdk|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    shaped("asana_pat", "/", r"(?<![A-Za-z0-9/])[012]/[0-9]{16}:[A-Za-z0-9]{32}"),
    shaped("azure_ad_client_secret", "q~", r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}"),
    shaped("openai_legacy_key", "t3blbkfj", r"(?<![A-Za-z0-9])sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
    shaped("maxmind_license_key", "_mmk", r"(?<![A-Za-z0-9])[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk"),
    shaped("clickhouse_cloud_secret", "4b1d", r"(?<![A-Za-z0-9])4b1d[A-Za-z0-9]{38}(?![A-Za-z0-9])"),
    shaped("harness_api_key", "pat.|sat.",
           r"(?<![A-Za-z0-9])(?:pat|sat)\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"),
    shaped("resend_api_key", "re_", r"(?<![A-Za-z0-9])re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}"),
    shaped("vault_legacy_token", "s.|b.", r"(?<![A-Za-z0-9_.-])[sb]\.[A-Za-z0-9]{24}(?![A-Za-z0-9])"),
    shaped("azure_storage_key", "accountkey=|sharedaccesskey=",
           r"(?i)(?<![a-z0-9])(?:AccountKey|SharedAccessKey)=[^;\s\"'<>]{1,512}"),
    shaped("azure_sas_signature", "sig=", r"(?i)(?<![a-z0-9_])sig=[A-Za-z0-9%+/=]{20,256}"),
    shaped("heroku_legacy_key", "heroku",
           r"(?i)heroku[a-z_.\-]{0,20}[\"' ]{0,3}[:=]{1,2}[\"' ]{0,3}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    shaped("datadog_key", "datadog|dd_|dd-",
           r"(?i)(?:dd|datadog)[_-]?(?:api|app)[_-]?key[\"':= ]{0,5}[0-9a-f]{32,40}"),
    shaped("aws_secret_key", "aws", r"(?i)aws[a-z_.\-]{0,20}[\"'=: ]{1,4}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
    shaped("bearer_token", "bearer|token ",
           r"(?i)(?<![a-z0-9_])(?:bearer|token)[ \t]{1,8}[A-Za-z0-9_.~+/-]{8,4096}={0,2}"),
    shaped("basic_auth", "basic ", r"(?i)(?<![a-z0-9_])basic[ \t]{1,8}[A-Za-z0-9+/]{8,4096}={0,2}"),
    shaped("cookie_header", "cookie:", r"(?i)(?<![a-z0-9_])(?:set-)?cookie:[^\r\n]{0,16384}"),
    shaped("authorization_header", "authorization:",
           r"(?i)(?<![a-z0-9_])(?:proxy-)?authorization:[^\r\n]{0,16384}"),
    shaped("vault_token_header", "x-vault-token:", r"(?i)(?<![a-z0-9_])x-vault-token:[^\r\n]{0,4096}"),
    shaped("api_key_header", "api-key:|apikey:|auth-token:",
           r"(?i)(?<![a-z0-9_])x-(?:api-key|apikey|auth-token):[^\r\n]{0,4096}"),
    shaped("putty_private_key", "private-lines:", r"(?i)Private-Lines:[ \t]{0,4}[0-9]{1,4}[\s\\n]{1,4}[A-Za-z0-9+/=\s\\n]{0,16384}"),
)

TOKENS: Final[tuple[Format, ...]] = tuple(token(*row) for row in _TOKENS)
FORMATS: Final[tuple[Format, ...]] = SHAPED + TOKENS
