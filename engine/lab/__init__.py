"""Everything on a virtual clock: scenarios, simulate, backtest and the demo."""
