package veeam

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultMaxPages stops a query whose paging never ends, whatever EM claims.
const defaultMaxPages = 100000

// presizeLimit bounds the entities a query's result is sized for from the
// first page's PagesCount: about 50 MiB of task sessions, more than the
// scale preset's whole history. Past it the result grows as pages arrive.
const presizeLimit = 1 << 18

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

// Window selects sessions by creation time: from Since, included, to Until,
// excluded. A zero bound leaves that side open.
//
// A bounded Until is what makes paging safe while EM keeps creating
// sessions: without it, a session created between two page requests shifts
// the newest-first table by one row, and a page answered before its
// predecessor loses the row at their boundary. With it, the set of sessions
// the query selects no longer grows while it is paged.
type Window struct {
	Since, Until time.Time
}

// filter turns w into EM's filter. EM takes whole seconds in UTC, so both
// bounds are rounded down: a session created within Since's second is not
// missed, and one created within Until's second is left to the next window,
// which starts before it.
func (w Window) filter() Filter {
	var f Filter
	if !w.Since.IsZero() {
		f = append(f, Condition{Field: "CreationTime", Op: OpGreaterOrEqual, Value: formatFilterTime(w.Since)})
	}
	if !w.Until.IsZero() {
		f = append(f, Condition{Field: "CreationTime", Op: OpLess, Value: formatFilterTime(w.Until)})
	}
	return f
}

func formatFilterTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

// ReplicaTaskSessions returns the replica task sessions created within w,
// oldest first. On error the result still counts the pages and bytes read
// before it.
func (c *Client) ReplicaTaskSessions(ctx context.Context, w Window) (QueryResult[ReplicaTaskSession], error) {
	return runQuery(ctx, c, entityQuery[ReplicaTaskSession]{
		typ:    "ReplicaTaskSession",
		decode: decodeReplicaTaskSession,
		uid:    func(s *ReplicaTaskSession) string { return s.UID },
	}, w.filter())
}

// ReplicaJobSessions returns the replica job sessions created within w,
// oldest first. On error the result still counts the pages and bytes read
// before it.
func (c *Client) ReplicaJobSessions(ctx context.Context, w Window) (QueryResult[ReplicaJobSession], error) {
	return runQuery(ctx, c, entityQuery[ReplicaJobSession]{
		typ:    "ReplicaJobSession",
		decode: decodeReplicaJobSession,
		uid:    func(s *ReplicaJobSession) string { return s.UID },
	}, w.filter())
}

// BackupTaskSessions returns the task sessions of backup jobs of every type
// (backup, backup copy...) created within w, oldest first. On error the
// result still counts the pages and bytes read before it.
func (c *Client) BackupTaskSessions(ctx context.Context, w Window) (QueryResult[BackupTaskSession], error) {
	return runQuery(ctx, c, entityQuery[BackupTaskSession]{
		typ:    "BackupTaskSession",
		decode: decodeBackupTaskSession,
		uid:    func(s *BackupTaskSession) string { return s.UID },
	}, w.filter())
}

// BackupJobSessions returns the sessions of backup jobs of every type
// created within w, oldest first. On error the result still counts the
// pages and bytes read before it.
func (c *Client) BackupJobSessions(ctx context.Context, w Window) (QueryResult[BackupJobSession], error) {
	return runQuery(ctx, c, entityQuery[BackupJobSession]{
		typ:    "BackupJobSession",
		decode: decodeBackupJobSession,
		uid:    func(s *BackupJobSession) string { return s.UID },
	}, w.filter())
}

// entityQuery describes one query type of EM's query service.
type entityQuery[T any] struct {
	typ    string // query type, also the name of each entity's element
	decode entityDecoder[T]
	uid    func(*T) string
}

// runQuery fetches every page of a query. EM is asked for the newest
// sessions first (see queryURL); the result is turned round so that callers
// get the oldest first.
func runQuery[T any](ctx context.Context, c *Client, q entityQuery[T], filter Filter) (QueryResult[T], error) {
	res, err := fetchAllPages(ctx, c, q, filter)
	slices.Reverse(res.Items)
	return res, err
}

