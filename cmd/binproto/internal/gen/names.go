package gen

import (
	"fmt"
	"strings"
)

// initialisms are the words Go spells in capitals.
var initialisms = map[string]bool{
	"id": true, "ip": true, "url": true, "uri": true, "http": true, "crc": true, "cpu": true,
	"json": true, "tcp": true, "udp": true, "uuid": true, "api": true, "tls": true, "ttl": true,
}

// goName turns a schema name (letters, digits and _) into an exported Go
// identifier: device_id -> DeviceID, temp2 -> Temp2.
func goName(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(s, "_") {
		if w == "" {
			continue
		}
		if initialisms[strings.ToLower(w)] {
			b.WriteString(strings.ToUpper(w))
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// pyName turns a type name into a Python enum member name: reading_v2 ->
// READING_V2.
func pyName(s string) string { return strings.ToUpper(s) }

// uniqueNames checks that name gives every item a distinct name; what says
// what the names are, for the error.
func uniqueNames(items []string, name func(string) string, what string) error {
	seen := map[string]string{}
	for _, it := range items {
		n := name(it)
		if prev, ok := seen[n]; ok {
			return fmt.Errorf("%s %q and %q both become %s", what, prev, it, n)
		}
		seen[n] = it
	}
	return nil
}
