"""Reading primary evidence the same way everywhere: CSP headers, page tags and SRI, upload canaries.

The SDK's recorder and the probe store what they observed with these functions,
and the gates judge the stored evidence with the same ones, so the rules live once.
Standard library only.
"""

from liveobs.evidence._canary import CANARY_EICAR, EICAR, EICAR_DIGESTS, canary_of, upload_digest
from liveobs.evidence._csp import (
    DIGEST_BYTES,
    MAX_POLICY_CHARS,
    Finding,
    decode_digest,
    grade_header,
    grade_policy,
    nonces,
    parse_policy,
    split_policies,
    stored_form,
)
from liveobs.evidence._page import (
    CLIENT_ASSET_NAME,
    Resource,
    Served,
    asset_digests,
    integrity_digests,
    is_client_asset,
    is_cross_origin,
    judge_resources,
    needs_sri,
    page_resources,
    resources_from_json,
    resources_json,
    served_from_json,
    served_json,
)

__all__ = [
    "CANARY_EICAR",
    "CLIENT_ASSET_NAME",
    "DIGEST_BYTES",
    "EICAR",
    "EICAR_DIGESTS",
    "MAX_POLICY_CHARS",
    "Finding",
    "Resource",
    "Served",
    "asset_digests",
    "canary_of",
    "decode_digest",
    "grade_header",
    "grade_policy",
    "integrity_digests",
    "is_client_asset",
    "is_cross_origin",
    "judge_resources",
    "needs_sri",
    "nonces",
    "page_resources",
    "parse_policy",
    "resources_from_json",
    "resources_json",
    "served_from_json",
    "served_json",
    "split_policies",
    "stored_form",
    "upload_digest",
]
