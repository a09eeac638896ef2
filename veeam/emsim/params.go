package emsim

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// queryParam is one key=value of a raw query string.
type queryParam struct {
	raw        string // as sent, for building paging links
	key, value string // unescaped
}

// parseQueryParams splits the raw query on "&" only. url.ParseQuery would
// drop every parameter holding a literal ";", which EM's filters use for AND.
func parseQueryParams(rawQuery string) ([]queryParam, error) {
	var params []queryParam
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, fmt.Errorf("malformed query parameter %q: %w", part, err)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("malformed query parameter %q: %w", part, err)
		}
		params = append(params, queryParam{raw: part, key: key, value: value})
	}
	return params, nil
}

// lookupParam returns the first value of a parameter; EM's parameter names
// are case-insensitive.
func lookupParam(params []queryParam, key string) (string, bool) {
	for _, p := range params {
		if strings.EqualFold(p.key, key) {
			return p.value, true
		}
	}
	return "", false
}

// requestedPage is the page a query asks for: 1 when absent, 0 when
// invalid.
func requestedPage(params []queryParam) int {
	v, ok := lookupParam(params, "page")
	if !ok {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// positiveParam reads an optional positive integer parameter.
func positiveParam(params []queryParam, key string, fallback int) (int, error) {
	v, ok := lookupParam(params, key)
	if !ok {
		return fallback, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("the query parameter %s must be a positive integer, got %q", key, v)
	}
	return n, nil
}

// withPage rebuilds the raw query with page=n, keeping every other
// parameter as the client sent it.
func withPage(params []queryParam, n int) string {
	parts := make([]string, 0, len(params)+1)
	for _, p := range params {
		if !strings.EqualFold(p.key, "page") {
			parts = append(parts, p.raw)
		}
	}
	return strings.Join(append(parts, "page="+strconv.Itoa(n)), "&")
}
