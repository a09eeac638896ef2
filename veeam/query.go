package veeam

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultMaxPages stops a query whose paging never ends, whatever EM claims.
const defaultMaxPages = 100000

// Operator is a comparison of EM's filter grammar.
type Operator string

// The comparisons EM's query service knows. Enumerations compare by their
// position, so Result>=Warning selects Warning and Failed.
const (
	OpEqual          Operator = "=="
	OpNotEqual       Operator = "!="
	OpLess           Operator = "<"
	OpGreater        Operator = ">"
	OpLessOrEqual    Operator = "<="
	OpGreaterOrEqual Operator = ">="
)

// Condition compares one field of an entity with a value.
type Condition struct {
	Field string
	Op    Operator
	Value string
}

// Filter is the conditions an entity must all meet.
type Filter []Condition

// Encode gives the filter as it goes into a raw query string. Every value is
// double-quoted (EM silently drops unquoted spaces) with inner quotes
// doubled, then each part is percent-encoded; the ';' that joins conditions
// stays literal because EM's handling of an encoded separator is unknown.
func (f Filter) Encode() string {
	parts := make([]string, len(f))
	for i, c := range f {
		parts[i] = c.Encode()
	}
	return strings.Join(parts, ";")
}

// Encode gives the condition as it goes into a raw query string.
func (c Condition) Encode() string {
	quoted := `"` + strings.ReplaceAll(c.Value, `"`, `""`) + `"`
	return percentEncode(c.Field) + percentEncode(string(c.Op)) + percentEncode(quoted)
}

// percentEncode escapes every byte but the unreserved characters of RFC 3986.
// url.QueryEscape is not used because it writes a space as '+'.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' ||
			ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&0x0f])
	}
	return b.String()
}

// createdSince selects the sessions created at since or later; a zero since
// selects them all. EM takes whole seconds in UTC, so since is rounded down:
// a session created within since's second is not missed.
func createdSince(since time.Time) Filter {
	if since.IsZero() {
		return nil
	}
	return Filter{{Field: "CreationTime", Op: OpGreaterOrEqual, Value: formatFilterTime(since)}}
}

func formatFilterTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

// ReplicaTaskSessions returns the replica task sessions created at since or
// later, oldest first. On error the result still counts the pages and bytes
// read before it.
func (c *Client) ReplicaTaskSessions(ctx context.Context, since time.Time) (QueryResult[ReplicaTaskSession], error) {
	return runQuery(ctx, c, entityQuery[ReplicaTaskSession]{
		typ:    "ReplicaTaskSession",
		decode: decodeReplicaTaskSession,
		uid:    func(s *ReplicaTaskSession) string { return s.UID },
	}, createdSince(since))
}

// ReplicaJobSessions returns the replica job sessions created at since or
// later, oldest first. On error the result still counts the pages and bytes
// read before it.
func (c *Client) ReplicaJobSessions(ctx context.Context, since time.Time) (QueryResult[ReplicaJobSession], error) {
	return runQuery(ctx, c, entityQuery[ReplicaJobSession]{
		typ:    "ReplicaJobSession",
		decode: decodeReplicaJobSession,
		uid:    func(s *ReplicaJobSession) string { return s.UID },
	}, createdSince(since))
}

// entityQuery describes one query type of EM's query service.
type entityQuery[T any] struct {
	typ    string // query type, also the name of each entity's element
	decode entityDecoder[T]
	uid    func(*T) string
}

// runQuery fetches every page of a query. Paging over a collection that grows
// meanwhile can show an entity twice: a later copy replaces the earlier one.
func runQuery[T any](ctx context.Context, c *Client, q entityQuery[T], filter Filter) (QueryResult[T], error) {
	var res QueryResult[T]
	seen := make(map[string]int)
	for page := 1; ; page++ {
		if page > c.maxPages {
			return res, fmt.Errorf("query %s: more than %d pages; raise the page size or shorten the window", q.typ, c.maxPages)
		}
		p, n, err := fetchPage(ctx, c, q, filter, page)
		res.Pages++
		res.Bytes += n
		if err != nil {
			return res, err
		}
		res.Invalid += p.invalid
		for _, item := range p.items {
			uid := q.uid(&item)
			if i, ok := seen[uid]; ok {
				res.Items[i] = item
				continue
			}
			seen[uid] = len(res.Items)
			res.Items = append(res.Items, item)
		}
		// An empty page ends the query even when EM announced more: the
		// collection shrank, and asking on could loop.
		if len(p.items)+p.invalid == 0 || page >= p.paging.PagesCount {
			return res, nil
		}
	}
}

// fetchPage gets and decodes one page; n is the body bytes read.
func fetchPage[T any](ctx context.Context, c *Client, q entityQuery[T], filter Filter, page int) (p entityPage[T], n int64, err error) {
	op := fmt.Sprintf("query %s page %d", q.typ, page)
	resp, err := c.authorized(ctx, op, http.MethodGet, c.queryURL(q.typ, filter, page))
	if err != nil {
		return p, 0, err
	}
	body := newCappedReader(resp.Body, c.maxBody)
	defer discard(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return p, 0, statusError(op, resp)
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType == "text/html" {
		return p, 0, &DecodeError{Type: q.typ, Page: page, Err: errors.New("expected an XML QueryResult, got an HTML page (a proxy or login page in front of EM?)")}
	}
	p, err = decodePage(body, q.typ, q.decode)
	if err != nil {
		return p, body.bytesRead(), bodyError(ctx, op, q.typ, page, err)
	}
	return p, body.bytesRead(), nil
}

// queryURL builds the query by hand so that the filter's separators stay
// literal; url.Values would escape them.
func (c *Client) queryURL(typ string, filter Filter, page int) string {
	var b strings.Builder
	b.WriteString(c.base)
	b.WriteString("/api/query?type=")
	b.WriteString(percentEncode(typ))
	b.WriteString("&format=Entities&sortAsc=CreationTime&pageSize=")
	b.WriteString(strconv.Itoa(c.pageSize))
	b.WriteString("&page=")
	b.WriteString(strconv.Itoa(page))
	if len(filter) > 0 {
		b.WriteString("&filter=")
		b.WriteString(filter.Encode())
	}
	return b.String()
}

// bodyError classifies a failure while reading a page: the size cap and
// timeouts keep their own types, anything else means the page is unusable.
func bodyError(ctx context.Context, op, typ string, page int, err error) error {
	var tooLarge *BodyTooLargeError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if ctx.Err() != nil {
		return requestError(ctx, op, err)
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return requestError(ctx, op, err)
	}
	return &DecodeError{Type: typ, Page: page, Err: err}
}
