package veeam

import (
	"bytes"
	"strconv"
	"time"
)

// entitySchema names what the exporter reads of one entity type: attributes
// of the entity's element, the Name of its Links' Rel="Up" links by Type,
// text of its child elements, and text of descendants: elements found by
// name at any depth, for values EM documents without saying what wraps
// them. Fields are numbered in that order, so a schema that adds children
// to another keeps the other's field numbers. A name is a child or a
// descendant, not both.
type entitySchema struct {
	attrs, upLinks, children, descendants []string
}

func (sc *entitySchema) size() int {
	return len(sc.attrs) + len(sc.upLinks) + len(sc.children) + len(sc.descendants)
}

// span is a field's value in rawEntity.arena.
type span struct {
	start, end int
	set        bool
}

// rawEntity holds the fields of the entity last read, unescaped, in one
// buffer reused from entity to entity.
type rawEntity struct {
	schema  *entitySchema
	arena   []byte
	fields  []span
	scratch []byte
	// open is the fields whose elements are open, innermost last: a
	// descendant can open inside a child or another descendant, whose
	// text goes on after it. A child at a time and each descendant once
	// bound it to 1+len(schema.descendants).
	open []openField
}

// openField is a field whose element is open, and the depth of the text
// directly inside it.
type openField struct {
	field, depth int
}

func newRawEntity(schema *entitySchema) *rawEntity {
	return &rawEntity{schema: schema, fields: make([]span, schema.size()), arena: make([]byte, 0, 1024)}
}

func indexOf(names []string, name []byte) int {
	for i, n := range names {
		if n == string(name) {
			return i
		}
	}
	return -1
}

