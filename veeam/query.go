package veeam

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// ReplicaTaskSessions hands each page of the replica task sessions sel
// selects to each, newest first; see runQuery.
func (c *Client) ReplicaTaskSessions(ctx context.Context, sel Selection, each func(Page[ReplicaTaskSession]) error) (QueryStats, error) {
	return runQuery(ctx, c, replicaTaskQuery, sel, each)
}

// ReplicaJobSessions hands each page of the replica job sessions sel
// selects to each, newest first; see runQuery.
func (c *Client) ReplicaJobSessions(ctx context.Context, sel Selection, each func(Page[ReplicaJobSession]) error) (QueryStats, error) {
	return runQuery(ctx, c, replicaJobQuery, sel, each)
}

// BackupTaskSessions hands each page of the task sessions of backup jobs of
// every type (backup, backup copy...) sel selects to each, newest first; see
// runQuery.
func (c *Client) BackupTaskSessions(ctx context.Context, sel Selection, each func(Page[BackupTaskSession]) error) (QueryStats, error) {
	return runQuery(ctx, c, backupTaskQuery, sel, each)
}

// BackupJobSessions hands each page of the sessions of backup jobs of every
// type sel selects to each, newest first; see runQuery.
func (c *Client) BackupJobSessions(ctx context.Context, sel Selection, each func(Page[BackupJobSession]) error) (QueryStats, error) {
	return runQuery(ctx, c, backupJobQuery, sel, each)
}

// The query types of EM's query service the client reads.
const (
	ReplicaTaskSessionType = "ReplicaTaskSession"
	ReplicaJobSessionType  = "ReplicaJobSession"
	BackupTaskSessionType  = "BackupTaskSession"
	BackupJobSessionType   = "BackupJobSession"
)

var (
	replicaTaskQuery = entityQuery[ReplicaTaskSession]{
		typ: ReplicaTaskSessionType, order: newestFirst, fields: taskSessionFields, decode: decodeReplicaTaskSession,
		uid: func(s *ReplicaTaskSession) string { return s.UID },
	}
	replicaJobQuery = entityQuery[ReplicaJobSession]{
		typ: ReplicaJobSessionType, order: newestFirst, fields: jobSessionFields, decode: decodeReplicaJobSession,
		uid: func(s *ReplicaJobSession) string { return s.UID },
	}
	backupTaskQuery = entityQuery[BackupTaskSession]{
		typ: BackupTaskSessionType, order: newestFirst, fields: taskSessionFields, decode: decodeBackupTaskSession,
		uid: func(s *BackupTaskSession) string { return s.UID },
	}
	backupJobQuery = entityQuery[BackupJobSession]{
		typ: BackupJobSessionType, order: newestFirst, fields: jobSessionFields, decode: decodeBackupJobSession,
		uid: func(s *BackupJobSession) string { return s.UID },
	}
)

// entityQuery describes one query type of EM's query service.
type entityQuery[T any] struct {
	typ string // query type, also the name of each entity's element
	// order is the query's sort parameter. Sessions come newest first:
	// they arrive at the newest end of the table and age out at the
	// oldest, so while the query pages, an arrival only pushes entities
	// onto the next page (seen twice, kept once) and a removal only
	// shortens the last pages. Oldest first, a removal would pull entities
	// back onto pages already read, and they would be missed.
	order  string
	fields sessionFields // the zero value for a type without a Selection
	decode entityDecoder[T]
	uid    func(*T) string
}

// newestFirst is the order of every session query.
const newestFirst = "sortDesc=CreationTime"

// Page is one page of a query's answer.
type Page[T any] struct {
	// Items are the page's entities, but those an earlier page of the same
	// query already handed over.
	Items []T
	// Invalid counts entities that were skipped because a field the exporter
	// relies on (UID; for sessions CreationTimeUTC, State and Result; for
	// restore points CreationTimeUTC; for the estate's entities Name) was
	// missing or unparseable, or an optional field was present but
	// unparseable (except a CDP policy's RPO, which is then unknown); the rest
	// of the page is kept.
	Invalid int
}

// QueryStats is what one query returned and cost.
type QueryStats struct {
	Pages    int   // pages read, the failing one included
	Bytes    int64 // response body bytes read
	Entities int   // items handed over
	Invalid  int   // entities skipped, see Page.Invalid
	// Truncated is set when a page after the first came back empty: EM's
	// table shrank while it was paged, or EM lost track of it. The query
	// ended there, and what the selection holds past the entities handed
	// over may not have been read.
	Truncated bool
}

