"""What things cost: the price book (bundled prices and the user's own), and the monthly budgets
that cap what a feature or team may spend. Reference data and arithmetic, no I/O beyond reading
the config file: the store prices each attempt with it in the transaction that stores it."""
