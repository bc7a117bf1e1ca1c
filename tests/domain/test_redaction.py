import logging

from jobmanager.domain.redaction import REDACTED, RedactingFilter, redact, redact_obj


def test_known_token_shapes_are_redacted():
    samples = [
        "sk-ant-api03-abcdefghijklmnop",
        "xoxb-1234567890-abcdefghij",
        "AKIAABCDEFGHIJKLMNOP",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "Bearer abcdefghijklmnopqrstuvwxyz",
        "jm_abcdefghijklmnopqrstuvwxyz0123",
    ]
    for secret in samples:
        assert secret not in redact(f"error: {secret} failed"), secret


def test_key_value_pairs_keep_the_key_name():
    assert redact("password=hunter22 api_key: abcdef123") == f"password={REDACTED} api_key: {REDACTED}"


def test_values_of_secret_environment_variables_are_redacted(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "plain-looking-value-123")
    assert "plain-looking-value-123" not in redact("the key plain-looking-value-123 was rejected")


def test_nested_values_and_log_records():
    assert redact_obj({"a": ["token=abcdef12345"]}) == {"a": [f"token={REDACTED}"]}
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "using %s", ("sk-ant-api03-zzzzzzzzzzzz",), None)
    RedactingFilter().filter(record)
    assert "sk-ant" not in record.getMessage()


def test_token_counts_are_not_mistaken_for_tokens():
    text = "input_tokens: 1234, output_tokens=99, tokens: 5"
    assert redact(text) == text
