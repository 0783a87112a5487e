"""The secret and harmless corpora the redaction tests (and the end-to-end runs) share.

Token formats: one example per catalogue row, written from the row's documented
shape (prefix, alphabet, length) with a fixed seed; hand-written examples for the
formats with more than one run and for everything found by structure.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

from liveobs.conventions import mint_event_id, mint_request_id
from liveobs.redaction import _formats, _vendors


def _alphabet(cls: str) -> str:
    out, i = [], 0
    while i < len(cls):
        if i + 2 < len(cls) and cls[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(cls[i]), ord(cls[i + 2]) + 1))
            i += 3
        else:
            out.append(cls[i])
            i += 1
    return "".join(dict.fromkeys(out))


def _run(rng: random.Random, cls: str, n: int) -> str:
    chars = _alphabet(cls)
    core = [c for c in chars if c.isalnum()] or list(chars)
    return "".join(rng.choice(core) for _ in range(n))


def _token_examples(rng: random.Random) -> list[tuple[str, str, str]]:
    out = []
    for kind, prefixes, cls, low, _high in _formats._TOKENS:
        prefix = prefixes.split("|")[0]
        secret = prefix + _run(rng, cls, low)
        out.append((kind, f"deploy failed: credential {secret} was rejected", secret))
    for kind, keywords, cls, low, _high in _vendors._VENDORS:
        value = _run(rng, cls.replace("A-Z", ""), low).lower()
        word = keywords.split("|")[0]
        out.append((kind, f"{word}_setting: {value}", value))
    return out


_PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"

HAND_WRITTEN: list[tuple[str, str, str]] = [
    ("jwt", "auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("sendgrid_key", "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", "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr"),
    ("mailchimp_key", "mc 0123456789abcdef0123456789abcdef-us12 set", "0123456789abcdef0123456789abcdef-us12"),
    ("telegram_bot_token", "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 up", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"),
    ("airtable_pat", "pat1234567890ABCD.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    ("terraform_cloud_token", "tf abcdefghij1234.atlasv1.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-",
     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-"),
    ("launchdarkly_key", "ld sdk-3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"),
    ("asana_pat", "asana 1/1234567890123456:abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"),
    ("azure_ad_client_secret", "client ab18Q~abcdefghijklmnopqrstuvwxyz0123456 ok", "abcdefghijklmnopqrstuvwxyz0123456"),
    ("openai_legacy_key", "sk-abcdefghij0123456789T3BlbkFJabcdefghij0123456789", "abcdefghij0123456789T3BlbkFJ"),
    ("maxmind_license_key", "mm 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", "Ab12Cd34Ef56Gh78Ij90Kl12Mn34O_mmk"),
    ("harness_api_key", "pat.abcdefghij0123456789AB.abcdefghij0123456789ABCD.abcdefghij0123456789",
     "abcdefghij0123456789ABCD"),
    ("resend_api_key", "mail re_Ab12Cd34_Ab12Cd34Ef56Gh78Ij90Kl12 ok", "Ab12Cd34Ef56Gh78Ij90Kl12"),
    ("clickhouse_cloud_secret", "ch 4b1dAb12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St done", "Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St"),
    ("vault_legacy_token", "VAULT_TOKEN=s.Xj3kL9aB2cD4eF6gH8iJ0kLm", "Xj3kL9aB2cD4eF6gH8iJ0kLm"),
    ("vault_token_header", "X-Vault-Token: s.Qw3kL9aB2cD4eF6gH8iJ0kLz", "Qw3kL9aB2cD4eF6gH8iJ0kLz"),
    ("azure_storage_key", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc/def+ghi==;EndpointSuffix=x",
     "abc/def+ghi=="),
    ("azure_storage_key_long", "AccountKey=" + "Zm9vYmFy/+Q" * 8 + "==", "Zm9vYmFy/+QZm9vYmFy"),
    ("azure_sas_signature", "https://a.blob.core.windows.net/c?sv=2020&sig=Ab12Cd34Ef56Gh78Ij90Kl12Mn34%2Bop%3D", "Ab12Cd34Ef56Gh78Ij90"),
    ("heroku_legacy_key", "HEROKU_API_KEY=01234567-89ab-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdef"),
    ("datadog_key", "dd_api_key: 0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),
    ("aws_secret_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("bearer_token", "sent with Bearer abcDEF123456ghiJKL", "abcDEF123456ghiJKL"),
    ("basic_auth", "Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("cookie_header", "Cookie: sessionid=abc123def; theme=dark", "abc123def"),
    ("set_cookie_header", "Set-Cookie: remember=9f8e7d6c5b4a; Path=/", "9f8e7d6c5b4a"),
    ("authorization_header", "Authorization: Token 9f8e7d6c5b4a3210", "9f8e7d6c5b4a3210"),
    ("api_key_header", "X-Api-Key: 9f8e7d6c5b4a3210fedc", "9f8e7d6c5b4a3210fedc"),
    ("putty_private_key", "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAAIFtcKwMyUXRkRHfuxVhm0nRi", "AAAAIFtcKwMyUXRkRHfuxVhm0nRi"),
    # Found by structure: cookies, URLs, settings, PEM, JSON documents, key names in text.
    ("raw_cookie", "sessionid=q8w7e6r5t4y3; csrftoken=z1x2c3v4b5n6", "q8w7e6r5t4y3"),
    ("raw_cookie_csrf", "sessionid=q8w7e6r5t4y3; csrftoken=z1x2c3v4b5n6", "z1x2c3v4b5n6"),
    ("raw_set_cookie", "_app_session=Zm9vYmFyYmF6; Path=/; HttpOnly; Secure", "Zm9vYmFyYmF6"),
    ("mongo_url_at", "mongodb+srv://admin:p@ss@w0rd@cluster0.example.net/db", "p@ss@w0rd"),
    ("redis_url_slash", "cache at redis://:hun/ter2@redis:6379/0", "hun/ter2"),
    ("postgres_dsn", "DATABASE_URL=postgres://app:s3cr3tpw@db:5432/app", "s3cr3tpw"),
    ("amqp_url", "amqp://guest:gu3st!pw@rabbit:5672/", "gu3st!pw"),
    ("query_token", "GET /cb?token=abcd1234efgh&page=2", "abcd1234efgh"),
    ("query_access_token", "https://api.example.com/v1?access_token=tok_9f8e7d6c", "tok_9f8e7d6c"),
    ("pgpassword", "PGPASSWORD=Zx9!pQ2w psql -h db", "Zx9!pQ2w"),
    ("db_pass", "export DB_PASS=correcthorse42", "correcthorse42"),
    ("db_password_lower", "config db_password=hunter2hunter2 loaded", "hunter2hunter2"),
    ("passphrase", "passphrase: Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("password_word", "login ok, password: hunter", "hunter"),
    ("json_camel_password", '{"dbPassword": "s3cr3t-db-pw", "host": "db"}', "s3cr3t-db-pw"),
    ("json_in_text", 'payload={"pass":"pa55word99"}', "pa55word99"),
    ("client_secret_yaml", "clientSecret: 7f6e5d4c3b2a1908", "7f6e5d4c3b2a1908"),
    ("mssql_conn", "Server=db;Database=x;User Id=sa;Password=My$ecretPw1;", "My$ecretPw1"),
    ("jdbc", "jdbc:mysql://db:3306/app?user=app&password=jdbcPw1234", "jdbcPw1234"),
    ("pem_rsa", "-----BEGIN RSA PRIVATE KEY-----\n" + _PEM_BODY + "-----END RSA PRIVATE KEY-----", "Mzq"[:0] + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"),
    ("pem_openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("pem_pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF4abcdEFGHijkl\n-----END PGP PRIVATE KEY BLOCK-----", "lQOYBF4abcdEFGHijkl"),
    ("pem_escaped", "key=\"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5owAZnlmhNwvK\\n-----END EC PRIVATE KEY-----\"",
     "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5owAZnlmhNwvK"),
    ("pem_unterminated", "dump -----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7", "MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7"),
    ("service_account_json", 'config {"type": "service_account", "private_key_id": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", '
     '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvgIBADANBgkqhkiG9w0B\\n-----END PRIVATE KEY-----\\n", "client_email": "x@y.iam"}',
     "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"),
    ("high_entropy", "unknown credential Zk9fQ2xLm4Rt8Vw1Yb6Nc3Hd0aPe7Ks5uJiXy", "Zk9fQ2xLm4Rt8Vw1Yb6Nc3Hd0aPe7Ks5uJiXy"),
]

# Secrets under key names (the whole value goes).
SECRET_KEYS: list[str] = [
    "password", "dbPassword", "clientSecret", "accessToken", "refreshToken", "secretAccessKey", "authToken",
    "x-api-key", "X-Api-Key", "api_key", "apiKey", "sessionid", "session_id", "jwt", "bearer", "otp", "mfa_code",
    "pin", "PGPASSWORD", "db_pass", "csrftoken", "set-cookie", "Cookie", "private_key", "client_secret",
    "connectionString", "dsn", "passphrase", "AccountKey", "sas_token",
]


def secret_corpus() -> list[tuple[str, str, str]]:
    """``(format, text, the secret part that must not survive)``, at least 150 distinct formats."""
    return _token_examples(random.Random(14)) + HAND_WRITTEN


def harmless_corpus() -> list[str]:
    """Values that must pass unchanged: ids, hashes, routes, versions, images, paths, URLs, prose."""
    rng = random.Random(7)
    out: list[str] = []
    out += [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(15)]
    out += [mint_event_id() for _ in range(10)]
    out += [mint_request_id() for _ in range(5)]
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    out += ["01J" + "".join(rng.choice(crockford) for _ in range(23)) for _ in range(10)]
    out += [hashlib.sha1(str(i).encode()).hexdigest() for i in range(10)]
    out += [hashlib.sha256(str(i).encode()).hexdigest() for i in range(5)]
    out += [f"{rng.getrandbits(128):032x}" for _ in range(8)] + [f"{rng.getrandbits(64):016x}" for _ in range(8)]
    out += [f"eph.{rng.getrandbits(96):024x}" for _ in range(5)]
    out += [
        "/board/{board_id}/card/{card_id}", "/api/v1/users/{user_id}", "/live/{room}", "/static/{path:path}",
        "/orders/<int:order_id>", "/tokens/{token_id}", "/keys/{key_id}/rotate", "/settings/password",
        "/auth/callback", "/secrets/{name}", "GET /api/items", "live.event add_card",
    ]
    out += ["1.4.2", "v1.4.2-rc.1", "2.0.0+build.7", "0.9.12", "v10.2.3-beta.4+exp.sha.5114f85", "3.11.9", "2026.12.5"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(90))
    gif = b"GIF89a" + bytes(rng.getrandbits(8) for _ in range(60))
    jpeg = b"\xff\xd8\xff\xe0" + bytes(rng.getrandbits(8) for _ in range(60))
    for blob, mime in ((png, "png"), (gif, "gif"), (jpeg, "jpeg")):
        b64 = base64.b64encode(blob).decode()
        out += [f"data:image/{mime};base64,{b64}", b64]
    out += [
        "/var/log/app/server.log", "/home/app/.config/liveobs/settings.toml", "C:\\Users\\app\\AppData\\Local\\x.db",
        "./src/liveobs/redaction/_rules.py", "../static/js/app.min.js", "/etc/ssl/certs/ca-certificates.crt",
        "/srv/uploads/2026/12/05/IMG_2041.JPG", "~/projects/kukulkan/templates/board.html",
    ]
    out += [
        "https://example.com/", "https://example.com/search?q=observability&page=2", "http://localhost:8000/healthz",
        "https://docs.python.org/3/library/re.html#re.sub", "wss://app.example.com/live/websocket?vsn=2.0.0",
        "https://user@example.com/profile", "https://cdn.example.com/assets/app.3f9a2b.js",
        "http://127.0.0.1:4318/v1/traces", "https://github.com/org/repo/commit/9fceb02d0ae598e95dc970b74767f19372d61af8",
        "https://example.com/@alice/posts", "http://host:8080/path/@user", "postgres://db:5432/app",
    ]
    out += [
        "The token expired, so the user was asked to sign in again",
        "Rotate the API key every ninety days",
        "The secret to a fast page is sending less HTML",
        "Please reset your password: click the link we sent",
        "Password reset requested for the account",
        "a key press was dropped while the socket reconnected",
        "secret santa draw saved",
        "the session ended after 30 minutes",
        "token bucket refilled: 10 tokens per second",
        "cookie banner dismissed",
        "key rotation finished without errors",
        "passwords must be at least 12 characters long",
        "the keyboard shortcut key: ctrl",
        "Authorization failed for user 42",
        "unknown token in template at line 3",
        "invalid credentials for the login form",
        "Keys, tokens and secrets are never logged by this service",
        "max_tokens reached while summarising the board",
        "user clicked the save button on the card page",
        "The quick brown fox jumps over the lazy dog",
    ]
    out += ["token_count=512", "tokens=128", "key=board:17", "retry=3; backoff=exp", "page=2&sort=asc"]
    out += ["200", "404", "GET", "POST", "text/html; charset=utf-8", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"]
    return out
