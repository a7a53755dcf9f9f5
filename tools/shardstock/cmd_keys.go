package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/shard"
)

func (a *app) keysCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Long: `API keys authenticate clients of the gateway: they send "Authorization: Bearer <key>".
Each key has scopes (read, write, reserve, admin), an optional expiry and an optional rate limit.
The metadata store keeps only a SHA-256 of each key's secret: a key is shown once, when it is
created, and can never be shown again. Gateways see a new or revoked key within 2 seconds.

Rotation: create a new key, deploy it to the client, then revoke the old one.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(a.keysCreateCommand(), a.keysListCommand(), a.keysRevokeCommand())
	return cmd
}

func (a *app) keysCreateCommand() *cobra.Command {
	var (
		f       configFlags
		name    string
		scopes  string
		expires string
		rate    float64
		burst   int
	)
	cmd := &cobra.Command{
		Use:   "create --config FILE --name NAME --scopes SCOPES [--expires WHEN] [--rate R] [--burst B]",
		Short: "Create an API key and print its secret (once)",
		Long: `Create an API key and print it. The key (ssk_<id>_<secret>) is printed only this once: store it
in your secret manager now. The metadata store keeps only its SHA-256.

Scopes (comma-separated, independent of each other):
  read     GET of products, reports, alerts and events
  write    products, adjustments, stock set, lots
  reserve  reservations
  admin    webhooks, keys, topology and job endpoints, redeliver, acknowledge

--expires takes a lifetime (90d, 12h, 1d12h, 30m) or an RFC 3339 time (2026-01-31T00:00:00Z);
without it the key does not expire. --rate (requests per second) and --burst set the key's own
token bucket on each gateway; 0 (the default) means the config's auth.default_rate and
auth.default_burst.`,
		Example: `  shardstock keys create --config shardstock.yaml --name order-service --scopes read,reserve --expires 90d
  shardstock keys create --config shardstock.yaml --name ops --scopes admin --json | jq -r .secret`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := keySpec(cmd, name, scopes, expires, rate, burst, time.Now())
			if err != nil {
				return err
			}
			meta, err := f.openMeta(cmd)
			if err != nil {
				return err
			}
			defer meta.Close()
			issued, err := auth.Issue(cmd.Context(), meta, spec)
			if err != nil {
				return fmt.Errorf("keys create: %w", err)
			}
			r := createdKeyReport{keyReport: newKeyReport(issued.Key, time.Now()), Secret: issued.Token}
			if f.asJSON {
				fmt.Fprintln(a.stderr, "The secret is shown only once: store it now.")
				return writeJSON(a.stdout, r)
			}
			return r.writeText(a.stdout)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "what the key is for, e.g. order-service (1-128 characters; need not be unique)")
	fl.StringVar(&scopes, "scopes", "", "comma-separated scopes: read, write, reserve, admin")
	fl.StringVar(&expires, "expires", "", "lifetime (90d, 12h, 1d12h) or RFC 3339 time; default: never")
	fl.Float64Var(&rate, "rate", 0, "requests per second per gateway for this key; 0 = auth.default_rate")
	fl.IntVar(&burst, "burst", 0, "token bucket size for this key; 0 = auth.default_burst")
	return cmd
}

// keySpec validates the create flags; every problem is a usage error.
func keySpec(cmd *cobra.Command, name, scopes, expires string, rate float64, burst int, now time.Time) (auth.Spec, error) {
	for _, flag := range []string{"config", "name", "scopes"} {
		if err := requireFlag(cmd, flag); err != nil {
			return auth.Spec{}, err
		}
	}
	if err := validKeyName(name); err != nil {
		return auth.Spec{}, err
	}
	set, err := auth.ParseScopes(scopes)
	if err != nil {
		return auth.Spec{}, usagef("--scopes: %v", err)
	}
	spec := auth.Spec{Name: name, Scopes: set, Rate: rate, Burst: burst}
	if expires != "" {
		if spec.ExpiresAt, err = parseExpires(expires, now); err != nil {
			return auth.Spec{}, usagef("--expires: %v", err)
		}
	}
	if rate < 0 || rate > 1e6 || math.IsNaN(rate) {
		return auth.Spec{}, usagef("--rate must be 0-1000000 requests per second, got %v", rate)
	}
	if burst < 0 || burst > 1e6 {
		return auth.Spec{}, usagef("--burst must be 0-1000000, got %d", burst)
	}
	return spec, nil
}

func validKeyName(name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > 128 || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return usagef("--name must be 1-128 printable characters, got %q", name)
	}
	return nil
}

// maxLifetimeDays bounds --expires (100 years).
const maxLifetimeDays = 36500

// parseExpires reads --expires: an RFC 3339 time, or a lifetime from now written as whole days
// ("90d"), a Go duration ("12h", "30m") or both ("1d12h"). It must lie in the future.
func parseExpires(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("%s is not in the future", s)
		}
		return t.UTC(), nil
	}
	bad := fmt.Errorf("want a lifetime such as 90d, 12h or 1d12h, or an RFC 3339 time, got %q", s)
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 {
		var err error
		if days, err = strconv.ParseInt(s[:i], 10, 64); err != nil || days < 0 || days > maxLifetimeDays {
			return time.Time{}, bad
		}
		rest = s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return time.Time{}, bad
		}
	}
	total := time.Duration(days)*24*time.Hour + d
	if total <= 0 || total > maxLifetimeDays*24*time.Hour {
		return time.Time{}, fmt.Errorf("the lifetime must be positive and at most %d days, got %q", maxLifetimeDays, s)
	}
	return now.Add(total).UTC(), nil
}

func (a *app) keysListCommand() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "list --config FILE",
		Short: "List every API key with its scopes and status (never the secrets)",
		Long: `List every API key, oldest first: id, name, scopes, status (active, expired, revoked), when it
