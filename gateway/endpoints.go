package gateway

// Endpoint is one route of the API's route table (routes.go): its method, its path template
// and whether it accepts an Idempotency-Key.
type Endpoint struct {
	Method, Path string
	Idempotent   bool
}

// Endpoints lists the route table, for tests that must cover every endpoint.
func Endpoints() []Endpoint {
	var out []Endpoint
	for _, rt := range (handlers{}).routes() {
		out = append(out, Endpoint{Method: rt.method, Path: rt.path, Idempotent: rt.idempotent})
	}
	return out
}
