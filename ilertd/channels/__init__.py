"""Outbound channels: how a page reaches a person (apprise URLs, Twilio calls, or the log)."""
