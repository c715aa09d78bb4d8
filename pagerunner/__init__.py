"""pagerunner: durable fetching of paginated search APIs."""
