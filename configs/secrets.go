package configs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// EnvPrefix starts the name of every environment variable that overrides a secret-bearing key:
// SHARDSTOCK_ followed by the key's path in upper case with dots as underscores
// (meta_dsn → SHARDSTOCK_META_DSN, events.nats_url → SHARDSTOCK_EVENTS_NATS_URL).
const EnvPrefix = "SHARDSTOCK_"

// maxSecretFile bounds a *_file secret: a DSN or URL, never a large file.
const maxSecretFile = 64 << 10

// secret is one key whose value may hold a password: it can be given in the YAML, in a file
// named by <key>_file, or in an environment variable.
type secret struct {
	key   string  // YAML path, e.g. "events.nats_url"
	value *string // the key's field
	file  *string // the <key>_file field
}

// secrets lists every secret-bearing key. A new one needs a <key>_file field and a line here.
func (c *Config) secrets() []secret {
	return []secret{
		{key: "meta_dsn", value: &c.MetaDSN, file: &c.MetaDSNFile},
		{key: "events.nats_url", value: &c.Events.NATSURL, file: &c.Events.NATSURLFile},
	}
}

// EnvName is the environment variable that overrides the YAML key (a path such as
// "events.nats_url").
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// resolveSecrets fills every secret-bearing key from, in order of precedence, its non-empty
// environment variable, the file named by <key>_file (surrounding white space, such as the
// final newline, is removed), or the YAML value. An error names the key and the file, never
// the value.
func (c *Config) resolveSecrets(lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) error {
	var errs []error
	for _, s := range c.secrets() {
		if v, ok := lookupEnv(EnvName(s.key)); ok && v != "" {
			*s.value = v
			continue
		}
		if *s.file == "" {
			continue
		}
		data, err := readFile(*s.file)
		switch {
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in our own message
			}
			errs = append(errs, fmt.Errorf("%s_file: read %s: %w", s.key, *s.file, err))
		case len(data) > maxSecretFile:
			errs = append(errs, fmt.Errorf("%s_file: %s is larger than %d bytes", s.key, *s.file, maxSecretFile))
		case strings.TrimSpace(string(data)) == "":
			errs = append(errs, fmt.Errorf("%s_file: %s is empty", s.key, *s.file))
		default:
			*s.value = strings.TrimSpace(string(data))
		}
	}
	return errors.Join(errs...)
}

// readSecretFile reads at most maxSecretFile+1 bytes of the file at path, so that a wrong path
// (a device, a huge file) fails instead of filling the memory.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSecretFile+1))
}
