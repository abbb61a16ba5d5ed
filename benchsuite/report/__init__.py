"""Reports built from result records: leaderboard tables (:mod:`benchsuite.report.leaderboard`)."""
