"""asv benchmarks (asv.conf.json at the root); the other modules here are also scripts."""
