package main

import "context"

// bearerToken attaches "authorization: Bearer <token>" to every RPC, which is
// how qsession identifies the caller's instance. Without it, or with an unknown
// token, every qsession RPC fails with UNAUTHENTICATED.
type bearerToken string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity is false so that the token also travels over the
// plaintext connection of a local `make serve`; use TLS for anything remote.
func (t bearerToken) RequireTransportSecurity() bool { return false }
