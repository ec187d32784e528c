"""The engine: one lifecycle core that a backtest drives per minute and Live per tick."""
