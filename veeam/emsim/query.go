package emsim

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// queryKind is everything the query service needs to know about one query
// type.
type queryKind[T any] struct {
	typeName string // ReplicaTaskSession
	listName string // ReplicaTaskSessions, the element around the entities
	fields   fieldSet[T]
	// items are all planned, sorted by creation, as EM holds them at now;
	// called under d.mu.
	items    func(d *dataset, now time.Time) []T
	creation func(T) time.Time
	visible  func(T, time.Time) bool // whether EM knows of it yet
	uid      func(T) string
	entity   func(x xmlWriter, base string, e T, now time.Time, bad corruptionKind)
	ref      func(x xmlWriter, base string, e T)
}

var (
	taskQuery = queryKind[*taskRun]{
		typeName: "ReplicaTaskSession",
		listName: "ReplicaTaskSessions",
		fields:   taskFields,
		items:    atAnyTime(replicaTasks),
		creation: taskCreation,
		visible:  (*taskRun).visibleAt,
		uid:      taskUID,
		entity:   writeTaskEntity,
		ref:      writeTaskRef,
	}
	jobQuery = queryKind[*jobRun]{
		typeName: "ReplicaJobSession",
		listName: "ReplicaJobSessions",
		fields:   jobFields,
		items:    atAnyTime(replicaRuns),
		creation: runCreation,
		visible:  (*jobRun).visibleAt,
		uid:      runUID,
		entity:   writeJobEntity,
		ref:      writeJobRef,
	}
	backupTaskQuery = queryKind[*taskRun]{
		typeName: "BackupTaskSession",
		listName: "BackupTaskSessions",
		fields:   taskFields,
		items:    atAnyTime(backupTasks),
		creation: taskCreation,
		visible:  (*taskRun).visibleAt,
		uid:      taskUID,
		entity:   writeTaskEntity,
		ref:      writeTaskRef,
	}
	backupJobQuery = queryKind[*jobRun]{
		typeName: "BackupJobSession",
		listName: "BackupJobSessions",
		fields:   jobFields,
		items:    atAnyTime(backupRuns),
		creation: runCreation,
		visible:  (*jobRun).visibleAt,
		uid:      runUID,
		entity:   writeJobEntity,
		ref:      writeJobRef,
	}
)

// atAnyTime serves a collection of planned sessions, which are what they
// are whatever the time.
func atAnyTime[T any](items func(*dataset) []T) func(*dataset, time.Time) []T {
	return func(d *dataset, _ time.Time) []T { return items(d) }
}

// queryRequest is a validated /api/query request.
type queryRequest struct {
	entities  bool
	page      int
	pageSize  int
	sortField string // "" sorts by creation time
	sortDesc  bool
	filter    string // "" is no filter
}

func (s *Server) serveQuery(ex *exchange) {
	if !s.allowMethods(ex, http.MethodGet) || !s.authenticate(ex) {
		return
	}
	switch {
	case ex.typeName == "":
		s.writeError(ex, http.StatusBadRequest, "The query parameter type is required, e.g. type=ReplicaTaskSession.")
	case strings.EqualFold(ex.typeName, taskQuery.typeName):
		runQuery(s, ex, taskQuery)
	case strings.EqualFold(ex.typeName, jobQuery.typeName):
		runQuery(s, ex, jobQuery)
	case strings.EqualFold(ex.typeName, backupTaskQuery.typeName):
		runQuery(s, ex, backupTaskQuery)
	case strings.EqualFold(ex.typeName, backupJobQuery.typeName):
		runQuery(s, ex, backupJobQuery)
	case strings.EqualFold(ex.typeName, repositoryQuery.typeName):
		runQuery(s, ex, repositoryQuery)
	case strings.EqualFold(ex.typeName, jobEntityQuery.typeName):
		runQuery(s, ex, jobEntityQuery)
	case strings.EqualFold(ex.typeName, backupServerQuery.typeName):
		runQuery(s, ex, backupServerQuery)
	case strings.EqualFold(ex.typeName, replicaQuery.typeName):
		runQuery(s, ex, replicaQuery)
	case strings.EqualFold(ex.typeName, replicaPointQuery.typeName):
		runQuery(s, ex, replicaPointQuery)
	case strings.EqualFold(ex.typeName, cdpPolicyQuery.typeName):
		runQuery(s, ex, cdpPolicyQuery)
	case strings.EqualFold(ex.typeName, cdpSessionQuery.typeName):
		runQuery(s, ex, cdpSessionQuery)
	case strings.EqualFold(ex.typeName, cdpTaskQuery.typeName):
		runQuery(s, ex, cdpTaskQuery)
	default:
		s.writeError(ex, http.StatusBadRequest, fmt.Sprintf("Unknown query type %q; this simulator serves %s.", ex.typeName, strings.Join([]string{
			taskQuery.typeName, jobQuery.typeName, backupTaskQuery.typeName, backupJobQuery.typeName,
			repositoryQuery.typeName, jobEntityQuery.typeName, backupServerQuery.typeName, replicaQuery.typeName,
			replicaPointQuery.typeName, cdpPolicyQuery.typeName, cdpSessionQuery.typeName, cdpTaskQuery.typeName}, ", ")))
	}
}

