"""The budget service: prices, reservations, budgets."""
