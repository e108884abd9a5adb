"""``repro estimate``: what an experiment costs on the user's own device, measured before it runs."""