func parseQueryRequest(params []queryParam, defaultPageSize int) (queryRequest, error) {
	var q queryRequest
	switch format, _ := lookupParam(params, "format"); {
	case strings.EqualFold(format, "Entities"):
		q.entities = true
	case format != "" && !strings.EqualFold(format, "Refs"):
		return q, fmt.Errorf("unknown format %q; use Entities or Refs", format)
	}
	var err error
	if q.pageSize, err = positiveParam(params, "pageSize", defaultPageSize); err != nil {
		return q, err
	}
	if q.page, err = positiveParam(params, "page", 1); err != nil {
		return q, err
	}
	asc, hasAsc := lookupParam(params, "sortAsc")
	desc, hasDesc := lookupParam(params, "sortDesc")
	switch {
	case hasAsc && hasDesc:
		return q, fmt.Errorf("use either sortAsc or sortDesc, not both")
	case hasAsc:
		q.sortField = asc
	case hasDesc:
		q.sortField, q.sortDesc = desc, true
	}
	if filter, ok := lookupParam(params, "filter"); ok {
		if strings.TrimSpace(filter) == "" {
			return q, fmt.Errorf("the filter is empty")
		}
		q.filter = filter
	}
	return q, nil
}

func runQuery[T any](s *Server, ex *exchange, kind queryKind[T]) {
	ex.typeName = kind.typeName
	q, err := parseQueryRequest(ex.params, s.defaultPageSize)
	if err != nil {
		s.writeError(ex, http.StatusBadRequest, "Invalid query: "+err.Error())
		return
	}
	var cond *condition[T]
	if q.filter != "" {
		if cond, err = parseFilter(q.filter, kind.fields, kind.typeName); err != nil {
			s.writeError(ex, http.StatusBadRequest, err.Error())
			return
		}
	}
	var sortBy *field[T]
	if q.sortField != "" {
		f, ok := kind.fields.lookup(q.sortField)
		if !ok {
			s.writeError(ex, http.StatusBadRequest, fmt.Sprintf("Cannot sort by unknown field %q; known fields: %s", q.sortField, kind.fields.names()))
			return
		}
		if f.name != creationTimeField {
			sortBy = f
		}
	}

	fault := ex.fault
	shift := 0
	if q.page > 1 && !fault.EmptyPage {
		shift = min(fault.DuplicateFromPrevious, q.pageSize)
	}
	s.data.ensure(ex.now, ex.now)
	s.data.mu.RLock()
	window, total := selectPage(existing(kind.items(s.data, ex.now), ex.now, kind.creation), kind, cond, sortBy, q, shift, ex.now, s.data.topo.maxLag())
	s.data.mu.RUnlock()
	page, tampering := shapePage(window, q, shift, fault, kind.uid)

	pages := max(1, max(1, (total+q.pageSize-1)/q.pageSize)+fault.PagesCountDelta)
	ex.w.Header().Set("Content-Type", contentXML)
	ex.w.WriteHeader(http.StatusOK)
	x := newXMLWriter(ex.body)
	x.raw(xmlHeader)
	x.open("QueryResult")
	x.attr("xmlns", emNamespace)
	x.closeOpen()
	if q.entities {
		x.raw("<Entities><" + kind.listName + ">\n")
		for i, e := range page {
			kind.entity(x, ex.base, e, ex.now, fault.Corrupt.kindAt(i))
		}
		x.raw("</" + kind.listName + "></Entities>\n")
	} else {
		x.raw("<Refs>\n")
		for _, e := range page {
			kind.ref(x, ex.base, e)
		}
		x.raw("</Refs>\n")
	}
	writePagingInfo(x, ex, q, pages)
	x.end("QueryResult")
	if !s.finish(ex, x) {
		return
	}
	ex.entities = len(page)
	if fault.shapesAnswer() {
		tampering.Time, tampering.Type, tampering.Page, tampering.PagesCount = ex.now, kind.typeName, q.page, pages
		s.tampered.add(tampering)
	}
}

