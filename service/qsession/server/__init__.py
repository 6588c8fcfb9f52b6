"""The grpc.aio server: configuration, auth, thin servicers, and the wiring that runs them."""
