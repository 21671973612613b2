"""MMDetection configs of the detect step (loaded with components.detect.config.load_config)."""
