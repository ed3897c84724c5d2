"""Analytics: the rollup of events (rollups), KPIs, the dashboard and the events explorer."""
