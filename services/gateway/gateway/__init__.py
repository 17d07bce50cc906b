"""The gateway: fans a request out to the liveness tests within the time budget and fuses their scores."""
