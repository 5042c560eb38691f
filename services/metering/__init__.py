"""The metering service: token counting, the usage ledger and reports."""
