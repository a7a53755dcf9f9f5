// Package auth is the gateway's API-key authentication, without HTTP routing: the key format
// (Generate, ParseToken, Issue), the Authorization header (BearerToken), scopes and the table
// that decides which scope a route needs (RequiredScope), a Cache of the metadata store's keys
// refreshed in the background that answers Authenticate, and a per-key token-bucket Limiter.
//
// The gateway's endpoint wrapper calls, in order: RequiredScope (once per route, when the route
// table is built), Cache.Authenticate, Principal.Require, Limiter.Allow. Every failure is an
// *inventory.Error with code unauthorized (401), forbidden (403), rate_limited (429) or
// meta_unavailable (503); Challenge and RetryAfter give the WWW-Authenticate and Retry-After
// headers that go with them.
package auth
