"""Circuit sandboxes: child processes that parse (and transpile) clients' circuits under a
memory and time limit before the server touches them (see ``sandbox.circuits``)."""
