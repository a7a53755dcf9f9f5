package gateway

import "net/http"

// BodyRoutes returns the method and path template of every route in the table that reads a
// request body (POST and PUT), so that tests cover routes added later without being edited.
func BodyRoutes() [][2]string {
	var out [][2]string
	for _, rt := range (handlers{}).routes() {
		if rt.method == http.MethodPost || rt.method == http.MethodPut {
			out = append(out, [2]string{rt.method, rt.path})
		}
	}
	return out
}
