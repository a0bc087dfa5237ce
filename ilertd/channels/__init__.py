"""The senders channel plugins use: apprise URLs, Twilio calls, the log; and the Sender contract."""
