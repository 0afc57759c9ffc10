# SPDX-License-Identifier: Apache-2.0
"""AISIX 0.x resources, shaped exactly as AISIX writes them into etcd, for
`aigwctl import --from aisix` (tests/e2e/test_import.py).

Where the shapes come from (github.com/api7/aisix, tag v0.9.0):
- the key layout {prefix}/{kind}/{id}: crates/aisix-etcd/src/key.rs, and
  crates/aisix-admin/src/etcd_store.rs, which puts a raw JSON value at
  `/aisix-it/models/m-it-1`;
- Model: crates/aisix-core/src/models/model.rs (display_name, provider,
  model_name, provider_key_id, timeout and stream_timeout in ms, retries,
  rate_limit, allowed_cidrs, cost, ...); "it-gpt4" is etcd_store.rs's
  integration-test Model;
- ApiKey: crates/aisix-core/src/models/apikey.rs (key_hash = SHA-256 hex of
  the bearer; its test sample "sk-my-api-key-123" and hash 91ed2dbc...);
- ProviderKey: crates/aisix-core/src/models/provider_key.rs (display_name,
  api_key (alias secret), api_base, provider, adapter, telemetry_tags, ...);
- RateLimit: crates/aisix-core/src/models/rate_limit.rs (tpm, tpd, rps, rpm,
  rph, rpd, concurrency).
The mock's URL and key replace the real upstream's.
"""

import hashlib

PREFIX = "/aisix"
CLIENT_KEY = "sk-my-api-key-123"
CLIENT_HASH = "91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c"
assert hashlib.sha256(CLIENT_KEY.encode()).hexdigest() == CLIENT_HASH


def resources(mock_base, mock_key):
    """{etcd key: value (a dict, written as JSON)} of one small AISIX deployment."""
    return {
        PREFIX + "/provider_keys/11111111-1111-1111-1111-111111111111": {
            "display_name": "openai-proxy",
            "secret": mock_key,  # the legacy spelling of api_key
            "api_base": mock_base,
            "provider": "openai",
            "telemetry_tags": {"team": "ml"},
        },
        PREFIX + "/provider_keys/22222222-2222-2222-2222-222222222222": {
            "display_name": "deepseek",
            "api_key": mock_key,
            "api_base": mock_base,
            "provider": "deepseek",
            "adapter": "openai",
        },
        PREFIX + "/provider_keys/33333333-3333-3333-3333-333333333333": {
            "display_name": "unused",
            "api_key": "sk-unused",
            "provider": "anthropic",
        },
        PREFIX + "/models/m-it-1": {
            "display_name": "it-gpt4",
            "provider": "openai",
            "model_name": "gpt-4o",
            "provider_key_id": "11111111-1111-1111-1111-111111111111",
            "timeout": 30000,
            "stream_timeout": 5000,
            "rate_limit": {"rpm": 600, "rps": 20, "tpm": 100000, "concurrency": 10},
            "allowed_cidrs": ["10.0.0.0/8"],
            "cost": {"input_per_1k": 0.005, "output_per_1k": 0.015},
        },
        PREFIX + "/models/m-it-mini": {
            "display_name": "it-gpt4-mini",
            "model_name": "gpt-4o-mini",
            "provider_key_id": "11111111-1111-1111-1111-111111111111",
        },
        PREFIX + "/models/m-ds": {
            "display_name": "deepseek-chat",
            "model_name": "deepseek-chat",
            "provider_key_id": "22222222-2222-2222-2222-222222222222",
            "rate_limit": {"rpd": 1000, "tpd": 5000000, "rph": 100},
        },
        PREFIX + "/models/m-router": {
            "display_name": "smart",
            "routing": {"strategy": "weighted",
                        "targets": [{"model": "it-gpt4", "weight": 1}]},
        },
        PREFIX + "/api_keys/ak-1": {
            "key_hash": CLIENT_HASH,
            "display_name": "team-a",
            "allowed_models": ["it-gpt4", "it-gpt4-mini", "deepseek-*"],
            "rate_limit": {"rpm": 60, "concurrency": 5},
            "team_id": "team-a",
            "expires_at": "2099-01-01T00:00:00Z",
            "future_field": 1,
        },
        PREFIX + "/api_keys/ak-2": {
            "key_hash": hashlib.sha256(b"sk-disabled-key").hexdigest(),
            "allowed_models": [],
            "disabled": True,
        },
        PREFIX + "/guardrails/g-1": {"display_name": "pii", "kind": "regex"},
    }
