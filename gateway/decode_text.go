package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/shardstock/shardstock/inventory"
)

// encoding/json replaces invalid UTF-8 and unpaired UTF-16 surrogate escapes ("\udc00") in a
// string with U+FFFD: a handler would never see them and would store the replacement character.
// checkStrings looks at the raw body instead, so that such text is refused with the field it was
// sent in.

// checkStrings returns a validation error naming the first string value of body (a JSON value
// that decoded without error) that holds invalid UTF-8 or an unpaired surrogate escape:
// "name", "lines[2].sku", "event_types[0]".
func checkStrings(body []byte) error {
	if utf8.Valid(body) && !mayHoldSurrogate(body) {
		return nil // the usual case: nothing to walk
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []jsonFrame
	from := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end (the body decoded before, so nothing else)
		}
		raw := body[from:dec.InputOffset()]
		from = dec.InputOffset()
		if len(stack) > 0 && stack[len(stack)-1].wantKey {
			if k, ok := tok.(string); ok {
				top := &stack[len(stack)-1]
				top.key, top.wantKey = k, false
				if !validJSONString(raw) {
					return textError(framePath(stack[:len(stack)-1]))
				}
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, jsonFrame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, jsonFrame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if _, ok := tok.(string); ok && !validJSONString(raw) {
				return textError(framePath(stack))
			}
		}
		if len(stack) > 0 { // a value of the enclosing object or array is complete
			top := &stack[len(stack)-1]
			top.wantKey = top.object
			top.index++
		}
	}
}

// jsonFrame is an object or array being walked: the key of the value being read, or its index.
type jsonFrame struct {
	object  bool
	wantKey bool
	key     string
	index   int
}

// framePath names the value the stack points at, as details.field does: "lines[2].sku".
func framePath(stack []jsonFrame) string {
	var b []byte
	for _, f := range stack {
		if f.object {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, f.key...)
		} else {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(f.index), 10)
			b = append(b, ']')
		}
	}
	return string(b)
}

func textError(field string) error {
	if field == "" {
		return inventory.InvalidRequest("request body must be valid UTF-8")
	}
	return inventory.Validation(field, "%s must be valid UTF-8 (no invalid bytes, no unpaired surrogate escapes)", field)
}

// mayHoldSurrogate reports whether b contains a \u escape of a UTF-16 surrogate (\uD800-\uDFFF,
// any letter case): only then can a valid UTF-8 body decode to U+FFFD.
func mayHoldSurrogate(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u`))
		if i < 0 || i+3 >= len(b) {
			return false
		}
		if (b[i+2] == 'd' || b[i+2] == 'D') && bytes.IndexByte([]byte("89abcdefABCDEF"), b[i+3]) >= 0 {
			return true
		}
		b = b[i+2:]
	}
}

// validJSONString reports whether the raw JSON string token in raw (with the separators and
// white space before it) is valid UTF-8 whose escapes pair every surrogate.
func validJSONString(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw, i+1)
		i += 4
		switch {
		case !ok:
			return false
		case r >= 0xD800 && r < 0xDC00:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(raw, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		}
	}
	return true
}

// hex4 reads the four hexadecimal digits at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	return rune(n), err == nil
}
