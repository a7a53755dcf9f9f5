package gateway

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// unknownField reports the first object key in body's JSON value, in document order, that names
// no field of the Go type t at that place (at any depth the decoder descends into), matching
// names as encoding/json does: exactly, else case-insensitively. It reports false when body's
// first value is not complete JSON: the decoder then failed before looking at any field.
//
// decodeStrict calls it to name the unknown field the decoder refused, without reading the
// decoder's error text.
func unknownField(body []byte, t reflect.Type) (string, bool) {
	var raw json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&raw); err != nil {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	name, found, err := walkFields(dec, t)
	return name, found && err == nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// walkFields consumes one JSON value from dec and returns the first key that names no field of
// t. A nil t accepts anything (a map value, an interface, a value of another kind, or a type that
// decodes itself).
func walkFields(dec *json.Decoder, t reflect.Type) (string, bool, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return "", false, err
			}
			key, _ := keyTok.(string)
			var ft reflect.Type
			switch {
			case fields != nil:
				var ok bool
				if ft, ok = fieldType(fields, key); !ok {
					return key, true, nil
				}
			case t != nil && t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			if name, found, err := walkFields(dec, ft); found || err != nil {
				return name, found, err
			}
		}
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if name, found, err := walkFields(dec, et); found || err != nil {
				return name, found, err
			}
		}
	default:
		return "", false, nil // a scalar
	}
	_, err = dec.Token() // the closing delimiter
	return "", false, err
}

// fieldType finds the field a key decodes into: the exact name first, then a case-insensitive
// match (encoding/json's rule).
func fieldType(fields map[string]reflect.Type, key string) (reflect.Type, bool) {
	if ft, ok := fields[key]; ok {
		return ft, true
	}
	for name, ft := range fields {
		if strings.EqualFold(name, key) {
			return ft, true
		}
	}
	return nil, false
}

// jsonFields returns the JSON names of a struct's decodable fields with their types, including
// the fields promoted from embedded structs without a tag.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, t := range jsonFields(ft) {
					if _, ok := out[n]; !ok {
						out[n] = t
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}