// read reads the entity that start opens, through its end tag. Like
// encoding/xml, it matches names without their prefix, lets the last of
// repeated attributes or children win and the first matching link, and
// takes only the text directly inside a child. Of repeated descendants,
// the first to start wins, with the text directly inside it: as each
// descendant opens once, the fields' texts are split by another field's at
// most len(descendants) times in all, and resume copies no more often,
// whatever the document.
func (e *rawEntity) read(s *xmlScanner, start markup) error {
	e.arena = e.arena[:0]
	e.open = e.open[:0]
	clear(e.fields)
	sc := e.schema
	var bad error
	err := attributes(start.body, func(name, raw []byte) {
		if i := indexOf(sc.attrs, localName(name)); i >= 0 && bad == nil {
			bad = e.setValue(i, raw)
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil || start.selfClosing {
		return err
	}
	base := s.depth()
	childField := len(sc.attrs) + len(sc.upLinks)
	descendantField := childField + len(sc.children)
	inLinks := false
	for {
		text, err := s.text()
		if err != nil {
			return err
		}
		if f := e.textField(s.depth()); f >= 0 && len(text) > 0 {
			e.resume(f)
			if e.arena, err = appendUnescaped(e.arena, text); err != nil {
				return err
			}
			e.fields[f].end = len(e.arena)
		}
		m, err := s.markup()
		if err != nil {
			return err
		}
		switch m.kind {
		case markupCDATA:
			if f := e.textField(s.depth()); f >= 0 {
				e.resume(f)
				e.arena = appendLineNormalised(e.arena, m.body)
				e.fields[f].end = len(e.arena)
			}
		case markupEnd:
			if s.depth() < base {
				return nil
			}
			if s.depth() == base {
				inLinks = false
			}
			for n := len(e.open); n > 0 && e.open[n-1].depth > s.depth(); n-- {
				e.open = e.open[:n-1]
			}
		case markupStart:
			level := s.depth() - base
			if m.selfClosing {
				level++
			}
			local := localName(m.name)
			f := -1
			switch {
			case level == 1 && string(local) == "Links":
				inLinks = !m.selfClosing
			case level == 1:
				if i := indexOf(sc.children, local); i >= 0 {
					f = childField + i
				}
			case level == 2 && inLinks && string(local) == "Link":
				if err := e.readLink(m.body); err != nil {
					return err
				}
			}
			if f < 0 {
				if i := indexOf(sc.descendants, local); i >= 0 && !e.fields[descendantField+i].set {
					f = descendantField + i
				}
			}
			if f >= 0 {
				e.fields[f] = span{start: len(e.arena), end: len(e.arena), set: true}
				if !m.selfClosing {
					e.open = append(e.open, openField{field: f, depth: s.depth()})
				}
			}
		}
	}
}

// textField is the field that text at depth belongs to, or -1: text
// belongs to the innermost open field's element only, not to an element
// nested in it.
func (e *rawEntity) textField(depth int) int {
	if n := len(e.open); n > 0 && e.open[n-1].depth == depth {
		return e.open[n-1].field
	}
	return -1
}

// resume moves field f's text to the end of the arena when another field's
// text came after it, so that what follows extends it in one span.
func (e *rawEntity) resume(f int) {
	sp := &e.fields[f]
	if sp.end == len(e.arena) {
		return
	}
	start := len(e.arena)
	e.arena = append(e.arena, e.arena[sp.start:sp.end]...)
	sp.start, sp.end = start, len(e.arena)
}

// setValue stores an attribute's value as field i.
func (e *rawEntity) setValue(i int, raw []byte) error {
	start := len(e.arena)
	var err error
	if e.arena, err = appendUnescaped(e.arena, raw); err != nil {
		return err
	}
	e.fields[i] = span{start: start, end: len(e.arena), set: true}
	return nil
}

// readLink keeps the Name of a Rel="Up" link whose Type the schema wants,
// unless an earlier link already named that parent.
func (e *rawEntity) readLink(tag []byte) error {
	var rel, typ, name []byte
	err := attributes(tag, func(attr, raw []byte) {
		switch string(localName(attr)) {
		case "Rel":
			rel = raw
		case "Type":
			typ = raw
		case "Name":
			name = raw
		}
	})
	if err != nil {
		return err
	}
	if e.scratch, err = appendUnescaped(e.scratch[:0], rel); err != nil {
		return err
	}
	if string(bytes.TrimSpace(e.scratch)) != "Up" {
		return e.checkEscapes(typ, name)
	}
	if e.scratch, err = appendUnescaped(e.scratch[:0], typ); err != nil {
		return err
	}
	i := indexOf(e.schema.upLinks, bytes.TrimSpace(e.scratch))
	if i < 0 {
		return e.checkEscapes(name)
	}
	f := len(e.schema.attrs) + i
	if e.fields[f].set {
		return e.checkEscapes(name)
	}
	return e.setValue(f, name)
}

// checkEscapes fails on a malformed character reference, as encoding/xml
// does for every attribute it decodes.
func (e *rawEntity) checkEscapes(values ...[]byte) error {
	for _, v := range values {
		var err error
		if e.scratch, err = appendUnescaped(e.scratch[:0], v); err != nil {
			return err
		}
	}
	return nil
}

// trimmed is field i without surrounding white space; empty when absent.
func (e *rawEntity) trimmed(i int) []byte {
	f := e.fields[i]
	return bytes.TrimSpace(e.arena[f.start:f.end])
}

// ownStrings returns the trimmed fields a, b and c (c < 0: none) as strings
// sharing one allocation: they are unique to the entity, so interning would
// not save anything.
func (e *rawEntity) ownStrings(a, b, c int) [3]string {
	values := [3][]byte{e.trimmed(a), e.trimmed(b)}
	if c >= 0 {
		values[2] = e.trimmed(c)
	}
	e.scratch = append(append(append(e.scratch[:0], values[0]...), values[1]...), values[2]...)
	joined := string(e.scratch)
	var out [3]string
	offset := 0
	for i, v := range values {
		out[i] = joined[offset : offset+len(v)]
		offset += len(v)
	}
	return out
}

func appendLineNormalised(dst, cdata []byte) []byte {
	for len(cdata) > 0 {
		i := bytes.IndexByte(cdata, '\r')
		if i < 0 {
			return append(dst, cdata...)
		}
		dst = append(dst, cdata[:i]...)
		dst = append(dst, '\n')
		cdata = cdata[i+1:]
		if len(cdata) > 0 && cdata[0] == '\n' {
			cdata = cdata[1:]
		}
	}
	return dst
}

// interner makes the strings many sessions of a page repeat (servers, job
// sessions, states) share one allocation.
type interner struct {
	strs map[string]string
}

func newInterner() *interner { return &interner{strs: make(map[string]string, 64)} }

func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	in.strs[s] = s
	return s
}

// timestampBytes is timestamp for EM's usual forms, parsed without
// time.Parse; anything else goes through parseTime.
func (f *fieldParser) timestampBytes(b []byte, required bool) time.Time {
	if len(b) == 0 {
		f.bad = f.bad || required
		return time.Time{}
	}
	if t, ok := parseEMTime(b); ok {
		return t
	}
	t, err := parseTime(string(b))
	if err != nil {
		f.bad = true
	}
	return t
}

// parseEMTime reads 2006-01-02T15:04:05, then 1 to 9 fractional digits
// and a Z, each optional, as UTC. ok is false for any other form or an
// out-of-range field, which parseTime then judges.
func parseEMTime(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > 28 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		fraction := n - 1
		if fraction < 1 || fraction > 9 {
			return time.Time{}, false
		}
		nsec, _ = digits(rest[1:n])
		for range 9 - fraction {
			nsec *= 10
		}
		rest = rest[n:]
	}
	if len(rest) == 1 && rest[0] == 'Z' {
		rest = rest[1:]
	}
	if len(rest) != 0 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// numberBytes is number without a string conversion for plain digits.
func (f *fieldParser) numberBytes(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	if len(b) <= 18 {
		if n, ok := digits(b); ok {
			return int64(n)
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		f.bad = true
	}
	return n
}
