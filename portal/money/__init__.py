"""Money rules: refunds, the store-credit ledger, exchange differences (integer minor units)."""
