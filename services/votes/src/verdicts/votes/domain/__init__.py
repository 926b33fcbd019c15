"""votes' rules, pure: tallies and their intervals, rankings, voter tokens, rate limits, ballots."""
