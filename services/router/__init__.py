"""The router service: providers, routing, and the record of each upstream call."""