// runQuery fetches every page of a query and hands each page's entities to
// each, in page order; an error from each ends the query with that error.
// EM is asked for the entities in q.order (see entityQuery). The first page
// comes alone, for it tells how many there are; the rest are fetched
// concurrently, at most c.pagesInFlight at a time, and handed over in page
// order, so the pages, the error and the counts are those of fetching one
// page after another: the stats count the pages up to the last one handed
// over or the failing one.
//
// EM pages a live table, so the pages can disagree. An entity a page
// repeats from the page before is handed over once: a session that reaches
// EM while the query pages pushes the rows after it one row down, by less
// than a page while the window is bounded. Only the UIDs of the last two
// pages are remembered, so a query of a whole history holds no set of all
// its UIDs. The largest PagesCount any page announced is followed, up to
// c.maxPages: new sessions push the last ones onto pages that did not
// exist when the first page was served. A smaller count is not trusted; an
// empty page, where the table shrank, ends the query instead.
func runQuery[T any](ctx context.Context, c *Client, q entityQuery[T], sel Selection, each func(Page[T]) error) (QueryStats, error) {
	return runFiltered(ctx, c, q, q.fields.filter(sel), each)
}

// runFiltered is runQuery with the filter already encoded, for a query type
// selected otherwise than by a Selection.
func runFiltered[T any](ctx context.Context, c *Client, q entityQuery[T], filter string, each func(Page[T]) error) (QueryStats, error) {
	var (
		stats     QueryStats
		announced int
		sizeHint  int // entities on a full page, once the first page told
		// The UIDs handed over by the previous page and by this one.
		previous, current map[string]struct{}
	)
	// merge hands one fetched page over and tells whether the query goes on.
	merge := func(f *pageFetch[T]) (bool, error) {
		stats.Pages++
		stats.Bytes += f.bytes
		// Asking on past an empty page could loop on a table that keeps
		// shrinking.
		if f.err != nil || f.page.empty() {
			stats.Truncated = f.err == nil && stats.Pages > 1
			return false, f.err
		}
		stats.Invalid += f.page.invalid
		announced = max(announced, f.page.paging.PagesCount)
		if sizeHint == 0 {
			sizeHint = len(f.page.items) + f.page.invalid
		}
		previous, current = current, make(map[string]struct{}, len(f.page.items))
		items := f.page.items[:0]
		for i := range f.page.items {
			item := &f.page.items[i]
			uid := q.uid(item)
			if _, repeated := previous[uid]; repeated {
				continue
			}
			if _, repeated := current[uid]; repeated {
				continue
			}
			current[uid] = struct{}{}
			items = append(items, *item)
		}
		stats.Entities += len(items)
		if err := each(Page[T]{Items: items, Invalid: f.page.invalid}); err != nil {
			return false, err
		}
		return true, nil
	}
	var first pageFetch[T]
	first.page, first.bytes, first.err = fetchPage(ctx, c, q, filter, 1, c.pageSize, 0)
	if more, err := merge(&first); !more {
		return stats, err
	}
	first = pageFetch[T]{}
	for fetched := 1; announced > fetched; {
		if announced > c.maxPages {
			return stats, fmt.Errorf("query %s: %d pages, more than %d; raise the page size or shorten the window", q.typ, announced, c.maxPages)
		}
		from, last := fetched+1, announced
		fetched = announced
		if more, err := fetchPages(ctx, c, q, filter, from, last, sizeHint, merge); !more {
			return stats, err
		}
	}
	return stats, nil
}

// Count is how many sessions or restore points a selection holds, as EM
// counts them.
type Count struct {
	N int
	// Exact is false when EM did not honour the page size of 1 it was
	// asked for, or sent no PagesCount: N is then an upper bound, or -1.
	Exact bool
	// First is the UID of the entity on the counted page, in the query's
	// order: for sessions and restore points, the newest selected. Empty
	// when EM selected none, or the page held none that could be decoded.
	First string
}

// CountSessions asks EM how many sessions of query type typ (such as
// ReplicaTaskSessionType) sel selects. It reads one page of one entity:
// EM's PagesCount is then the count, a few hundred bytes whatever it is.
func (c *Client) CountSessions(ctx context.Context, typ string, sel Selection) (Count, error) {
	switch typ {
	case ReplicaTaskSessionType:
		return countQuery(ctx, c, replicaTaskQuery, sel)
	case ReplicaJobSessionType:
		return countQuery(ctx, c, replicaJobQuery, sel)
	case BackupTaskSessionType:
		return countQuery(ctx, c, backupTaskQuery, sel)
	case BackupJobSessionType:
		return countQuery(ctx, c, backupJobQuery, sel)
	case CdpReplicaSessionType:
		return countQuery(ctx, c, cdpSessionQuery, sel)
	case CdpReplicaTaskSessionType:
		return countQuery(ctx, c, cdpTaskQuery, sel)
	}
	return Count{}, fmt.Errorf("count sessions: unknown query type %q", typ)
}

