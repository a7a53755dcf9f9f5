// Package mysqlproc starts and stops throwaway MariaDB or MySQL server
// processes for tests and local development.
//
// Initialising a data directory takes a second or more, so the package keeps
// one initialised template data directory per server binary in the user's
// cache directory and copies it for every new server. A server started with
// Start listens on 127.0.0.1 only and accepts root without a password.
package mysqlproc