// fetchAllPages fetches the pages of a query in EM's order. The first page
// comes alone, for it tells how many there are; the rest are fetched
// concurrently, at most c.pagesInFlight at a time, and merged in page order,
// so the result, the error and the counts are those of fetching one page
// after another: Pages and Bytes count the pages up to the last merged one or
// the failing one.
//
// EM pages a live table, so the pages can disagree. An entity seen twice is
// kept once, the later copy replacing the earlier one in its place. The
// largest PagesCount any page announced is followed, up to c.maxPages: new
// sessions push the last ones onto pages that did not exist when the first
// page was served. A smaller count is not trusted; an empty page, where the
// table shrank, ends the query instead.
func fetchAllPages[T any](ctx context.Context, c *Client, q entityQuery[T], filter Filter) (QueryResult[T], error) {
	var (
		res       QueryResult[T]
		seen      map[string]int
		announced int
		sizeHint  int // entities on a full page, once the first page told
	)
	// merge adds one fetched page and tells whether the query goes on.
	merge := func(f *pageFetch[T]) (bool, error) {
		res.Pages++
		res.Bytes += f.bytes
		// Asking on past an empty page could loop on a table that keeps
		// shrinking.
		if f.err != nil || f.page.empty() {
			return false, f.err
		}
		res.Invalid += f.page.invalid
		announced = max(announced, f.page.paging.PagesCount)
		if seen == nil {
			// Every page but the last is as full as the first: sizing the
			// result for all of them spares the regrowth of a slice that
			// holds a whole history at a big site. The count comes from EM,
			// so what it may reserve before any page backs it is bounded.
			sizeHint = len(f.page.items) + f.page.invalid
			expected := min(len(f.page.items)*min(max(announced, 1), c.maxPages), presizeLimit)
			seen = make(map[string]int, expected)
			res.Items = make([]T, 0, expected)
		}
		for i := range f.page.items {
			item := &f.page.items[i]
			uid := q.uid(item)
			if at, ok := seen[uid]; ok {
				res.Items[at] = *item
				continue
			}
			seen[uid] = len(res.Items)
			res.Items = append(res.Items, *item)
		}
		return true, nil
	}
	var first pageFetch[T]
	first.page, first.bytes, first.err = fetchPage(ctx, c, q, filter, 1, 0)
	if more, err := merge(&first); !more {
		return res, err
	}
	first = pageFetch[T]{}
	for fetched := 1; announced > fetched; {
		if announced > c.maxPages {
			return res, fmt.Errorf("query %s: %d pages, more than %d; raise the page size or shorten the window", q.typ, announced, c.maxPages)
		}
		from, last := fetched+1, announced
		fetched = announced
		if more, err := fetchPages(ctx, c, q, filter, from, last, sizeHint, merge); !more {
			return res, err
		}
	}
	return res, nil
}

// pageFetch is the outcome of one page request.
type pageFetch[T any] struct {
	page  entityPage[T]
	bytes int64
	err   error
}

