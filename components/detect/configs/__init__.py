"""MMDetection configs of the detect step (loaded by ..config.load_config)."""
