package configs

import "strings"

// redacted replaces a password in Redact's output.
const redacted = "****"

// Redact returns dsn with its password replaced by ****, for logs, error messages and
// answers. It takes go-sql-driver DSNs (user:password@tcp(host:3306)/db?params) and URLs
// (nats://user:password@host:4222, also comma-separated lists of them), and needs neither to
// be valid: when in doubt it hides more, never less.
//
// A DSN's password is found as the driver finds it: from the first ':' to the last '@' before
// the last '/'. In a URL it runs from the first ':' after "scheme://" to the last '@' of the
// string (a password may hold unescaped '/', '#' or '@'). A string that reads both ways (a URL
// with a path) loses the union of both spans, so "mysql://u:pw@h/db" becomes "mysql:****@h/db".
func Redact(dsn string) string {
	from, to := dsnPassword(dsn)
	if i := strings.Index(dsn, "://"); i > 0 && isScheme(dsn[:i]) {
		if f, t := passwordSpan(dsn, i+len("://"), strings.LastIndexByte(dsn, '@')); f < t {
			if from >= to {
				from, to = f, t
			} else {
				from, to = min(from, f), max(to, t)
			}
		}
	}
	if from >= to {
		return dsn
	}
	return dsn[:from] + redacted + dsn[to:]
}

// dsnPassword returns the span of the password as go-sql-driver/mysql's ParseDSN reads it
// (empty when there is none); without a '/' it looks at the whole string.
func dsnPassword(dsn string) (from, to int) {
	end := strings.LastIndexByte(dsn, '/')
	if end < 0 {
		end = len(dsn)
	}
	return passwordSpan(dsn, 0, strings.LastIndexByte(dsn[:end], '@'))
}

// passwordSpan returns the span between the first ':' in dsn[start:at] and at, the '@' that ends
// the user info; from >= to when there is no password.
func passwordSpan(dsn string, start, at int) (from, to int) {
	if at < start {
		return 0, 0
	}
	colon := strings.IndexByte(dsn[start:at], ':')
	if colon < 0 {
		return 0, 0
	}
	return start + colon + 1, at
}

// isScheme reports whether s is a URL scheme: a letter, then letters, digits, '+', '-', '.'.
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
