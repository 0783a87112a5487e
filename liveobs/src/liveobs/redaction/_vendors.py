"""Vendor credentials with no prefix of their own, found by the vendor's name next to them.

Many keys are plain runs of letters and digits; the public rule sets find them
only where the vendor is named in the setting they are assigned to
(``TWITTER_API_SECRET = "…"``, ``"sendbird_token": "…"``). Each row is such a
vendor keyword and the shape of its value; only the value is replaced.
"""

from __future__ import annotations

import re
from typing import Final

from liveobs.redaction._formats import Format

# (kind, keywords, value class, min, max); keywords are ``|``-separated literals.
_VENDORS: Final[tuple[tuple[str, str, str, int, int], ...]] = (
    ("adafruit_key", "adafruit", "a-z0-9_-", 32, 32),
    ("adobe_client_id", "adobe", "a-f0-9", 32, 32),
    ("airtable_api_key", "airtable", "a-z0-9", 17, 17),
    ("algolia_api_key", "algolia", "a-z0-9", 32, 32),
    ("alibaba_secret_key", "alibaba", "a-z0-9", 30, 30),
    ("asana_client_secret", "asana", "a-z0-9", 32, 32),
    ("atlassian_token", "atlassian|confluence|jira", "a-z0-9", 24, 24),
    ("beamer_api_token", "beamer", "a-z0-9=_-", 46, 46),
    ("bitbucket_client_secret", "bitbucket", "a-z0-9=_-", 32, 64),
    ("bittrex_key", "bittrex", "a-z0-9", 32, 32),
    ("cloudflare_api_key", "cloudflare", "a-z0-9_-", 37, 40),
    ("codecov_token", "codecov", "a-z0-9", 32, 32),
    ("cohere_api_token", "cohere|co_api_key", "a-z0-9", 40, 40),
    ("coinbase_token", "coinbase", "a-z0-9_-", 64, 64),
    ("confluent_key", "confluent", "a-z0-9", 16, 64),
    ("contentful_token", "contentful", "a-z0-9=_-", 43, 43),
    ("discord_token", "discord", "a-z0-9=_-", 32, 64),
    ("droneci_token", "droneci", "a-z0-9", 32, 32),
    ("dropbox_token", "dropbox", "a-z0-9=_.-", 15, 140),
    ("etsy_token", "etsy", "a-z0-9", 24, 24),
    ("facebook_secret", "facebook", "a-f0-9", 32, 32),
    ("fastly_token", "fastly", "a-z0-9=_-", 32, 32),
    ("finicity_secret", "finicity", "a-z0-9", 20, 32),
    ("finnhub_token", "finnhub", "a-z0-9", 20, 20),
    ("flickr_token", "flickr", "a-z0-9", 32, 32),
    ("freshbooks_token", "freshbooks", "a-z0-9", 64, 64),
    ("gitter_token", "gitter", "a-z0-9_-", 40, 40),
    ("gocardless_token", "gocardless", "a-z0-9=_-", 40, 50),
    ("hubspot_key", "hubspot", "a-f0-9-", 36, 36),
    ("intercom_key", "intercom", "a-z0-9=_-", 60, 60),
    ("jfrog_key", "jfrog|artifactory|bintray|xray", "a-z0-9", 64, 73),
    ("kraken_token", "kraken", "a-z0-9/=_+-", 80, 90),
    ("kucoin_key", "kucoin", "a-f0-9-", 24, 36),
    ("launchdarkly_token", "launchdarkly", "a-z0-9=_-", 40, 40),
    ("linear_client_secret", "linear", "a-f0-9", 32, 32),
    ("linkedin_secret", "linkedin|linked_in|linked-in", "a-z0-9", 14, 16),
    ("lob_key", "lob", "a-z0-9_", 40, 40),
    ("looker_secret", "looker", "a-z0-9", 20, 24),
    ("mailgun_signing_key", "mailgun", "a-h0-9-", 50, 50),
    ("mapbox_token", "mapbox", "a-z0-9.", 84, 90),
    ("mattermost_token", "mattermost", "a-z0-9", 26, 26),
    ("messagebird_token", "messagebird|message_bird|message-bird", "a-z0-9", 25, 25),
    ("netlify_token", "netlify", "a-z0-9=_-", 40, 46),
    ("newrelic_key", "new-relic|newrelic|new_relic", "a-z0-9", 64, 64),
    ("nytimes_token", "nytimes|newyorktimes", "a-z0-9=_-", 32, 32),
    ("okta_token", "okta", "a-z0-9_=-", 42, 42),
    ("plaid_secret", "plaid", "a-z0-9", 24, 30),
    ("privateai_token", "private_ai|privateai|private-ai", "a-z0-9", 32, 32),
    ("rapidapi_token", "rapidapi", "a-z0-9_-", 50, 50),
    ("sendbird_token", "sendbird", "a-f0-9", 40, 40),
    ("sentry_token", "sentry", "a-f0-9", 64, 64),
    ("snyk_token", "snyk", "a-f0-9-", 36, 36),
    ("squarespace_token", "squarespace", "a-f0-9-", 36, 36),
    ("sumologic_token", "sumo", "a-z0-9", 14, 64),
    ("telegram_token", "telegr", "a-z0-9:_-", 40, 60),
    ("travis_token", "travis", "a-z0-9", 22, 22),
    ("twitch_token", "twitch", "a-z0-9", 30, 30),
    ("twitter_secret", "twitter", "a-z0-9%-", 25, 130),
    ("yandex_key", "yandex", "a-z0-9_.=-", 40, 200),
    ("zendesk_secret", "zendesk", "a-z0-9", 40, 40),
)

# The setting's name runs on from the keyword; then quotes, an assignment and the value.
_NAME_TAIL: Final = r"[a-z0-9_.-]{0,20}"
_ASSIGN: Final = r"[\"']{0,3}[ \t]{0,3}(?:=>|:=|=|:)[ \t\"'=]{0,5}"


def vendor(kind: str, keywords: str, cls: str, low: int, high: int) -> Format:
    words = keywords.split("|")
    names = "|".join(re.escape(w) for w in words)
    pattern = re.compile(
        f"(?i)(?<![a-z0-9])(?:{names}){_NAME_TAIL}{_ASSIGN}(?P<v>[{cls}]{{{low},{high}}})(?![{cls}])"
    )
    return Format(kind, tuple(words), pattern)


VENDORS: Final[tuple[Format, ...]] = tuple(vendor(*row) for row in _VENDORS)
