package auth

// Principal is the caller a request was authenticated as; the gateway puts it into the
// request's context.
type Principal struct {
	KeyID  string   `json:"key_id"`
	Name   string   `json:"name"`
	Scopes ScopeSet `json:"scopes"`
	// Rate (requests per second) and Burst are the key's own limits; 0 means the configured
	// default. The Limiter reads them.
	Rate  float64 `json:"-"`
	Burst int     `json:"-"`
}

// Require returns nil when the principal holds scope need, else the forbidden error naming it.
func (p Principal) Require(need Scope) error {
	if p.Scopes.Has(need) {
		return nil
	}
	return forbidden(need)
}
