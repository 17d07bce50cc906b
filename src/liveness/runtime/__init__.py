"""The small runtime every service shares: settings, logging, metrics, interceptors, server bootstrap."""