// selectPage filters, sorts and pages sessions created up to now (items),
// of which EM shows only the visible ones; none lags more than maxLag. The
// page starts shift rows early and grows by as many, for
// DuplicateFromPrevious. A creation-time filter narrows the scan by binary
// search; a filter that is nothing but a creation-time range is answered
// without a scan.
func selectPage[T any](items []T, kind queryKind[T], cond *condition[T], sortBy *field[T], q queryRequest, shift int, now time.Time, maxLag time.Duration) (page []T, total int) {
	if cond != nil {
		r := cond.creationRange()
		lo, hi := 0, len(items)
		if r.hasFrom {
			lo = sort.Search(len(items), func(i int) bool { return !kind.creation(items[i]).Before(r.from) })
		}
		if r.hasTo {
			hi = sort.Search(len(items), func(i int) bool { return !kind.creation(items[i]).Before(r.to) })
		}
		if lo >= hi {
			return nil, 0
		}
		items = items[lo:hi]
		if r.exact {
			cond = nil
		}
	}
	visible := visibleOnly(items, now, maxLag, kind.creation, kind.visible)
	offset := (q.page-1)*q.pageSize - shift
	size := q.pageSize + shift

	if sortBy == nil && cond == nil {
		total = visible.len()
		if offset >= total {
			return nil, total
		}
		end := min(offset+size, total)
		page = make([]T, 0, end-offset)
		if !q.sortDesc {
			for i := offset; i < end; i++ {
				page = append(page, visible.at(i))
			}
			return page, total
		}
		for i := total - 1 - offset; i >= total-end; i-- {
			page = append(page, visible.at(i))
		}
		return page, total
	}

	var matches []T
	for _, part := range [...][]T{visible.settled, visible.recent} {
		for _, e := range part {
			if cond == nil || cond.match(e, now) {
				matches = append(matches, e)
			}
		}
	}
	switch {
	case sortBy != nil:
		// Sessions without a value (EndTime while running) sort first;
		// ties keep creation order.
		slices.SortStableFunc(matches, func(a, b T) int {
			c := compareField(sortBy, a, b, now)
			if q.sortDesc {
				return -c
			}
			return c
		})
	case q.sortDesc:
		slices.Reverse(matches)
	}
	total = len(matches)
	if offset >= total {
		return nil, total
	}
	return matches[offset:min(offset+size, total)], total
}

func compareField[T any](f *field[T], a, b T, now time.Time) int {
	va, okA := f.value(a, now)
	vb, okB := f.value(b, now)
	switch {
	case !okA && !okB:
		return 0
	case !okA:
		return -1
	case !okB:
		return 1
	}
	return f.compare(va, vb)
}

func writePagingInfo(x xmlWriter, ex *exchange, q queryRequest, pages int) {
	link := func(rel string, n int) {
		x.link(rel, "", ex.base+ex.r.URL.Path+"?"+withPage(ex.params, n), "")
	}
	x.open("PagingInfo")
	x.attr("PageNum", itoa(q.page))
	x.attr("PageSize", itoa(q.pageSize))
	x.attr("PagesCount", itoa(pages))
	x.closeOpen()
	x.raw("<Links>")
	link("First", 1)
	if q.page > 1 {
		link("Previous", min(q.page-1, pages))
	}
	if q.page < pages {
		link("Next", q.page+1)
	}
	link("Last", pages)
	x.raw("</Links>")
	x.end("PagingInfo")
	x.raw("\n")
}
