"""Generated protobuf and gRPC code for qsession.v1 (do not edit; run `make proto`)."""
