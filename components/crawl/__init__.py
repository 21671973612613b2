"""crawl: image search → deduplicated, labelled, licensed dataset in the store."""
