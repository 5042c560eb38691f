"""Generated gRPC stubs for the tollgate.v1 contracts (see protos/; `make proto`)."""
