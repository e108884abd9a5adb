"""``repro estimate``: what an experiment costs on the user's own device, measured before it runs."""

DEFAULT_STEPS = 5  # timed training steps per model, unless --steps says otherwise