func countQuery[T any](ctx context.Context, c *Client, q entityQuery[T], sel Selection) (Count, error) {
	return countFiltered(ctx, c, q, q.fields.filter(sel))
}

func countFiltered[T any](ctx context.Context, c *Client, q entityQuery[T], filter string) (Count, error) {
	p, _, err := fetchPage(ctx, c, q, filter, 1, 1, 1)
	switch {
	case err != nil:
		return Count{}, err
	case p.empty():
		return Count{N: 0, Exact: true}, nil
	case p.paging.PagesCount == 0:
		return Count{N: -1}, nil
	}
	size := max(p.paging.PageSize, 1)
	n := Count{N: p.paging.PagesCount * size, Exact: size == 1}
	if len(p.items) > 0 {
		n.First = q.uid(&p.items[0])
	}
	return n, nil
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
func fetchPages[T any](ctx context.Context, c *Client, q entityQuery[T], filter string, from, last, sizeHint int, merge func(*pageFetch[T]) (bool, error)) (bool, error) {
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
				f.page, f.bytes, f.err = fetchPage(pageCtx, c, q, filter, page, c.pageSize, sizeHint)
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

// fetchPage gets and decodes one page of pageSize entities; n is the body
// bytes read.
//
// sizeHint, when not 0, is how many entities a full page holds: the decoded
// page is allocated for that many at once.
func fetchPage[T any](ctx context.Context, c *Client, q entityQuery[T], filter string, page, pageSize, sizeHint int) (p entityPage[T], n int64, err error) {
	op := fmt.Sprintf("query %s page %d", q.typ, page)
	n, err = c.fetchDocument(ctx, q.typ, op, page, "QueryResult", c.queryURL(q.typ, q.order, filter, page, pageSize), func(r *bufio.Reader) error {
		var err error
		p, err = decodePage(r, q.typ, q.decode, sizeHint)
		return err
	})
	return p, n, err
}

// fetchDocument sends one GET of request type typ to target and hands the
// answer's body to decode, within a page slot, under the body cap, and with
// the client's logon, retry and request accounting; n is the body bytes
// read. root names the document expected, page the query page (0 for a
// document that is not one), for the errors.
func (c *Client) fetchDocument(ctx context.Context, typ, op string, page int, root, target string, decode func(*bufio.Reader) error) (n int64, err error) {
	select {
	case c.pageSlots <- struct{}{}:
		defer func() { <-c.pageSlots }()
	case <-ctx.Done():
		return 0, fmt.Errorf("%s: wait for another page request to end: %w", op, context.Cause(ctx))
	}
	resp, done, err := c.authorized(ctx, typ, op, http.MethodGet, target)
	if err != nil {
		return 0, err
	}
	body := newCappedReader(resp.Body, c.maxBody)
	defer func() {
		discard(resp.Body)
		done(err, body.bytesRead())
	}()
	if resp.StatusCode != http.StatusOK {
		return 0, statusError(op, resp)
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType == "text/html" {
		return 0, &DecodeError{Type: typ, Page: page, Err: fmt.Errorf("expected an XML %s, got an HTML page (a proxy or login page in front of EM?)", root)}
	}
	reader := c.pageReaders.Get().(*bufio.Reader)
	reader.Reset(body)
	defer func() {
		reader.Reset(nil)
		c.pageReaders.Put(reader)
	}()
	if err := decode(reader); err != nil {
		return body.bytesRead(), bodyError(ctx, op, c.host, typ, page, err)
	}
	return body.bytesRead(), nil
}

// queryURL builds the query by hand so that the filter's separators stay
// literal; url.Values would escape them.
// order is the sort parameter, such as "sortDesc=CreationTime".
func (c *Client) queryURL(typ, order, filter string, page, pageSize int) string {
	var b strings.Builder
	b.WriteString(c.base)
	b.WriteString("/api/query?type=")
	b.WriteString(percentEncode(typ))
	b.WriteString("&format=Entities&")
	b.WriteString(order)
	b.WriteString("&pageSize=")
	b.WriteString(strconv.Itoa(pageSize))
	b.WriteString("&page=")
	b.WriteString(strconv.Itoa(page))
	if filter != "" {
		b.WriteString("&filter=")
		b.WriteString(filter)
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
