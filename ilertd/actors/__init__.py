"""The actor system: clock, supervisor, incident actors and the messages they exchange."""
