"""What a walker hands back, built from a sweep's tally: the ranked data, its table, the
trust figures (deflated Sharpe, PBO) and the ranking across symbols."""
