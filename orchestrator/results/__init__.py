"""What a walker hands back, built from a sweep's tally: the ranked data, its table, the
trust figures (deflated Sharpe, PBO) and the ranking across symbols; of a large sweep, the
best rows and every variant as columns (ranked_data.py, columns.py, stat_columns.py,
trust_columns.py)."""