// fetchPages gets pages from to last, at most c.pagesInFlight at a time, and
// hands each to merge in page order as soon as it and the pages before it
// have arrived, then lets it go: only the pages in flight, or waiting for an
// earlier one, are held, not the whole history. A failing page cancels the
// requests for the pages after it and stops new ones; the pages before it
// are still fetched, so the first failing page in order is the one whose
// error counts, as when fetching them one by one. It returns merge's verdict
// on the last page it merged; when merge says stop, the requests still in
// flight are cancelled and waited for.
func fetchPages[T any](ctx context.Context, c *Client, q entityQuery[T], filter Filter, from, last, sizeHint int, merge func(*pageFetch[T]) (bool, error)) (bool, error) {
	n := last - from + 1
	fetches := make([]pageFetch[T], n)
	arrived := make([]chan struct{}, n)
	cancels := make([]context.CancelFunc, n)
	for i := range arrived {
		arrived[i] = make(chan struct{})
	}
	var (
		mu       sync.Mutex
		next     = from
		failedAt = last + 1 // the lowest failing page, or past the last
		stopped  bool       // merge said stop: start no more pages
		wg       sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		stopped = true
		for _, cancel := range cancels {
			if cancel != nil {
				cancel()
			}
		}
		mu.Unlock()
		wg.Wait()
	}()
	for range min(c.pagesInFlight, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				page := next
				if stopped || page > last || page > failedAt {
					mu.Unlock()
					return
				}
				next++
				pageCtx, cancel := context.WithCancel(ctx)
				cancels[page-from] = cancel
				mu.Unlock()

				f := &fetches[page-from]
				f.page, f.bytes, f.err = fetchPage(pageCtx, c, q, filter, page, sizeHint)
				cancel()
				if f.err != nil {
					mu.Lock()
					if page < failedAt {
						failedAt = page
						for _, cancelLater := range cancels[page-from+1:] {
							if cancelLater != nil {
								cancelLater()
							}
						}
					}
					mu.Unlock()
				}
				close(arrived[page-from])
			}
		})
	}
	// Page i is always fetched: merging reaches it only when every page
	// before it merged without error, so failedAt is not below it.
	for i := range n {
		<-arrived[i]
		more, err := merge(&fetches[i])
		fetches[i] = pageFetch[T]{}
		if !more {
			return false, err
		}
	}
	return true, nil
}

// fetchPage gets and decodes one page; n is the body bytes read.
//
// sizeHint, when not 0, is how many entities a full page holds: the decoded
// page is allocated for that many at once.
func fetchPage[T any](ctx context.Context, c *Client, q entityQuery[T], filter Filter, page, sizeHint int) (p entityPage[T], n int64, err error) {
	op := fmt.Sprintf("query %s page %d", q.typ, page)
	select {
	case c.pageSlots <- struct{}{}:
		defer func() { <-c.pageSlots }()
	case <-ctx.Done():
		return p, 0, fmt.Errorf("%s: wait for another page request to end: %w", op, context.Cause(ctx))
	}
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
	reader := c.pageReaders.Get().(*bufio.Reader)
	reader.Reset(body)
	defer func() {
		reader.Reset(nil)
		c.pageReaders.Put(reader)
	}()
	p, err = decodePage(reader, q.typ, q.decode, sizeHint)
	if err != nil {
		return p, body.bytesRead(), bodyError(ctx, op, c.host, q.typ, page, err)
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
	// Newest first: sessions arrive at the newest end of the table and age
	// out at the oldest, so while the query pages, an arrival only pushes
	// entities onto the next page (seen twice, kept once) and a removal only
	// shortens the last pages. Oldest first, a removal would pull entities
	// back onto pages already read, and they would be missed.
	b.WriteString("&format=Entities&sortDesc=CreationTime&pageSize=")
	b.WriteString(strconv.Itoa(c.pageSize))
	b.WriteString("&page=")
	b.WriteString(strconv.Itoa(page))
	if len(filter) > 0 {
		b.WriteString("&filter=")
		b.WriteString(filter.Encode())
	}
	return b.String()
}

// bodyError classifies a failure while reading a page from host: the size
// cap, timeouts and a reset connection keep their own types, anything else
// means the page is unusable. A body that merely ends early is a broken page
// like any other.
func bodyError(ctx context.Context, op, host, typ string, page int, err error) error {
	var tooLarge *BodyTooLargeError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if ctx.Err() != nil {
		return requestError(ctx, op, host, err)
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return requestError(ctx, op, host, err)
	}
	if reason, ok := networkReason(err); ok && reason == ConnectionReset {
		return &NetworkError{Op: op, Host: host, Reason: reason, Err: err}
	}
	return &DecodeError{Type: typ, Page: page, Err: err}
}

// empty tells a page without a single entity, valid or not.
func (p *entityPage[T]) empty() bool {
	return len(p.items)+p.invalid == 0
}
