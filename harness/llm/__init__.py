"""The LLM layer: one client (the ``anthropic`` SDK) over interchangeable transports.

    make_client("simulated" | "replay" | "live", ...) -> AnthropicClient
        └── AsyncAnthropic(max_retries=0, http_client=httpx2.AsyncClient(transport=...))
              └── [ChaosTransport] → [RecordingTransport] → Simulated | Replay | Live transport

Backends differ only in the ``httpx2`` transport under the SDK, so every run uses
the SDK's real request building, headers, timeouts and error classes; SDK exceptions
are translated to ``ModelError`` kinds in ``_anthropic`` and nowhere else, which also
parses a successful reply's body into the core's ``ModelResponse`` (see there why).
"""

from harness.llm._anthropic import (
    DEFAULT_BASE_URL,
    OFFLINE_API_KEY,
    AnthropicClient,
    parse_retry_after,
    to_model_response,
    translate_error,
)
from harness.llm._canonical import (
    CANONICAL_KEYS,
    canonical_from_body,
    canonical_from_request,
    canonical_json,
    request_hash,
)
from harness.llm._cassette import (
    CASSETTE_VERSION,
    SAFE_RESPONSE_HEADERS,
    Cassette,
    Interaction,
    RecordedResponse,
    RecordingTransport,
    ReplayMiss,
    ReplayTransport,
    load_cassette,
    parse_cassette,
    save_cassette,
)
from harness.llm._episode import (
    PLAN_TOOL,
    REFLECTION_TOOL,
    VERDICT_TOOL,
    EpisodeResult,
    run_episode,
)
from harness.llm._factory import LIVE_KEY_MISSING, TRANSPORTS, TransportName, make_client
from harness.llm._faults import (
    EXPECTED_OUTCOME,
    FAULT_KINDS,
    ChaosTransport,
    FaultKind,
    FiredFault,
    LLMFault,
    LLMFaultPlan,
)
from harness.llm._kinds import RETRYABLE, retryable
from harness.llm._live import (
    LiveCallsForbidden,
    LiveTransport,
    check_live_calls_allowed,
    live_calls_allowed,
    live_calls_allowed_now,
    set_live_calls_allowed,
)
from harness.llm._prices import PriceTable, cost_of, load_prices, parse_price_table, price_for
from harness.llm._profiles import PROFILES, ModelProfile, profile_for
from harness.llm._reference import ExpectedCall, ReferenceSolution, ReferenceStep
from harness.llm._simulated import DONE_MARK, SimulatedTransport, simulated_answer

__all__ = [
    "CANONICAL_KEYS",
    "CASSETTE_VERSION",
    "DEFAULT_BASE_URL",
    "DONE_MARK",
    "EXPECTED_OUTCOME",
    "FAULT_KINDS",
    "LIVE_KEY_MISSING",
    "OFFLINE_API_KEY",
    "PLAN_TOOL",
    "PROFILES",
    "REFLECTION_TOOL",
    "RETRYABLE",
    "SAFE_RESPONSE_HEADERS",
    "TRANSPORTS",
    "VERDICT_TOOL",
    "AnthropicClient",
    "Cassette",
    "ChaosTransport",
    "EpisodeResult",
    "ExpectedCall",
    "FaultKind",
    "FiredFault",
    "Interaction",
    "LLMFault",
    "LLMFaultPlan",
    "LiveCallsForbidden",
    "LiveTransport",
    "ModelProfile",
    "PriceTable",
    "RecordedResponse",
    "RecordingTransport",
    "ReferenceSolution",
    "ReferenceStep",
    "ReplayMiss",
    "ReplayTransport",
    "SimulatedTransport",
    "TransportName",
    "canonical_from_body",
    "canonical_from_request",
    "canonical_json",
    "check_live_calls_allowed",
    "cost_of",
    "live_calls_allowed",
    "live_calls_allowed_now",
    "load_cassette",
    "load_prices",
    "make_client",
    "parse_cassette",
    "parse_price_table",
    "parse_retry_after",
    "price_for",
    "profile_for",
    "request_hash",
    "retryable",
    "run_episode",
    "save_cassette",
    "set_live_calls_allowed",
    "simulated_answer",
    "to_model_response",
    "translate_error",
]