was created and expires, and its rate limit. Secrets are never shown (they are not stored), and
neither are their hashes.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			meta, err := f.openMeta(cmd)
			if err != nil {
				return err
			}
			defer meta.Close()
			keys, err := meta.ListKeys(cmd.Context())
			if err != nil {
				return fmt.Errorf("keys list: %w", err)
			}
			now := time.Now()
			out := keyListReport{Keys: []keyReport{}}
			for _, k := range keys {
				out.Keys = append(out.Keys, newKeyReport(k, now))
			}
			if f.asJSON {
				return writeJSON(a.stdout, out)
			}
			return out.writeText(a.stdout)
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) keysRevokeCommand() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "revoke ID --config FILE",
		Short: "Revoke an API key: gateways refuse it within 2 seconds",
		Long: `Revoke the API key with the given id (the id column of "keys list"; a whole leaked key is
accepted too). Every gateway refuses the key within 2 seconds, without a restart. Revoking is
permanent; revoking a revoked key changes nothing.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if kid, _, err := auth.ParseToken(id); err == nil {
				id = kid
			} else if !auth.ValidKeyID(id) {
				return usagef("%q is not a key id (12 characters a-z, 2-7, as printed by keys list)", id)
			}
			meta, err := f.openMeta(cmd)
			if err != nil {
				return err
			}
			defer meta.Close()
			k, changed, err := meta.RevokeKey(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("keys revoke: %w", err)
			}
			r := revokeReport{keyReport: newKeyReport(k, time.Now()), AlreadyRevoked: !changed}
			if f.asJSON {
				return writeJSON(a.stdout, r)
			}
			if r.AlreadyRevoked {
				_, err = fmt.Fprintf(a.stdout, "API key %s (%s) was already revoked at %s\n", k.ID, k.Name, formatTime(k.RevokedAt))
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "revoked API key %s (%s); gateways refuse it within 2 seconds\n", k.ID, k.Name)
			return err
		},
	}
	f.register(cmd)
	return cmd
}

// keyReport is the printed form of a key. It has no field for the secret or its hash.
type keyReport struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// Status is active, expired or revoked.
	Status    string     `json:"status"`
	Rate      float64    `json:"rate"`  // requests per second; 0 = auth.default_rate
	Burst     int        `json:"burst"` // 0 = auth.default_burst
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func newKeyReport(k shard.Key, now time.Time) keyReport {
	r := keyReport{ID: k.ID, Name: k.Name, Scopes: k.Scopes, Status: "active", Rate: k.Rate, Burst: k.Burst, CreatedAt: k.CreatedAt}
	if r.Scopes == nil {
		r.Scopes = []string{}
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt
		r.ExpiresAt = &t
		if k.ExpiredAt(now) {
			r.Status = "expired"
		}
	}
	if k.Revoked() {
		t := k.RevokedAt
		r.RevokedAt, r.Status = &t, "revoked"
	}
	return r
}

func (r keyReport) expiry() string {
	if r.ExpiresAt == nil {
		return "never"
	}
	return formatTime(*r.ExpiresAt)
}

func (r keyReport) limit() string {
	if r.Rate == 0 && r.Burst == 0 {
		return "config default"
	}
	rate, burst := "default", "default"
	if r.Rate > 0 {
		rate = strconv.FormatFloat(r.Rate, 'f', -1, 64) + "/s"
	}
	if r.Burst > 0 {
		burst = strconv.Itoa(r.Burst)
	}
	return rate + ", burst " + burst
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// createdKeyReport is a key just created, with its secret: printed once.
type createdKeyReport struct {
	keyReport
	// Secret is the whole key (ssk_<id>_<secret>), the bearer token.
	Secret string `json:"secret"`
}

func (r createdKeyReport) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, `created API key %s (%s)
  scopes:  %s
  expires: %s
  limit:   %s

Key (shown only now; store it in your secret manager, it cannot be recovered):
%s

Clients send it as the header: Authorization: Bearer <key>
`, r.ID, r.Name, strings.Join(r.Scopes, ","), r.expiry(), r.limit(), r.Secret)
	return err
}

// keyListReport is the printed form of `keys list`.
type keyListReport struct {
	Keys []keyReport `json:"keys"`
}

func (r keyListReport) writeText(w io.Writer) error {
	if len(r.Keys) == 0 {
		_, err := fmt.Fprintln(w, "no API keys; create one with: shardstock keys create")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tSTATUS\tCREATED\tEXPIRES\tLIMIT")
	for _, k := range r.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","), k.Status,
			formatTime(k.CreatedAt), k.expiry(), k.limit())
	}
	return tw.Flush()
}

// revokeReport is the printed form of `keys revoke`.
type revokeReport struct {
	keyReport
	// AlreadyRevoked is true when the key had been revoked before this command.
	AlreadyRevoked bool `json:"already_revoked"`
}
