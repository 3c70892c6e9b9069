"""Pure writeback rules: the per-lead projection, newest-wins, the payload and its fingerprints."""
